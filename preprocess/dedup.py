"""Deduplication on disk: which record first had each key (a URL, a content hash).

The job drops a record whose URL (before fetching) or whose bytes (after decoding) an earlier
record already had, and merges its descriptions into that first record (FEIDEGGER repeats an
image under several descriptions: they are kept, not thrown away). Both happen on the
launcher over records in catalogue order, against an sqlite index in the run's scratch
folder, so memory stays flat whatever the catalogue's size; a Beam GroupByKey would make the
DirectRunner hold every record between stages.

    seen = FirstSeen(path, kind="url")
    for record in records_in_catalogue_order:
        seen.add(record["source"], record)        # -> None, or the duplicate's line
    for record in seen.merged(records_in_catalogue_order_again):
        ...                                       # the first of each key, descriptions merged
"""
from __future__ import annotations

import json
import os
import sqlite3
from typing import Iterable, Iterator


class FirstSeen:
    """An on-disk index key -> first catalogue position, plus each duplicate's descriptions."""

    def __init__(self, path: str, kind: str):
        if os.path.exists(path):
            os.remove(path)
        self.kind = kind
        self.duplicates = 0
        self._db = sqlite3.connect(path, isolation_level=None)
        # Scratch data, rebuilt on a rerun: no journal, no fsync.
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("BEGIN")
        self._db.execute("CREATE TABLE first (key TEXT PRIMARY KEY, position INTEGER) WITHOUT ROWID")
        self._db.execute("CREATE TABLE duplicate (first INTEGER, position INTEGER, "
                         "descriptions TEXT, PRIMARY KEY (first, position)) WITHOUT ROWID")

    def add(self, key: str, record: dict) -> dict | None:
        """Record `key` for `record` (records come in catalogue order). Returns None for the
        first record with this key, else the duplicate's line for duplicates.jsonl."""
        index = record["index"]
        row = self._db.execute("INSERT INTO first VALUES (?, ?) ON CONFLICT DO NOTHING "
                               "RETURNING position", (key, index)).fetchone()
        if row is not None:
            return None
        (first,) = self._db.execute("SELECT position FROM first WHERE key = ?", (key,)).fetchone()
        self._db.execute("INSERT INTO duplicate VALUES (?, ?, ?)",
                         (first, index, json.dumps(record["descriptions"], ensure_ascii=False)))
        self.duplicates += 1
        return {"index": index, "url": record["url"], "kind": self.kind, "duplicate_of": first}

    def merged(self, firsts: Iterable[dict]) -> Iterator[dict]:
        """The given first records (ascending catalogue position, duplicates already left out),
        each with its duplicates' descriptions merged in after its own, in catalogue order."""
        self._db.execute("COMMIT")
        rows = self._db.execute("SELECT first, descriptions FROM duplicate ORDER BY first, position")
        pending = rows.fetchone()
        for record in firsts:
            while pending is not None and pending[0] < record["index"]:
                pending = rows.fetchone()  # the first of these was not kept: nothing to merge into
            extra = []
            while pending is not None and pending[0] == record["index"]:
                extra.append(json.loads(pending[1]))
                pending = rows.fetchone()
            yield dict(record, descriptions=merge_descriptions([record["descriptions"], *extra])) \
                if extra else record
        self._db.execute("BEGIN")

    def close(self) -> None:
        self._db.close()


def merge_descriptions(groups: list[list[str]]) -> list[str]:
    """Every distinct description of a group of duplicates, in catalogue order."""
    seen: dict[str, None] = {}
    for descriptions in groups:
        for description in descriptions:
            seen.setdefault(description, None)
    return list(seen)
