"""The last steps of a preprocessing run: scratch units -> the published store.

The pipeline leaves images in scratch units in no particular order (preprocess/steps.py: each
unit's images as raw rows and one JSON line per record, decoded or rejected). `deduplicate`
walks the decoded records in catalogue order, drops those whose bytes an earlier record had
(an on-disk index, see preprocess/dedup.py) and writes the analysis input (one line per image
to store, descriptions merged). `publish` then writes everything out in catalogue order:
store.h5 (contiguous images, chunked along N, so the trainer reads big slices from one file),
errors.jsonl and duplicates.jsonl, then manifest.json, and renames the store into place.

Neither holds the records: they keep, per catalogue position, where that record's line lies
(12 bytes a record), and walk the lines in order, a block of images at a time.
"""
from __future__ import annotations

import collections
import dataclasses
import datetime
import json
import os
import re
import shutil
import time
from importlib import metadata as importlib_metadata
from typing import Iterable, Iterator

import numpy as np
from apache_beam.io.filesystems import FileSystems

from streamgan.common.files import is_remote, local_path
from streamgan.preprocess.catalog import CatalogSummary
from streamgan.preprocess.config import PreprocessConfig
from streamgan.preprocess.dedup import FirstSeen
from streamgan.preprocess.staging import Output
from streamgan.store import contract as sf

_INDEX_PREFIX = re.compile(rb'^\{"index": ?(\d+)(, ?"shard")?')
LINES = ("all", "kept", "errors")  # which lines of a unit a LineIndex takes
VERSIONED_PACKAGES = ("streamgan", "apache-beam", "tensorflow", "tensorflow-transform", "keras",
                      "h5py", "numpy", "pillow")


def _open(path: str):
    return FileSystems.open(path) if is_remote(path) else open(local_path(path), "rb")


class LineIndex:
    """Where the JSON line of each catalogue position lies in a set of JSON Lines files
    (`patterns`: file names or globs, on any Beam filesystem). lines: "kept" takes only the
    lines of decoded records (they start {"index": i, "shard": ...}, preprocess/steps.py
    unit_line), "errors" only the others."""

    def __init__(self, patterns: list[str], num_records: int, lines: str = "all"):
        self.paths = sorted(m.path for result in FileSystems.match(patterns)
                            for m in result.metadata_list)
        self.file = np.full(num_records, -1, np.int32)
        self.offset = np.zeros(num_records, np.int64)
        for file_no, path in enumerate(self.paths):
            offset = 0
            with _open(path) as fh:
                for line in fh:
                    match = _INDEX_PREFIX.match(line)
                    if match:
                        index, kept = int(match.group(1)), match.group(2) is not None
                    else:
                        parsed = json.loads(line)
                        index, kept = parsed["index"], "shard" in parsed
                    if lines == "all" or kept == (lines == "kept"):
                        self.file[index] = file_no
                        self.offset[index] = offset
                    offset += len(line)
        self._handles: dict[int, object] = {}

    def indices(self) -> np.ndarray:
        """Catalogue positions present, ascending."""
        return np.flatnonzero(self.file >= 0)

    def drop(self, index: int) -> None:
        self.file[index] = -1

    def records(self, block: int = 4096) -> Iterator[dict]:
        """Every line, parsed, in catalogue order."""
        indices = self.indices()
        for start in range(0, len(indices), block):
            yield from self.read(indices[start:start + block])

    def read(self, indices) -> list[dict]:
        rows = []
        for index in indices:
            file_no = int(self.file[index])
            fh = self._handles.get(file_no)
            if fh is None:
                fh = self._handles[file_no] = _open(self.paths[file_no])
            fh.seek(int(self.offset[index]))
            rows.append(json.loads(fh.readline()))
        return rows

    def close(self) -> None:
        for fh in self._handles.values():
            fh.close()
        self._handles.clear()

    def write_jsonl(self, path: str, block: int = 4096,
                    amend=None) -> collections.Counter:
        """Copy every line to path in catalogue order (amend(line) may add to it); count them
        by stage/reason or kind."""
        counts: collections.Counter = collections.Counter()
        indices = self.indices()
        with open(path, "w", encoding="utf-8") as out:
            for start in range(0, len(indices), block):
                for row in self.read(indices[start:start + block]):
                    if amend is not None:
                        amend(row)
                    counts[f"{row['stage']}/{row['reason']}" if "stage" in row else row["kind"]] += 1
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.close()
        return counts


class ShardReader:
    """Random access to the rows of the raw uint8 scratch shards.

    Plain positioned reads, not np.memmap: every page of a mapped file that is touched counts
    in the process's resident memory, which then grew with the store (measured: +13 KB a
    record at 64 px); a read into a block buffer keeps memory flat."""

    def __init__(self, shards_dir: str, image_size: int, max_open: int = 64):
        self.shards_dir = shards_dir
        self.shape = (image_size, image_size, 3)
        self.row_bytes = image_size * image_size * 3
        self.max_open = max_open
        self._files: collections.OrderedDict = collections.OrderedDict()

    def _file(self, shard: str):
        fh = self._files.pop(shard, None)
        if fh is None:
            fh = _open(FileSystems.join(self.shards_dir, shard))
            if len(self._files) >= self.max_open:  # bound open file handles
                self._files.popitem(last=False)[1].close()
        self._files[shard] = fh
        return fh

    def rows(self, shard: str, rows: list[int], out: np.ndarray) -> None:
        """Read rows of shard into out[0], out[1], ..."""
        fh = self._file(shard)
        for i, row in enumerate(rows):
            fh.seek(row * self.row_bytes)
            if fh.readinto(memoryview(out[i]).cast("B")) != self.row_bytes:
                raise RuntimeError(f"scratch shard {shard} is shorter than its row {row}")

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()


def _blocks(items: Iterable, size: int) -> Iterator[list]:
    block = []
    for item in items:
        block.append(item)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


@dataclasses.dataclass
class Deduplicated:
    """The decoded records to store (content duplicates dropped) and the index that merges
    the duplicates' descriptions into them."""
    kept: LineIndex
    contents: FirstSeen

    def records(self) -> Iterator[dict]:
        """Records to store, catalogue order, descriptions merged."""
        return self.contents.merged(self.kept.records())


def deduplicate(out: Output, num_records: int, fields: tuple[str, ...] = ()) -> Deduplicated:
    """Drop decoded records whose bytes an earlier record had (their lines go to the run's
    content duplicates file) and write the analysis input, `paths.features` (with the values
    of the categorical `fields`)."""
    kept = LineIndex([out.paths.unit_lines], num_records, lines="kept")
    contents = FirstSeen(out.paths.content_index, "content")
    with open(out.paths.content_duplicates, "w", encoding="utf-8") as dups:
        for record in kept.records():
            duplicate = contents.add(record["sha256"], record)
            if duplicate is not None:
                # its source and validators, so the next season finds it (preprocess/previous.py)
                duplicate.update({name: record[name] for name in sf.REUSE_COLUMNS})
                dups.write(json.dumps(duplicate, ensure_ascii=False) + "\n")
                kept.drop(record["index"])
    result = Deduplicated(kept, contents)
    from streamgan.preprocess import transform  # TensorFlow: first needed here, after the Beam job
    with FileSystems.create(out.paths.features) as fh:
        for record in result.records():
            fh.write(json.dumps({transform.DESCRIPTION_TEXT: "\n".join(record["descriptions"]),
                                 transform.CHANNEL_MEAN: record["channel_mean"],
                                 transform.CHANNEL_SQ_MEAN: record["channel_sq_mean"],
                                 **{sf.field_feature(f): sf.field_value(record["extra"], f)
                                    for f in fields}},
                                ensure_ascii=False).encode("utf-8") + b"\n")
    kept.close()
    return result


def _write_store(out: Output, cfg: PreprocessConfig, staged: Deduplicated,
                 h5_path: str) -> tuple[dict, collections.Counter]:
    """store.h5 in catalogue order; returns counts by split, and of images reused from the
    previous store, fetched, and fetched because they changed since it."""
    shards = ShardReader(out.paths.units, cfg.image_size)
    splits: collections.Counter = collections.Counter()
    origins: collections.Counter = collections.Counter(reused=0, fetched=0, changed=0)
    with sf.StoreWriter(h5_path, len(staged.kept.indices()), cfg.image_size,
                        compression=cfg.compression) as writer:
        block = writer.chunk_rows * 8
        for start, records in zip(range(0, 1 << 62, block), _blocks(staged.records(), block)):
            images = np.empty((len(records), cfg.image_size, cfg.image_size, 3), np.uint8)
            by_shard: dict[str, list[int]] = collections.defaultdict(list)
            for i, r in enumerate(records):
                by_shard[r["shard"]].append(i)
            for shard, positions in by_shard.items():
                block_rows = np.empty((len(positions),) + shards.shape, np.uint8)
                shards.rows(shard, [records[i]["row"] for i in positions], block_rows)
                images[positions] = block_rows
            rows = [{sf.INDEX: r["index"], sf.URL: r["url"],
                     sf.DESCRIPTION: r["descriptions"][0] if r["descriptions"] else "",
                     sf.DESCRIPTIONS: json.dumps(r["descriptions"], ensure_ascii=False),
                     sf.SHA256: r["sha256"], sf.SPLIT: r["split"],
                     sf.EXTRA: json.dumps(r["extra"], ensure_ascii=False),
                     sf.SOURCE: r["source"], sf.ETAG: r["etag"],
                     sf.LAST_MODIFIED: r["last_modified"],
                     **{name: r.get(name, "") for name in sf.FRESHNESS_COLUMNS}}
                    for r in records]
            splits.update(r["split"] or "(none)" for r in records)
            origins.update(r["origin"] for r in records)
            origins.update("changed" for r in records if r["changed"])
            writer.write(start, images, rows)
    staged.kept.close()
    staged.contents.close()
    shards.close()
    return dict(splits), origins


def _move_transform(out: Output) -> None:
    for name in (sf.TRANSFORM_DIR, sf.TRANSFORMED_METADATA_DIR):
        source = FileSystems.join(out.paths.transform, name)
        target = os.path.join(out.partial, name)
        if out.remote:
            _download_tree(source, target)
        else:
            shutil.move(source, target)


def _download_tree(source: str, target: str) -> None:
    """Copy a folder TFT wrote (with tf.io.gfile, so on any filesystem TensorFlow knows) from
    the shared staging area to this machine, empty folders included."""
    import tensorflow as tf
    for folder, _, files in tf.io.gfile.walk(source):
        local = os.path.join(target, os.path.relpath(folder, source))
        os.makedirs(local, exist_ok=True)
        for name in files:
            tf.io.gfile.copy(tf.io.gfile.join(folder, name), os.path.join(local, name),
                             overwrite=True)


def _analysis_results(store_dir: str, image_size: int, fields: tuple[str, ...]) -> dict:
    """What TFT learned, read back from the saved graph: channel statistics and vocabularies."""
    import tensorflow as tf
    import tensorflow_transform as tft

    from streamgan.preprocess import transform
    output = tft.TFTransformOutput(store_dir)
    raw = {sf.FEATURE_IMAGE: tf.constant([bytes(image_size * image_size * 3)]),
           transform.DESCRIPTION_TEXT: tf.constant([""]),
           transform.CHANNEL_MEAN: tf.zeros([1, 3]), transform.CHANNEL_SQ_MEAN: tf.zeros([1, 3]),
           **{sf.field_feature(f): tf.constant([""]) for f in fields}}
    features = output.transform_raw_features(raw)

    return dict(
        statistics=sf.Statistics(
            channel_mean=tuple(round(float(v), 4) for v in features[transform.OUT_CHANNEL_MEAN][0]),
            channel_std=tuple(round(float(v), 4) for v in features[transform.OUT_CHANNEL_STD][0])),
        vocabulary=sf.Vocabulary.of(
            transform.vocabulary_entries(output, transform.VOCABULARY_NAME),
            {f: transform.vocabulary_entries(output, sf.field_vocabulary(f)) for f in fields}))


def _versions() -> dict:
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            pass
    return versions


def publish(out: Output, cfg: PreprocessConfig, summary: CatalogSummary, staged: Deduplicated,
            beam_args: list[str], timings: dict, previous=None) -> sf.Manifest:
    """Write the store from the run's staging area and rename it into place; returns the
    manifest. previous: the PreviousStore the run reused images of (closed here), whose
    change summary goes into the manifest."""
    from streamgan.preprocess import transform
    started = time.time()
    n = summary.records
    kept = staged.kept
    rejected = LineIndex([out.paths.unit_lines, out.paths.catalog_errors], n, lines="errors")
    duplicates = LineIndex([out.paths.url_duplicates, out.paths.content_duplicates], n)
    written = int((kept.file >= 0).sum())
    stored = kept.indices()  # catalogue positions of the store's rows, ascending

    def with_row(line: dict) -> None:  # a content duplicate: the row of the image it shares
        if line.get("kind") == "content":
            line["row"] = int(np.searchsorted(stored, line["duplicate_of"]))

    # A record in two units (a bundle a cluster runner retried after its first unit was
    # written) keeps its image: its error line from the other attempt is dropped.
    rejected.file[(rejected.file >= 0) & ((kept.file >= 0) | (duplicates.file >= 0))] = -1
    reasons = rejected.write_jsonl(os.path.join(out.partial, sf.ERRORS_FILE))
    kinds = duplicates.write_jsonl(os.path.join(out.partial, sf.DUPLICATES_FILE), amend=with_row)
    counts = sf.Counts(records=n, written=written, rejected=sum(reasons.values()),
                       duplicates=sum(kinds.values()))
    seen = (kept.file >= 0).astype(np.int8) + (rejected.file >= 0) + (duplicates.file >= 0)
    if not counts.closes or not (seen == 1).all():
        raise RuntimeError(f"accounting does not close: {counts}; records missing or counted "
                           f"twice at positions {np.flatnonzero(seen != 1)[:10].tolist()}")
    splits, origins = _write_store(out, cfg, staged, os.path.join(out.partial, sf.STORE_FILE))
    counts = dataclasses.replace(counts, reused=origins["reused"], fetched=origins["fetched"],
                                 duplicates_by_kind=dict(kinds), splits=splits)
    if counts.reused + counts.fetched != written:
        raise RuntimeError(f"accounting does not close: {written} written, {counts.reused} "
                           f"reused + {counts.fetched} fetched")
    _move_transform(out)
    analysis = _analysis_results(out.partial, cfg.image_size, cfg.condition_fields)
    changes = None
    if previous is not None:
        changes = previous.summary(counts, origins["changed"], out.partial,
                                   cfg.condition_fields, cfg.refetch)
        previous.close()
    timings = dict(timings, publish_s=time.time() - started)
    manifest = sf.Manifest(
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        catalog=sf.CatalogSection(path=cfg.catalog, sha256=summary.sha256,
                                  format=summary.format, records=n),
        counts=counts,
        rejected_by_reason=dict(reasons.most_common()),
        image=sf.ImageSection(size=cfg.image_size, fit=cfg.fit, background=cfg.background,
                              pixel_range=transform.PIXEL_RANGE),
        **analysis,
        options=cfg.to_json(),
        pipeline_args=list(beam_args),
        versions=_versions(),
        timings=sf.Timings(**timings, total_s=sum(timings.values())).rounded(),
        previous=changes,
    )
    manifest.write(out.partial)
    out.commit()
    out.remove_staging()  # only now: a kill before the rename resumes from the units
    return manifest
