"""Benchmark: does last season's GAN make this season's training shorter?

    python -m bench.warmstart                     # ~30 min of training, ~40 min in all
    python -m bench.warmstart --parent-minutes 2 --minutes 3 --warm-minutes 1   # a quick look

Two seasons from ../shared/data/clothing-small (bench/seasons.py's: season 2 keeps 60% of season
1's photos, adds the other 20% and two categories season 1 lacks), each preprocessed at 64 px
by the real job. Season 1 trains `--parent-minutes` with `streamgan train`'s defaults (so
conditioned on the descriptions, here the category names). On season 2, taking turns in slices
(bench/quality.py's take_turns, so load from other work hits both alike), it trains

  scratch   season 2 from random weights, for `--minutes`
  warm      season 2 warm-started from season 1's run (`streamgan run` does this by itself),
            for `--warm-minutes`; its two new categories start from fresh embeddings

and scores the sampling generator's KID against season 2's validation photos (generating with
the photos' own descriptions) at each `--eval-at` minute, the warm one also at minute 0.
Target: warm reaches the scratch run's final KID within a third of its time. Writes
results.json and kid_vs_minutes.png into --out.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from bench.data import CLOTHING_CATALOG, OUT, require_clothing
from bench.quality import take_turns

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NEW_CATEGORIES = ("hat", "skirt")  # as in bench/seasons.py


def seasons(catalog: str, new_categories=NEW_CATEGORIES, seed: int = 0) -> tuple[list, list]:
    """(season 1, season 2) records with absolute URLs: bench/seasons.py's two seasons of
    training photos, each with the validation photos of its own categories (what its KID is
    measured against)."""
    from bench.seasons import seasons as training_seasons
    source = os.path.dirname(os.path.abspath(catalog))
    first, second = training_seasons(source, tuple(new_categories), seed)
    with open(catalog) as fh:
        validation = [r for r in json.load(fh) if r.get("split") == "validation"]

    def absolute(records):
        return [dict(r, url=os.path.join(source, r["url"])) for r in records]
    season1 = first + [r for r in validation if r["description"] not in new_categories]
    return absolute(season1), absolute(second + validation)


def build_season_store(records: list, out: str, name: str) -> str:
    """The season's catalogue through the real preprocessing job (cached)."""
    from streamgan.common.errors import StoreError
    from streamgan.pipeline.preprocess_cmd import run
    from streamgan.store.contract import open_store
    store = os.path.join(out, f"store-{name}")
    catalog = os.path.join(out, f"{name}.json")
    text = json.dumps(records, indent=1)
    if os.path.exists(catalog) and open(catalog).read() == text:
        try:
            open_store(store)
            return store
        except StoreError:
            pass
    with open(catalog, "w") as fh:
        fh.write(text)
    run(["--catalog", catalog, "--output", store, "--image-size", "64", "--overwrite"])
    return store


def train_parent(store: str, workdir: str, minutes: float) -> str:
    """Season 1's run, trained for `minutes` by `streamgan train` (kept if already there)."""
    from bench.quality import TimeLimit
    from streamgan.train.checkpoint import latest_checkpoint
    from streamgan.train.config import TrainConfig
    from streamgan.train.loop import train
    from streamgan.train.paths import RunPaths
    if latest_checkpoint(RunPaths(workdir).checkpoints):
        print(f"  season 1: reusing the run in {workdir}")
        return workdir
    config = TrainConfig(store=store, workdir=workdir, image_size=64, split="train",
                         eval_every=0, epochs=10**6)
    train(config, verbose=0, callbacks=[TimeLimit(minutes * 60)])
    return workdir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parent-minutes", type=float, default=10.0,
                        help="season 1's training time")
    parser.add_argument("--minutes", type=float, default=15.0, help="scratch's training time")
    parser.add_argument("--warm-minutes", type=float, default=5.0, help="warm's training time")
    parser.add_argument("--eval-at", default="1,2,3,4,5,7.5,10,12.5,15")
    parser.add_argument("--eval-num", type=int, default=300, help="generated images per KID")
    parser.add_argument("--slice", type=float, default=60.0, help="seconds per turn")
    parser.add_argument("--out", default=os.path.join(OUT, "warmstart"))
    args = parser.parse_args()
    missing = require_clothing("warmstart")
    if missing:
        print(missing)
        return 1
    os.makedirs(args.out, exist_ok=True)
    season1, season2 = seasons(CLOTHING_CATALOG)
    print(f"bench.warmstart: season 1 {len(season1)} records, season 2 {len(season2)} "
          f"(new categories: {', '.join(NEW_CATEGORIES)})")
    store1 = build_season_store(season1, args.out, "season1")
    store2 = build_season_store(season2, args.out, "season2")
    parent = train_parent(store1, os.path.join(args.out, "runs", "season1"), args.parent_minutes)

    import keras

    from bench.conditioning import make_trainee, real_split
    from streamgan.train import quality
    state = {}
    for name, warm, minutes in (("scratch", None, args.minutes),
                                ("warm", parent, args.warm_minutes)):
        workdir = os.path.join(args.out, "runs", f"season2-{name}")
        gan, dataset, encoder, config = make_trainee(store2, "auto", workdir, warm_start=warm)
        state[name] = {"gan": gan, "dataset": dataset, "encoder": encoder, "config": config,
                       "batch": config.batch_size, "minutes": minutes}
    start = [keras.ops.convert_to_numpy(w) for w in state["warm"]["gan"].sampler.weights]
    take_turns(state, args.minutes, args.slice, args.eval_at.split(","))
    state["warm"]["snapshots"].insert(0, (0.0, start))

    features = quality.InceptionFeatures()
    val_images, val_names = real_split(store2, "validation")
    real = features(val_images)
    results = {"seasons": {"1": len(season1), "2": len(season2)},
               "parent_minutes": args.parent_minutes, "runs": {}}
    for name, s in state.items():
        sampler, encoder = s["gan"].sampler, s["encoder"]
        curve = []
        for mark, weights in s["snapshots"]:
            sampler.set_weights(weights)
            conditions = encoder.encode(val_names) if encoder is not None else None
            fakes = quality.generated_images(sampler, args.eval_num, s["config"].pixel_range,
                                             seed=3, conditions=conditions)
            kid, kid_std = quality.kid(features(fakes), real)
            curve.append({"minutes": mark / 60, "kid": kid, "kid_std": kid_std})
            print(f"  {name:<8} at {mark / 60:5.1f} min: KID {kid:.4f} +- {kid_std:.4f}",
                  flush=True)
        results["runs"][name] = {"curve": curve, "images_seen": s["images"],
                                 "images_per_s": s["images"] / s["seconds"]}
    report(args, results)
    return 0


def report(args, results: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    scratch, warm = results["runs"]["scratch"]["curve"], results["runs"]["warm"]["curve"]
    target = scratch[-1]["kid"]
    reached = next((p["minutes"] for p in warm if p["kid"] <= target), None)
    results["scratch_final_kid"] = target
    results["warm_reaches_it_at_minutes"] = reached
    print(f"\nseason 2: scratch's KID after {scratch[-1]['minutes']:g} min: {target:.4f}; "
          + (f"warm reaches it after {reached:g} min ({reached / scratch[-1]['minutes']:.2f}x "
             f"the time; target <= 0.33x)" if reached is not None else
             f"warm does not reach it in {warm[-1]['minutes']:g} min "
             f"(best {min(p['kid'] for p in warm):.4f})"))
    figure, axes = plt.subplots(figsize=(6, 4))
    for name, run in results["runs"].items():
        curve = run["curve"]
        axes.plot([p["minutes"] for p in curve], [p["kid"] for p in curve], "o-", label=name)
    axes.set_xlabel("minutes of training on season 2")
    axes.set_ylabel("KID vs season 2 validation photos")
    axes.legend()
    figure.tight_layout()
    figure.savefig(os.path.join(args.out, "kid_vs_minutes.png"), dpi=100)
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(results, fh, indent=2)
    print(f"wrote {args.out}/results.json, kid_vs_minutes.png")


if __name__ == "__main__":
    sys.exit(main())
