"""Benchmark: does last season's GAN learn this season's catalogue, new categories included,
faster than a run from scratch, and keep improving?

    python -m bench.warmstart        # season 1 for 10 min, season 2 runs for 15 min each
    python -m bench.warmstart --parent-minutes 4 --parent-ramp 2000,4000 --minutes 4 \
        --eval-at 1,2,4                                      # a short look

Two seasons from ../shared/data/clothing-small (`seasons`: season 2 keeps 60% of season 1's
photos, adds the other 20% and three categories season 1 lacks: hat with all its 123 photos,
skirt with 50 and shorts with 20, the few-shot ones), each preprocessed at 64 px by the real
job. Season 1 trains `--parent-minutes` through the product's own train() with
`streamgan train`'s defaults (so conditioned on the descriptions, here the category names).
On season 2 the product's resolve() + build() (train/build.py, as `streamgan train
--warm-start` sets a run up) make

  scratch       season 2 from random weights
  warm-NAME     season 2 warm-started from season 1's run, for each NAME of `--warm`:
                weights (the weights alone, --balance 0), all (every one of TrainConfig's
                warm_start_fixes), or a "+"-joined set of them (rows, moments, warmup:
                train/warmstart.py); with "+balance", also repeat-factor sampling of rare
                conditions at --balance (train/balance.py)

which train `--minutes` each, taking turns in slices (bench/quality.py's take_turns, so load
from other work hits all alike). At minute 0 (warm runs) and at each `--eval-at` minute the
sampling generator makes `--eval-num` images with season 2's validation photos' own
descriptions (and more, up to `--per-category`, for the rarer categories); they give the
KID against those photos and each category's class consistency:
the share of a category's images the store's judge (train/judge.py's LinearProbe on Inception
features, fitted on season 2's training photos) files under it, beside the judge's accuracy
on that category's real validation photos. Writes results.json and kid_vs_minutes.png
(KID and new categories' consistency) into --out.
Targets (issue 26): warm's KID never rises above its minute-0 KID after minute 2; warm's KID at
5 min <= 0.6x scratch's at 5 and <= scratch's at 15; new categories' mean consistency at 15
min >= 0.8x the known ones'.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sys

import numpy as np

from bench.data import CLOTHING_CATALOG, parse_args
from bench.quality import build_store, take_turns

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NEW_CATEGORIES = {"hat": None, "skirt": 50, "shorts": 20}  # season 2's photos of each (None: all)


def seasons(catalog: str, new_categories: dict = NEW_CATEGORIES, seed: int = 0) -> tuple[list, list]:
    """(season 1, season 2) records with absolute URLs. Season 1: 80% of the training photos of
    the categories it has (all but `new_categories`). Season 2: 60% of season 1's photos, the
    other 20%, and of each new category as many training photos as `new_categories` says (the
    few-shot ones). Each season has the validation photos of its own categories (what its KID
    is measured against)."""
    import random
    source = os.path.dirname(os.path.abspath(catalog))
    with open(catalog) as fh:
        records = [dict(r, url=os.path.join(source, r["url"])) for r in json.load(fh)]
    photos = [r for r in records if r.get("split") == "train"]
    validation = [r for r in records if r.get("split") == "validation"]
    rng = random.Random(seed)
    rng.shuffle(photos)
    kept = [r for r in photos if r["description"] not in new_categories]
    cut = len(kept) * 8 // 10
    first, rest = kept[:cut], kept[cut:]
    new = [r for name, count in new_categories.items()
           for r in [p for p in photos if p["description"] == name][:count]]
    second = first[:len(first) * 6 // 10] + rest + new
    rng.shuffle(second)
    season1 = first + [r for r in validation if r["description"] not in new_categories]
    return season1, second + validation


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


def train_parent(store: str, workdir: str, minutes: float, ramp: tuple[int, int]) -> str:
    """Season 1's run, trained for `minutes` through train() (kept if already there), with
    its condition coming in after ramp[0] images over ramp[1]."""
    from bench.quality import TimeLimit
    from streamgan.train.checkpoint import latest_checkpoint
    from streamgan.train.config import TrainConfig
    from streamgan.train.loop import train
    from streamgan.train.paths import RunPaths
    if latest_checkpoint(RunPaths(workdir).checkpoints):
        print(f"  season 1: reusing the run in {workdir}")
        return workdir
    config = TrainConfig(store=store, workdir=workdir, image_size=64, split="train",
                         eval_every=0, epochs=10**6, condition_start=ramp[0],
                         condition_ramp=ramp[1])
    train(config, verbose=0, callbacks=[TimeLimit(minutes * 60)])
    return workdir


def parent_trained(workdir: str, season1: list) -> dict:
    """How far season 1's run got: its epochs and the images it saw (a reused run may have
    trained longer than --parent-minutes)."""
    from streamgan.train.checkpoint import list_checkpoints
    from streamgan.train.paths import RunPaths
    epochs = list_checkpoints(RunPaths(workdir).checkpoints)[-1][0]
    photos = sum(r.get("split") == "train" for r in season1)
    return {"epochs": epochs, "images": epochs * photos}


def warm_options(name: str, balance: float) -> dict:
    """A --warm entry as TrainConfig options: its warm_start_fixes, and balance when the entry
    names it (else 0: off, although a warm start's default is on)."""
    from streamgan.train.config import WARM_START_FIXES
    parts = set(name.split("+")) - {"weights"}
    options = {"balance": balance if "balance" in parts else 0.0}
    parts.discard("balance")
    fixes = WARM_START_FIXES if "all" in parts else sorted(parts)
    return {"warm_start_fixes": ",".join(fixes), **options}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parent-minutes", type=float, default=10.0,
                        help="season 1's training time")
    parser.add_argument("--parent-ramp", default=(6000, 12000), metavar="START,LENGTH",
                        type=lambda text: tuple(int(v) for v in text.split(",")),
                        help="season 1's condition schedule in images (default: train's; a "
                             "short season 1 needs a shorter one to end at full strength, "
                             "as a real season does)")
    parser.add_argument("--minutes", type=float, default=15.0,
                        help="each season-2 run's training time")
    parser.add_argument("--eval-at", default="1,2,5,10,15", help="minutes to score at")
    parser.add_argument("--warm", default="weights,all",
                        help="warm-started runs, by what they carry over (see above)")
    parser.add_argument("--balance", type=float, default=0.2,
                        help="the balance (repeat-factor threshold) of a --warm entry that "
                             "names it, e.g. all+balance")
    parser.add_argument("--eval-num", type=int, default=500,
                        help="generated images per mark for the KID")
    parser.add_argument("--per-category", type=int, default=50,
                        help="generated images asked for each category, judged")
    parser.add_argument("--slice", type=float, default=60.0, help="seconds per turn")
    args = parse_args(parser, "warmstart")
    if args is None:
        return 1
    season1, season2 = seasons(CLOTHING_CATALOG)
    print(f"bench.warmstart: season 1 {len(season1)} records, season 2 {len(season2)} "
          f"(new categories: {', '.join(NEW_CATEGORIES)})", flush=True)
    store1 = build_season_store(season1, args.out, "season1")
    store2 = build_season_store(season2, args.out, "season2")
    parent = train_parent(store1, os.path.join(args.out, "runs", "season1"), args.parent_minutes,
                          args.parent_ramp)

    import keras

    from bench.conditioning import make_trainee
    state = {}
    for name in ["scratch"] + [f"warm-{w}" for w in args.warm.split(",") if w]:
        workdir = os.path.join(args.out, "runs", f"season2-{name}")
        shutil.rmtree(workdir, ignore_errors=True)
        warm = None if name == "scratch" else parent
        fixes = {} if warm is None else warm_options(name[len("warm-"):], args.balance)
        gan, dataset, encoder, config = make_trainee(store2, "auto", workdir, warm_start=warm,
                                                     **fixes)
        state[name] = {"gan": gan, "dataset": dataset, "encoder": encoder, "config": config,
                       "batch": config.batch_size}
    starts = {name: [keras.ops.convert_to_numpy(w) for w in s["gan"].sampler.weights]
              for name, s in state.items() if name != "scratch"}
    take_turns(state, args.minutes, args.slice, args.eval_at.split(","))
    for name, start in starts.items():
        state[name]["snapshots"].insert(0, (0.0, start))

    photos = dict(collections.Counter(r["description"] for r in season2
                                      if r.get("split") == "train"))
    results = {"seasons": {"1": len(season1), "2": len(season2)}, "photos": photos,
               "new_categories": list(NEW_CATEGORIES), "parent": parent_trained(parent, season1),
               "minutes": args.minutes, "runs": {}}
    scorer = Scorer(build_store(args.store_cache, 64), args.eval_num, args.per_category)
    results["judge_accuracy"] = scorer.ceiling
    for name, s in state.items():
        curve = []
        for mark, weights in s["snapshots"]:
            s["gan"].sampler.set_weights(weights)
            point = {"minutes": mark / 60, "images_seen": s["seen"].get(mark, 0),
                     **scorer(s["gan"], s["encoder"], s["config"])}
            curve.append(point)
            print(f"  {name:<14} at {mark / 60:5.1f} min ({point['images_seen']:>6} images): "
                  f"KID {point['kid']:.4f} "
                  f"+- {point['kid_std']:.4f}, consistency known {point['known']:.0%} "
                  f"new {point['new']:.0%}", flush=True)
        results["runs"][name] = {"curve": curve, "images_seen": s["images"],
                                 "images_per_s": s["images"] / s["seconds"]}
    report(args, results)
    return 0


class Scorer:
    """KID against the validation photos and per-category class consistency of a generator's
    images made with those photos' descriptions. The judge is fitted on every training photo
    of the data set (`full_store`, all 64 px), not season 2's alone: a category season 2 has 20
    photos of is judged as well as any other."""

    def __init__(self, full_store: str, num: int, per_category: int):
        import h5py

        from streamgan.store import contract
        from streamgan.train import quality
        from streamgan.train.judge import LinearProbe
        self.features = quality.InceptionFeatures()
        info = contract.open_store(full_store)
        with h5py.File(info.h5_path, "r") as f:
            names = np.array([d.decode() for d in f[contract.DESCRIPTION][:]])
        train_rows, train_features = quality.split_features(info, "train", None, self.features,
                                                            log=print)
        val_rows, self.real = quality.split_features(info, "validation", None, self.features,
                                                     log=print)
        train_names, val_names = names[train_rows], list(names[val_rows])
        self.categories = sorted(set(train_names))
        index = {c: i for i, c in enumerate(self.categories)}
        self.judge = LinearProbe(train_features, np.array([index[c] for c in train_names]),
                                 len(self.categories))
        verdicts = self.judge.predict(self.real)
        val = np.array(val_names)
        self.ceiling = {c: float(np.mean(verdicts[val == c] == index[c]))
                        for c in self.categories}
        # the KID's prompts: the validation photos' descriptions (generated_images draws from
        # them at random, so both sides share a distribution)
        self.prompts = [val_names[i % len(val_names)] for i in range(num)]
        self.per_category = per_category

    def __call__(self, gan, encoder, config) -> dict:
        from bench.conditioning import generate
        from streamgan.train import quality
        fakes = quality.generated_images(gan.sampler, len(self.prompts), config.pixel_range,
                                         seed=3, conditions=encoder.encode(self.prompts))
        kid, kid_std = quality.kid(self.features(fakes), self.real)
        # per_category images asked for each category, in the categories' order
        judged = self.judge.predict(self.features(generate(
            gan, encoder, self.categories, self.per_category, config.pixel_range, seed=4)))
        per = {c: float(np.mean(judged[i * self.per_category:(i + 1) * self.per_category] == i))
               for i, c in enumerate(self.categories)}
        new = [per[c] for c in NEW_CATEGORIES]
        known = [v for c, v in per.items() if c not in NEW_CATEGORIES]
        return {"kid": kid, "kid_std": kid_std, "consistency": per,
                "known": float(np.mean(known)), "new": float(np.mean(new))}


def report(args, results: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    runs = results["runs"]
    print("\nseason 2, KID vs validation photos (lower is better) / new categories' "
          "consistency / known categories' consistency:")
    marks = sorted({p["minutes"] for r in runs.values() for p in r["curve"]})
    print(f"  {'run':<18}" + "".join(f"{m:>20g}" for m in marks) + "   img/s")
    for name, run in runs.items():
        at = {p["minutes"]: p for p in run["curve"]}
        cells = [f"{at[m]['kid']:.3f} {at[m]['new']:.0%} {at[m]['known']:.0%}" if m in at
                 else "-" for m in marks]
        print(f"  {name:<18}" + "".join(f"{c:>20}" for c in cells)
              + f"   {run['images_per_s']:.1f}")
    ceiling = results["judge_accuracy"]
    print(f"  parent: season 1 trained {results['parent']['epochs']} epochs "
          f"({results['parent']['images']:,} images)")
    print("  judge's accuracy on real validation photos: new "
          f"{np.mean([ceiling[c] for c in NEW_CATEGORIES]):.0%}, known "
          f"{np.mean([v for c, v in ceiling.items() if c not in NEW_CATEGORIES]):.0%}")
    print("\nconsistency per category at the last mark, by season 2's photos of it "
          "(new categories marked *):")
    print(f"  {'category':<12}{'photos':>7}{'judge':>7}" + "".join(f"{n:>16}" for n in runs))
    for c in sorted(results["photos"], key=lambda c: results["photos"][c]):
        print(f"  {c + ('*' if c in NEW_CATEGORIES else ''):<12}{results['photos'][c]:>7}"
              f"{ceiling[c]:>7.0%}"
              + "".join(f"{r['curve'][-1]['consistency'][c]:>16.0%}" for r in runs.values()))
    scratch = runs["scratch"]["curve"]
    for name, run in runs.items():
        if name == "scratch":
            continue
        curve = run["curve"]
        later = [p["kid"] for p in curve if p["minutes"] > 2]
        rises = bool(later) and max(later) > curve[0]["kid"]
        falling = all(b["kid"] <= a["kid"] for a, b in zip(curve[1:], curve[2:]))
        at5 = {n: next((p["kid"] for p in c if p["minutes"] == 5), None)
               for n, c in (("warm", curve), ("scratch", scratch))}
        summary = {"rises_above_minute_0_after_2": rises, "keeps_falling": falling,
                   "final_kid_vs_scratch_final": curve[-1]["kid"] / scratch[-1]["kid"],
                   "new_vs_known_consistency_final": curve[-1]["new"]
                   / max(curve[-1]["known"], 1e-9)}
        if None not in at5.values():
            summary["kid_5_vs_scratch_5"] = at5["warm"] / at5["scratch"]
            summary["kid_5_vs_scratch_final"] = at5["warm"] / scratch[-1]["kid"]
        run["summary"] = summary
        at_five = (f"KID at 5 min {summary['kid_5_vs_scratch_5']:.2f}x scratch's at 5 (target "
                   f"<= 0.6) and {summary['kid_5_vs_scratch_final']:.2f}x scratch's last (target "
                   "<= 1); " if "kid_5_vs_scratch_5" in summary else "")
        print(f"  {name}: minute-0 KID {curve[0]['kid']:.3f}; after minute 2 "
              f"{'rises above it' if rises else 'stays at or below it'}"
              f"{' and keeps falling' if falling else ', not always falling'}; {at_five}"
              f"last KID {summary['final_kid_vs_scratch_final']:.2f}x scratch's; new/known "
              f"consistency {summary['new_vs_known_consistency_final']:.2f} (target >= 0.8)")
    figure, (kid_axes, new_axes) = plt.subplots(1, 2, figsize=(11, 4))
    for name, run in runs.items():
        curve = run["curve"]
        minutes = [p["minutes"] for p in curve]
        kid_axes.plot(minutes, [p["kid"] for p in curve], "o-", label=name)
        new_axes.plot(minutes, [p["new"] for p in curve], "o-", label=name)
    kid_axes.set(xlabel="minutes of training on season 2",
                 ylabel="KID vs season 2 validation photos")
    new_axes.set(xlabel="minutes of training on season 2", ylim=(0, 1),
                 ylabel=f"new categories' consistency ({', '.join(NEW_CATEGORIES)})")
    new_axes.axhline(1 / len(results["judge_accuracy"]), color="grey", linestyle="--",
                     label="chance")
    kid_axes.legend()
    new_axes.legend()
    figure.tight_layout()
    figure.savefig(os.path.join(args.out, "kid_vs_minutes.png"), dpi=100)
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(results, fh, indent=2)
    print(f"wrote {args.out}/results.json, kid_vs_minutes.png")


if __name__ == "__main__":
    sys.exit(main())
