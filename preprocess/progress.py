"""Live progress of a running job: counts, rate, failures so far, ETA.

Beam's metrics are only readable once a DirectRunner pipeline has finished, so each worker
also drops its running counts into a small JSON file in the job's staging folder (at most twice
a second, replaced atomically), and the launcher sums them into a tqdm progress bar. On a
cluster runner the runner's own UI shows progress and these files are simply not written.
"""
from __future__ import annotations

import collections
import glob
import json
import os
import threading
import time
import uuid

from common.files import atomic_path
from common.logs import console

FIELDS = ("done", "failed", "duplicates")


class ProgressWriter:
    """Counts in one worker; writes them to progress_dir/<uuid>.json every `interval` s."""

    def __init__(self, progress_dir: str | None, interval: float = 0.5):
        self._path = None
        if progress_dir and "://" not in progress_dir and os.path.isdir(progress_dir):
            self._path = os.path.join(progress_dir, f"{uuid.uuid4().hex}.json")
        self._counts: collections.Counter = collections.Counter()
        self._interval = interval
        self._last = 0.0

    def add(self, **counts: int) -> None:
        if self._path is None:
            return
        self._counts.update(counts)
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self.flush()

    def flush(self) -> None:
        if self._path is None or not self._counts:
            return
        with atomic_path(self._path) as tmp, open(tmp, "w") as fh:
            json.dump(dict(self._counts), fh)


def read_progress(progress_dir: str) -> dict[str, int]:
    totals = dict.fromkeys(FIELDS, 0)
    for path in glob.glob(os.path.join(progress_dir, "*.json")):
        try:
            with open(path) as fh:
                for key, value in json.load(fh).items():
                    totals[key] = totals.get(key, 0) + int(value)
        except (OSError, ValueError):
            continue  # being replaced right now; the next poll reads it
    return totals


class ProgressMonitor:
    """Shows a progress bar over `total` records while a job runs (a context manager)."""

    def __init__(self, progress_dir: str, total: int, interval: float = 1.0):
        self.progress_dir = progress_dir
        self.total = total
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
                done = min(self.total, counts["done"] + counts["duplicates"])
                bar.set_postfix(failed=counts["failed"], duplicates=counts["duplicates"],
                                refresh=False)
                bar.update(done - bar.n)
                if stopping:
                    return

    def __enter__(self) -> "ProgressMonitor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
