"""The Beam steps of the preprocessing job (the pipeline itself is in preprocess/pipeline.py).

Nothing passes through a shuffle: the catalogue is read, fetched, decoded, written to a
scratch shard and described in one fused stage, so no runner holds the records between stages
(the DirectRunner would hold all of them in memory). `WriteShardFn` writes each image to its
bundle's scratch shard, and only small metadata (where the image lies, its hash, its
descriptions) is written on, for the publishing step, which deduplicates by content and
orders the store (preprocess/publish.py).

A record that the previous store holds (preprocess/previous.py) comes with its `previous` row
and validators: FetchAndDecodeFn asks the source whether it changed and, when it did not, takes
the pixels of that row instead of downloading and decoding the image; the record then goes on
exactly as a fetched one (`origin` says which it was), so content dedup and the store's order
treat both alike.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import threading
import uuid

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from streamgan.common.errors import RecordError
from streamgan.common.files import is_remote
from streamgan.preprocess.decode import MAX_ASPECT, channel_moments, decode_image
from streamgan.preprocess.fetch import Fetched, Fetcher, FetchOptions
from streamgan.preprocess.previous import PreviousImages
from streamgan.preprocess.progress import ProgressWriter

ERRORS = "errors"
DUPLICATES = "duplicates"
SHARD_SUFFIX = ".u8"


def error_record(record: dict, stage: str, reason: str, message: str) -> dict:
    """One line of errors.jsonl."""
    return {"index": record["index"], "url": record["url"], "stage": stage,
            "reason": reason, "message": message}


class FetchAndDecodeFn(beam.DoFn):
    """A batch of records -> decoded images (main output) or error records (ERRORS).

    Downloads are I/O bound, so remote records go to a pool of `threads` threads. Decoding is
    CPU bound, and more CPU-bound threads than cores only fight over the GIL (measured: 16
    threads decode local files 30% slower than 2), so at most `decode_threads` decode at a
    time, and local files go straight to a pool of that size. Pillow releases the GIL while
    decoding, so those threads do run in parallel.
    """

    def __init__(self, fetch: FetchOptions, image_size: int, fit: str,
                 background: tuple[int, int, int], max_pixels: int, threads: int,
                 progress_dir: str | None, decode_threads: int = 2,
                 max_aspect: float = MAX_ASPECT, previous_h5: str | None = None):
        self.fetch_options = fetch
        self.image_size = image_size
        self.fit = fit
        self.background = tuple(background)
        self.max_pixels = max_pixels
        self.max_aspect = max_aspect
        self.threads = threads
        self.decode_threads = decode_threads
        self.progress_dir = progress_dir
        self.previous_h5 = previous_h5
        self.decoded = Metrics.counter("streamgan", "decoded")
        self.reused = Metrics.counter("streamgan", "reused")
        self.rejected = Metrics.counter("streamgan", "rejected")
        self.bytes_fetched = Metrics.counter("streamgan", "bytes_fetched")

    def setup(self):
        self._fetcher = Fetcher(self.fetch_options)
        self._io_pool = concurrent.futures.ThreadPoolExecutor(self.threads, "fetch")
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

    def _reuse(self, record: dict, previous: dict, etag: str, last_modified: str) -> dict | None:
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
                    last_modified=last_modified, origin="reused", changed=False)

    def _one(self, record: dict) -> dict:
        attached = record.pop("previous", None)
        previous = attached if self._previous is not None else None
        try:
            if previous is None:
                fetched = self._fetcher.fetch_validated(record["source"])
            else:  # unchanged (or no validators to ask with): the previous row, if readable
                asks = previous["etag"] or previous["last_modified"]
                fetched = (self._fetcher.fetch_validated(record["source"], previous["etag"],
                                                         previous["last_modified"])
                           if asks else Fetched(None))
                if fetched.data is None:
                    reused = self._reuse(record, previous, fetched.etag, fetched.last_modified)
                    if reused is not None:
                        return reused
                    fetched = self._fetcher.fetch_validated(record["source"])
        except RecordError as e:
            return error_record(record, "fetch", e.reason, e.message)
        data = fetched.data
        try:
            with self._decode_slots:
                pixels = decode_image(data, self.image_size, self.fit, self.background,
                                      self.max_pixels, self.max_aspect)
                mean, sq_mean = channel_moments(pixels)
        except RecordError as e:
            return error_record(record, "decode", e.reason, e.message)
        sha256 = hashlib.sha256(data).hexdigest()
        return dict(record, pixels=pixels, sha256=sha256, num_bytes=len(data),
                    channel_mean=mean, channel_sq_mean=sq_mean, etag=fetched.etag,
                    last_modified=fetched.last_modified, origin="fetched",
                    changed=attached is not None and attached["sha256"] != sha256)

    def process(self, batch: list[dict]):
        futures = [(self._io_pool if is_remote(r["source"]) else self._cpu_pool).submit(self._one, r)
                   for r in batch]
        for future in futures:
            result = future.result()
            if "pixels" in result:
                (self.reused if result["origin"] == "reused" else self.decoded).inc()
                self.bytes_fetched.inc(result.pop("num_bytes"))
                self._progress.add(done=1)
                yield result
            else:
                self.rejected.inc()
                self._progress.add(done=1, failed=1)
                yield beam.pvalue.TaggedOutput(ERRORS, result)

    def finish_bundle(self):
        self._progress.flush()

    def teardown(self):
        self._io_pool.shutdown(wait=False, cancel_futures=True)
        self._cpu_pool.shutdown(wait=False, cancel_futures=True)
        self._progress.flush()
        if self._previous is not None:
            self._previous.close()


class WriteShardFn(beam.DoFn):
    """Appends each image to this bundle's own scratch shard (raw uint8 rows, one file per
    bundle, so no two workers ever write one file) and emits the record without its pixels but
    with where they lie: `shard` and `row`."""

    def __init__(self, shards_dir: str):
        self.shards_dir = shards_dir

    def start_bundle(self):
        self._file = None
        self._name = None
        self._rows = 0

    def process(self, record: dict):
        if self._file is None:
            self._name = f"shard-{uuid.uuid4().hex}{SHARD_SUFFIX}"
            self._file = FileSystems.create(FileSystems.join(self.shards_dir, self._name))
        pixels = record.pop("pixels")
        self._file.write(pixels.tobytes())
        yield dict(record, shard=self._name, row=self._rows)
        self._rows += 1

    def finish_bundle(self):
        if self._file is not None:
            self._file.close()
            self._file = None
