"""The previous store (last season's): which of a new catalogue's images it already holds.

A new season's catalogue shares most of its images with the last one. The launcher opens the
previous store (`--previous`, or under `streamgan run` the workdir's latest store), checks that
its images can stand in for fetched ones (a complete store of this schema, made with the same
pixel-deciding options: size, fit, background, the acceptance limits), and builds an on-disk
index source -> (row, ETag, Last-Modified, sha256) of it: sqlite, like preprocess/dedup.py, so
memory stays flat at any catalogue size. Each new record found there goes to the workers with
that row and those validators, and FetchAndDecodeFn (preprocess/steps.py) asks the server
whether the image changed (a conditional GET: 304 means reuse; a file's size and modification
time stand in for the validators), or, when the server sent no validators, takes the row without
any request. A worker reads the pixels of such a row from the previous store.h5 (PreviousImages),
one row at a time, never all of them.

A previous store that cannot be used is reported in one line and ignored: the run then fetches
everything, as it would without one. With a cluster runner the workers cannot read this
machine's files, so the previous store.h5 is first copied to the run's staging area under
--temp_location (docs/scaling.md).
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from typing import Iterable, Iterator

import numpy as np

from streamgan.common.errors import StoreError
from streamgan.common.files import is_remote, local_path
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
        self._db = sqlite3.connect(index_path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE previous (source TEXT PRIMARY KEY, row INTEGER, "
                         "etag TEXT, last_modified TEXT, sha256 TEXT) WITHOUT ROWID")

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
        with h5py.File(self.info.h5_path, "r") as f:
            columns = [f[name].asstr() for name in sf.REUSE_COLUMNS]
            self._db.execute("BEGIN")
            for start in range(0, self.info.num_images, BLOCK):
                source, etag, modified, sha = (c[start:start + BLOCK] for c in columns)
                self._db.executemany(
                    "INSERT INTO previous VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    ((s, start + i, e, m, h) for i, (s, e, m, h)
                     in enumerate(zip(source, etag, modified, sha)) if s))
            self._db.execute("COMMIT")

    def lookup(self, source: str) -> dict | None:
        """What a worker needs to reuse the previous store's image of source, or None."""
        row = self._db.execute("SELECT row, etag, last_modified, sha256 FROM previous "
                               "WHERE source = ?", (source,)).fetchone()
        if row is None:
            return None
        return {"row": row[0], "etag": row[1], "last_modified": row[2], "sha256": row[3]}

    def attach(self, records: Iterable[dict], reuse: bool) -> Iterator[dict]:
        """The records (URL duplicates already dropped, so a source comes once), each found
        in the previous store carrying `previous` (unless not reuse: --refetch); counts them."""
        for record in records:
            found = self.lookup(record["source"])
            if found is None:
                self.new += 1
            else:
                self.matched += 1
                if reuse:
                    record = dict(record, previous=found)
            yield record

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


def summary_line(p: sf.Changes) -> str:
    """The change summary as the run prints it."""
    tokens = p.new_tokens
    text = (f"against the previous store {p.store}: records {p.records_new} new, "
            f"{p.records_kept} kept ({p.unchanged} unchanged, {p.changed} changed), "
            f"{p.records_gone} gone; images {p.reused} reused, {p.fetched} fetched"
            + (" (--refetch)" if p.refetch else "")
            + f"; {tokens.count} new description tokens"
            + (f" ({', '.join(tokens.examples)})" if tokens.examples else ""))
    for field, added in p.new_categories.items():
        text += f"; {added.count} new {field} values"
        if added.examples:
            text += f" ({', '.join(added.examples)})"
    return text


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
