"""Builds small but real streamgan stores for the train/ tests.

The store is written through the store contract exactly as the preprocessing job writes one:
images through `store.contract.StoreWriter`, the manifest through `store.contract.Manifest`,
and the TFT `transform_fn` analysed by a real Beam pipeline (streamgan's local runner) from
`preprocess.transform.make_preprocessing_fn`. Pixels encode the
image's index (red = index % 256, green = index // 256), so tests can recover which image a
transformed tensor came from and check that every image arrives exactly once per epoch.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Callable

import numpy as np

from streamgan.preprocess import transform as tft_transform
from streamgan.store import contract as store_format


def index_images(start: int, stop: int, size: int) -> np.ndarray:
    """uint8 (stop - start, size, size, 3) images whose pixels encode their index."""
    idx = np.arange(start, stop)
    images = np.zeros((len(idx), size, size, 3), np.uint8)
    images[..., 0] = (idx % 256)[:, None, None]
    images[..., 1] = (idx // 256)[:, None, None]
    images[..., 2] = 128
    return images


def decode_index(transformed: np.ndarray) -> np.ndarray:
    """Inverse of index_images for images in the model's [-1, 1] range: their indices."""
    pixels = np.rint((np.asarray(transformed)[:, 0, 0, :2] + 1.0) * 127.5).astype(np.int64)
    return pixels[:, 0] + 256 * pixels[:, 1]


def split_of(i: int, validation_every: int | None) -> str:
    """The split of image i: every validation_every-th is "validation", the rest "train"
    (None: no splits, "")."""
    if not validation_every:
        return ""
    return "validation" if i % validation_every == 0 else "train"


# image index -> (its descriptions, its other catalogue fields); the default describes nothing
Describe = Callable[[int], "tuple[list[str], dict]"]


def plain(i: int) -> tuple[list[str], dict]:
    return [f"tiny image {i}"], {}


def write_images(store_dir: str, num_images: int, size: int, chunk_rows: int | None = None,
                 block: int = 1024, validation_every: int | None = None,
                 describe: Describe = plain) -> None:
    """store.h5 with index-encoding images, written block by block (bounded memory)."""
    os.makedirs(store_dir, exist_ok=True)
    path = os.path.join(store_dir, store_format.STORE_FILE)
    with store_format.StoreWriter(path, num_images, size, chunk_rows=chunk_rows) as writer:
        for start in range(0, num_images, block):
            stop = min(num_images, start + block)
            rows = []
            for i in range(start, stop):
                descriptions, extra = describe(i)
                rows.append({store_format.INDEX: i, store_format.URL: f"http://127.0.0.1/{i}.png",
                             store_format.DESCRIPTION: (descriptions or [""])[0],
                             store_format.DESCRIPTIONS: json.dumps(descriptions),
                             store_format.SHA256: f"{i:064x}",
                             store_format.SPLIT: split_of(i, validation_every),
                             store_format.EXTRA: json.dumps(extra)})
            writer.write(start, index_images(start, stop, size), rows)


def write_transform_fn(store_dir: str, size: int, num_rows: int = 8,
                       describe: Describe | None = None, fields: tuple[str, ...] = ()) -> None:
    """Analyse make_preprocessing_fn(size) with Beam + TFT and save transform_fn/ in store_dir.

    describe: analyse the descriptions and fields of images 0..num_rows-1 as the job would
    (default: a few fixed descriptions unrelated to the store's, as an unconditional test needs).
    """
    import apache_beam as beam
    import tensorflow_transform.beam as tft_beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    from streamgan.preprocess import runners

    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(tft_transform.feature_spec(fields)))
    rng = np.random.default_rng(0)
    rows = []
    for i in range(num_rows):
        mean = rng.uniform(0, 255, 3).astype(np.float32)
        descriptions, extra = describe(i) if describe else ([f"tiny red dress {i}"], {})
        rows.append({store_format.FEATURE_IMAGE: b"",
                     tft_transform.DESCRIPTION_TEXT: "\n".join(descriptions),
                     tft_transform.CHANNEL_MEAN: mean.tolist(),
                     tft_transform.CHANNEL_SQ_MEAN: (mean ** 2 + 100.0).tolist(),
                     **{store_format.field_feature(f): store_format.field_value(extra, f)
                        for f in fields}})
    with tempfile.TemporaryDirectory() as tmp, tft_beam.Context(temp_dir=tmp):
        with runners.pipeline(PipelineOptions()) as pipeline:  # streamgan's local runner
            transform_fn = (
                (pipeline | "CreateRows" >> beam.Create(rows), metadata)
                | "Analyze" >> tft_beam.AnalyzeDataset(tft_transform.make_preprocessing_fn(
                    size, fields=fields)))
            _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(store_dir)


def write_manifest(store_dir: str, num_images: int, size: int,
                   validation_every: int | None = None,
                   vocabulary: store_format.Vocabulary | None = None) -> None:
    """manifest.json through the contract's Manifest, as the job writes it."""
    from streamgan.preprocess.transform import PIXEL_RANGE
    splits: dict[str, int] = {}
    for i in range(num_images):
        name = split_of(i, validation_every) or "(none)"
        splits[name] = splits.get(name, 0) + 1
    store_format.Manifest(
        catalog=store_format.CatalogSection(path="tiny.json", sha256="0" * 64, format="jsonl",
                                            records=num_images),
        counts=store_format.Counts(records=num_images, written=num_images, rejected=0,
                                   duplicates=0, fetched=num_images, splits=splits),
        image=store_format.ImageSection(size=size, pixel_range=PIXEL_RANGE),
        vocabulary=vocabulary or store_format.Vocabulary(),
    ).write(store_dir)
    open(os.path.join(store_dir, store_format.ERRORS_FILE), "w").close()


def build_store(store_dir: str, num_images: int, size: int, chunk_rows: int | None = None,
                transform_from: str | None = None, validation_every: int | None = None) -> str:
    """A complete store of num_images index-encoding images of size px.

    transform_from: an existing store of the same size whose transform_fn/ is reused (copied),
    which skips the Beam run when a test needs several stores.
    """
    write_images(store_dir, num_images, size, chunk_rows, validation_every=validation_every)
    return finish_store(store_dir, num_images, size, transform_from, validation_every)


def build_described_store(store_dir: str, num_images: int, size: int, describe: Describe,
                          fields: tuple[str, ...] = (), chunk_rows: int | None = None,
                          validation_every: int | None = None) -> str:
    """A store whose descriptions and fields come from describe(i), analysed by TFT over every
    record as the job does, with the manifest's vocabulary summary read back from the graph
    (and every validation_every-th image in a validation split)."""
    import tensorflow_transform as tft

    write_images(store_dir, num_images, size, chunk_rows, validation_every=validation_every,
                 describe=describe)
    write_transform_fn(store_dir, size, num_images, describe, fields)
    output = tft.TFTransformOutput(store_dir)

    def words(name):
        return [w.decode() for w in output.vocabulary_by_name(name)]
    vocabulary = store_format.Vocabulary.of(
        words(store_format.DESCRIPTION_VOCABULARY),
        {f: words(store_format.field_vocabulary(f)) for f in fields})
    write_manifest(store_dir, num_images, size, validation_every, vocabulary=vocabulary)
    return store_dir


def finish_store(store_dir: str, num_images: int, size: int,
                 transform_from: str | None = None, validation_every: int | None = None) -> str:
    """Complete a store whose store.h5 is written: its transform_fn/ (analysed, or copied from
    transform_from, an existing store of the same size) and its manifest."""
    if transform_from:
        store_format.copy_transform(transform_from, store_dir)
    else:
        write_transform_fn(store_dir, size)
    write_manifest(store_dir, num_images, size, validation_every)
    return store_dir
