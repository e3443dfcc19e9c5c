"""A small store of synthetic product photos in categories, with train/validation/test splits.

Each category has its own background colour; each photo a square of a random colour at a
random place and a random brightness, so photos of a category differ from one another and
categories differ from each other. Written through the store contract (StoreWriter, Manifest);
the TFT graph is borrowed from another 32 px store (evaluation never transforms images).
"""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from streamgan.store import contract
from tests.train.tiny_store import write_manifest

CATEGORIES = ("dress", "hat", "shoes", "t-shirt")  # "t-shirt": two words, one category
COLOURS = ((200, 40, 40), (40, 160, 40), (40, 40, 200), (200, 200, 40))
PER_SPLIT = {"train": 60, "validation": 20, "test": 20}
SIZE = 32


def photos(category: int, count: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((count, SIZE, SIZE, 3), np.uint8)
    for i in range(count):
        image = np.array(COLOURS[category], np.float64) * rng.uniform(0.7, 1.1)
        image = np.broadcast_to(image, (SIZE, SIZE, 3)).copy()
        y, x = rng.integers(0, SIZE - 12, 2)
        image[y:y + 12, x:x + 12] = rng.uniform(0, 255, 3)
        out[i] = np.clip(image + rng.normal(0, 6, image.shape), 0, 255)
    return out


def build(store_dir: str, transform_from: str,
          sentences: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """Write the store; return {split: {category: its store rows}}. sentences: each photo
    described by a sentence of its own ("a bright dress, item 7") instead of its category."""
    rng = np.random.default_rng(0)
    images, rows, where = [], [], {s: {c: [] for c in CATEGORIES} for s in PER_SPLIT}
    for split, count in PER_SPLIT.items():
        for c, name in enumerate(CATEGORIES):
            for image in photos(c, count, rng):
                i = len(rows)
                where[split][name].append(i)
                text = f"a {('bright', 'plain')[i % 2]} {name}, item {i}" if sentences else name
                images.append(image)
                rows.append({contract.INDEX: i, contract.URL: f"http://127.0.0.1/{i}.png",
                             contract.DESCRIPTION: text,
                             contract.DESCRIPTIONS: json.dumps([text]),
                             contract.SHA256: f"{i:064x}", contract.SPLIT: split,
                             contract.EXTRA: "{}"})
    os.makedirs(store_dir, exist_ok=True)
    with contract.StoreWriter(os.path.join(store_dir, contract.STORE_FILE), len(rows),
                              SIZE) as writer:
        writer.write(0, np.stack(images), rows)
    contract.copy_transform(transform_from, store_dir)
    words = ["dress", "hat", "shoes", "t", "shirt"]
    write_manifest(store_dir, len(rows), SIZE,
                   vocabulary=contract.Vocabulary(size=len(words), top=tuple(words)))
    manifest = contract.Manifest.read(store_dir)  # the real splits, not tiny_store's
    pixels = np.stack(images).reshape(-1, 3).astype(np.float64)
    dataclasses.replace(
        manifest,
        counts=dataclasses.replace(manifest.counts, splits={
            s: n * len(CATEGORIES) for s, n in PER_SPLIT.items()}),
        statistics=contract.Statistics(channel_mean=tuple(pixels.mean(0).tolist()),
                                       channel_std=tuple(pixels.std(0).tolist())),
    ).write(store_dir)
    return {s: {c: np.array(v) for c, v in per.items()} for s, per in where.items()}


def pixel_features(images: np.ndarray) -> np.ndarray:
    """A cheap stand-in for the Inception features: 8x8 mean-pooled pixels (192 values)."""
    images = np.asarray(images, np.float64)
    n = len(images)
    return images.reshape(n, 8, SIZE // 8, 8, SIZE // 8, 3).mean((2, 4)).reshape(n, -1)
