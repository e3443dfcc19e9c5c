"""Options declared once: a config dataclass field carries its default, help, command-line flag
and what it means for the store or the run; the argparse options and the from-args constructor
are derived from it.

    @dataclasses.dataclass(frozen=True)
    class PreprocessConfig:
        image_size: int = option(64, help="side of the stored images in pixels", store=True)

    add_options(parser, PreprocessConfig)          # --image-size, typed, with "(default 64)"
    config = from_args(PreprocessConfig, args)     # the dataclass, from the parsed namespace

Marks on an option, read by the code that cares instead of hand-kept lists:
- store=True: the option changes what a store holds, so `streamgan run` keys stores by it;
- fixed=True: the option defines a training run's model, so a resume must not change it;
- pixels=True: the option decides a record's stored pixels (or whether it has any), so a
  previous store's images are reused only when it made them with the same values;
- shape=True: the option decides the shapes of a training run's weights, so a warm start
  (another run's weights as the starting point) needs the same value.
"""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Callable, Iterable

_MISSING = dataclasses.MISSING


def option(default: Any = _MISSING, *, help: str, flag: str | None = None,
           parse: Callable[[str], Any] | None = None, choices: Iterable[Any] | None = None,
           store: bool = False, fixed: bool = False, pixels: bool = False, shape: bool = False,
           cli: bool = True,
           group: str | None = None, default_text: str | None = None,
           metavar: str | None = None) -> Any:
    """A dataclass field that is also a command-line option (see the module docstring).

    parse: turns the command-line text into the value (default: the field's type);
    default_text: how help shows the default when its repr would not do ("white", "64 MiB");
    cli=False: a recorded field that no command line sets (e.g. taken from the store);
    group: the help section the option is listed under.
    """
    metadata = {"help": help, "flag": flag, "parse": parse,
                "choices": tuple(choices) if choices is not None else None,
                "store": store, "fixed": fixed, "pixels": pixels, "shape": shape, "cli": cli,
                "group": group,
                "default_text": default_text, "metavar": metavar}
    return dataclasses.field(default=default, metadata=metadata)


def fields(cls, *, cli_only: bool = True) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls)
            if "help" in f.metadata and (f.metadata["cli"] or not cli_only)]


def marked(cls, mark: str) -> tuple[str, ...]:
    """Names of the options carrying a mark ("store", "fixed", "pixels" or "shape"), in
    declaration order."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get(mark))


def flag_of(cls, name: str) -> str:
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    return field.metadata.get("flag") or "--" + name.replace("_", "-")


def _value_type(cls, field: dataclasses.Field) -> Any:
    """The field's type without `| None`."""
    hint = typing.get_type_hints(cls)[field.name]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else str
    return hint


def _parser(cls, field: dataclasses.Field) -> Callable[[str], Any]:
    """How the command line turns the option's text into its value: its `parse`, else its type."""
    return field.metadata["parse"] or _value_type(cls, field)


def parse_value(cls, name: str, text: str) -> Any:
    """The value `--flag text` gives option `name` of cls, parsed as the command line parses
    it (its parse or type, its choices); a bool option takes true/false. For option values
    written as text elsewhere (a benchmark's `batch_size=32`). Raises ValueError naming the
    flag."""
    field = {f.name: f for f in fields(cls)}.get(name)
    if field is None:
        raise ValueError(f"{cls.__name__} has no option {name!r}")
    flag = flag_of(cls, name)
    if _value_type(cls, field) is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{flag} {text}: use true or false")
        return text.lower() in ("true", "1", "yes")
    try:
        value = _parser(cls, field)(text)
    except (TypeError, ValueError, argparse.ArgumentTypeError) as e:
        raise ValueError(f"{flag} {text}: {e}") from None
    choices = field.metadata["choices"]
    if choices is not None and field.metadata["parse"] is None and value not in choices:
        raise ValueError(f"{flag} {text}: use one of {', '.join(map(str, choices))}")
    return value


def _default_text(field: dataclasses.Field) -> str:
    if field.metadata["default_text"] is not None:
        return field.metadata["default_text"]
    return "none" if field.default is None else str(field.default)


def add_options(parser: argparse.ArgumentParser, cls, *, exclude: Iterable[str] = (),
                only: Iterable[str] | None = None, none_defaults: bool = False) -> None:
    """Add cls's options to parser, in declaration order, grouped by their `group`.

    none_defaults: every option defaults to None, so a caller can tell what the user gave
    (`streamgan train --resume` keeps the saved run's values for the rest); help still shows
    the real default. Required options (no default) are required unless none_defaults.
    """
    exclude, only = set(exclude), None if only is None else set(only)
    groups: dict[str | None, Any] = {None: parser}
    for field in fields(cls):
        if field.name in exclude or (only is not None and field.name not in only):
            continue
        meta = field.metadata
        group = meta["group"]
        if group not in groups:
            groups[group] = parser.add_argument_group(group)
        target = groups[group]
        kind = _value_type(cls, field)
        required = field.default is _MISSING and field.default_factory is _MISSING
        kwargs: dict[str, Any] = {"dest": field.name}
        if kind is bool:
            kwargs["action"] = "store_true" if not field.default else "store_false"
            kwargs["default"] = None if none_defaults else field.default
            kwargs["help"] = meta["help"]
        else:
            kwargs["type"] = _parser(cls, field)
            if meta["choices"] is not None and meta["parse"] is None:
                kwargs["choices"] = meta["choices"]
            kwargs["default"] = None if (none_defaults or required) else field.default
            kwargs["required"] = required and not none_defaults
            shown = "" if required else f" (default {_default_text(field)})"
            kwargs["help"] = meta["help"] + shown
            if meta["metavar"]:
                kwargs["metavar"] = meta["metavar"]
            elif meta["choices"] is not None:
                kwargs["metavar"] = "{" + ",".join("none" if c is None else str(c)
                                                   for c in meta["choices"]) + "}"
        target.add_argument(meta["flag"] or "--" + field.name.replace("_", "-"), **kwargs)


def given(cls, args: argparse.Namespace) -> dict[str, Any]:
    """The options of cls present in args and not None (with none_defaults: what the user gave)."""
    out = {}
    for field in fields(cls):
        value = getattr(args, field.name, None)
        if value is not None:
            out[field.name] = value
    return out


def from_args(cls, args: argparse.Namespace, **values: Any):
    """cls built from the parsed options, with `values` (not on the command line) added."""
    return cls(**{**given(cls, args), **values})


def check_choice(cls, name: str, value: Any, error: type[Exception]) -> None:
    """Raise error naming the flag when value is not one of the option's choices."""
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    choices = field.metadata.get("choices")
    if choices is not None and value not in choices:
        shown = ", ".join("none" if c is None else str(c) for c in choices)
        raise error(f"{flag_of(cls, name)} {value}: use one of {shown}")


def closest_flag(argument: str, flags: Iterable[str]) -> str | None:
    """The flag of `flags` a mistyped `argument` most likely meant, or None.

    `--learning_rate` or `--Learning-Rate` -> `--learning-rate` (the same words, spelt as
    streamgan spells flags); otherwise the nearest by difflib's ratio (a slip of a letter or
    two: `--lerning-rate`), taken only when it is close; else a flag the argument only adds
    words to (`--num-images` -> `--num`).
    """
    import difflib
    name = argument.split("=", 1)[0]
    flags = [f for f in flags if f.startswith("--")]
    normal = "--" + name.lstrip("-").replace("_", "-").lower()
    for flag in flags:
        if flag.lower() == normal or flag.lower().replace("_", "-") == normal:
            return flag
    near = difflib.get_close_matches(normal, flags, n=1, cutoff=0.75)
    if near:
        return near[0]
    # a flag with words added: `--num-images` -> `--num`, `--epochs-max` -> `--epochs`
    stems = [f for f in flags if normal.startswith(f.lower().replace("_", "-") + "-")]
    return max(stems, key=len) if stems else None


def unknown_argument(unknown: list[str], flags: Iterable[str], what: str) -> str:
    """The one-line complaint about the first of `unknown` (arguments no parser took): the flag,
    `what` it is not, and the flag of `flags` it most likely meant."""
    first = next((a for a in unknown if a.startswith("-")), unknown[0])
    if not first.startswith("-"):
        return f"unexpected argument {first!r}"
    guess = closest_flag(first, flags)
    return f"{first.split('=', 1)[0]} {what}" + (f": did you mean {guess}?" if guess else "")
