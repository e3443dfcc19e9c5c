"""Benchmark: what `streamgan evaluate` reports per category for the default recipe.

    python bench/evaluate.py --minutes 15        # train 15 min, then evaluate (~25 min)
    python bench/evaluate.py --trained           # evaluate the run an earlier call kept

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
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from bench.quality import DATA, TimeLimit, build_store  # noqa: E402


def train_for(store: str, workdir: str, minutes: float, eval_every: int) -> dict:
    """The default recipe on the train split for `minutes` of wall-clock time."""
    from streamgan.train.config import TrainConfig
    from streamgan.train.loop import train
    config = TrainConfig(store=store, workdir=workdir, split="train", epochs=100_000,
                         eval_every=eval_every)
    limit = TimeLimit(minutes * 60)
    started = time.time()
    summary = train(config, verbose=2, callbacks=[limit])
    record = {"minutes": minutes, "seconds": time.time() - started, "steps": limit.steps,
              "epochs": summary["epoch"]}
    with open(os.path.join(workdir, "bench.json"), "w") as fh:
        json.dump(record, fh, indent=2)
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=15.0, help="training time")
    parser.add_argument("--eval-every", type=int, default=2,
                        help="KID during training every N epochs (the report's curve)")
    parser.add_argument("--num", type=int, default=2000, help="generated images evaluated")
    parser.add_argument("--trained", action="store_true",
                        help="evaluate the run kept in --out instead of training")
    parser.add_argument("--out", default=os.path.join(HERE, "out", "evaluate"))
    parser.add_argument("--store-cache", default=os.path.join(HERE, "out", "evaluate"),
                        help="where the preprocessed store is cached")
    args = parser.parse_args()
    if not os.path.exists(DATA):
        print(f"bench/evaluate.py: {DATA} not found (the shared clothing photos)")
        return 1
    os.makedirs(args.out, exist_ok=True)
    store = build_store(args.store_cache, 64)
    workdir = os.path.join(args.out, "run")
    if not args.trained:
        record = train_for(store, workdir, args.minutes, args.eval_every)
        print(f"bench/evaluate.py: trained {record['epochs']} epochs ({record['steps']} steps) "
              f"in {record['seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
