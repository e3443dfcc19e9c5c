"""The Beam step of the preprocessing job (the pipeline itself is in preprocess/pipeline.py).

Nothing passes through a shuffle: the catalogue is read, fetched, decoded and written to a
scratch *unit* in one fused stage, so no runner holds the records between stages (the
DirectRunner would hold all of them in memory). A unit is one batch of records (at most
--fetch-batch): its images as raw uint8 rows (`<unit>.u8`) and one JSON line per record
(`<unit>.jsonl`: where a kept record's pixels lie, its hash, validators and descriptions; or
its error line). Both are written under a temporary name and renamed into place, the lines
last, so a unit exists complete or not at all, on any Beam filesystem: that is what a killed
job resumes from (preprocess/resume.py). The publishing step deduplicates by content and
orders the store (preprocess/publish.py).

A record that the previous store holds (preprocess/previous.py) comes with its `previous` row,
validators, freshness and `action`: reuse (the row's pixels, no request), revalidate (a
conditional GET: 304 takes the row, 200 the new bytes) or fetch (an unconditional GET). A
reused record then goes on exactly as a fetched one (`origin` says which it was), so content
dedup and the store's order treat both alike. A record whose catalogue entry names a sha256
is rejected (`hash_mismatch`) when the fetched bytes have another.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import threading
import uuid

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from streamgan.common.errors import RecordError
from streamgan.common.files import is_remote
from streamgan.preprocess.decode import MAX_ASPECT, channel_moments, decode_image
from streamgan.preprocess.fetch import Fetcher, FetchOptions
from streamgan.preprocess.freshness import FETCH, REUSE, REVALIDATE, Freshness
from streamgan.preprocess.previous import PreviousImages
from streamgan.preprocess.progress import ProgressWriter

SHARD_SUFFIX = ".u8"       # a unit's images: raw uint8 rows of (S, S, 3)
UNIT_SUFFIX = ".jsonl"     # a unit's lines, one per record; present = the unit is complete
TEMP_PREFIX = "tmp-"       # a unit's files while being written
PENDING_BATCHES = 2        # batches a worker has in flight at once (a kill loses at most these)


def error_record(record: dict, stage: str, reason: str, message: str) -> dict:
    """One line of errors.jsonl."""
    return {"index": record["index"], "url": record["url"], "stage": stage,
            "reason": reason, "message": message}


def unit_line(record: dict, shard: str | None = None, row: int | None = None) -> dict:
    """A unit's line: a kept record starts {"index": i, "shard": ...}, an error line
    {"index": i, "url": ...}, so the publishing step tells them apart by their first keys
    (preprocess/publish.py LineIndex)."""
    if shard is None:
        return record
    return {"index": record["index"], "shard": shard, "row": row,
            **{k: v for k, v in record.items() if k != "index"}}


class FetchAndDecodeFn(beam.DoFn):
    """A batch of records -> one scratch unit (images and lines, see the module docstring);
    emits nothing: the units are the output.

    Downloads are I/O bound, so remote records go to a pool of `threads` threads; conditional
    GETs (revalidations) go to their own pool of `revalidate_threads`, so that they never
    queue behind downloads (a 304 has no body: many can be in flight). Decoding is CPU bound,
    and more CPU-bound threads than cores only fight over the GIL (measured: 16 threads decode
    local files 30% slower than 2), so at most `decode_threads` decode at a time, and local
    files go straight to a pool of that size. Pillow releases the GIL while decoding, so
    those threads do run in parallel.
    """

    def __init__(self, fetch: FetchOptions, image_size: int, fit: str,
                 background: tuple[int, int, int], max_pixels: int, threads: int,
                 progress_dir: str | None, units_dir: str, decode_threads: int = 2,
                 max_aspect: float = MAX_ASPECT, previous_h5: str | None = None,
                 revalidate_threads: int = 64):
        self.fetch_options = fetch
        self.image_size = image_size
        self.fit = fit
        self.background = tuple(background)
        self.max_pixels = max_pixels
        self.max_aspect = max_aspect
        self.threads = threads
        self.revalidate_threads = revalidate_threads
        self.decode_threads = decode_threads
        self.progress_dir = progress_dir
        self.units_dir = units_dir
        self.previous_h5 = previous_h5
        self.decoded = Metrics.counter("streamgan", "decoded")
        self.reused = Metrics.counter("streamgan", "reused")
        self.rejected = Metrics.counter("streamgan", "rejected")
        self.bytes_fetched = Metrics.counter("streamgan", "bytes_fetched")

    def setup(self):
        self._fetcher = Fetcher(self.fetch_options)
        self._io_pool = concurrent.futures.ThreadPoolExecutor(self.threads, "fetch")
        self._check_pool = concurrent.futures.ThreadPoolExecutor(self.revalidate_threads,
                                                                 "revalidate")
        self._cpu_pool = concurrent.futures.ThreadPoolExecutor(self.decode_threads, "decode")
        self._decode_slots = threading.BoundedSemaphore(self.decode_threads)
        self._progress = ProgressWriter(self.progress_dir)
        self._previous = None
        if self.previous_h5:
            try:
                self._previous = PreviousImages(self.previous_h5)
            except Exception as e:  # h5py / filesystem errors of all kinds: fetch instead
                logging.warning("previous store %s unreadable (%s): fetching its images",
                                self.previous_h5, e)

    def _reuse(self, record: dict, previous: dict, etag: str, last_modified: str,
               freshness: Freshness) -> dict | None:
        """The record with the previous store's pixels of its row, or None if that row cannot
        be read (the image is then fetched)."""
        try:
            pixels = self._previous.row(previous["row"])
        except Exception as e:  # a damaged previous store must never fail the job
            logging.warning("row %s of the previous store unreadable (%s): fetching %s",
                            previous["row"], e, record["url"])
            return None
        if pixels.shape != (self.image_size, self.image_size, 3):
            return None
        mean, sq_mean = channel_moments(pixels)
        return dict(record, pixels=pixels, sha256=previous["sha256"], num_bytes=0,
                    channel_mean=mean, channel_sq_mean=sq_mean, etag=etag,
                    last_modified=last_modified, **freshness.as_row(), origin="reused",
                    changed=False)

    def _one(self, record: dict) -> dict:
        attached = record.pop("previous", None)
        expected = record.pop("expected_sha256", None)
        previous = attached if self._previous is not None else None
        action = previous["action"] if previous is not None else FETCH
        try:
            if action == REUSE:  # fresh, --revalidate never, or the catalogue's hash matches
                reused = self._reuse(record, previous, previous["etag"],
                                     previous["last_modified"], Freshness.from_row(previous))
                if reused is not None:
                    return reused
                action = FETCH
            if action == REVALIDATE:  # 304 (or an unchanged file): the previous row
                fetched = self._fetcher.fetch_validated(record["source"], previous["etag"],
                                                        previous["last_modified"])
                if fetched.data is None:
                    reused = self._reuse(record, previous, fetched.etag, fetched.last_modified,
                                         Freshness.from_row(previous).updated(fetched.freshness))
                    if reused is not None:
                        return reused
                    action = FETCH
            if action == FETCH:
                fetched = self._fetcher.fetch_validated(record["source"])
        except RecordError as e:
            return error_record(record, "fetch", e.reason, e.message)
        data = fetched.data
        sha256 = hashlib.sha256(data).hexdigest()
        if expected and sha256 != expected:
            return error_record(record, "fetch", "hash_mismatch",
                                f"the fetched bytes have sha256 {sha256}, the catalogue says "
                                f"{expected}")
        try:
            with self._decode_slots:
                pixels = decode_image(data, self.image_size, self.fit, self.background,
                                      self.max_pixels, self.max_aspect)
                mean, sq_mean = channel_moments(pixels)
        except RecordError as e:
            return error_record(record, "decode", e.reason, e.message)
        return dict(record, pixels=pixels, sha256=sha256, num_bytes=len(data),
                    channel_mean=mean, channel_sq_mean=sq_mean, etag=fetched.etag,
                    last_modified=fetched.last_modified, **fetched.freshness.as_row(),
                    origin="fetched",
                    changed=attached is not None and attached["sha256"] != sha256)

    def _counted(self, record: dict) -> dict:
        """_one, with the record counted in the live progress as soon as it is done."""
        result = self._one(record)
        self._progress.add(done=1, failed=int("pixels" not in result))
        return result

    def _pool(self, record: dict):
        if not is_remote(record["source"]):
            return self._cpu_pool
        previous = record.get("previous")
        if previous is not None and previous["action"] == REVALIDATE:
            return self._check_pool
        return self._io_pool

    def process(self, batch: list[dict]):
        """Start the batch's fetches and save every batch that is complete as its unit: up to
        PENDING_BATCHES batches are in flight at once, so the next batch's requests start
        while the last downloads of the one before finish (no barrier per batch), and a slow
        image holds up only its own unit."""
        self._pending.append([self._pool(r).submit(self._counted, r) for r in batch])
        self._save_finished(PENDING_BATCHES)
        return ()

    def _save_finished(self, keep: int) -> None:
        """Save every batch whose fetches are all done, waiting for more while over `keep`
        batches are in flight; a batch is saved when complete, whatever is still in flight
        before it."""
        while True:
            for futures in [b for b in self._pending if all(f.done() for f in b)]:
                self._pending.remove(futures)
                self._write(futures)
            if len(self._pending) <= keep:
                return
            concurrent.futures.wait([f for b in self._pending for f in b if not f.done()],
                                    return_when=concurrent.futures.FIRST_COMPLETED)

    def start_bundle(self):
        self._pending = []

    def finish_bundle(self):
        self._save_finished(0)
        self._progress.flush()

    def _write(self, futures: list) -> None:
        """Wait for one batch and save it as a unit."""
        results = []
        for future in futures:
            result = future.result()
            if "pixels" in result:
                (self.reused if result["origin"] == "reused" else self.decoded).inc()
                self.bytes_fetched.inc(result.pop("num_bytes"))
            else:
                self.rejected.inc()
            results.append(result)
        write_unit(self.units_dir, results)

    def teardown(self):
        for pool in (self._io_pool, self._check_pool, self._cpu_pool):
            pool.shutdown(wait=False, cancel_futures=True)
        self._progress.flush()
        if self._previous is not None:
            self._previous.close()


def write_unit(units_dir: str, results: list[dict]) -> str:
    """One unit: the kept images (raw uint8 rows) and every record's line, each written under
    a temporary name and renamed into place, the lines last (their file is the unit's
    commit). Returns the unit's name."""
    name = f"unit-{uuid.uuid4().hex}"
    shard = name + SHARD_SUFFIX
    lines, row = [], 0
    pixels = []
    for result in results:
        if "pixels" in result:
            pixels.append(result.pop("pixels"))
            lines.append(unit_line(result, shard, row))
            row += 1
        else:
            lines.append(unit_line(result))
    if pixels:
        write_atomically(units_dir, shard, b"".join(p.tobytes() for p in pixels))
    write_atomically(units_dir, name + UNIT_SUFFIX,
                      b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n"
                               for line in lines))
    return name


def write_atomically(folder: str, name: str, data: bytes) -> None:
    """folder/name holds `data` complete or does not exist, on any Beam filesystem."""
    temporary = FileSystems.join(folder, f"{TEMP_PREFIX}{name}")
    with FileSystems.create(temporary) as fh:
        fh.write(data)
    FileSystems.rename([temporary], [FileSystems.join(folder, name)])
