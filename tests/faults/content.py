"""Image files as real catalogues serve them, made in memory: odd modes and formats, and files
that are broken on purpose. Each is described by what a correct decoder must produce."""
from __future__ import annotations

import struct
import zlib

import numpy as np
from PIL import Image

from tests.helpers import encode


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_16bit_rgb(colour16: tuple[int, int, int], size=(24, 24)) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one), written by hand."""
    w, h = size
    row = b"\0" + struct.pack(">" + "H" * 3 * w, *(colour16 * w))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(row * h)) + _chunk(b"IEND", b""))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header claims width x height pixels (10 gigapixels): a decompression bomb
    is refused from its header, before any decoding."""
    data = encode(Image.new("L", (1, 1)), "PNG")
    ihdr_at = 8
    length = struct.unpack(">I", data[ihdr_at:ihdr_at + 4])[0]
    body = struct.pack(">II", width, height) + data[ihdr_at + 16:ihdr_at + 8 + length]
    return data[:ihdr_at] + _chunk(b"IHDR", body) + data[ihdr_at + 12 + length:]


def png_corrupt() -> bytes:
    """A PNG whose compressed pixel data is overwritten with garbage."""
    rng = np.random.default_rng(5)
    data = bytearray(encode(Image.fromarray(rng.integers(0, 255, (40, 40, 3), np.uint8)), "PNG"))
    start = data.index(b"IDAT") + 4
    data[start + 10:start + 200] = bytes(190)
    return bytes(data)


def gif_two_frames(first, second, size=(30, 30)) -> bytes:
    frames = [Image.new("RGB", size, first), Image.new("RGB", size, second)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def exif_rotated_jpeg(size=(40, 20)) -> bytes:
    """Stored landscape with the left half red and the right half blue, EXIF orientation 6
    (rotate 90 degrees clockwise to display): upright, it is portrait, red on top."""
    w, h = size
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = (255, 0, 0)
    arr[:, w // 2:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(Image.fromarray(arr), "JPEG", quality=95, exif=exif.tobytes())


def la_half_transparent(grey: int, size=(32, 32)) -> bytes:
    """Grey + alpha: the left half fully transparent, the right half opaque `grey`."""
    w, h = size
    arr = np.zeros((h, w, 2), np.uint8)
    arr[..., 0] = grey
    arr[:, w // 2:, 1] = 255
    return encode(Image.fromarray(arr, "LA"), "PNG")


SVG = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b'<rect width="10" height="10" fill="red"/></svg>')
JSON_BODY = b'{"error": {"code": 404, "message": "image not found"}}'
HTML_BODY = b"<!DOCTYPE html><html><body><h1>Access denied</h1></body></html>"
