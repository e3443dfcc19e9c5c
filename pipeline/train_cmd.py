"""`streamgan train`: train a GAN on an image store, streamed from disk in mini-batches.

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


def register(subparsers) -> None:
    from streamgan.common.options import add_options
    from streamgan.train.config import TrainConfig
    parser = subparsers.add_parser(
        "train", help="train the GAN on a store (streamed from disk), resumable",
        description=description(), formatter_class=argparse.RawDescriptionHelpFormatter)
    # Defaults are None so that --resume can tell what the user changed from the saved run;
    # the help shows TrainConfig's defaults, which apply to a new run.
    add_options(parser, TrainConfig, none_defaults=True)
    parser.add_argument("--dry-run", action="store_true",
                        help="print the resolved options and exit")
    parser.set_defaults(func=main)


def description() -> str:
    """The module docstring with the architectures after its first line, the default named
    from TrainConfig and the registry (so help never names another than the one that trains)."""
    import dataclasses
    import textwrap

    from streamgan.train.config import TrainConfig
    from streamgan.train.registry import ARCHITECTURES
    default = {f.name: f.default for f in dataclasses.fields(TrainConfig)}["arch"]
    head, rest = __doc__.split("\n", 1)
    lines = [textwrap.fill(f"{name}{' (the default)' if name == default else ''}: "
                           f"{arch.summary}", 92, initial_indent="  ", subsequent_indent="    ")
             for name, arch in ARCHITECTURES.items()]
    return f"{head}\n\narchitectures (--arch):\n" + "\n".join(lines) + "\n" + rest


def log_folder(args: argparse.Namespace) -> str | None:
    """The run's workdir; none for a dry run of a new run (a dry run creates nothing)."""
    import os
    if not args.workdir or (args.dry_run and not os.path.isdir(args.workdir)):
        return None
    return args.workdir


def config_from_args(args: argparse.Namespace):
    """The TrainConfig the command line asks for: a new run, or the saved run with changes."""
    from streamgan.common.errors import ConfigError
    from streamgan.common.options import given
    from streamgan.train.config import TrainConfig
    from streamgan.train.loop import resume_config

    options = given(TrainConfig, args)
    options.pop("resume", None)
    if not args.workdir:
        raise ConfigError("--workdir is required: the run directory to create or resume")
    if args.resume:
        options.pop("workdir")
        return resume_config(args.workdir, **options)
    if "store" not in options:
        raise ConfigError("--store is required to start a run (it may be left out with --resume)")
    return TrainConfig(**options).validate()


def main(args: argparse.Namespace, extra: list[str]) -> int:
    from streamgan.common.logs import console
    config = config_from_args(args)
    if args.dry_run:
        print(json.dumps(config.to_dict(), indent=2, sort_keys=True))
        return 0
    from streamgan.train.loop import train
    try:
        train(config)
    except KeyboardInterrupt:
        print(f"streamgan train: interrupted; continue with `streamgan train --workdir "
              f"{config.workdir} --resume`", file=console())
        return 130
    return 0
