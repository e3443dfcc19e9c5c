"""Benchmark: image quality per minute of CPU training, for three recipes, in one run.

    python -m bench.quality                       # 15 min of training per recipe (~60 min)
    python -m bench.quality --minutes 3 --eval-at 1,2,3   # a quick look
    python -m bench.quality --recipes streamgan,streamgan:batch_size=32+loss=hinge  # candidates

On ../shared/data/clothing-small (3,409 CC0 photos; the train split trains, the validation
split is held out), preprocessed by the real job at 64 px, it trains:

  dcgan-today   the DCGAN recipe streamgan had before: paper nets at base 64, batch 64, BCE,
                Adam 2e-4 (0.5, 0.999), no augmentation, no EMA, float32 (`--arch dcgan
                --base-filters 64 --batch-size 64 --augment none --r1-gamma 0 --ema-decay 0
                --learning-rate 2e-4 --beta-1 0.5 --beta-2 0.999 --precision float32`)
  streamgan     the current defaults of `streamgan train`
  keras.io      the keras.io DCGAN example's nets and optimiser (dcgan_overriding_train_step,
                Keras 3 revision: Adam 1e-4, batch 32, sigmoid images in [0, 1], float32),
                trained by our GAN class with the same loss it uses (BCE; without its label
                noise)

Recipes take turns in slices of `--slice` seconds until each has trained `--minutes`, so load
from other work on the machine hits all alike. At each `--eval-at` minute the sampling
generator is snapshotted; after training, each snapshot is scored by KID (and the last by FID)
against the validation photos with the FID Inception network, next to the KID of real training
photos against the same validation photos (the floor). Prints a table, writes results.json,
kid_vs_minutes.png and samples.png (the three final grids side by side) into --out.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time

from bench.data import CLOTHING_CATALOG, parse_args

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build_store(out: str, size: int) -> str:
    """The clothing catalogue through the real preprocessing job (cached)."""
    from streamgan.common.errors import StoreError
    from streamgan.pipeline.preprocess_cmd import run
    from streamgan.store.contract import open_store
    store = os.path.join(out, f"store-{size}")
    try:
        open_store(store)
        return store
    except StoreError:
        pass
    run(["--catalog", CLOTHING_CATALOG, "--output", store, "--image-size", str(size),
         "--overwrite"])
    return store


def recipes(store: str, size: int, names: list[str] | None = None) -> dict:
    """name -> TrainConfig (None for keras.io), for the recipes named (default: the three of
    the issue: the old DCGAN recipe, today's defaults, keras.io's example)."""
    from streamgan.train.config import TrainConfig
    base = dict(store=store, workdir="", image_size=size, eval_every=0, split="train",
                condition="none")
    dcgan = dict(arch="dcgan", base_filters=64, batch_size=64, augment="none", r1_gamma=0.0,
                 ema_decay=0.0, precision="float32", learning_rate=2e-4, beta_1=0.5,
                 beta_2=0.999)
    known = {
        "dcgan-today": TrainConfig(**base, **dcgan),
        "streamgan": TrainConfig(**base),
        "keras.io": None,
        # candidates measured while choosing the defaults
        "dcgan-diffaugment-ema": TrainConfig(**base, **dict(dcgan, augment="diffaugment",
                                                            ema_decay=0.999)),
        "fastgan-r1-0.01": TrainConfig(**base, r1_gamma=0.01),
        "fastgan-no-augment": TrainConfig(**base, augment="none"),
        "dcgan-ema": TrainConfig(**base, **dict(dcgan, ema_decay=0.999)),
    }
    chosen = {}
    for name in names or ["dcgan-today", "streamgan", "keras.io"]:
        base_name, _, overrides = name.partition(":")
        config = known[base_name]
        if overrides:  # e.g. streamgan:batch_size=32+loss=hinge, a candidate measured ad hoc
            config = dataclasses.replace(config, **dict(
                option_value(item) for item in overrides.split("+")))
        chosen[name] = config
    return chosen


def option_value(text: str) -> tuple[str, object]:
    """"batch_size=32" -> ("batch_size", 32): a training option, parsed as `streamgan train`
    parses --batch-size."""
    from streamgan.common.options import parse_value
    from streamgan.train.config import TrainConfig
    name, _, value = text.partition("=")
    return name, parse_value(TrainConfig, name, value)


class TimeLimit:
    """A Keras callback that stops fit() at a deadline and counts the steps it ran."""

    def __new__(cls, seconds: float):
        import keras

        class _Limit(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.deadline = time.perf_counter() + seconds
                self.steps = 0

            def on_train_batch_end(self, batch, logs=None):
                self.steps += 1
                if time.perf_counter() >= self.deadline:
                    self.model.stop_training = True
        return _Limit()


def make_trainee(config, store: str, workdir: str):
    """(gan, dataset factory(seed), batch size, pixel range) of one recipe: a streamgan recipe
    set up by the product's own resolve + build (train/build.py), keras.io's by its example."""
    from bench.train import keras_io_gan
    from streamgan.store.contract import open_store
    from streamgan.train.build import build, resolve
    from streamgan.train.data import StoreReader, load_transform, stream_dataset
    transform = load_transform(store)
    if config is None:
        info = open_store(store)
        reader = StoreReader.from_info(info, info.split_mask("train"))
        gan, batch, pixel_range = keras_io_gan(128), 32, (0.0, 1.0)
    else:
        shutil.rmtree(workdir, ignore_errors=True)  # a fresh run each time the bench runs
        trainee = build(resolve(dataclasses.replace(config, workdir=workdir)))
        gan, reader = trainee.gan, trainee.reader
        batch, pixel_range = trainee.config.batch_size, trainee.config.pixel_range

    def dataset(seed: int):
        ds = stream_dataset(reader, transform, batch, seed=seed)
        if config is None:  # the example's images are in [0, 1]
            ds = ds.map(lambda x: (x + 1.0) / 2.0)
        return ds.repeat()
    return gan, dataset, batch, pixel_range


def take_turns(state: dict, minutes: float, slice_seconds: float, marks_minutes=()) -> dict:
    """Train each trainee for `minutes` of wall-clock time, taking turns in slices, so that
    load from other work on the machine hits all alike.

    state: name -> {"gan", "dataset": seed -> tf.data, "batch", optionally "minutes" of its
    own}; each entry gains "seconds",
    "images", "snapshots" ([(minute mark, the sampling generator's weights)]) and "seen"
    ({minute mark: images trained on by then}).
    """
    import keras
    for s in state.values():
        s.update(seconds=0.0, images=0, snapshots=[], seen={}, slices=0)
    def budget(s):  # a trainee may set its own "minutes"
        return s.get("minutes", minutes) * 60
    marks = [float(m) * 60 for m in marks_minutes]
    while any(s["seconds"] < budget(s) for s in state.values()):
        for name, s in state.items():
            if s["seconds"] >= budget(s):
                continue
            limit = TimeLimit(min(slice_seconds, budget(s) - s["seconds"]))
            started = time.perf_counter()
            history = s["gan"].fit(s["dataset"](s["slices"]), epochs=1, steps_per_epoch=10**7,
                                   verbose=0, shuffle=False, callbacks=[limit])
            s["seconds"] += time.perf_counter() - started
            s["images"] += limit.steps * s["batch"]
            s["slices"] += 1
            for mark in marks:
                if mark <= budget(s) and s["seconds"] >= mark \
                        and mark not in s["seen"]:
                    weights = [keras.ops.convert_to_numpy(w) for w in s["gan"].sampler.weights]
                    s["snapshots"].append((mark, weights))
                    s["seen"][mark] = s["images"]
            seen = {k: v[-1] for k, v in history.history.items() if k in ("d_real", "d_fake")}
            print(f"  {name:<14} {s['seconds'] / 60:5.1f} min  {s['images']:>7} images  "
                  f"{s['images'] / s['seconds']:6.1f} img/s"
                  + "".join(f"  {k} {v:.2f}" for k, v in seen.items()), flush=True)
    return state


def train_all(args, store: str) -> dict:
    state = {}
    names = args.recipes.split(",") if args.recipes else None
    for name, config in recipes(store, args.size, names).items():
        gan, dataset, batch, pixel_range = make_trainee(config, store,
                                                        os.path.join(args.out, "runs", name))
        state[name] = {"gan": gan, "dataset": dataset, "batch": batch, "range": pixel_range}
    return take_turns(state, args.minutes, args.slice, args.eval_at.split(","))


def score(args, store: str, state: dict) -> dict:
    from streamgan.store.contract import open_store
    from streamgan.train import quality
    from streamgan.train.images import make_grid
    info = open_store(store)
    features = quality.InceptionFeatures()
    cache = os.path.join(args.out, "cache")
    real = quality.store_features(info, "validation", None, features, cache)
    train_real = quality.store_features(info, "train", len(real), features, cache, seed=1)
    floor, _ = quality.kid(train_real, real)
    results = {"real_vs_real_kid": floor, "validation_images": len(real), "recipes": {}}
    grids = {}
    for name, s in state.items():
        sampler = s["gan"].sampler
        curve = []
        for mark, weights in s["snapshots"]:
            sampler.set_weights(weights)
            fake = features(quality.generated_images(sampler, args.eval_num, s["range"], seed=3))
            kid, kid_std = quality.kid(fake, real)
            curve.append({"minutes": mark / 60, "kid": kid, "kid_std": kid_std})
            print(f"  {name:<12} at {mark / 60:4.1f} min: KID {kid:.4f} +- {kid_std:.4f}",
                  flush=True)
        final = curve[-1]
        results["recipes"][name] = {
            "kid": final["kid"], "kid_std": final["kid_std"], "fid": quality.fid(fake, real),
            "images_per_s": s["images"] / s["seconds"], "images_seen": s["images"],
            "minutes": s["seconds"] / 60, "curve": curve,
            "params": int(s["gan"].generator.count_params()
                          + s["gan"].discriminator.count_params())}
        grids[name] = make_grid(quality.generated_images(sampler, 36, s["range"], seed=5), 6)
    return results, grids


def report(args, results: dict, grids: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from streamgan.common.files import write_text
    rows = results["recipes"]
    anchor = rows["dcgan-today"]["kid"] if "dcgan-today" in rows else float("nan")
    keras_io = rows["keras.io"]["kid"] if "keras.io" in rows else float("nan")
    print(f"\n{args.minutes:g} min of training each, 64 px, KID vs {results['validation_images']} "
          f"validation photos (real train photos score {results['real_vs_real_kid']:.4f})")
    print(f"{'recipe':<13}{'KID':>8}{'+-':>8}{'FID':>8}{'img/s':>8}{'images':>9}{'params':>11}"
          f"{'/dcgan':>8}{'/keras.io':>10}")
    for name, r in rows.items():
        print(f"{name:<13}{r['kid']:8.4f}{r['kid_std']:8.4f}{r['fid']:8.1f}{r['images_per_s']:8.1f}"
              f"{r['images_seen']:9d}{r['params']:11,}{r['kid'] / anchor:8.2f}"
              f"{r['kid'] / keras_io:10.2f}")
    write_text(os.path.join(args.out, "results.json"), json.dumps(results, indent=2) + "\n")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, r in rows.items():
        ax.errorbar([c["minutes"] for c in r["curve"]], [c["kid"] for c in r["curve"]],
                    yerr=[c["kid_std"] for c in r["curve"]], marker="o", capsize=3, label=name)
    ax.axhline(results["real_vs_real_kid"], color="grey", ls="--", label="real photos")
    ax.set(xlabel="minutes of training (2 CPU cores)", ylabel="KID vs validation (lower is better)",
           title="Image quality per minute of training", yscale="log")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "kid_vs_minutes.png"), dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(grids), figsize=(5 * len(grids), 5.4))
    for ax, (name, grid) in zip(axes, grids.items()):
        ax.imshow(grid)
        ax.set_title(f"{name}: KID {rows[name]['kid']:.3f}")
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "samples.png"), dpi=100)
    plt.close(fig)
    print(f"wrote {args.out}/results.json, kid_vs_minutes.png, samples.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--eval-at", default="5,10,15", help="minutes at which to snapshot")
    parser.add_argument("--eval-num", type=int, default=300, help="generated images per KID")
    parser.add_argument("--slice", type=float, default=60.0, help="seconds per turn")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--recipes", help="comma-separated recipe names (see recipes())")
    args = parse_args(parser, "quality")
    if args is None:
        return 1
    store = build_store(args.store_cache, args.size)
    print(f"bench.quality: store {store}; {args.minutes:g} min per recipe")
    state = train_all(args, store)
    results, grids = score(args, store, state)
    report(args, results, grids)
    return 0


if __name__ == "__main__":
    sys.exit(main())
