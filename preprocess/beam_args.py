"""Which command-line arguments Beam knows as pipeline options.

`preprocess`, `run` and `demo` hand every argument they do not know to Beam's PipelineOptions,
and Beam drops what *it* does not know with one log line ("Discarding unparseable args"), so a
misspelt option (`--learning_rate` for `--learning-rate`) would silently vanish.
`not_beam_options(args)` asks Beam's own option classes instead of a hand-kept list, the way
`PipelineOptions.get_all_options` parses: every `PipelineOptions` subclass adds its flags to one
parser (`_add_argparse_args`), so the standard, direct, Dataflow (Google Cloud, worker, setup),
portable, Flink, Spark and Prism options, and those of any options class a plugin defines, all
count. A known flag with a bad value (`--direct_num_workers two`) is an error too.
"""
from __future__ import annotations


class BeamArgumentError(ValueError):
    """A Beam option given a value Beam cannot parse."""


def _parser():
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    class Parser(_BeamArgumentParser):
        def error(self, message):  # argparse would print its usage and exit
            raise BeamArgumentError(message)

    parser = Parser(allow_abbrev=False, add_help=False)
    # As get_all_options: an options class defined twice (a re-imported main module) counts once.
    classes = {str(cls): cls for cls in PipelineOptions.__subclasses__()}
    for cls in classes.values():
        cls._add_argparse_args(parser)  # Beam's own hook; there is no public list of flags
    return parser


def beam_flags() -> list[str]:
    """Every flag (`--runner`, `--temp_location`, ...) Beam's option classes define."""
    return [flag for action in _parser()._actions for flag in action.option_strings]


def not_beam_options(args: list[str]) -> list[str]:
    """The arguments of `args` that no Beam options class takes (flags and stray values), in
    order. Raises BeamArgumentError when a Beam flag's value does not parse."""
    _, unknown = _parser().parse_known_args(args)
    return unknown


def refusal(args: list[str], own_flags: list[str]) -> str | None:
    """None when every argument of `args` is a Beam pipeline option; otherwise the one-line
    reason, naming the closest of `own_flags` (the command's flags, preferred) or Beam's."""
    from streamgan.common.options import unknown_argument
    try:
        unknown = not_beam_options(args)
    except BeamArgumentError as e:
        return f"Beam pipeline option {e}"
    if not unknown:
        return None
    return unknown_argument(unknown, [*own_flags, *beam_flags()],
                            "is neither a streamgan option nor a Beam pipeline option")
