"""`streamgan evaluate`: how good, how varied and how new a run's images are, per category.

Against the store's held-out split, in FID Inception features: KID and FID; precision (do
the images look like real photos?) and recall (do they cover the photos' variety?); novelty
(the share that are not near-copies of a training photo); class consistency (the share a
judge fitted on the training photos' categories files under the category asked for). Each
overall and per category (a `category` field, else the descriptions or their words), beside
what real photos score. Needs the FID Inception network, an optional extra:
pip install 'streamgan[eval]'.

examples:
  # the run's generator against the validation split of the store it trained on
  streamgan evaluate --workdir runs/exp1

  # another store or split, more images (more stable FID), a fixed seed
  streamgan evaluate --workdir runs/exp1 --store store-autumn/ --split train --num 5000

The table is printed and written to WORKDIR/evaluation.json (with sample sizes, 95% intervals
of the shares, stds of KID and FID), the nearest-neighbour panel to WORKDIR/nearest.png and
all of it, with the run's curves and samples, to WORKDIR/report.html. KID is unbiased (0 for
the same distribution) and meaningful with a few hundred images; FID is biased at small
numbers. The store's real features are cached in STORE/features/ for every later run.
"""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="KID, FID, precision, recall, novelty and consistency per category",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True, help="training run directory")
    parser.add_argument("--store", help="store to compare with (default: the run's store)")
    parser.add_argument("--split", default="validation",
                        help="the store's split to compare with; every image when the store "
                             "has no such split (default %(default)s)")
    parser.add_argument("--num", type=int, default=2000,
                        help="generated images, and at most this many real ones "
                             "(default %(default)s)")
    parser.add_argument("--model", help="a .keras generator instead of the run's latest, "
                                        "e.g. WORKDIR/generator_best.keras")
    parser.add_argument("--by", metavar="FIELD",
                        help="group by this categorical field, or `descriptions` (default: "
                             "what the run was conditioned on, else a `category` field, else "
                             "the descriptions)")
    parser.add_argument("--seed", type=int, default=0, help="default %(default)s")
    parser.set_defaults(func=main)


def log_folder(args: argparse.Namespace) -> str:
    return args.workdir


def main(args: argparse.Namespace, extra: list[str]) -> int:
    from streamgan.common.errors import ConfigError
    from streamgan.train.evaluate import evaluate
    from streamgan.train.paths import RunPaths
    if args.num < 2:
        raise ConfigError(f"--num must be at least 2, got {args.num}")
    from streamgan.train.report import text_table
    r = evaluate(args.workdir, store=args.store, split=args.split, num=args.num,
                 seed=args.seed, model=args.model, by=args.by)
    print(f"streamgan evaluate: {r['generated_images']} generated vs {r['real_images']} real "
          f"images ({r['split']} of {r['store']}), {r['seconds']:.0f}s")
    print(f"  FID {r['fid']:.2f}   KID {r['kid']:.4f} +- {r['kid_std']:.4f}")
    print(text_table(r))
    paths = RunPaths(args.workdir)
    print(f"  written to {paths.evaluation}, {paths.nearest_panel}")
    print(f"  report     {paths.report}")
    return 0
