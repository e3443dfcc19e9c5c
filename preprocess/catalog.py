"""Reading and validating a catalogue before any work starts.

A catalogue is a JSON array of records or JSON Lines, each record
`{"url": ..., "description": "..."}` or FEIDEGGER's `{"url": ..., "descriptions": [...]}`, with any
other fields kept. It is streamed (ijson for arrays), never loaded whole, and every problem is
reported as one line naming the record. The validated records are written as normalised JSON
Lines, one per record and carrying its catalogue position, which the Beam job then reads in
parallel (a JSON array cannot be split; JSON Lines can).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from typing import IO, Iterator

import ijson

from common.errors import CatalogError
from common.files import is_remote, local_path


@dataclasses.dataclass
class CatalogSummary:
    records: int
    sha256: str
    format: str  # "json-array" or "jsonl"


class _HashingReader(io.RawIOBase):
    """A file wrapper that hashes what is read, so validation also fingerprints the catalogue."""

    def __init__(self, fh: IO[bytes]):
        self._fh = fh
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        data = self._fh.read(len(buf))
        self.sha256.update(data)
        buf[:len(data)] = data
        return len(data)


def _open(path: str) -> IO[bytes]:
    if is_remote(path):
        from apache_beam.io.filesystems import FileSystems  # gs://, s3://, ... when installed
        return FileSystems.open(path)
    path = local_path(path)
    if not os.path.exists(path):
        raise CatalogError(f"catalogue {path} does not exist")
    if os.path.isdir(path):
        raise CatalogError(f"catalogue {path} is a directory; pass the JSON file")
    return open(path, "rb")


def file_sha256(path: str) -> str:
    """sha256 of the catalogue file, streamed: what identifies a catalogue across runs."""
    digest = hashlib.sha256()
    with _open(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_url(url: str, catalog_dir: str) -> str:
    """Where to fetch a record from: http(s) and other schemes as given, local paths absolute."""
    if "://" in url or os.path.isabs(url):
        return url
    if is_remote(catalog_dir):
        return catalog_dir.rstrip("/") + "/" + url
    return os.path.normpath(os.path.join(catalog_dir, url))


def _descriptions(record: dict, where: str) -> list[str]:
    if "descriptions" in record and record["descriptions"] is not None:
        value = record["descriptions"]
        if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
            raise CatalogError(f"{where}: `descriptions` must be a list of strings, "
                               f"got {_show(value)}")
        descriptions = list(value)
        if isinstance(record.get("description"), str):
            descriptions.insert(0, record["description"])
        return descriptions
    value = record.get("description")
    if value is None:
        return []
    if not isinstance(value, str):
        raise CatalogError(f"{where}: `description` must be a string (or use `descriptions` for "
                           f"a list), got {_show(value)}")
    return [value]


def _show(value) -> str:
    text = json.dumps(value, default=str)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def normalise(record, index: int, catalog_dir: str, where: str) -> dict:
    """Check one record and return it in the job's form (raises CatalogError naming it)."""
    if not isinstance(record, dict):
        raise CatalogError(f"{where}: expected an object with `url` and `description`, "
                           f"got {_show(record)}")
    url = record.get("url")
    if url is None:
        raise CatalogError(f"{where}: no `url` field (fields: {', '.join(sorted(record)) or 'none'})")
    if not isinstance(url, str) or not url.strip():
        raise CatalogError(f"{where}: `url` must be a non-empty string, got {_show(url)}")
    split = record.get("split", "")
    if split is None:
        split = ""
    if not isinstance(split, str):
        raise CatalogError(f"{where}: `split` must be a string, got {_show(split)}")
    descriptions = _descriptions(record, where)
    extra = {k: v for k, v in record.items() if k not in ("url", "description", "descriptions", "split")}
    return {"index": index, "url": url, "source": resolve_url(url.strip(), catalog_dir),
            "descriptions": descriptions, "split": split, "extra": extra}


def _records_array(reader: IO[bytes], name: str) -> Iterator[tuple[object, str]]:
    count = 0
    try:
        for count, record in enumerate(ijson.items(reader, "item", use_float=True), start=1):
            yield record, f"{name}: record {count}"
    except ijson.JSONError as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CatalogError(f"{name}: record {count + 1}: invalid JSON ({detail})") from None


def _records_jsonl(reader: IO[bytes], name: str) -> Iterator[tuple[object, str]]:
    number = 0
    for line_no, raw in enumerate(reader, start=1):
        line = raw.decode("utf-8", "replace")
        if not line.strip():
            continue
        number += 1
        where = f"{name}: record {number} (line {line_no})"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if number == 1:
                raise CatalogError(f"{name} is neither a JSON array nor JSON Lines: line {line_no} "
                                   "is not a whole JSON record (a catalogue is [{...}, {...}] or "
                                   "one {...} per line)") from None
            raise CatalogError(f"{where}: invalid JSON ({e.msg} at column {e.colno})") from None
        yield record, where


def read_catalog(path: str, max_records: int | None = None) -> Iterator[dict]:
    """Yield the catalogue's normalised records in order (see `normalise`)."""
    yield from _read(path, max_records, summary=None)


def _read(path: str, max_records: int | None, summary: CatalogSummary | None) -> Iterator[dict]:
    name = os.path.basename(path.rstrip("/")) or path
    catalog_dir = os.path.dirname(os.path.abspath(path)) if "://" not in path else path.rsplit("/", 1)[0]
    with _open(path) as raw:
        reader = _HashingReader(raw)
        buffered = io.BufferedReader(reader, buffer_size=1 << 20)
        first = buffered.peek(4096)[:4096]
        stripped = first.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not stripped:
            raise CatalogError(f"{name} is empty: expected a JSON array of records or JSON Lines")
        if stripped[:1] == b"[":
            fmt, records = "json-array", _records_array(buffered, name)
        elif stripped[:1] == b"{":
            fmt, records = "jsonl", _records_jsonl(buffered, name)
        else:
            raise CatalogError(f"{name} is not a JSON array or JSON Lines of records "
                               f"(it starts with {stripped[:20]!r})")
        index = -1
        for index, (record, where) in enumerate(records):
            if max_records is not None and index >= max_records:
                index -= 1
                break
            yield normalise(record, index, catalog_dir, where)
        if index < 0:
            raise CatalogError(f"{name} holds no records")
        if summary is not None:
            while buffered.read(1 << 20):  # hash the whole file, even past --max-records
                pass
            summary.records = index + 1
            summary.sha256 = reader.sha256.hexdigest()
            summary.format = fmt


def write_normalised(path: str, out_path: str, max_records: int | None = None) -> CatalogSummary:
    """Validate the whole catalogue and write it as normalised JSON Lines to out_path.

    Nothing is fetched until this returns, so a malformed catalogue fails before any work.
    """
    summary = CatalogSummary(0, "", "")
    with open(out_path, "w", encoding="utf-8") as out:
        for record in _read(path, max_records, summary):
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
    return summary
