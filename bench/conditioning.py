"""Benchmark: does conditioning on the descriptions give what is asked for, at no cost in quality?

    python -m bench.conditioning                    # 15 min of training per model (~45 min)
    python -m bench.conditioning --minutes 3        # a quick look

On ../shared/data/clothing-small (descriptions are the 10 category names), preprocessed at
64 px by the real job, it trains the default recipe twice for the same wall-clock time, taking
turns in slices (bench/quality.py's TimeLimit), so load from other work hits both alike:

  unconditional   `streamgan train --condition none`
  conditional     `streamgan train --condition descriptions` (the default `auto` picks it here)

Then it reports:
- class consistency: a linear classifier (train/judge.py) on FID Inception features of the real training
  photos (by category; with `--blurred-judge`, of blurred copies of them as well: tried, it
  read no more of the prompts and fell to 81.5% on real photos) classifies `--per-prompt`
  images generated for each category's prompt; the share classified as the prompted
  category (chance: 10%), next to the classifier's accuracy on the real validation photos
  of each category (the ceiling: its mean over categories is what the 80% target meets);
- KID of each category's generated images against that category's validation photos, and the
  overall KID of both models against all validation photos (the conditional one generating
  with the validation photos' own descriptions);
- judged.png: what the classifier calls each prompt's images, and the unconditional model's
  (so a judge that files every blurry image under one category is seen as such);
- rows.png: one row per category, prompted; results.json;
- with `--eval-at`, curve.png: the conditional model's consistency at those minutes;
- for each way of drawing of `--picks` (default select=4, select=16, truncation=0.5), the
  same consistency, overall KID and rows (rows-NAME.png, judged-NAME.png) for images drawn as
  `streamgan generate --select K --truncation T` draws them: each prompt's discriminator
  favourites among K times as many candidates, from noise truncated at +-T.

The trained models are kept (OUT/NAME/trained.weights.h5 and trained.json), so `--trained`
scores other ways of drawing from them without training again.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from bench.data import parse_args
from bench.quality import build_store, option_value, take_turns
from streamgan.train.judge import LinearProbe

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_trainee(store: str, condition: str, workdir: str, warm_start: str | None = None,
                 **options):
    """(gan, dataset(seed), encoder or None, config) of the default recipe with `condition`,
    from random weights or warm-started from the run `warm_start`: the product's own
    resolve + build (train/build.py), as `streamgan train` sets a run up."""
    from streamgan.train.build import build, resolve
    from streamgan.train.config import TrainConfig

    resolved = resolve(TrainConfig(store=store, workdir=workdir, split="train", eval_every=0,
                                   condition=condition, warm_start=warm_start, **options))
    if warm_start and resolved.config.parent is None:
        raise SystemExit(f"could not warm-start from {warm_start}: {resolved.parent_note}")
    trainee = build(resolved, log=print)
    print(f"  {condition}: {resolved.conditioning}")
    config, encoder = trainee.config, trainee.encoder

    def dataset(seed: int):
        return trainee.stream(seed).repeat()
    return trainee.gan, dataset, encoder, config


def train_both(args, store: str) -> dict:
    """Train the models of --models taking turns (or, with --trained, load those an earlier
    run kept) and keep each one's weights and counts in OUT/NAME."""
    state = {}
    for name, condition in (("unconditional", "none"), ("conditional", "descriptions")):
        if name not in args.models.split(","):
            continue
        workdir = os.path.join(args.out, name)
        gan, dataset, encoder, config = make_trainee(store, condition, workdir,
                                                     **dict(args.set))
        state[name] = {"gan": gan, "dataset": dataset, "encoder": encoder, "config": config,
                       "batch": config.batch_size, "workdir": workdir}
    if args.trained:
        for s in state.values():
            s["gan"].load_weights(os.path.join(s["workdir"], "trained.weights.h5"))
            with open(os.path.join(s["workdir"], "trained.json")) as fh:
                s.update(json.load(fh))
        return state
    take_turns(state, args.minutes, args.slice, args.eval_at)
    for s in state.values():
        s["gan"].save_weights(os.path.join(s["workdir"], "trained.weights.h5"))
        with open(os.path.join(s["workdir"], "trained.json"), "w") as fh:
            json.dump({"images": s["images"], "seconds": s["seconds"]}, fh)
    return state


def real_split(store: str, split: str):
    """(uint8 images, category names) of a split, read in blocks."""
    import h5py

    from streamgan.store import contract
    info = contract.open_store(store)
    rows = np.flatnonzero(info.split_mask(split))
    with h5py.File(info.h5_path, "r") as f:
        images = np.concatenate([f[contract.IMAGES][rows[i:i + 1024]]
                                 for i in range(0, len(rows), 1024)])
        labels = [d.decode() for d in f[contract.DESCRIPTION][:][rows]]
    return images, labels


def real_features(features, store: str, split: str, images: np.ndarray) -> np.ndarray:
    """Inception features of a split's photos, cached beside the store (keyed by its file)."""
    from streamgan.store import contract
    info = contract.open_store(store)
    stat = os.stat(info.h5_path)
    cache = os.path.join(os.path.dirname(store),
                         f"inception-{split}-{stat.st_size}-{stat.st_mtime_ns}.npy")
    if os.path.exists(cache):
        return np.load(cache)
    values = features(images)
    np.save(cache, values)
    return values


BLUR_SIZE = 16  # about the sharpness of a 64 px GAN's images after minutes on a CPU


def blurred(images: np.ndarray) -> np.ndarray:
    """uint8 images down to BLUR_SIZE px and back up (bilinear), in blocks."""
    import tensorflow as tf
    size = images.shape[1:3]
    return np.concatenate([
        tf.cast(tf.round(tf.image.resize(tf.image.resize(
            tf.cast(images[i:i + 512], tf.float32), (BLUR_SIZE, BLUR_SIZE), antialias=True),
            size)), tf.uint8).numpy()
        for i in range(0, len(images), 512)])


def generate(gan, encoder, prompts: list[str], per_prompt: int, pixel_range, seed: int):
    """uint8 images: per_prompt for each prompt (unconditional: per_prompt * len(prompts))."""
    from streamgan.train import quality
    if encoder is None:
        return quality.generated_images(gan.sampler, per_prompt * len(prompts), pixel_range,
                                        seed=seed)
    return np.concatenate([
        quality.generated_images(gan.sampler, per_prompt, pixel_range, seed=seed + i,
                                 conditions=encoder.encode([prompt]))
        for i, prompt in enumerate(prompts)])


def parse_pick(text: str) -> dict:
    """'select=4+truncation=0.5' -> {"select": 4, "truncation": 0.5, "name": ...}."""
    pick = {"select": 1, "truncation": None}
    for part in text.split("+"):
        key, _, value = part.partition("=")
        if key not in pick:
            raise argparse.ArgumentTypeError(f"{part!r}: a pick sets select=K and/or "
                                             "truncation=T")
        pick[key] = int(value) if key == "select" else float(value)
    parts = ([f"select{pick['select']}"] if pick["select"] > 1 else []) + (
        [f"truncation{pick['truncation']:g}"] if pick["truncation"] is not None else [])
    pick["name"] = "-".join(parts) or "plain"
    return pick


def selected(gan, ids: np.ndarray, pick: dict, groups: int, pixel_range, seed: int,
             batch_size: int = 100) -> np.ndarray:
    """uint8 images, one per row of ids, drawn as `streamgan generate --select K --truncation
    T` draws them: in each of `groups` equal, consecutive groups of rows, the discriminator's
    favourites among K times as many candidates with the same conditions, from noise
    truncated at +-T."""
    from streamgan.train.generate import draw_noise, picked
    from streamgan.train.images import to_uint8
    select = pick["select"]
    candidates = np.repeat(ids, select, axis=0)
    noise = draw_noise(len(candidates), int(gan.sampler.inputs[0].shape[-1]), seed,
                       pick["truncation"])
    return to_uint8(picked(gan.sampler, gan.discriminator, noise, candidates, groups, select,
                           batch_size), pixel_range)


def judge_prompts(classifier, features, images: np.ndarray, per_prompt: int, classes: int):
    """(prompt x verdict shares, the images' features) of per_prompt images per prompt."""
    extracted = features(images)
    predicted = classifier.predict(extracted)
    return np.stack([np.bincount(predicted[i * per_prompt:(i + 1) * per_prompt],
                                 minlength=classes) / per_prompt
                     for i in range(classes)]), extracted


def category_kids(extracted: np.ndarray, per_prompt: int, kid_per_prompt: int,
                  val_features: np.ndarray, val_names: list[str], categories: list[str]):
    """{category: (KID, std)} of each prompt's first kid_per_prompt images against the real
    validation photos of that category."""
    from streamgan.train import quality
    names = np.array(val_names)
    return {c: quality.kid(extracted[i * per_prompt:i * per_prompt + kid_per_prompt],
                           val_features[names == c])
            for i, c in enumerate(categories)}


def consistency_curve(cond: dict, score, categories: list[str], per_prompt: int,
                      final: tuple, path: str) -> list[dict]:
    """Consistency (and mean per-category KID) of the conditional model at each --eval-at
    mark (its generator then), and a PNG of consistency against images trained on: does it
    climb with training, and how fast, and what does quality do meanwhile?
    score(images) -> (shares, {category: (KID, std)}); final: the trained model's own, for a
    mark taken when training ended."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sampler = cond["gan"].sampler
    trained = [np.array(w) for w in sampler.get_weights()]
    curve = []
    for mark, weights in cond["snapshots"]:
        if cond["seen"][mark] == cond["images"]:  # the trained model, judged already
            shares, kids = final
        else:
            sampler.set_weights(weights)
            shares, kids = score(generate(cond["gan"], cond["encoder"], categories, per_prompt,
                                          cond["config"].pixel_range, seed=11))
        kid = float(np.mean([k for k, _ in kids.values()]))
        curve.append({"minutes": mark / 60, "images_seen": cond["seen"][mark],
                      "mean_consistency": float(shares.mean()), "mean_category_kid": kid,
                      "consistency": dict(zip(categories, shares.round(4).tolist()))})
        print(f"  conditional at {mark / 60:5.1f} min ({cond['seen'][mark]:>7} images): "
              f"mean consistency {shares.mean():.1%}, mean per-category KID {kid:.4f}",
              flush=True)
    sampler.set_weights(trained)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    seen = [c["images_seen"] / 1000 for c in curve]
    for category in categories:
        ax.plot(seen, [c["consistency"][category] for c in curve], lw=1, alpha=0.6,
                label=category)
    ax.plot(seen, [c["mean_consistency"] for c in curve], "k-o", lw=2.5, label="mean")
    ax.axhline(0.8, color="k", ls="--", lw=1)
    ax.text(seen[0], 0.81, "target 80%", fontsize=8)
    ax.axhline(0.1, color="grey", ls=":", lw=1)
    ax.set(xlabel="thousands of images trained on", ylabel="share judged as the prompt",
           ylim=(0, 1), title="Class consistency of the conditional model during training")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return curve


def plot_judged(judged: np.ndarray, categories: list[str], prior, path: str) -> None:
    """What the judge calls each prompt's images (rows sum to 1), and under them what it calls
    the unconditional model's: a prompt followed is a bright diagonal cell in a dim column."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    table = judged if prior is None else np.vstack([judged, prior])
    labels = categories + ([] if prior is None else ["(no prompt)"])
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    ax.imshow(table, cmap="viridis", vmin=0, vmax=1)
    for (row, col), value in np.ndenumerate(table):
        ax.text(col, row, f"{value:.0%}", ha="center", va="center", fontsize=7,
                color="black" if value > 0.5 else "white")
    ax.set_xticks(range(len(categories)), categories, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="judged as", ylabel="prompted", title="What the judge calls generated images")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--slice", type=float, default=60.0, help="seconds per turn")
    parser.add_argument("--eval-at", default="", metavar="MINUTES,...",
                        type=lambda text: [float(m) for m in text.split(",") if m],
                        help="also judge the conditional model as it was at these minutes of "
                             "training (curve.png)")
    parser.add_argument("--per-prompt", type=int, default=1000,
                        help="generated images classified per category")
    parser.add_argument("--kid-per-prompt", type=int, default=200,
                        help="generated images per category scored by KID")
    parser.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                        type=option_value,
                        help="a training option for both models, e.g. condition_ramp=6000")
    parser.add_argument("--blurred-judge", action=argparse.BooleanOptionalAction, default=False,
                        help=f"teach the judge blurred copies of the photos too (down to "
                             f"{BLUR_SIZE} px and back), so it reads a blurry generated "
                             "garment by its shape and colour")
    parser.add_argument("--picks", default="select=4,select=16,truncation=0.5",
                        metavar="PICK,...",
                        type=lambda text: [parse_pick(p) for p in text.split(",") if p],
                        help="also judge the conditional model's images drawn as `streamgan "
                             "generate --select K --truncation T` draws them, for each pick "
                             "(select=K, truncation=T or both, e.g. select=4+truncation=0.5)")
    parser.add_argument("--trained", action="store_true",
                        help="score the models an earlier run with the same --out kept, "
                             "instead of training")
    parser.add_argument("--models", default="unconditional,conditional",
                        help="which to train (the overall KID ratio needs both)")
    args = parse_args(parser, "conditioning")
    if args is None:
        return 1
    store = build_store(args.store_cache, 64)
    print(f"bench.conditioning: store {store}; {args.minutes:g} min per model")

    train_images, train_names = real_split(store, "train")
    val_images, val_names = real_split(store, "validation")
    categories = sorted(set(train_names))
    index = {c: i for i, c in enumerate(categories)}
    from streamgan.train import quality
    started = time.time()
    features = quality.InceptionFeatures()
    val_features = real_features(features, store, "validation", val_images)
    train_features = real_features(features, store, "train", train_images)
    train_labels = np.array([index[c] for c in train_names])
    val_labels = np.array([index[c] for c in val_names])
    if args.blurred_judge:  # taught on the photos and on blurred copies of them as well
        train_features = np.concatenate([train_features, real_features(
            features, store, f"train-blurred{BLUR_SIZE}", blurred(train_images))])
        train_labels = np.concatenate([train_labels, train_labels])
    classifier = LinearProbe(train_features, train_labels, len(categories))
    verdicts = classifier.predict(val_features)
    ceiling = float((verdicts == val_labels).mean())
    # the target averages over categories, so its ceiling is the judge's mean per category
    ceilings = {c: float((verdicts[val_labels == i] == i).mean())
                for i, c in enumerate(categories)}
    mean_ceiling = float(np.mean(list(ceilings.values())))
    print(f"  classifier: {ceiling:.1%} on {len(val_images)} real validation photos, "
          f"{mean_ceiling:.1%} on average over categories "
          f"({time.time() - started:.0f} s)")
    if args.blurred_judge:
        blurred_ceiling = float((classifier.predict(real_features(
            features, store, f"validation-blurred{BLUR_SIZE}", blurred(val_images)))
            == val_labels).mean())
        print(f"  classifier: {blurred_ceiling:.1%} on the same photos blurred")

    state = train_both(args, store)

    from streamgan.train.images import make_grid, save_png
    results = {"minutes": args.minutes, "classifier_ceiling": ceiling,
               "classifier_ceiling_per_category": ceilings, "models": {},
               "blurred_judge": args.blurred_judge}
    if args.blurred_judge:
        results["classifier_ceiling_blurred"] = blurred_ceiling
    cond = state["conditional"]
    pixel_range = cond["config"].pixel_range
    generated = generate(cond["gan"], cond["encoder"], categories, args.per_prompt,
                         pixel_range, seed=11)
    judged, generated_features = judge_prompts(classifier, features, generated,
                                               args.per_prompt, len(categories))
    kids = category_kids(generated_features, args.per_prompt, args.kid_per_prompt,
                         val_features, val_names, categories)

    def score(images):  # (consistency per prompt, per-category KIDs) of a curve's mark
        shares, extracted = judge_prompts(classifier, features, images, args.per_prompt,
                                          len(categories))
        return np.diag(shares), category_kids(extracted, args.per_prompt, args.kid_per_prompt,
                                              val_features, val_names, categories)
    if args.eval_at and not args.trained:
        results["curve"] = consistency_curve(cond, score, categories, args.per_prompt,
                                             (np.diag(judged), kids),
                                             os.path.join(args.out, "curve.png"))
    prior = None
    if "unconditional" in state:  # what the judge calls images drawn with no prompt at all
        s = state["unconditional"]
        plain = quality.generated_images(s["gan"].sampler, args.per_prompt * len(categories),
                                         s["config"].pixel_range, seed=13)
        prior = np.bincount(classifier.predict(features(plain)),
                            minlength=len(categories)) / len(plain)
    per_category = {}
    for i, category in enumerate(categories):
        kid, kid_std = kids[category]
        per_category[category] = {"consistency": float(judged[i, i]),
                                  "ceiling": ceilings[category], "kid": kid, "kid_std": kid_std,
                                  "validation_photos": val_names.count(category)}
        if prior is not None:
            per_category[category]["unconditional_share"] = float(prior[i])
    results["per_category"] = per_category
    results["judged"] = {"categories": categories, "shares": judged.round(4).tolist()}
    plot_judged(judged, categories, prior, os.path.join(args.out, "judged.png"))
    results["mean_consistency"] = float(np.mean([v["consistency"]
                                                 for v in per_category.values()]))
    for name, s in state.items():
        if s["encoder"] is None:
            fakes = quality.generated_images(s["gan"].sampler, len(val_images), pixel_range,
                                             seed=3)
        else:  # the validation photos' own descriptions
            fakes = quality.generated_images(s["gan"].sampler, len(val_images), pixel_range,
                                             seed=3, conditions=s["encoder"].encode(val_names))
        kid, kid_std = quality.kid(features(fakes), val_features)
        results["models"][name] = {"kid": kid, "kid_std": kid_std,
                                   "images_seen": s["images"],
                                   "images_per_s": s["images"] / s["seconds"]}
    rows = generate(cond["gan"], cond["encoder"], categories, 10, pixel_range, seed=21)
    save_png(make_grid(rows, 10), os.path.join(args.out, "rows.png"))
    results["selected"] = {}
    prompt_ids = cond["encoder"].encode(categories)
    for pick in args.picks:  # the same, drawn as generate --select / --truncation draws
        name = pick["name"]
        picked = selected(cond["gan"], np.repeat(prompt_ids, args.per_prompt, axis=0), pick,
                          len(categories), pixel_range, seed=17)
        judged_picked, _ = judge_prompts(classifier, features, picked, args.per_prompt,
                                         len(categories))
        plot_judged(judged_picked, categories, None,
                    os.path.join(args.out, f"judged-{name}.png"))
        picked = selected(cond["gan"], cond["encoder"].encode(val_names), pick, len(val_names),
                          pixel_range, seed=3)
        kid, kid_std = quality.kid(features(picked), val_features)
        results["selected"][name] = {
            "consistency": dict(zip(categories, np.diag(judged_picked).round(4).tolist())),
            "mean_consistency": float(np.mean(np.diag(judged_picked))),
            "kid": kid, "kid_std": kid_std}
        rows = selected(cond["gan"], np.repeat(prompt_ids, 10, axis=0), pick, len(categories),
                        pixel_range, seed=21)
        save_png(make_grid(rows, 10), os.path.join(args.out, f"rows-{name}.png"))
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(results, fh, indent=2)

    print(f"\n{args.minutes:g} min of training each, 64 px; classifier ceiling {ceiling:.1%}")
    print(f"{'category':<14}{'consistency':>12}{'ceiling':>9}{'uncond.':>9}{'KID':>9}{'+-':>8}"
          f"{'val photos':>11}" + "".join(f"{p['name']:>22}" for p in args.picks))
    for category, r in per_category.items():
        print(f"{category:<14}{r['consistency']:12.1%}{r['ceiling']:9.1%}"
              f"{r.get('unconditional_share', np.nan):9.1%}"
              f"{r['kid']:9.4f}{r['kid_std']:8.4f}{r['validation_photos']:11d}"
              + "".join(f"{results['selected'][p['name']]['consistency'][category]:22.1%}"
                        for p in args.picks))
    print("  (ceiling: the judge on that category's real validation photos; uncond.: the share "
          "of the unconditional model's images the judge gives that category: what consistency "
          "is without a prompt)")
    print(f"{'mean':<14}{results['mean_consistency']:12.1%}{mean_ceiling:9.1%}"
          "   (target >= 80%, chance 10%)")
    for name, r in results["selected"].items():
        print(f"{name}: mean consistency "
              f"{r['mean_consistency']:.1%}, overall KID {r['kid']:.4f} +- {r['kid_std']:.4f}")
    unconditional = results["models"].get("unconditional", {}).get("kid", float("nan"))
    for name, r in results["models"].items():
        print(f"overall KID {name:<14}{r['kid']:.4f} +- {r['kid_std']:.4f}  "
              f"({r['kid'] / unconditional:.2f}x unconditional; {r['images_per_s']:.1f} img/s)")
    for point in results.get("curve", []):
        print(f"at {point['minutes']:5.1f} min ({point['images_seen']:>7} images): mean "
              f"consistency {point['mean_consistency']:.1%}, mean per-category KID "
              f"{point['mean_category_kid']:.4f}")
    print(f"wrote {args.out}/results.json, rows.png, judged.png"
          + "".join(f", rows-{p['name']}.png, judged-{p['name']}.png" for p in args.picks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
