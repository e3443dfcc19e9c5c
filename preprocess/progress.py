"""Live progress of a running job: counts, rate, failures so far, ETA.

Beam's metrics are only readable once a DirectRunner pipeline has finished, so each worker
also drops its running counts into a small JSON file in the job's staging folder, and the
launcher sums them into a tqdm progress bar. The files go through Beam's FileSystems, so this
works on a cluster runner too (staging is then under --temp_location, which workers and
launcher share): locally a file is replaced at most twice a second (atomically, by rename),
on an object store at most every 10 s (an object appears whole when it is closed). Progress is
best effort: a worker that cannot write it carries on without.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
import uuid

from apache_beam.io.filesystems import FileSystems

from streamgan.common.files import atomic_path, is_remote
from streamgan.common.logs import console

FIELDS = ("done", "failed", "duplicates")


class ProgressWriter:
    """Counts in one worker; writes them to progress_dir/<uuid>.json every `interval` s.
    Thread-safe: a worker's fetch threads count each record as it finishes."""

    def __init__(self, progress_dir: str | None, interval: float | None = None):
        self._path = None
        self._remote = bool(progress_dir) and is_remote(progress_dir)
        if progress_dir and (self._remote or os.path.isdir(progress_dir)):
            self._path = FileSystems.join(progress_dir, f"{uuid.uuid4().hex}.json")
        self._counts: collections.Counter = collections.Counter()
        self._interval = interval if interval is not None else 10.0 if self._remote else 0.5
        self._last = 0.0
        self._lock = threading.Lock()

    def add(self, **counts: int) -> None:
        if self._path is None:
            return
        with self._lock:
            self._counts.update(counts)
            now = time.monotonic()
            due = now - self._last >= self._interval
            if due:
                self._last = now
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            if self._path is None or not self._counts:
                return
            self._write(json.dumps(dict(self._counts)).encode())

    def _write(self, data: bytes) -> None:
        try:
            if self._remote:
                with FileSystems.create(self._path) as fh:
                    fh.write(data)
            else:
                with atomic_path(self._path) as tmp, open(tmp, "wb") as fh:
                    fh.write(data)
        except Exception as e:  # progress must never fail the job
            logging.warning("progress file %s not written (%s); carrying on without", self._path, e)
            self._path = None


def read_progress(progress_dir: str) -> dict[str, int]:
    totals = dict.fromkeys(FIELDS, 0)
    try:
        found = FileSystems.match([FileSystems.join(progress_dir, "*.json")])[0].metadata_list
    except Exception:  # nothing written yet
        return totals
    for meta in found:
        if os.path.basename(meta.path).startswith("."):
            continue  # a local file being written
        try:
            with FileSystems.open(meta.path) as fh:
                for key, value in json.loads(fh.read()).items():
                    totals[key] = totals.get(key, 0) + int(value)
        except Exception:
            continue  # being replaced right now; the next poll reads it
    return totals


class ProgressMonitor:
    """Shows a progress bar over `total` records while a job runs (a context manager)."""

    def __init__(self, progress_dir: str, total: int, interval: float = 1.0, done_before: int = 0):
        self.progress_dir = progress_dir
        self.total = total
        self.done_before = done_before  # records settled before the pipeline (URL duplicates)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)

    def _run(self) -> None:
        from tqdm import tqdm
        out = console()
        tty = out.isatty()
        with tqdm(total=self.total, unit="rec", desc="preprocess", file=out,
                  mininterval=0.5 if tty else 10.0, dynamic_ncols=True) as bar:
            while True:
                stopping = self._stop.wait(self.interval)
                counts = read_progress(self.progress_dir)
                duplicates = counts["duplicates"] + self.done_before
                done = min(self.total, counts["done"] + duplicates)
                bar.set_postfix(failed=counts["failed"], duplicates=duplicates, refresh=False)
                bar.update(done - bar.n)
                if stopping:
                    return

    def __enter__(self) -> "ProgressMonitor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
