"""The streaming input pipeline: an HDF5 image store -> shuffled tf.data mini-batches in [-1, 1].

This is the one module of train/ that touches h5py. The store can be far larger than RAM, so the
pipeline never holds more than a few bounded windows of it:

    chunk ids --shuffle (new order every epoch)--> windows of W random chunks --read (one h5py
    call per chunk, `readers` windows in flight)--> uint8 window --permute its images and cut
    them into raw-bytes strings (graph ops)--> rebatch --> TFT transform layer (bytes -> float32
    in [-1, 1], the graph saved in the store) --> prefetch

Why this shape (measured with bench/train.py):
- h5py serialises every call behind one global lock, so many small reads (one per image, as in
  `from_generator` feeders) pay that lock and Python overhead per image. One call per stored
  chunk (`StoreInfo.chunk_rows` rows, about 1 MiB) reads contiguous bytes at disk speed, and
  HDF5 decodes each chunk exactly once.
- Shuffling happens at two levels: the order of chunks (cheap: 8 bytes per chunk id), and a
  full permutation of the images of each window of W random chunks (~16 MiB by default), so
  every batch mixes images from W places in the catalogue. Peak memory is a few windows plus a
  few batches, whatever the size of the store (see also bound_malloc_arenas).
- Everything per image runs as TensorFlow ops on whole windows, outside the GIL: the TFT graph
  wants one bytes string per image, and producing those in Python (`tobytes` per image, then a
  copy into TF strings) cost a third of the pipeline's speed. Instead the window is serialised
  once and `tf.strings.substr` cuts it into images, in permuted order, in one op.
- The h5py file is opened lazily in the process that reads, and is never pickled: a handle
  inherited across fork shares HDF5's internal state with the parent and corrupts reads.
- Pixels are converted by the store's own TFT graph, so training sees exactly the scaling the
  store declares (its manifest's pixel range), whatever changes in preprocessing.
- A conditional run (train/conditioning.py) reads each chunk's condition text (one description
  drawn per image and epoch, or a categorical field's value) in the same call as its pixels,
  permutes it with them, and maps it to ids through the same TFT graph: batches are
  (images, condition ids) pairs that belong together, in the same bounded memory.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import math
import os
import threading

import h5py
import numpy as np

from streamgan.common.errors import ConfigError, StoreError
from streamgan.store import contract
from streamgan.train.config import SHUFFLE_WINDOW_MIB

SHUFFLE_WINDOW_BYTES = SHUFFLE_WINDOW_MIB << 20  # images permuted together, in whole chunks
MIN_WINDOW_CHUNKS = 4
MAX_WINDOW_BYTES = 1 << 30         # a window is serialised as one string: protobuf caps it at 2 GiB


@dataclasses.dataclass
class StoreReader:
    """Reads images from store.h5 in whole chunks. Safe to pickle and to carry across fork.

    rows: which of the first `stored` images to read (a boolean mask, e.g. one split), or None
    for all of them. A chunk is still read whole, one h5py call, and the rows not wanted are
    dropped from it in memory.
    """
    h5_path: str
    stored: int       # images of the store read from (the first `stored`)
    image_size: int
    chunk_rows: int
    rows: np.ndarray | None = None
    condition: str | None = None  # "descriptions", a categorical field, or None

    def __post_init__(self) -> None:
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        if self.rows is not None:
            self.rows = np.asarray(self.rows[:self.stored], bool)
            wanted = np.add.reduceat(self.rows, np.arange(0, self.stored, self.chunk_rows))
            self._chunks = np.flatnonzero(wanted).astype(np.int64)
            self.num_images = int(self.rows.sum())
        else:
            self._chunks = None
            self.num_images = self.stored

    @classmethod
    def from_info(cls, info: contract.StoreInfo, rows: np.ndarray | None = None,
                  max_images: int | None = None) -> "StoreReader":
        """A reader of the store's images selected by `rows`, the first max_images of them."""
        stored = info.num_images
        if max_images is not None:
            if rows is None:
                stored = min(max_images, stored)
            else:  # the position after the max_images-th selected image
                positions = np.flatnonzero(rows)
                stored = int(positions[max_images - 1]) + 1 if len(positions) > max_images \
                    else stored
        if rows is not None and not rows[:stored].any():
            raise StoreError(f"{info.store_dir}: no images to train on in the chosen split")
        return cls(info.h5_path, stored, info.image_size, info.chunk_rows, rows)

    def with_condition(self, condition: str | None) -> "StoreReader":
        """This reader, also reading each image's condition text (see read_chunks_with_text)."""
        return dataclasses.replace(self, condition=condition)

    @property
    def chunk_ids(self) -> np.ndarray:
        """The chunks holding at least one wanted image."""
        if self._chunks is not None:
            return self._chunks
        return np.arange(math.ceil(self.stored / self.chunk_rows), dtype=np.int64)

    @property
    def num_chunks(self) -> int:
        return len(self.chunk_ids)

    @property
    def image_bytes(self) -> int:
        return self.image_size * self.image_size * 3

    def chunk_bounds(self, chunk: int) -> tuple[int, int]:
        start = int(chunk) * self.chunk_rows
        return start, min(self.stored, start + self.chunk_rows)

    def read(self, start: int, stop: int) -> np.ndarray:
        """uint8 (stop - start, S, S, 3), in one h5py call."""
        return self._images()[start:stop]

    def read_chunk(self, chunk: int) -> np.ndarray:
        return self.read(*self.chunk_bounds(chunk))

    def read_chunks(self, chunks) -> np.ndarray:
        """The images of several chunks, one h5py call each, straight into one array."""
        bounds = [self.chunk_bounds(c) for c in sorted(int(c) for c in chunks)]  # disk order
        out = np.empty((sum(b - a for a, b in bounds), self.image_size, self.image_size, 3),
                       np.uint8)
        images, pos = self._images(), 0
        for start, stop in bounds:
            # read_direct skips the temporary array a slice read would allocate and copy
            images.read_direct(out, np.s_[start:stop], np.s_[pos:pos + stop - start])
            pos += stop - start
        if self.rows is None:
            return out
        return out[np.concatenate([self.rows[start:stop] for start, stop in bounds])]

    def read_chunks_with_text(self, chunks, seed) -> tuple[np.ndarray, np.ndarray]:
        """(images, condition texts) of several chunks; a record's description is drawn from
        its descriptions by `seed`, so every description is used over the epochs."""
        images = self.read_chunks(chunks)
        bounds = [self.chunk_bounds(c) for c in sorted(int(c) for c in chunks)]
        rng = np.random.default_rng(np.asarray(seed, np.int64) & 0x7FFFFFFF)
        texts = [self._texts(np.s_[start:stop], rng) for start, stop in bounds]
        texts = np.concatenate(texts) if texts else np.empty(0, object)
        if self.rows is not None:
            texts = texts[np.concatenate([self.rows[start:stop] for start, stop in bounds])]
        return images, texts

    def _texts(self, rows, rng: np.random.Generator) -> np.ndarray:
        """The condition text of the images at `rows` (a slice or sorted positions), as bytes
        objects; only those rows are read."""
        f = self._images().file
        if self.condition == contract.DESCRIPTIONS_CONDITION:
            lists = [json.loads(v) for v in f[contract.DESCRIPTIONS][rows]]
            texts = [d[int(rng.integers(len(d)))] if d else "" for d in lists]
        else:
            texts = [contract.field_value(json.loads(v), self.condition)
                     for v in f[contract.EXTRA][rows]]
        return np.array([t.encode("utf-8") for t in texts], dtype=object)

    def condition_texts(self, num: int, seed: int = 0) -> list[str]:
        """The condition texts of up to num images spread over the selection (bounded reads)."""
        wanted = np.flatnonzero(self.rows) if self.rows is not None else np.arange(self.stored)
        if len(wanted) > num:
            wanted = np.sort(np.random.default_rng(seed).choice(wanted, num, replace=False))
        rng = np.random.default_rng(seed)
        texts = []
        for start in range(0, len(wanted), 4096):  # a sample of a large store: its rows only
            texts.extend(self._texts(wanted[start:start + 4096], rng))
        return [t.decode("utf-8") for t in texts]

    def frequent_conditions(self, top: int, scan: int) -> list[str]:
        """The most frequent non-empty condition texts among `scan` images, most frequent first."""
        counts = collections.Counter(t.strip() for t in self.condition_texts(scan, seed=1)
                                     if t.strip())
        return [text for text, _ in counts.most_common(top)]

    def _images(self) -> h5py.Dataset:
        # Opened on first use in this process; reopened in a forked child (see module doc).
        if self._file is None or self._pid != os.getpid():
            with self._lock:
                if self._file is None or self._pid != os.getpid():
                    # We read every chunk once per epoch: HDF5's chunk cache would only add a copy.
                    self._file = h5py.File(self.h5_path, "r", rdcc_nbytes=0)
                    self._pid = os.getpid()
        return self._file[contract.IMAGES]

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.update(_file=None, _pid=None, _lock=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def bound_malloc_arenas(max_arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for this process; False where that is not possible.

    tf.data runs the reads, the cutting and the transform on several threads, and glibc gives
    each thread its own arena (up to 8 per core) that keeps the memory of freed windows. Peak
    memory then creeps up for a while as each arena reaches its own high-water mark: measured
    +50 to +150 MiB over an epoch of a 10x store. With two arenas it stays flat, at no
    measurable cost in speed (the big buffers are few and large). Process-wide: call it from
    a training process's entry point, not from library code shared with other work.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return bool(libc and libc.mallopt(-8, int(max_arenas)))  # -8: M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False


def load_transform(store_dir: str):
    """The store's TFT graph as a function: batch of raw image bytes -> float32 (B, S, S, 3).

    Only the `image` feature is fed; TFT prunes the graph to what that output needs.
    """
    import tensorflow_transform as tft

    try:
        layer = tft.TFTransformOutput(store_dir).transform_features_layer()
    except Exception as e:  # TF raises many types for a damaged SavedModel
        raise StoreError(
            f"{os.path.join(store_dir, contract.TRANSFORM_DIR)} is unreadable "
            f"({type(e).__name__}): preprocess the catalogue again with --overwrite") from None

    def transform(raw_images):
        return layer({contract.FEATURE_IMAGE: raw_images})[contract.OUT_IMAGE]

    transform.layer = layer  # keep the loaded graph alive as long as the function
    return transform


def window_chunks(reader: StoreReader, shuffle_buffer: int | None = None) -> int:
    """Chunks per shuffle window: shuffle_buffer images (default ~16 MiB), in whole chunks."""
    if shuffle_buffer is None:
        chunk_bytes = reader.chunk_rows * reader.image_bytes
        chunks = max(MIN_WINDOW_CHUNKS, SHUFFLE_WINDOW_BYTES // chunk_bytes)
    else:
        chunks = max(1, math.ceil(shuffle_buffer / reader.chunk_rows))
    chunks = min(chunks, reader.num_chunks)
    if chunks * reader.chunk_rows * reader.image_bytes > MAX_WINDOW_BYTES:
        raise ConfigError(f"shuffle buffer of {shuffle_buffer} images is over "
                          f"{MAX_WINDOW_BYTES >> 20} MiB of {reader.image_size} px images: "
                          "choose a smaller --shuffle-buffer")
    return int(chunks)


def num_batches(num_images: int, batch_size: int) -> int:
    """Batches per epoch; the last one is partial when batch_size does not divide num_images."""
    return math.ceil(num_images / batch_size)


def window_order(window, seed=None):
    """The order in which a window's images are emitted: permuted by the stateless `seed`
    (shape [2]) when given, as stored otherwise."""
    import tensorflow as tf

    n = tf.shape(window, out_type=tf.int64)[0]
    return tf.range(n) if seed is None else tf.random.experimental.stateless_shuffle(
        tf.range(n), seed)


def window_to_strings(window, seed=None, order=None):
    """uint8 (n, S, S, 3) -> n strings of raw image bytes (the TFT graph's `image` input),
    in `order` (default: window_order(window, seed))."""
    import tensorflow as tf

    n = tf.shape(window, out_type=tf.int64)[0]
    image_bytes = tf.reduce_prod(tf.shape(window, out_type=tf.int64)[1:])
    # A serialised uint8 tensor ends with its raw content (tensor_content is the proto's last
    # field), so the images are the last n * image_bytes bytes, back to back.
    blob = tf.io.serialize_tensor(window)
    header = tf.cast(tf.strings.length(blob), tf.int64) - n * image_bytes
    if order is None:
        order = window_order(window, seed)
    return tf.strings.substr(blob, header + order * image_bytes, tf.fill([n], image_bytes))


def stream_dataset(reader: StoreReader, transform, batch_size: int, *, seed: int = 0,
                   shuffle: bool = True, shuffle_buffer: int | None = None, readers: int = 2,
                   encode_condition=None, repeat_factors=None):
    """A tf.data.Dataset of float32 (B, S, S, 3) batches in [-1, 1]: every image once per epoch
    (unless repeat_factors redraws them).

    Each iteration (each epoch of `fit`) draws a new order; the sequence of orders is fixed by
    `seed`. transform: from load_transform(), or None for batches of raw image bytes.
    shuffle_buffer: images permuted together (rounded up to whole chunks; default ~16 MiB).
    encode_condition: for a reader with a condition, text (B,) -> ids (B, T) (a
    conditioning.ConditionEncoder); batches are then (images, ids) pairs.
    repeat_factors: for a shuffled stream with a condition, text (n,) -> factors (n,) (a
    balance.RepeatFactors): each window draws images of rare conditions more often and keeps
    its length.
    """
    import tensorflow as tf

    from streamgan.train.balance import resample

    size = reader.image_size
    chunks = tf.data.Dataset.from_tensor_slices(reader.chunk_ids)
    if shuffle:
        chunks = chunks.shuffle(reader.num_chunks, seed=seed, reshuffle_each_iteration=True)
    windows = chunks.batch(window_chunks(reader, shuffle_buffer))
    seeds = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True).batch(2)

    def read(chunk_ids, window_seed):
        if reader.condition is None:
            window = tf.numpy_function(reader.read_chunks, [chunk_ids], tf.uint8,
                                       stateful=False, name="read_hdf5_chunks")
        else:
            window, texts = tf.numpy_function(
                reader.read_chunks_with_text, [chunk_ids, window_seed[0]],
                (tf.uint8, tf.string), stateful=False, name="read_hdf5_chunks_and_text")
        window = tf.ensure_shape(window, [None, size, size, 3])
        order = window_order(window, window_seed if shuffle else None)
        if reader.condition is None:
            return window_to_strings(window, order=order)
        texts = tf.ensure_shape(texts, [None])
        if repeat_factors is not None and shuffle:
            order = resample(order, repeat_factors(tf.gather(texts, order)), window_seed)
        return window_to_strings(window, order=order), tf.gather(texts, order)

    def model_ready(raw, texts=None):
        images = raw if transform is None else tf.ensure_shape(transform(raw),
                                                               [None, size, size, 3])
        return images if texts is None else (images, encode_condition(texts))

    # deterministic=True keeps the order a function of the seed; it costs little here because
    # h5py runs one read at a time anyway, while other windows are cut and transformed.
    images = tf.data.Dataset.zip(windows, seeds).map(
        read, num_parallel_calls=readers, deterministic=True)
    batches = images.rebatch(batch_size)  # whole batches across windows: no per-image ops
    if transform is not None or reader.condition is not None:
        batches = batches.map(model_ready, num_parallel_calls=tf.data.AUTOTUNE,
                              deterministic=True)
    # rebatch() hides the length; stating it lets fit() show progress and size its epochs.
    batches = batches.apply(tf.data.experimental.assert_cardinality(
        num_batches(reader.num_images, batch_size)))
    return batches.prefetch(tf.data.AUTOTUNE)
