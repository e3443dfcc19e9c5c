"""Bytes -> a square uint8 RGB image, or a specific reason why not.

Pillow decodes JPEG, PNG, WebP, GIF (first frame), BMP and TIFF. EXIF orientation is applied,
every mode becomes RGB with transparency composited onto the background (catalogue photos sit
on white; 16-bit greyscale is scaled, CMYK converted, palettes expanded), decompression bombs
are refused by a pixel cap before decoding, and so are images more than `max_aspect` times
longer than wide (or wider than long): a 1x4000 strip is a banner or a broken file, and padded
or cropped to a square it would be a line or a smear, never a garment. Bytes that are not an
image are named (an HTML page, a JSON document, an SVG drawing) so the error report says what
the server sent instead. JPEGs are
decoded at reduced scale (Pillow's `draft`, the JPEG library's DCT scaling) when the target is
much smaller: several times faster than decoding full size and then shrinking.
"""
from __future__ import annotations

import io
import json
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from streamgan.common.errors import RecordError

FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO")
MAX_ASPECT = 10.0  # longest side / shortest side; see the module docstring

# Our own pixel cap replaces Pillow's global one (which warns, then raises at 2x).
Image.MAX_IMAGE_PIXELS = None


def sniff(data: bytes) -> tuple[str, str] | None:
    """(reason, message) for bytes Pillow cannot open that are a recognisable non-image."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:4096].lower()):
        return "unsupported_format", "an SVG (vector) drawing: only raster images are accepted"
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "not_an_image", f"an HTML page, not an image ({len(data)} bytes)"
    if head[:1] in (b"{", b"["):
        try:
            json.loads(data.decode("utf-8"))
            return "not_an_image", f"a JSON document, not an image ({len(data)} bytes)"
        except ValueError:
            pass
    return None


def _fit_size(width: int, height: int, size: int, fit: str) -> tuple[int, int]:
    """The smallest (w, h) the decoded image must keep so the final resize only shrinks."""
    scale = size / (max(width, height) if fit == "pad" else min(width, height))
    return max(1, int(width * scale)), max(1, int(height * scale))


def _to_rgb(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa"):
        img = img.convert("RGBA")
        canvas = Image.new("RGB", img.size, background)
        canvas.paste(img, mask=img.getchannel("A"))
        return canvas
    if img.mode.startswith("I;16") or img.mode == "I":
        # 16-bit greyscale: scale 0..65535 to 0..255 instead of clipping everything above 255
        # to white. A 32-bit integer image ("I", e.g. TIFF) whose values stay within 0..255
        # is taken as 8-bit.
        arr = np.asarray(img, dtype=np.float64)
        full = 65535.0 if img.mode != "I" or float(arr.max()) > 255 else 255.0
        return Image.fromarray((arr * (255.0 / full)).round().clip(0, 255)
                               .astype(np.uint8)).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def decode_image(data: bytes, size: int, fit: str = "pad",
                 background: tuple[int, int, int] = (255, 255, 255),
                 max_pixels: int = 64 * 1024 * 1024, max_aspect: float = MAX_ASPECT) -> np.ndarray:
    """Decode and resize to uint8 (size, size, 3). Raises RecordError with a reason code:
    empty, not_an_image, unsupported_format, too_many_pixels, aspect_ratio, truncated,
    corrupt."""
    if not data:
        raise RecordError("empty", "zero bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on odd EXIF; the image is still fine
            img = Image.open(io.BytesIO(data))
            if img.format not in FORMATS:
                raise RecordError("unsupported_format", f"{img.format} images are not accepted")
            width, height = img.size
            if width * height > max_pixels:
                raise RecordError("too_many_pixels", f"{width}x{height} pixels exceeds "
                                                     f"--max-pixels {max_pixels} (decompression bomb?)")
            if width < 1 or height < 1:
                raise RecordError("corrupt", f"image of size {width}x{height}")
            _check_aspect(width, height, size, fit, max_aspect)
            if img.format in ("JPEG", "MPO"):
                img.draft("RGB", _fit_size(width, height, size, fit))
            img.load()
            img = ImageOps.exif_transpose(img)
            img = _to_rgb(img, background)
            if fit == "pad":
                img = ImageOps.pad(img, (size, size), Image.Resampling.LANCZOS, color=background)
            else:
                img = ImageOps.fit(img, (size, size), Image.Resampling.LANCZOS)
    except RecordError:
        raise
    except UnidentifiedImageError:
        named = sniff(data)
        if named:
            raise RecordError(*named) from None
        head = data[:24].decode("latin-1").encode("unicode_escape").decode("ascii")
        raise RecordError("not_an_image", f"not an image (starts with {head!r})") from None
    except OSError as e:
        text = str(e)
        if "truncated" in text.lower() or "premature end" in text.lower():
            raise RecordError("truncated", f"truncated file ({len(data)} bytes): {text}") from None
        raise RecordError("corrupt", text or type(e).__name__) from None
    except (ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        raise RecordError("corrupt", f"{type(e).__name__}: {e}") from None
    pixels = np.asarray(img, dtype=np.uint8)
    assert pixels.shape == (size, size, 3), pixels.shape
    return pixels


def _check_aspect(width: int, height: int, size: int, fit: str, max_aspect: float) -> None:
    """The aspect rule: the long side at most max_aspect times the short one, and, padded,
    the short side at least one pixel of the stored image."""
    long, short = max(width, height), min(width, height)
    if long > max_aspect * short:
        raise RecordError("aspect_ratio", f"{width}x{height} is more than {max_aspect:g} times "
                                          "longer than wide (--max-aspect)")
    if fit == "pad" and short * size < long:
        raise RecordError("aspect_ratio", f"{width}x{height} padded to {size}x{size} px would "
                                          "be less than a pixel wide")


_LEVELS = np.arange(256, dtype=np.float64)


def channel_moments(pixels: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and mean of squares of one uint8 image: what TFT needs for statistics.

    From per-channel histograms: exact, and 4x faster than float means (this runs per image)."""
    flat = pixels.reshape(-1, 3)
    n = flat.shape[0]
    hists = [np.bincount(flat[:, c], minlength=256) for c in range(3)]
    return ([float(h @ _LEVELS) / n for h in hists],
            [float(h @ (_LEVELS * _LEVELS)) / n for h in hists])
