"""Benchmark: what `streamgan evaluate` reports per category for the default recipe.

    python -m bench.evaluate --minutes 15        # train 15 min, then evaluate (~25 min)
    python -m bench.evaluate --trained           # evaluate the run an earlier call kept

On ../shared/data/clothing-small (10 categories, the descriptions are the category names),
preprocessed at 64 px by the real job, it trains `streamgan train`'s defaults (fastgan,
conditioned on the descriptions) on the train split for a fixed wall-clock time (KID every
--eval-every epochs included), then runs `streamgan evaluate` on the run against the
validation split and prints the per-category table: KID, FID, precision, recall, novelty and
class consistency, each beside what real photos score (the ceiling). The run directory
(OUT/run) keeps evaluation.json, nearest.png and report.html.
"""
from __future__ import annotations

import argparse
import json
import os
import time

from bench.data import parse_args
from bench.quality import build_store

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def step_limit(seconds: float):
    """A Keras callback that stops fit() once its training steps (not the KID evaluations
    and checkpoints between epochs) have taken `seconds`, and counts them."""
    import keras

    class StepTime(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.spent, self.steps, self._start = 0.0, 0, None

        def on_train_batch_begin(self, batch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.spent += time.perf_counter() - self._start
            self.steps += 1
            if self.spent >= seconds:
                self.model.stop_training = True
    return StepTime()


def train_for(store: str, workdir: str, minutes: float, eval_every: int, eval_num: int) -> dict:
    """The default recipe on the train split for `minutes` of training steps."""
    from streamgan.train.config import TrainConfig
    from streamgan.train.loop import train
    config = TrainConfig(store=store, workdir=workdir, split="train", epochs=100_000,
                         eval_every=eval_every, eval_num=eval_num)
    limit = step_limit(minutes * 60)
    started = time.time()
    summary = train(config, verbose=2, callbacks=[limit])
    record = {"minutes": minutes, "seconds": time.time() - started, "steps": limit.steps,
              "step_seconds": limit.spent, "epochs": summary["epoch"]}
    with open(os.path.join(workdir, "bench.json"), "w") as fh:
        json.dump(record, fh, indent=2)
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=15.0, help="training time")
    parser.add_argument("--eval-every", type=int, default=10,
                        help="KID during training every N epochs (the report's curve)")
    parser.add_argument("--eval-num", type=int, default=200,
                        help="generated images per KID during training")
    parser.add_argument("--num", type=int, default=1000, help="generated images evaluated")
    parser.add_argument("--trained", action="store_true",
                        help="evaluate the run kept in --out instead of training")
    parser.add_argument("--screenshot", metavar="PNG",
                        help="also save a small screenshot of report.html (headless Chromium)")
    args = parse_args(parser, "evaluate")
    if args is None:
        return 1
    store = build_store(args.store_cache, 64)
    workdir = os.path.join(args.out, "run")
    if not args.trained:
        record = train_for(store, workdir, args.minutes, args.eval_every, args.eval_num)
        print(f"bench/evaluate.py: trained {record['epochs']} epochs ({record['steps']} steps, "
              f"{record['step_seconds'] / 60:.1f} min of steps) in "
              f"{record['seconds'] / 60:.1f} min")
    from streamgan.train.evaluate import evaluate
    from streamgan.train.report import text_table
    result = evaluate(workdir, num=args.num, log=print)
    with open(os.path.join(workdir, "bench.json")) as fh:
        record = json.load(fh)
    print(f"\n{record['minutes']:g} min of training steps ({record['epochs']} epochs, "
          f"{record['steps']} steps), 64 px, default recipe; evaluated in "
          f"{result['seconds'] / 60:.1f} min")
    print(text_table(result))
    judge = result["judge"]
    if judge:
        print(f"judge: linear probe on {judge['trained_on']} training photos, held-out accuracy "
              f"{judge['held_out_accuracy']['value']:.1%}")
    print(f"wrote {workdir}/evaluation.json, nearest.png, report.html")
    if args.screenshot:
        print(f"screenshot: {screenshot(os.path.join(workdir, 'report.html'), args.screenshot)}")
    return 0


def screenshot(page: str, png: str, width: int = 1100, height: int = 1900) -> str:
    """A headless-Chromium screenshot of the page, cut to its top and palette-compressed (for
    the README)."""
    import shutil
    import subprocess
    import tempfile

    from PIL import Image
    with tempfile.TemporaryDirectory() as tmp:
        shot = os.path.join(tmp, "shot.png")
        subprocess.run([shutil.which("chromium") or "chromium", "--headless", "--no-sandbox",
                        "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run",
                        f"--user-data-dir={tmp}/profile", f"--screenshot={shot}",
                        f"--window-size={width},{height}", "file://" + os.path.abspath(page)],
                       check=True, capture_output=True, timeout=300)
        image = Image.open(shot).convert("RGB")
        image = image.resize((width * 3 // 4, height * 3 // 4), Image.LANCZOS)
        image.quantize(colors=128, method=Image.MEDIANCUT).save(png, optimize=True)
    return png


if __name__ == "__main__":
    raise SystemExit(main())
