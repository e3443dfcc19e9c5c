"""Helpers shared by the tests of every package: small synthetic images made in memory (never
the shared photos), what a user sees after a failure, and a legal other value of an option.

Two helper libraries with a job of their own stay apart: tests/http_faults.py (misbehaving HTTP
endpoints for pipeline/serve.py) and tests/train/tiny_store.py (small real stores).
"""
from __future__ import annotations

import dataclasses
import io

import numpy as np
from PIL import Image

# --- images ------------------------------------------------------------------------------------


def solid(colour, size=(40, 30), mode="RGB") -> Image.Image:
    return Image.new(mode, size, colour)


def encode(img: Image.Image, fmt: str = "JPEG", **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def colour_of(i: int) -> tuple[int, int, int]:
    """The colour numbered(i) is made of."""
    return (int(i * 37 % 200) + 20, int(i * 91 % 200) + 20, int(i * 53 % 200) + 20)


def numbered(i: int, size=(48, 64)) -> Image.Image:
    """An image whose colour encodes i, so tests can tell stored images apart."""
    rng = np.random.default_rng(i)
    arr = np.empty((size[1], size[0], 3), np.uint8)
    arr[:] = colour_of(i)
    arr += rng.integers(0, 3, arr.shape, dtype=np.uint8)  # distinct bytes for each i
    return Image.fromarray(arr)


# --- the terminal after a failure ----------------------------------------------------------------


def our_lines(err: str) -> list[str]:
    """streamgan's own lines in a captured stderr (pytest's capture also shows framework logs)."""
    return [line for line in err.splitlines() if line.startswith("streamgan ")]


def one_line(capsys, *fragments) -> str:
    """The single streamgan line of the captured stderr, with no traceback; it must hold every
    fragment."""
    err = capsys.readouterr().err
    ours = our_lines(err)
    assert len(ours) == 1 and "Traceback" not in err, err[-3000:]
    for fragment in fragments:
        assert fragment in ours[0], ours[0]
    return ours[0]


# --- options -----------------------------------------------------------------------------------


def another_value(field: dataclasses.Field):
    """A legal value of an option field different from its default."""
    choices = field.metadata.get("choices")
    if choices:
        return next(c for c in choices if c != field.default)
    if field.name == "image_size":
        return 32
    if field.name == "background":
        return (0, 0, 0)
    if isinstance(field.default, bool):
        return not field.default
    if field.default is None:
        return 7
    if field.default is dataclasses.MISSING:  # a required option (a path)
        return "another"
    return field.default * 2
