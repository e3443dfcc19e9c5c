"""The on-disk format of a streamgan image store, shared by the writer and the reader.

Everything that names a file, an HDF5 dataset or an attribute lives here, so the preprocessing
job that writes a store and the trainer that reads it cannot drift apart. This module imports
only h5py and numpy: the trainer uses it without pulling in Beam.

A store is a directory (see docs/store-format.md):

    store.h5              images uint8 (N, S, S, 3) in catalogue order, plus per-image metadata
    manifest.json         counts, image size, statistics, catalogue sha256, options, versions
    errors.jsonl          one line per rejected record
    transform_fn/         the TensorFlow Transform graph (tft.TFTransformOutput(store_dir))
    transformed_metadata/
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Iterable, Sequence

import h5py
import numpy as np

SCHEMA_VERSION = 1

STORE_FILE = "store.h5"
MANIFEST_FILE = "manifest.json"
ERRORS_FILE = "errors.jsonl"
TRANSFORM_DIR = "transform_fn"

# HDF5 datasets, all of length N and in catalogue order.
IMAGES = "images"              # uint8 (N, S, S, 3), chunked (chunk_rows, S, S, 3)
INDEX = "index"                # int64: position of the record in the catalogue
URL = "url"                    # str
DESCRIPTION = "description"    # str: the first description of the record
DESCRIPTIONS = "descriptions"  # str: JSON list of every description (duplicates merged in)
SHA256 = "sha256"              # str: hex digest of the fetched bytes
SPLIT = "split"                # str: the record's `split` field, "" when absent
EXTRA = "extra"                # str: JSON object of the record's other fields
METADATA_COLUMNS = (INDEX, URL, DESCRIPTION, DESCRIPTIONS, SHA256, SPLIT, EXTRA)

# HDF5 file attributes.
ATTR_SCHEMA_VERSION = "schema_version"
ATTR_IMAGE_SIZE = "image_size"
ATTR_NUM_IMAGES = "num_images"
ATTR_CHUNK_ROWS = "chunk_rows"

# Raw feature names fed to the TFT transform graph (see preprocess/transform.py).
FEATURE_IMAGE = "image"  # raw bytes of one uint8 (S, S, 3) image

_STR = h5py.string_dtype("utf-8")


class StoreError(ValueError):
    """A store is missing, incomplete, corrupt or not what the caller needs."""


def default_chunk_rows(image_size: int) -> int:
    """Rows per HDF5 chunk: about 1 MiB, the unit in which the trainer reads."""
    return int(max(8, min(1024, (1 << 20) // (image_size * image_size * 3))))


class StoreWriter:
    """Writes store.h5 block by block, in catalogue order. Use as a context manager."""

    def __init__(self, path: str, num_images: int, image_size: int,
                 chunk_rows: int | None = None, compression: str | None = None):
        self.path = path
        self.num_images = num_images
        self.image_size = image_size
        self.chunk_rows = chunk_rows or default_chunk_rows(image_size)
        self._file = h5py.File(path, "w")
        f = self._file
        f.attrs[ATTR_SCHEMA_VERSION] = SCHEMA_VERSION
        f.attrs[ATTR_IMAGE_SIZE] = image_size
        f.attrs[ATTR_NUM_IMAGES] = num_images
        f.attrs[ATTR_CHUNK_ROWS] = self.chunk_rows
        rows = max(1, min(self.chunk_rows, num_images))
        # maxshape lets a chunk be larger than the data, so a store of 0 images (every record
        # rejected) is still a valid, readable store that says so.
        f.create_dataset(IMAGES, shape=(num_images, image_size, image_size, 3), dtype=np.uint8,
                         chunks=(rows, image_size, image_size, 3),
                         maxshape=(None, image_size, image_size, 3),
                         compression=compression or None)
        f.create_dataset(INDEX, shape=(num_images,), dtype=np.int64)
        for name in METADATA_COLUMNS[1:]:
            f.create_dataset(name, shape=(num_images,), dtype=_STR)

    def write(self, start: int, images: np.ndarray, rows: Sequence[dict[str, Any]]) -> None:
        """Write images[i] and rows[i] at position start + i. rows carry METADATA_COLUMNS."""
        stop = start + len(rows)
        if images.shape[1:] != (self.image_size, self.image_size, 3) or images.dtype != np.uint8:
            raise StoreError(f"image block of shape {images.shape} {images.dtype} does not fit "
                             f"a {self.image_size}px uint8 store")
        f = self._file
        f[IMAGES][start:stop] = images
        f[INDEX][start:stop] = [r[INDEX] for r in rows]
        for name in METADATA_COLUMNS[1:]:
            f[name][start:stop] = [r[name] for r in rows]

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclasses.dataclass(frozen=True)
class StoreInfo:
    """What a reader needs to know about a published store."""
    store_dir: str
    h5_path: str
    num_images: int
    image_size: int
    chunk_rows: int
    manifest: dict

    @property
    def transform_dir(self) -> str:
        return self.store_dir


def open_store(store_dir: str, allow_empty: bool = False) -> StoreInfo:
    """Check that store_dir holds a complete, readable store and describe it.

    A store of no images (every record rejected) is complete, but nothing can train on it:
    it is an error unless allow_empty (for looking at why).

    Raises StoreError with a one-line message saying what is wrong and what to do.
    """
    if not os.path.isdir(store_dir):
        raise StoreError(f"no store at {store_dir}: run `streamgan preprocess --output {store_dir}` first")
    h5_path = os.path.join(store_dir, STORE_FILE)
    manifest_path = os.path.join(store_dir, MANIFEST_FILE)
    for path in (h5_path, manifest_path, os.path.join(store_dir, TRANSFORM_DIR)):
        if not os.path.exists(path):
            raise StoreError(f"{store_dir} is not a complete store: {os.path.basename(path)} is "
                             "missing (was preprocessing interrupted? rerun it with --overwrite)")
    try:
        with open(manifest_path) as fh:
            manifest = json.load(fh)
    except (OSError, ValueError) as e:
        raise StoreError(f"{manifest_path} is unreadable: {e}") from None
    try:
        with h5py.File(h5_path, "r") as f:
            version = int(f.attrs.get(ATTR_SCHEMA_VERSION, -1))
            if version != SCHEMA_VERSION:
                raise StoreError(f"{h5_path} has store schema version {version}, this streamgan "
                                 f"reads version {SCHEMA_VERSION}: preprocess the catalogue again")
            images = f[IMAGES]
            n, s = int(images.shape[0]), int(images.shape[1])
            if images.dtype != np.uint8 or images.shape[1:] != (s, s, 3):
                raise StoreError(f"{h5_path}: images are {images.dtype} {images.shape}, "
                                 "expected uint8 (N, S, S, 3)")
            chunk_rows = int(images.chunks[0]) if images.chunks else int(f.attrs[ATTR_CHUNK_ROWS])
    except StoreError:
        raise
    except (OSError, KeyError) as e:
        raise StoreError(f"{h5_path} is corrupt or not a streamgan store ({e}); "
                         "preprocess the catalogue again with --overwrite") from None
    if n == 0 and not allow_empty:
        raise StoreError(f"{store_dir} holds no images (every record was rejected: see "
                         f"{os.path.join(store_dir, ERRORS_FILE)})")
    return StoreInfo(store_dir, h5_path, n, s, chunk_rows, manifest)


def read_errors(store_dir: str) -> Iterable[dict]:
    """The rejected records of a store, one dict per line of errors.jsonl."""
    path = os.path.join(store_dir, ERRORS_FILE)
    if not os.path.exists(path):
        return
    with open(path) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
