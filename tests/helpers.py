"""Small synthetic test images, made in memory (never the shared photos)."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image


def solid(colour, size=(40, 30), mode="RGB") -> Image.Image:
    return Image.new(mode, size, colour)


def encode(img: Image.Image, fmt: str = "JPEG", **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def numbered(i: int, size=(48, 64)) -> Image.Image:
    """An image whose colour encodes i, so tests can tell stored images apart."""
    rng = np.random.default_rng(i)
    colour = (int(i * 37 % 200) + 20, int(i * 91 % 200) + 20, int(i * 53 % 200) + 20)
    arr = np.empty((size[1], size[0], 3), np.uint8)
    arr[:] = colour
    arr += rng.integers(0, 3, arr.shape, dtype=np.uint8)  # distinct bytes for each i
    return Image.fromarray(arr)


def colour_of(i: int) -> tuple[int, int, int]:
    return (int(i * 37 % 200) + 20, int(i * 91 % 200) + 20, int(i * 53 % 200) + 20)
