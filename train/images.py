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


def make_grid(images_uint8: np.ndarray, cols: int | None = None, pad: int = 2,
              pad_value: int = 255) -> np.ndarray:
    """(N, H, W, C) or (N, H, W) uint8 images -> one (rows*H + pad, cols*W + pad, C) uint8 grid.

    cols defaults to ceil(sqrt(N)), a near-square sheet; empty cells of the last row stay
    pad_value, as does the `pad`-pixel border between and around cells.
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
    return grid


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
