"""The on-disk format of a streamgan image store: the one place that names its files, datasets,
attributes and manifest keys. The preprocessing job writes stores only through `StoreWriter`
and `Manifest.write`; every reader (train, inspect, run, evaluate, the tests) opens them only
through `open_store`. Imports only h5py and numpy, so readers need neither Beam nor TensorFlow.

A store is a directory (docs/store-format.md):

    store.h5               images uint8 (N, S, S, 3) in catalogue order, plus per-image metadata
    manifest.json          counts, image size and pixel range, statistics, vocabulary, options
    errors.jsonl           one line per rejected record
    duplicates.jsonl       one line per record dropped as a duplicate of an earlier one
    transform_fn/          the TensorFlow Transform graph (tft.TFTransformOutput(store_dir))
    transformed_metadata/
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from typing import Any, Iterable, Sequence

import h5py
import numpy as np

from streamgan.common.errors import StoreError
from streamgan.common.files import atomic_path, require_room

__all__ = ["StoreError"]  # re-exported: readers catch it from here

SCHEMA_VERSION = 4  # 2: manifest carries image.pixel_range and counts.splits; 3: conditioning
#                     fields (vocabularies of catalogue fields, description tokens); 4: per-row
#                     source and HTTP validators (reuse by the next season), counts.reused

STORE_FILE = "store.h5"
MANIFEST_FILE = "manifest.json"
ERRORS_FILE = "errors.jsonl"
DUPLICATES_FILE = "duplicates.jsonl"
TRANSFORM_DIR = "transform_fn"
TRANSFORMED_METADATA_DIR = "transformed_metadata"

# HDF5 datasets, all of length N and in catalogue order.
IMAGES = "images"              # uint8 (N, S, S, 3), chunked (chunk_rows, S, S, 3)
INDEX = "index"                # int64: position of the record in the catalogue
URL = "url"                    # str
DESCRIPTION = "description"    # str: the first description of the record
DESCRIPTIONS = "descriptions"  # str: JSON list of every description (duplicates merged in)
SHA256 = "sha256"              # str: hex digest of the fetched bytes
SPLIT = "split"                # str: the record's `split` field, "" when absent
EXTRA = "extra"                # str: JSON object of the record's other fields
SOURCE = "source"              # str: what was fetched (the URL resolved against the catalogue)
ETAG = "etag"                  # str: the server's ETag for it ("" when it sent none); for a
#                                file, "file:<size>:<mtime>" (preprocess/fetch.py)
LAST_MODIFIED = "last_modified"  # str: the server's Last-Modified header ("" when none)
# str: the response's freshness header fields, as sent ("" when absent; DATE is the receive
# time when the server sent no Date): RFC 9111 freshness of the row (preprocess/freshness.py).
# Added within schema 4: a store without them reads as "" (every row stale).
CACHE_CONTROL = "cache_control"
EXPIRES = "expires"
DATE = "date"
AGE = "age"
FRESHNESS_COLUMNS = (CACHE_CONTROL, EXPIRES, DATE, AGE)
METADATA_COLUMNS = (INDEX, URL, DESCRIPTION, DESCRIPTIONS, SHA256, SPLIT, EXTRA, SOURCE, ETAG,
                    LAST_MODIFIED) + FRESHNESS_COLUMNS
# What the next season's run needs of a store to reuse its images (preprocess/previous.py).
REUSE_COLUMNS = (SOURCE, ETAG, LAST_MODIFIED, SHA256) + FRESHNESS_COLUMNS
_OPTIONAL = (SOURCE, ETAG, LAST_MODIFIED) + FRESHNESS_COLUMNS

# HDF5 file attributes.
ATTR_SCHEMA_VERSION = "schema_version"
ATTR_IMAGE_SIZE = "image_size"
ATTR_NUM_IMAGES = "num_images"
ATTR_CHUNK_ROWS = "chunk_rows"

# The TFT graph's interface: the raw feature a reader feeds (the bytes of one uint8 (S, S, 3)
# image) and the output it takes (float32 (S, S, 3) in the manifest's image.pixel_range).
FEATURE_IMAGE = "image"
OUT_IMAGE = "image"

# What a conditional GAN feeds the graph and takes from it (train/conditioning.py). A condition
# is a list of vocabulary ids per image: the tokens of one description, or the one value of a
# categorical catalogue field (0 or 1 ids). Ids run 0..size-1; id `size` is out of vocabulary.
FEATURE_DESCRIPTION_TEXT = "description_text"  # descriptions of a record, joined by newlines
OUT_DESCRIPTION_IDS = "description_ids"        # int64 ragged (B, tokens)
OUT_DESCRIPTION_TOKENS = "description_tokens"  # string ragged (B, tokens): the tokens themselves
DESCRIPTION_VOCABULARY = "description"         # TFT vocabulary file name
DESCRIPTIONS_CONDITION = "descriptions"        # --condition value for the descriptions


def field_feature(field: str) -> str:
    """The graph's raw input for a categorical catalogue field (its value, "" when absent)."""
    return f"field_{field}"


def field_ids(field: str) -> str:
    """The graph's output for a categorical field: int64 ragged (B, 0 or 1) vocabulary ids."""
    return f"field_{field}_ids"


def field_vocabulary(field: str) -> str:
    """The TFT vocabulary file name of a categorical field."""
    return f"field_{field}"


def copy_transform(source_dir: str, target_dir: str) -> None:
    """Copy a store's TFT graph (transform_fn/, transformed_metadata/) into target_dir, where
    tft.TFTransformOutput(target_dir) reads it; an older copy there is replaced."""
    os.makedirs(target_dir, exist_ok=True)
    for name in (TRANSFORM_DIR, TRANSFORMED_METADATA_DIR):
        destination = os.path.join(target_dir, name)
        if os.path.exists(destination):
            shutil.rmtree(destination)
        shutil.copytree(os.path.join(source_dir, name), destination)


def field_value(extra: dict, field: str) -> str:
    """A categorical field's value in a record's other fields (EXTRA): a string or number as
    text, "" when absent or not a single value (a list, an object, null)."""
    value = extra.get(field)
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        return ""
    return str(value)


def field_name_problem(field: str) -> str | None:
    """Why `field` cannot be analysed as a categorical field (names become graph names)."""
    import re
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", field):
        return f"{field!r} is not a field name (letters, digits and _, starting with a letter)"
    if field in ("url", "description", "descriptions", "split"):
        return f"{field!r} is a built-in field, not a categorical one"
    return None

# Legal image sizes, for every option that sets one (preprocess, run, train): a power of two
# that the GAN architectures can be built for.
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 512
ALL_SPLITS = "all"

_STR = h5py.string_dtype("utf-8")


def image_size_problem(size: int) -> str | None:
    """Why `size` cannot be a store's image size, or None when it can."""
    if isinstance(size, bool) or not isinstance(size, int):
        return f"{size!r} is not a whole number of pixels"
    if size & (size - 1) or not MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE:
        return (f"{size} px is not supported: use a power of two from {MIN_IMAGE_SIZE} to "
                f"{MAX_IMAGE_SIZE} (32, 64 and 128 are the usual ones)")
    return None


def parse_image_size(text: str) -> int:
    """A command line's --image-size, checked by the one rule where the user types it."""
    import argparse
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of pixels") from None
    problem = image_size_problem(size)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return size


def default_chunk_rows(image_size: int) -> int:
    """Rows per HDF5 chunk: about 1 MiB, the unit in which the trainer reads."""
    return int(max(8, min(1024, (1 << 20) // (image_size * image_size * 3))))


def check_room(path: str, num_images: int, image_size: int) -> None:
    """Refuse to start a store.h5 that cannot fit: its images, about 512 bytes of metadata
    each, and 1 MiB. HDF5 fails badly when the disk fills up in the middle of a file (h5py's
    cleanup of it can crash the interpreter), so this is checked before the first byte."""
    needed = num_images * (image_size * image_size * 3 + 512) + (1 << 20)
    require_room(os.path.dirname(os.path.abspath(path)), needed, STORE_FILE, path)


class StoreWriter:
    """Writes store.h5 block by block, in catalogue order. Use as a context manager."""

    def __init__(self, path: str, num_images: int, image_size: int,
                 chunk_rows: int | None = None, compression: str | None = None):
        self.path = path
        self.num_images = num_images
        self.image_size = image_size
        self.chunk_rows = chunk_rows or default_chunk_rows(image_size)
        check_room(path, num_images, image_size)
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
            # a store not made from fetches (tests, benchmarks) has no sources or validators
            f[name][start:stop] = [r.get(name, "") if name in _OPTIONAL else r[name]
                                   for r in rows]

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# The manifest's sections. Each is frozen and built only here (its constructor, or `of` where
# the writer derives it), read by attribute; the JSON keys are the field names, in field order,
# so Manifest.write gives the same bytes as the hand-built dicts it replaced. `load` reads a
# section back from JSON: lists become tuples, keys the section does not know are ignored, a
# missing required key raises KeyError (Manifest.read turns it into one StoreError line).

TOP_ENTRIES = 25  # vocabulary entries a manifest lists (most frequent first)


def _load(cls, data: Any, where: str, **convert):
    """A section from its JSON object; where: its place in the manifest, for the error;
    convert: field name -> function applied to the value."""
    if not isinstance(data, dict):
        raise TypeError(f"{where} is {type(data).__name__}, not an object")
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            value = data[f.name]
            values[f.name] = convert[f.name](value) if f.name in convert else value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise KeyError(f"{where}.{f.name}")
    return cls(**values)


def _ints(values) -> dict[str, int]:
    return {str(k): int(v) for k, v in dict(values).items()}


@dataclasses.dataclass(frozen=True)
class CatalogSection:
    """The catalogue a store was made from; its sha256 identifies it across runs."""
    path: str = ""
    sha256: str = ""
    format: str = ""             # json-array | jsonl
    records: int = 0

    @classmethod
    def load(cls, data: Any) -> "CatalogSection":
        return _load(cls, data, "catalog")


@dataclasses.dataclass(frozen=True)
class Counts:
    """Where the catalogue's records went: written + rejected + duplicates == records, and
    written == reused + fetched (reused: taken from the previous store)."""
    records: int
    written: int
    rejected: int
    duplicates: int
    reused: int = 0
    fetched: int = 0
    duplicates_by_kind: dict[str, int] = dataclasses.field(default_factory=dict)  # url, content
    splits: dict[str, int] = dataclasses.field(default_factory=dict)  # "(none)": no split field

    @property
    def accounted(self) -> int:
        """Records the store accounts for: written + rejected + duplicates."""
        return self.written + self.rejected + self.duplicates

    @property
    def closes(self) -> bool:
        """Every record is written, rejected or a duplicate, exactly once."""
        return self.accounted == self.records

    @classmethod
    def load(cls, data: Any) -> "Counts":
        return _load(cls, data, "counts", records=int, written=int, rejected=int, duplicates=int,
                     reused=int, fetched=int, duplicates_by_kind=_ints, splits=_ints)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImageSection:
    """The stored images: size px, uint8 RGB, how they were fitted, and the range of the TFT
    graph's image output (preprocess/transform.py PIXEL_RANGE), what the generator produces."""
    size: int
    channels: int = 3
    dtype: str = "uint8"
    fit: str = "pad"
    background: tuple[int, ...] = (255, 255, 255)
    pixel_range: tuple[float, float]

    def __post_init__(self):
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "background", tuple(int(v) for v in self.background))
        object.__setattr__(self, "pixel_range", tuple(float(v) for v in self.pixel_range))
        if len(self.pixel_range) != 2:
            raise ValueError(f"image.pixel_range {list(self.pixel_range)} is not [low, high]")

    @classmethod
    def load(cls, data: Any) -> "ImageSection":
        return _load(cls, data, "image")


@dataclasses.dataclass(frozen=True)
class Statistics:
    """Per-channel mean and standard deviation of the stored pixels (0..255, TFT's analysis);
    reported, not applied."""
    channel_mean: tuple[float, ...] = ()
    channel_std: tuple[float, ...] = ()

    @classmethod
    def load(cls, data: Any) -> "Statistics":
        return _load(cls, data, "statistics", channel_mean=tuple, channel_std=tuple)


@dataclasses.dataclass(frozen=True)
class FieldVocabulary:
    """One analysed categorical field: its number of values and the most frequent ones."""
    size: int = 0
    top: tuple[str, ...] = ()

    @classmethod
    def load(cls, data: Any, where: str = "vocabulary.fields") -> "FieldVocabulary":
        return _load(cls, data, where, size=int, top=tuple)


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """The description tokens' vocabulary (size, most frequent first) and each analysed
    categorical field's (--condition-fields)."""
    size: int = 0
    top: tuple[str, ...] = ()
    fields: dict[str, FieldVocabulary] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, tokens: Sequence[str], by_field: dict[str, Sequence[str]]) -> "Vocabulary":
        """From whole vocabularies (most frequent first), as TFT wrote them."""
        return cls(len(tokens), tuple(tokens[:TOP_ENTRIES]),
                   {f: FieldVocabulary(len(v), tuple(v[:TOP_ENTRIES])) for f, v in by_field.items()})

    @classmethod
    def load(cls, data: Any) -> "Vocabulary":
        return _load(cls, data, "vocabulary", size=int, top=tuple, fields=lambda fields: {
            str(name): FieldVocabulary.load(v, f"vocabulary.fields.{name}")
            for name, v in dict(fields).items()})


@dataclasses.dataclass(frozen=True)
class Timings:
    """Seconds each step of the preprocessing run took."""
    validate_s: float = 0.0
    pipeline_s: float = 0.0
    dedup_s: float = 0.0
    analyse_s: float = 0.0
    publish_s: float = 0.0
    total_s: float = 0.0

    def rounded(self) -> "Timings":
        return Timings(**{k: round(float(v), 3) for k, v in dataclasses.asdict(self).items()})

    @classmethod
    def load(cls, data: Any) -> "Timings":
        return _load(cls, data, "timings")


@dataclasses.dataclass(frozen=True)
class NewEntries:
    """Vocabulary entries the previous store lacked: how many, and the first few."""
    count: int = 0
    examples: tuple[str, ...] = ()

    @classmethod
    def load(cls, data: Any, where: str = "previous") -> "NewEntries":
        return _load(cls, data, where, count=int, examples=tuple)


@dataclasses.dataclass(frozen=True)
class Changes:
    """The change summary against the previous store (preprocess/previous.py builds it)."""
    store: str
    refetch: bool
    records_new: int        # records whose source the previous store lacks
    records_kept: int       # records whose source it has
    records_gone: int       # its rows no record of this catalogue names
    unchanged: int          # kept images taken from it (= reused)
    changed: int            # refetched images whose bytes differ from its
    reused: int
    fetched: int
    new_tokens: NewEntries = dataclasses.field(default_factory=NewEntries)
    new_categories: dict[str, NewEntries] = dataclasses.field(default_factory=dict)

    @classmethod
    def load(cls, data: Any) -> "Changes":
        return _load(cls, data, "previous",
                     new_tokens=lambda v: NewEntries.load(v, "previous.new_tokens"),
                     new_categories=lambda v: {
                         str(name): NewEntries.load(e, f"previous.new_categories.{name}")
                         for name, e in dict(v).items()})

    def line(self) -> str:
        """The change summary as preprocess and inspect print it."""
        tokens = self.new_tokens
        text = (f"against the previous store {self.store}: records {self.records_new} new, "
                f"{self.records_kept} kept ({self.unchanged} unchanged, {self.changed} changed), "
                f"{self.records_gone} gone; images {self.reused} reused, {self.fetched} fetched"
                + (" (--refetch)" if self.refetch else "")
                + f"; {tokens.count} new description tokens"
                + (f" ({', '.join(tokens.examples)})" if tokens.examples else ""))
        for field, added in self.new_categories.items():
            text += f"; {added.count} new {field} values"
            if added.examples:
                text += f" ({', '.join(added.examples)})"
        return text


def as_json(value: Any) -> Any:
    """A section (or anything holding sections) as JSON-ready dicts and lists."""
    if dataclasses.is_dataclass(value):
        return {f.name: as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    return value


@dataclasses.dataclass
class Manifest:
    """manifest.json: what a store holds and how it was made (docs/store-format.md). Every
    reader takes its sections by attribute; their key strings live only in this module."""
    catalog: CatalogSection
    counts: Counts
    image: ImageSection
    rejected_by_reason: dict[str, int] = dataclasses.field(default_factory=dict)
    statistics: Statistics = dataclasses.field(default_factory=Statistics)
    vocabulary: Vocabulary = dataclasses.field(default_factory=Vocabulary)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)     # PreprocessConfig
    pipeline_args: list[str] = dataclasses.field(default_factory=list)
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    timings: Timings = dataclasses.field(default_factory=Timings)
    previous: Changes | None = None  # the change summary ({} on disk when there was none)
    created: str = ""
    schema_version: int = SCHEMA_VERSION

    @property
    def image_size(self) -> int:
        return self.image.size

    @property
    def pixel_range(self) -> tuple[float, float]:
        """The range of the TFT graph's image output: what the generator must produce."""
        low, high = self.image.pixel_range
        return low, high

    @property
    def splits(self) -> dict[str, int]:
        """Images per split ("(none)" for records without one)."""
        return dict(self.counts.splits)

    def to_dict(self) -> dict[str, Any]:
        data = as_json(self)
        data["previous"] = data["previous"] or {}
        return data

    def write(self, store_dir: str) -> str:
        path = os.path.join(store_dir, MANIFEST_FILE)
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Manifest":
        """The manifest from its JSON object; KeyError, TypeError or ValueError when a
        required part is missing or malformed."""
        sections = {"catalog": CatalogSection.load, "counts": Counts.load,
                    "image": ImageSection.load, "statistics": Statistics.load,
                    "vocabulary": Vocabulary.load, "timings": Timings.load,
                    "previous": lambda v: Changes.load(v) if v else None}
        return _load(cls, data, "manifest", **sections)

    @classmethod
    def read(cls, store_dir: str) -> "Manifest":
        path = os.path.join(store_dir, MANIFEST_FILE)
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            version = data.get("schema_version")
            if version != SCHEMA_VERSION:
                raise StoreError(f"{path} has store schema version {version}, this streamgan "
                                 f"reads version {SCHEMA_VERSION}: preprocess the catalogue "
                                 "again with --overwrite")
            manifest = cls.from_dict(data)
        except StoreError:
            raise
        except (OSError, ValueError, TypeError, KeyError) as e:
            raise StoreError(f"{path} is unreadable or incomplete ({type(e).__name__}: {e}): "
                             "preprocess the catalogue again with --overwrite") from None
        return manifest


@dataclasses.dataclass(frozen=True)
class StoreInfo:
    """What a reader needs to know about a published store."""
    store_dir: str
    h5_path: str
    num_images: int
    image_size: int
    chunk_rows: int
    manifest: Manifest

    @property
    def transform_dir(self) -> str:
        """The directory tft.TFTransformOutput reads (the store itself)."""
        return self.store_dir

    def split_mask(self, split: str) -> np.ndarray | None:
        """Boolean (N,) of the images in `split`, or None for every image (ALL_SPLITS).

        One byte per image, read in blocks: a thousandth of the images' own size at 32 px.
        """
        if split == ALL_SPLITS:
            return None
        known = {k for k in self.manifest.splits if k != "(none)"}
        if split not in known:
            raise StoreError(f"{self.store_dir} has no split {split!r} (it has: "
                             f"{', '.join(sorted(known)) or 'no splits'}); use --split "
                             f"{ALL_SPLITS} to use every image")
        mask = np.zeros(self.num_images, bool)
        target = split.encode()
        with h5py.File(self.h5_path, "r") as f:
            column = f[SPLIT]
            for start in range(0, self.num_images, 1 << 16):
                block = column[start:start + (1 << 16)]
                mask[start:start + len(block)] = block == target
        return mask

    def default_split(self, preferred: str = "train") -> str:
        """`preferred` when the store has that split, ALL_SPLITS otherwise."""
        return preferred if self.manifest.splits.get(preferred) else ALL_SPLITS


def open_store(store_dir: str, allow_empty: bool = False) -> StoreInfo:
    """Check that store_dir holds a complete, consistent store and describe it.

    A store of no images (every record rejected) is complete, but nothing can train on it:
    it is an error unless allow_empty (for looking at why).

    Raises StoreError with a one-line message naming the file at fault and what to do.
    """
    if not os.path.isdir(store_dir):
        raise StoreError(f"no store at {store_dir}: run `streamgan preprocess --output "
                         f"{store_dir}` first")
    h5_path = os.path.join(store_dir, STORE_FILE)
    for path in (h5_path, os.path.join(store_dir, MANIFEST_FILE),
                 os.path.join(store_dir, TRANSFORM_DIR)):
        if not os.path.exists(path):
            raise StoreError(f"{store_dir} is not a complete store: {os.path.basename(path)} is "
                             "missing (was preprocessing interrupted? rerun it with --overwrite)")
    manifest = Manifest.read(store_dir)
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
            if n:  # a truncated file opens but fails on its last chunk
                images[n - 1:n]
    except StoreError:
        raise
    except (OSError, KeyError, ValueError) as e:
        raise StoreError(f"{h5_path} is corrupt or not a streamgan store ({e}); "
                         "preprocess the catalogue again with --overwrite") from None
    if (n, s) != (manifest.counts.written, manifest.image_size):
        raise StoreError(f"{os.path.join(store_dir, MANIFEST_FILE)} disagrees with {h5_path} "
                         f"({manifest.counts.written} images of {manifest.image_size} px vs "
                         f"{n} of {s} px): preprocess the catalogue again with --overwrite")
    if n == 0 and not allow_empty:
        raise StoreError(f"{store_dir} holds no images (every record was rejected: see "
                         f"{os.path.join(store_dir, ERRORS_FILE)})")
    return StoreInfo(store_dir, h5_path, n, s, chunk_rows, manifest)


def read_rows(info: StoreInfo, rows) -> np.ndarray:
    """uint8 images at the given sorted row positions (h5py reads the list in one call)."""
    with h5py.File(info.h5_path, "r") as f:
        return f[IMAGES][np.asarray(rows)]


def read_jsonl(store_dir: str, name: str = ERRORS_FILE) -> Iterable[dict]:
    """The lines of one of the store's JSON Lines reports (errors by default), as dicts."""
    path = os.path.join(store_dir, name)
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
