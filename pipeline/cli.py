"""The `streamgan` console script.

    streamgan preprocess --catalog catalog.json --output store/ --image-size 64
    streamgan train --store store/ --workdir runs/exp1 --epochs 30 --batch-size 64
    streamgan generate --workdir runs/exp1 --num 64 --out samples.png
    streamgan evaluate --workdir runs/exp1
    streamgan run --catalog catalog.json --workdir work/
    streamgan inspect work/store
    streamgan demo

Each subcommand lives in its own module and registers itself through `register(subparsers)`;
heavy imports (Beam, TensorFlow) happen inside the command, so `--help` stays instant.
User mistakes are reported as one line naming what to do next, never as a traceback.
Framework output (TensorFlow, absl, Beam workers) goes to `streamgan.log` in the folder the
command works in (`log_folder(args)` of its module; the rule is in common/logs.py), after a line
naming the command; `-v` shows it on the terminal instead.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import os
import shlex
import sys
import traceback

from streamgan.common import logs
from streamgan.common.errors import UserError
from streamgan.common.files import disk_full
from streamgan.common.options import unknown_argument

# Subcommand name -> module defining register(subparsers) and log_folder(args).
COMMANDS = {
    "preprocess": "streamgan.pipeline.preprocess_cmd",
    "train": "streamgan.pipeline.train_cmd",
    "generate": "streamgan.pipeline.generate_cmd",
    "evaluate": "streamgan.pipeline.evaluate_cmd",
    "run": "streamgan.pipeline.run_cmd",
    "inspect": "streamgan.pipeline.inspect_cmd",
    "demo": "streamgan.pipeline.demo_cmd",
}

USER_ERRORS = (UserError, FileExistsError, FileNotFoundError)


class OneLineErrors(argparse.ArgumentParser):
    """An argparse parser whose mistakes are one line (argparse prints the whole usage first,
    which for `run`'s sixty options buries the line that matters). Abbreviations are not
    accepted: `--epoch` is a typo that names the option meant, not a silent `--epochs`."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(
        prog="streamgan", description=__doc__.split("\n\n")[0],
        epilog="Run `streamgan COMMAND --help` for the options and examples of each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS.values():
        importlib.import_module(module).register(subparsers)
    for sub in subparsers.choices.values():
        sub.add_argument("-v", "--verbose", action="store_true",
                         help="show TensorFlow, Beam and worker logs on the terminal instead "
                              "of the log file")
        sub.set_defaults(command_parser=sub)
    return parser


def flags_of(parser: argparse.ArgumentParser) -> list[str]:
    """Every flag a (sub)command's parser takes."""
    return [flag for action in parser._actions for flag in action.option_strings]


def reject_unknown(args: argparse.Namespace, extra: list[str]) -> None:
    """Exit with one line when an argument is not the command's: for the commands that run a
    Beam job (`pass_through`), when it is not a Beam pipeline option either. The line names
    the option it most likely meant. Runs before any work, so a typo never silently vanishes."""
    if not extra:
        return
    sub = args.command_parser
    if getattr(args, "pass_through", False):
        from streamgan.preprocess.beam_args import refusal
        problem = refusal(extra, flags_of(sub))
    else:
        problem = unknown_argument(extra, flags_of(sub), f"is not an option of {sub.prog}")
    if problem:
        sub.error(problem)


def log_file(args: argparse.Namespace) -> str | None:
    """Where the command's framework output goes: `streamgan.log` in the folder its module's
    `log_folder(args)` names (its workdir, or where its output goes); None: no log."""
    folder = importlib.import_module(COMMANDS[args.command]).log_folder(args)
    return os.path.join(os.path.abspath(folder), logs.LOG_FILE) if folder is not None else None


def header(argv: list[str]) -> str:
    """The line a command's log section starts with: when, what, which process."""
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"==== {when} streamgan {shlex.join(argv)} (pid {os.getpid()})"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    reject_unknown(args, extra)
    if args.command == "preprocess":  # its many worker processes never use a GPU
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    path = None if args.verbose else log_file(args)
    with logs.capture(path, header(sys.argv[1:] if argv is None else argv)):
        try:
            return int(args.func(args, extra) or 0)
        except USER_ERRORS as e:
            print(f"streamgan {args.command}: error: {e}", file=logs.console())
            return 2
        except KeyboardInterrupt:
            print(f"streamgan {args.command}: interrupted", file=logs.console())
            return 130
        except Exception as e:
            full = disk_full(e)
            if full:  # a full disk is the machine's state, not a bug: one line
                print(f"streamgan {args.command}: error: the disk is full ({full}); free some "
                      "space and rerun: what was published or checkpointed before is intact",
                      file=logs.console())
                return 2
            traceback.print_exc(file=logs.console())
            if path:
                print(f"streamgan {args.command}: failed; framework output is in {path}",
                      file=logs.console())
            return 1


if __name__ == "__main__":
    sys.exit(main())
