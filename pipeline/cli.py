"""The `streamgan` console script.

    streamgan preprocess --catalog catalog.json --output store/ --image-size 64
    streamgan train --store store/ --workdir runs/exp1 --epochs 30 --batch-size 64
    streamgan generate --workdir runs/exp1 --num 64 --out samples.png
    streamgan run --catalog catalog.json --workdir work/
    streamgan inspect work/store
    streamgan demo

Each subcommand lives in its own module and registers itself through `register(subparsers)`;
heavy imports (Beam, TensorFlow) happen inside the command, so `--help` stays instant.
User mistakes are reported as one line naming what to do next, never as a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# Subcommand name -> module defining register(subparsers).
COMMANDS = {
    "preprocess": "pipeline.preprocess_cmd",
    "train": "pipeline.train_cmd",
    "generate": "pipeline.generate_cmd",
    "run": "pipeline.run_cmd",
    "inspect": "pipeline.inspect_cmd",
    "demo": "pipeline.demo_cmd",
}


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'the user asked for something that cannot be done'."""
    from preprocess.catalog import CatalogError
    from preprocess.store_format import StoreError
    from train.config import ConfigError
    return (CatalogError, StoreError, ConfigError, FileExistsError, FileNotFoundError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamgan", description=__doc__.split("\n\n")[0],
        epilog="Run `streamgan COMMAND --help` for the options and examples of each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS.values():
        importlib.import_module(module).register(subparsers)
    return parser


def quiet_tensorflow(command: str) -> None:
    """TF's C++ start-up chatter hides the progress users need; warnings and errors still show.
    Preprocessing never uses a GPU, so its (many) worker processes need not probe CUDA."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if command == "preprocess":
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    quiet_tensorflow(args.command)
    if extra and not getattr(args, "pass_through", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args, extra) or 0)
    except user_errors() as e:
        print(f"streamgan {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"streamgan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
