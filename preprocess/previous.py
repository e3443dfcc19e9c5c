"""The previous store (last season's): which of a new catalogue's images it already holds.

A new season's catalogue shares most of its images with the last one. The launcher opens the
previous store (`--previous`, or under `streamgan run` the workdir's latest store), checks that
its images can stand in for fetched ones (a complete store of this schema, made with the same
pixel-deciding options: size, fit, background, the acceptance limits), and builds an on-disk
index source -> (row, ETag, Last-Modified, sha256, freshness fields) of it: sqlite, like
preprocess/dedup.py, so memory stays flat at any catalogue size. The index holds the store's
rows and its content duplicates (duplicates.jsonl keeps their sources and validators, with the
row of the image they duplicate). Each new record found there goes to the workers with that
row, its validators and what to do with it (preprocess/freshness.py `plan`: reuse with no
request when the response is still fresh, when `--revalidate never`, or when the catalogue's
sha256 equals the row's; a conditional GET when stale or no-cache; a plain GET when there is
nothing to ask with). FetchAndDecodeFn (preprocess/steps.py) does it; a worker reads the
pixels of a reused row from the previous store.h5 (PreviousImages), one row at a time, never
all of them.

A previous store that cannot be used is reported in one line and ignored: the run then fetches
everything, as it would without one. With a cluster runner the workers cannot read this
machine's files, so the previous store.h5 is first copied to the run's staging area under
--temp_location (docs/scaling.md).
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from typing import Iterable, Iterator

import numpy as np

from streamgan.common.errors import StoreError
from streamgan.common.files import is_remote, local_path
from streamgan.preprocess.freshness import FETCH, REUSE, REVALIDATE, plan
from streamgan.store import contract as sf
from streamgan.store.reuse import pixel_option_problem

BLOCK = 1 << 12                 # rows of the previous store's columns read at a time
CHUNK_CACHE = 16 << 20          # bytes of HDF5 chunk cache per worker for the previous images
EXAMPLES = 10                   # new tokens / categories named in the summary


def note(message: str) -> None:
    """The one line that says a previous store is not used, and why."""
    print(f"previous store not used, every image is fetched: {message}")


class PreviousStore:
    """The launcher's view of a usable previous store: the reuse index and the change counts."""

    def __init__(self, info: sf.StoreInfo, index_path: str, worker_h5: str):
        self.info = info
        self.worker_h5 = worker_h5       # where the workers read the images
        self.matched = 0                 # new records whose source the previous store has
        self.new = 0                     # new records it has not
        self.actions = {REUSE: 0, REVALIDATE: 0, FETCH: 0}  # what the workers will do
        if os.path.exists(index_path):
            os.remove(index_path)
        self._db = sqlite3.connect(index_path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(f"CREATE TABLE previous (source TEXT PRIMARY KEY, row INTEGER, "
                         f"{', '.join(c + ' TEXT' for c in _VALUES)}) WITHOUT ROWID")

    @property
    def store_dir(self) -> str:
        return self.info.store_dir

    @classmethod
    def open(cls, cfg, paths, cluster: bool) -> "PreviousStore | None":
        """The previous store cfg names, checked and indexed; None (after one line saying
        why) when it cannot be used. cluster: workers do not share this machine's files."""
        if not cfg.previous:
            return None
        if is_remote(cfg.previous):
            note(f"{cfg.previous} is not on this machine (a previous store must be a local "
                 "directory)")
            return None
        try:
            info = sf.open_store(local_path(cfg.previous), allow_empty=True)
        except StoreError as e:
            note(str(e))
            return None
        problem = pixel_option_problem(info.manifest, cfg)
        if problem:
            note(f"{cfg.previous}: {problem}")
            return None
        worker_h5 = info.h5_path
        index_path = os.path.join(paths.local, "previous.sqlite")
        store = cls(info, index_path, worker_h5)
        try:
            store._index()
            if cluster:
                store.worker_h5 = _upload(info.h5_path, paths.staging)
        except (OSError, KeyError, ValueError, UnicodeDecodeError) as e:
            store.close()
            note(f"{info.h5_path} is damaged ({type(e).__name__}: {e})")
            return None
        return store

    def _index(self) -> None:
        import h5py
        insert = (f"INSERT INTO previous VALUES (?, ?, {', '.join('?' for _ in _VALUES)}) "
                  "ON CONFLICT DO NOTHING")
        with h5py.File(self.info.h5_path, "r") as f:
            n = self.info.num_images
            blank = np.full(min(n, BLOCK), "", object)
            columns = {name: f[name].asstr() if name in f else None
                       for name in (sf.SOURCE,) + _VALUES}
            self._db.execute("BEGIN")
            for start in range(0, n, BLOCK):
                stop = min(n, start + BLOCK)
                values = [columns[c][start:stop] if columns[c] is not None
                          else blank[:stop - start] for c in (sf.SOURCE,) + _VALUES]
                self._db.executemany(insert, ((v[0], start + i, *v[1:]) for i, v
                                              in enumerate(zip(*values)) if v[0]))
        # Content duplicates: their own source and validators, the row of the image they share.
        duplicates = os.path.join(self.store_dir, sf.DUPLICATES_FILE)
        if os.path.exists(duplicates):
            with open(duplicates, encoding="utf-8") as fh:
                for line in fh:
                    d = json.loads(line)
                    if d.get("kind") == "content" and d.get(sf.SOURCE) and "row" in d:
                        self._db.execute(insert, (d[sf.SOURCE], d["row"],
                                                  *(d.get(c, "") for c in _VALUES)))
        self._db.execute("COMMIT")

    def lookup(self, source: str) -> dict | None:
        """What a worker needs to reuse the previous store's image of source, or None."""
        row = self._db.execute(f"SELECT row, {', '.join(_VALUES)} FROM previous "
                               "WHERE source = ?", (source,)).fetchone()
        if row is None:
            return None
        return {"row": row[0], **dict(zip(_VALUES, row[1:]))}

    def attach(self, records: Iterable[dict], reuse: bool, revalidate: str = "auto",
               now: float | None = None) -> Iterator[dict]:
        """The records (URL duplicates already dropped, so a source comes once), each found
        in the previous store carrying `previous`: its row, validators, freshness and
        `action` (unless not reuse: --refetch); counts them."""
        now = time.time() if now is None else now
        for record in records:
            found = self.lookup(record["source"])
            if found is None:
                self.new += 1
            else:
                self.matched += 1
                if reuse:
                    action = plan(found, revalidate, now, record.get("expected_sha256"))
                    self.actions[action] += 1
                    record = dict(record, previous=dict(found, action=action))
            yield record

    def plan_line(self, revalidate: str) -> str:
        """What the workers will do with the records the previous store holds."""
        a = self.actions
        return (f"previous store {self.store_dir}: {self.matched} records found; "
                f"{a[REUSE]} reused with no request, {a[REVALIDATE]} revalidated (conditional "
                f"GET), {a[FETCH]} fetched again (--revalidate {revalidate})")

    def summary(self, counts: sf.Counts, changed: int, new_store: str, fields: Iterable[str],
                refetch: bool) -> sf.Changes:
        """The change summary for the manifest: records new / in both / gone, images reused /
        fetched (changed: refetched because their bytes differ), and the vocabulary entries
        the previous store did not have."""
        tokens, categories = new_vocabulary(self.store_dir, new_store, fields)
        return sf.Changes(store=self.store_dir, refetch=refetch,
                          records_new=self.new, records_kept=self.matched,
                          records_gone=self.info.num_images - self.matched,
                          unchanged=counts.reused, changed=changed,
                          reused=counts.reused, fetched=counts.fetched,
                          new_tokens=tokens, new_categories=categories)

    def close(self) -> None:
        self._db.close()


_VALUES = (sf.ETAG, sf.LAST_MODIFIED, sf.SHA256) + sf.FRESHNESS_COLUMNS  # kept per source


def _upload(h5_path: str, staging: str) -> str:
    """Copy store.h5 to the staging area that cluster workers read (any Beam filesystem)."""
    from apache_beam.io.filesystems import FileSystems
    target = FileSystems.join(staging, "previous-store.h5")
    with open(h5_path, "rb") as source, FileSystems.create(target) as out:
        shutil.copyfileobj(source, out, 16 << 20)
    return target


def _vocabulary(store_dir: str, name: str) -> list[str] | None:
    """A store's TFT vocabulary, or None when it has none of that name (another
    --condition-fields) or its graph cannot be read: the summary then counts every entry as
    new rather than failing a finished job."""
    import tensorflow_transform as tft

    from streamgan.preprocess.transform import vocabulary_entries
    try:
        return vocabulary_entries(tft.TFTransformOutput(store_dir), name)
    except Exception:  # ValueError for a missing one; TensorFlow's own errors for a damaged one
        return None


def new_vocabulary(previous_dir: str, new_dir: str,
                   fields: Iterable[str]) -> tuple[sf.NewEntries, dict[str, sf.NewEntries]]:
    """Description tokens and categorical values in the new store's vocabularies that the
    previous store's lack: counts and the first few, most frequent first. Vocabularies are
    at most --vocab-top-k entries, so this holds two of them, not the catalogue."""
    def added(name):
        now = _vocabulary(new_dir, name) or []
        then = set(_vocabulary(previous_dir, name) or [])
        return [w for w in now if w not in then]
    tokens = added(sf.DESCRIPTION_VOCABULARY)
    by_field = {f: added(sf.field_vocabulary(f)) for f in fields}
    return (sf.NewEntries(len(tokens), tuple(tokens[:EXAMPLES])),
            {f: sf.NewEntries(len(v), tuple(v[:EXAMPLES])) for f, v in by_field.items()})


class PreviousImages:
    """A worker's reader of the previous store's images, by row (thread-safe). Opened once
    per worker (in DoFn.setup); on a cluster the file is read through Beam's FileSystems,
    with an HDF5 chunk cache so that neighbouring rows (records come in catalogue order)
    cost one read."""

    def __init__(self, path: str):
        import h5py
        self._handle = None
        if is_remote(path):
            from apache_beam.io.filesystems import FileSystems
            self._handle = FileSystems.open(path)
            self._file = h5py.File(self._handle, "r", rdcc_nbytes=CHUNK_CACHE)
        else:
            self._file = h5py.File(path, "r", rdcc_nbytes=CHUNK_CACHE)
        self._images = self._file[sf.IMAGES]
        self._lock = threading.Lock()

    def row(self, row: int) -> np.ndarray:
        with self._lock:
            return self._images[row]

    def close(self) -> None:
        self._file.close()
        if self._handle is not None:
            self._handle.close()
