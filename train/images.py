"""Image grids and PNG files: the one grid helper of the project (samples, generate, inspect).

Works on plain numpy uint8 arrays so any part of streamgan can use it without TensorFlow.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from streamgan.common.files import atomic_path


def to_uint8(images: np.ndarray, pixel_range: tuple[float, float]) -> np.ndarray:
    """Images in the model's pixel range -> uint8: the inverse of the store's TFT transform.

    pixel_range is the store's (`Manifest.pixel_range`, recorded in the run's config.json), so
    the inverse follows the transform wherever it is changed.
    """
    low, high = (float(v) for v in pixel_range)
    images = np.asarray(images, dtype=np.float32)
    return np.clip(np.rint((images - low) * (255.0 / (high - low))), 0, 255).astype(np.uint8)


LABEL_WIDTH = 150  # widest label margin in pixels; longer prompts wrap, then end in "..."


def make_grid(images_uint8: np.ndarray, cols: int | None = None, pad: int = 2,
              pad_value: int = 255, labels: list[str] | None = None) -> np.ndarray:
    """(N, H, W, C) or (N, H, W) uint8 images -> one (rows*H + pad, cols*W + pad, C) uint8 grid.

    cols defaults to ceil(sqrt(N)), a near-square sheet; empty cells of the last row stay
    pad_value, as does the `pad`-pixel border between and around cells.
    labels: one text per row (a conditional grid's prompts), written in a margin left of the
    cells (`label_margin`), so a grid says what each row was asked to be.
    """
    images = np.asarray(images_uint8)
    if images.dtype != np.uint8:
        raise ValueError(f"make_grid takes uint8 images, got {images.dtype} (use to_uint8)")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"make_grid takes a non-empty (N, H, W[, C]) array, got {images.shape}")
    n, h, w, c = images.shape
    cols = max(1, min(n, cols or math.ceil(math.sqrt(n))))
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), pad_value, np.uint8)
    for i, image in enumerate(images):
        y, x = pad + (i // cols) * (h + pad), pad + (i % cols) * (w + pad)
        grid[y:y + h, x:x + w] = image
    if labels is None:
        return grid
    labels = [str(label) for label in labels]
    if len(labels) != rows:
        raise ValueError(f"make_grid: {len(labels)} labels for a grid of {rows} rows")
    return np.concatenate([label_margin(labels, h, pad, c, pad_value), grid], axis=1)


def _font(row_height: int):
    """Pillow's built-in font (a scalable one where Pillow has FreeType): 12 px, two lines to
    a 32 px row, smaller only for rows too low to hold one line."""
    from PIL import ImageFont
    return ImageFont.load_default(size=max(8, min(12, row_height - 3)))


def _wrap(text: str, font, width: int, max_lines: int) -> list[str]:
    """text in at most max_lines lines no wider than width pixels: words wrapped greedily,
    a word too long for a line cut, the last line ending in "..." when text is left over."""
    def fits(line):
        return font.getlength(line) <= width

    def cut(line):
        while line and not fits(line + "..."):
            line = line[:-1]
        return line.rstrip() + "..."

    lines, words = [], text.split()
    while words:
        line = words.pop(0)
        if not fits(line):
            line = cut(line)
        while words and fits(f"{line} {words[0]}"):
            line = f"{line} {words.pop(0)}"
        lines.append(line)
        if len(lines) == max_lines and words:
            lines[-1] = cut(f"{lines[-1]} {words[0]}")
            break
    return lines


def label_margin(labels: list[str], row_height: int, pad: int = 2, channels: int = 3,
                 pad_value: int = 255) -> np.ndarray:
    """The margin make_grid puts left of a labelled grid: each row's label, wrapped to fit
    LABEL_WIDTH, centred on its row; as tall as a grid of len(labels) rows of row_height."""
    from PIL import ImageDraw
    font = _font(row_height)
    ascent, descent = font.getmetrics()
    line_height = ascent + descent
    max_lines = max(1, row_height // line_height)
    wrapped = [_wrap(label, font, LABEL_WIDTH, max_lines) for label in labels]
    width = math.ceil(max((font.getlength(line) for lines in wrapped for line in lines),
                          default=0)) + 2 * pad + 2
    height = len(labels) * (row_height + pad) + pad
    mode = "L" if channels == 1 else "RGB"
    ink = 0 if pad_value >= 128 else 255
    canvas = Image.new(mode, (width, height), pad_value if mode == "L" else (pad_value,) * 3)
    draw = ImageDraw.Draw(canvas)
    for row, lines in enumerate(wrapped):
        top = pad + row * (row_height + pad) + (row_height - len(lines) * line_height) // 2
        for k, line in enumerate(lines):
            draw.text((pad + 1, top + k * line_height), line, font=font,
                      fill=ink if mode == "L" else (ink,) * 3)
    margin = np.asarray(canvas, np.uint8)
    return margin[..., None] if channels == 1 else margin[..., :channels]


def save_png(array: np.ndarray, path: str) -> str:
    """Write an (H, W), (H, W, 1) or (H, W, 3) uint8 array as PNG, atomically; return path.

    Atomic (temp file + rename) so a viewer, or a run killed mid-write, never sees half a file.
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
    return path
