"""`streamgan train`: train a DCGAN on an image store, streamed from disk in mini-batches.

examples:
  # 30 epochs on a store made by `streamgan preprocess`
  streamgan train --store store/ --workdir runs/exp1 --epochs 30 --batch-size 64

  # continue that run (after a crash, Ctrl-C, or to train it longer)
  streamgan train --workdir runs/exp1 --resume --epochs 40

  # a bigger generator and discriminator, a larger latent space
  streamgan train --store store/ --workdir runs/wide --base-filters 128 --latent-dim 128

  # a quick smoke test on the first 512 images; show the resolved options only
  streamgan train --store store/ --workdir runs/try --epochs 1 --max-images 512
  streamgan train --store store/ --workdir runs/try --dry-run

The workdir collects checkpoints/ (every epoch), generator.keras (the latest generator, for
`streamgan generate`), samples/epochNNNN.png, history.csv, loss_curve.png, logs/ for
TensorBoard (`tensorboard --logdir runs/exp1/logs`) and config.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train the GAN on a store (streamed from disk), resumable",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # Defaults are None so that --resume can tell what the user changed from the saved run;
    # the effective defaults are those of train.config.TrainConfig.
    parser.add_argument("--store", help="store directory made by `streamgan preprocess` "
                        "(with --resume: default, the run's store)")
    parser.add_argument("--workdir", required=True, help="run directory (created if missing)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --workdir from its last checkpoint")
    parser.add_argument("--epochs", type=int, help="train until this many epochs (default 30)")
    parser.add_argument("--batch-size", type=int, help="images per step (default 64)")
    group = parser.add_argument_group("model (fixed for the life of a run)")
    group.add_argument("--latent-dim", type=int, help="noise dimensions (default 100)")
    group.add_argument("--base-filters", type=int,
                       help="width of the nets, doubled towards the 4x4 core (default 64)")
    group.add_argument("--image-size", type=int,
                       help="expected image size; default: the store's (checked if given)")
    group.add_argument("--num-samples", type=int,
                       help="images in the per-epoch sample grid (default 64)")
    group = parser.add_argument_group("optimisation and input")
    group.add_argument("--learning-rate", type=float, help="Adam learning rate (default 2e-4)")
    group.add_argument("--beta-1", type=float, help="Adam beta_1 (default 0.5)")
    group.add_argument("--seed", type=int, help="seed of weights, noise and data order (default 0)")
    group.add_argument("--shuffle-buffer", type=int,
                       help="images in the shuffle buffer (default: about 64 MiB of them)")
    group.add_argument("--readers", type=int, help="HDF5 chunk reads in flight (default 2)")
    group.add_argument("--keep-checkpoints", type=int, help="newest checkpoints kept (default 3)")
    group = parser.add_argument_group("debugging")
    group.add_argument("--max-images", type=int, help="train on the first N images only")
    group.add_argument("--dry-run", action="store_true",
                       help="print the resolved options and exit")
    parser.set_defaults(func=main)


# Options of the command that are TrainConfig fields.
_CONFIG_OPTIONS = ("store", "epochs", "batch_size", "latent_dim", "base_filters", "image_size",
                   "num_samples", "learning_rate", "beta_1", "seed", "shuffle_buffer", "readers",
                   "keep_checkpoints", "max_images")


def config_from_args(args: argparse.Namespace):
    """The TrainConfig the command line asks for: a new run, or the saved run with changes."""
    from train.config import ConfigError, TrainConfig
    from train.loop import resume_config

    given = {name: getattr(args, name) for name in _CONFIG_OPTIONS
             if getattr(args, name) is not None}
    if args.resume:
        return resume_config(args.workdir, **given)
    if "store" not in given:
        raise ConfigError("--store is required to start a run (it may be left out with --resume)")
    return TrainConfig(workdir=args.workdir, **given).validate()


def main(args: argparse.Namespace, extra: list[str]) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ start-up chatter out
    config = config_from_args(args)
    if args.dry_run:
        print(json.dumps(config.to_dict(), indent=2, sort_keys=True))
        return 0
    from train.loop import train
    try:
        train(config)
    except KeyboardInterrupt:
        print(f"streamgan train: interrupted; continue with `streamgan train --workdir "
              f"{config.workdir} --resume`", file=sys.stderr)
        return 130
    return 0
