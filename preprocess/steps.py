"""The Beam steps of the preprocessing job (the pipeline itself is in preprocess/pipeline.py).

Nothing passes through a shuffle: the catalogue is read, fetched, decoded, written to a
scratch shard and described in one fused stage, so no runner holds the records between stages
(the DirectRunner would hold all of them in memory). `WriteShardFn` writes each image to its
bundle's scratch shard, and only small metadata (where the image lies, its hash, its
descriptions) is written on, for the publishing step, which deduplicates by content and
orders the store (preprocess/publish.py).
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import threading
import uuid

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from common.errors import RecordError
from common.files import is_remote
from preprocess.decode import MAX_ASPECT, channel_moments, decode_image
from preprocess.fetch import Fetcher, FetchOptions
from preprocess.progress import ProgressWriter

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
                 max_aspect: float = MAX_ASPECT):
        self.fetch_options = fetch
        self.image_size = image_size
        self.fit = fit
        self.background = tuple(background)
        self.max_pixels = max_pixels
        self.max_aspect = max_aspect
        self.threads = threads
        self.decode_threads = decode_threads
        self.progress_dir = progress_dir
        self.decoded = Metrics.counter("streamgan", "decoded")
        self.rejected = Metrics.counter("streamgan", "rejected")
        self.bytes_fetched = Metrics.counter("streamgan", "bytes_fetched")

    def setup(self):
        self._fetcher = Fetcher(self.fetch_options)
        self._io_pool = concurrent.futures.ThreadPoolExecutor(self.threads, "fetch")
        self._cpu_pool = concurrent.futures.ThreadPoolExecutor(self.decode_threads, "decode")
        self._decode_slots = threading.BoundedSemaphore(self.decode_threads)
        self._progress = ProgressWriter(self.progress_dir)

    def _one(self, record: dict) -> dict:
        try:
            data = self._fetcher.fetch(record["source"])
        except RecordError as e:
            return error_record(record, "fetch", e.reason, e.message)
        try:
            with self._decode_slots:
                pixels = decode_image(data, self.image_size, self.fit, self.background,
                                      self.max_pixels, self.max_aspect)
                mean, sq_mean = channel_moments(pixels)
        except RecordError as e:
            return error_record(record, "decode", e.reason, e.message)
        return dict(record, pixels=pixels, sha256=hashlib.sha256(data).hexdigest(),
                    num_bytes=len(data), channel_mean=mean, channel_sq_mean=sq_mean)

    def process(self, batch: list[dict]):
        futures = [(self._io_pool if is_remote(r["source"]) else self._cpu_pool).submit(self._one, r)
                   for r in batch]
        for future in futures:
            result = future.result()
            if "pixels" in result:
                self.decoded.inc()
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
