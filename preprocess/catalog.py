"""Reading and validating a catalogue before any work starts.

A catalogue is a JSON array of records or JSON Lines, each record
`{"url": ..., "description": "..."}` or FEIDEGGER's `{"url": ..., "descriptions": [...]}`, with any
other fields kept. It is streamed (ijson for arrays), never loaded whole, and every problem is
reported as one line naming the record. The validated records are written as normalised JSON
Lines, one per record and carrying its catalogue position, which the Beam job then reads in
parallel (a JSON array cannot be split; JSON Lines can).

A catalogue may be a local file, an http(s) URL (read through the same fetcher as the images:
timeouts, retries, redirect checks) or any Beam FileSystems path (gs://, s3://). Any failure to
read it is one CatalogError line.

Which problems are fatal (docs/reliability.md): a file that cannot be read, is not JSON, is
empty or holds no records, or a JSON array that breaks off (truncated, invalid UTF-8, a syntax
error): a streaming parser cannot find the next record after that, and a half-read catalogue
would silently publish a partial store. Problems of one record (a missing or non-string `url`,
a URL that is not one or has a scheme that is not allowed, a local file named by a remote
catalogue, a field of the wrong type, a JSON Lines line that is not JSON or not UTF-8) are
fatal too unless `skip_bad=True` (`--skip-bad-records`), which makes each one a line of
errors.jsonl at stage `catalog` and goes on.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import os
import re
import urllib.parse
from typing import IO, Iterator

import ijson

from streamgan.common.errors import CatalogError, RecordError
from streamgan.common.files import absolute, is_remote, is_url, local_path

HTTP_SCHEMES = ("http", "https")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


class BadRecord(CatalogError):
    """One record's problem: fatal by default, an errors.jsonl line with --skip-bad-records."""

    def __init__(self, where: str, reason: str, problem: str, url=None):
        super().__init__(f"{where}: {problem}")
        self.reason = reason
        self.problem = problem
        self.url = url


@dataclasses.dataclass
class CatalogSummary:
    records: int
    sha256: str
    format: str  # "json-array" or "jsonl"
    bad: int = 0  # records skipped as errors (only with skip_bad)


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
    if path.startswith(("http://", "https://")):
        return _open_http(path)
    if is_remote(path):
        from apache_beam.io.filesystems import FileSystems  # gs://, s3://, ... when installed
        try:
            return FileSystems.open(path)
        except Exception as e:  # each filesystem raises its own types: all mean "unreadable"
            raise CatalogError(f"cannot read catalogue {path}: {_first_line(e)}") from None
    path = local_path(path)
    if not os.path.exists(path):
        raise CatalogError(f"catalogue {path} does not exist")
    if os.path.isdir(path):
        raise CatalogError(f"catalogue {path} is a directory; pass the JSON file")
    return open(path, "rb")


def _open_http(url: str) -> IO[bytes]:
    """A streamed http(s) catalogue, fetched like the images (preprocess/fetch.py)."""
    from streamgan.preprocess.fetch import Fetcher, FetchOptions
    try:
        return Fetcher(FetchOptions(max_bytes=1 << 62)).open(url)
    except RecordError as e:
        raise CatalogError(f"cannot read catalogue {url}: {e.message}") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:300]


def _read_errors():
    """What a failure while reading a catalogue's bytes raises (disk, network, filesystems)."""
    import urllib3
    return (OSError, urllib3.exceptions.HTTPError)


def file_sha256(path: str) -> str:
    """sha256 of the catalogue file, streamed: what identifies a catalogue across runs."""
    digest = hashlib.sha256()
    with _open(path) as fh:
        try:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        except _read_errors() as e:
            raise CatalogError(f"cannot read catalogue {path}: {_first_line(e)}") from None
    return digest.hexdigest()


def resolve_url(url: str, catalog_dir: str) -> str:
    """Where to fetch a record from: http(s) and other schemes as given, local paths absolute."""
    if is_url(url) or os.path.isabs(url):
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


@functools.lru_cache(maxsize=1)
def filesystem_schemes() -> frozenset[str]:
    """The URL schemes Beam's FileSystems can read here (gs, s3, hdfs... as installed)."""
    from apache_beam.io.filesystem import FileSystem
    from apache_beam.io.filesystems import FileSystems  # noqa: F401 - registers the filesystems
    return frozenset(c.scheme() for c in FileSystem.get_all_subclasses() if c.scheme()) - {"file"}


def url_problem(url: str, source: str, allow_local: bool) -> tuple[str, str] | None:
    """(reason, problem) when a record's url must not be fetched; None when it may.

    The allowlist: http and https with a host; Beam FileSystems schemes that are installed;
    local paths and file:// only when allow_local."""
    given = _SCHEME.match(url.strip())
    if given and not url.strip()[given.end():].startswith("//"):
        return "bad_url", (f"`url` {url!r} is not a URL or a path (scheme {given.group(1)}: "
                           "without //)")
    if url.startswith("//"):
        return "bad_url", (f"`url` {url!r} is a protocol-relative URL: write it with https: "
                           "(or http:) in front")
    if not given and url.lower().startswith("www."):
        return "bad_url", f"`url` {url!r} looks like a web address without http(s)://"
    match = _SCHEME.match(source)  # a relative path takes its remote catalogue's scheme
    scheme = match.group(1).lower() if match else ""
    if scheme in HTTP_SCHEMES:
        try:
            parts = urllib.parse.urlsplit(source)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as e:
            return "bad_url", f"`url` {url!r} is not a valid URL ({e})"
        if not parts.hostname or not source[len(scheme):].startswith("://"):
            return "bad_url", f"`url` {url!r} is not a valid URL (no host)"
        if any(c.isspace() or ord(c) < 32 for c in parts.netloc):
            return "bad_url", f"`url` {url!r} is not a valid URL (space in the host)"
        return None
    if scheme == "file" or not scheme:
        if not allow_local:
            return "local_file", (f"`url` {url!r} is a local file, refused for a catalogue read "
                                  "from a remote location (--allow-local-files to permit)")
        return None
    if scheme not in filesystem_schemes():
        return "scheme", (f"`url` {url!r}: scheme {scheme}:// is not allowed (http, https, "
                          "file and the installed Beam filesystems: "
                          f"{', '.join(sorted(filesystem_schemes())) or 'none'})")
    return None


_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def normalise(record, index: int, catalog_dir: str, where: str,
              allow_local: bool = True) -> dict:
    """Check one record and return it in the job's form (raises BadRecord naming it)."""
    if not isinstance(record, dict):
        raise BadRecord(where, "not_an_object", "expected an object with `url` and "
                        f"`description`, got {_show(record)}")
    url = record.get("url")
    if url is None:
        raise BadRecord(where, "no_url",
                        f"no `url` field (fields: {', '.join(sorted(record)) or 'none'})")
    if not isinstance(url, str) or not url.strip():
        raise BadRecord(where, "bad_url", f"`url` must be a non-empty string, got {_show(url)}",
                        url=json.dumps(url, default=str))
    source = resolve_url(url.strip(), catalog_dir)
    problem = url_problem(url, source, allow_local)
    if problem:
        raise BadRecord(where, *problem, url=url)
    split = record.get("split", "")
    if split is None:
        split = ""
    if not isinstance(split, str):
        raise BadRecord(where, "bad_field", f"`split` must be a string, got {_show(split)}",
                        url=url)
    try:
        descriptions = _descriptions(record, where)
    except CatalogError as e:
        raise BadRecord(where, "bad_field", str(e)[len(where) + 2:], url=url) from None
    expected = record.get("sha256")
    if expected is not None:
        if not isinstance(expected, str) or not _SHA256.fullmatch(expected.strip()):
            raise BadRecord(where, "bad_field", "`sha256` must be 64 hex digits (the SHA-256 of "
                            f"the image's bytes), got {_show(expected)}", url=url)
        expected = expected.strip().lower()
    extra = {k: v for k, v in record.items()
             if k not in ("url", "description", "descriptions", "split", "sha256")}
    normalised = {"index": index, "url": url, "source": source,
                  "descriptions": descriptions, "split": split, "extra": extra}
    if expected:  # the image must have these bytes (preprocess/steps.py checks them)
        normalised["expected_sha256"] = expected
    return normalised


def _records_array(reader: IO[bytes], name: str) -> Iterator[tuple[object, str]]:
    count = 0
    try:
        for count, record in enumerate(ijson.items(reader, "item", use_float=True), start=1):
            yield record, f"{name}: record {count}"
    except ijson.JSONError as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        where = f"{name}: record {count + 1}"
        if "premature EOF" in detail:
            raise CatalogError(f"{where}: the catalogue ends in the middle of the JSON array "
                               "(a truncated file?)") from None
        if "UTF8" in detail:
            raise CatalogError(f"{where}: invalid UTF-8 bytes (a catalogue must be UTF-8 text; "
                               "it cannot be read past this point)") from None
        raise CatalogError(f"{where}: invalid JSON ({detail.lstrip('b').strip(chr(39))})") from None


def _records_jsonl(reader: IO[bytes], name: str) -> Iterator[tuple[object, str]]:
    """Yields (record, where); a line that is not UTF-8 JSON yields (BadRecord, where)."""
    number = 0
    for line_no, raw in enumerate(reader, start=1):
        if not raw.strip():
            continue
        number += 1
        where = f"{name}: record {number} (line {line_no})"
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            yield BadRecord(where, "invalid_json", f"invalid UTF-8 at byte {e.start + 1} of the "
                            "line (a catalogue must be UTF-8 text)"), where
            continue
        except json.JSONDecodeError as e:
            if number == 1:
                raise CatalogError(f"{name} is neither a JSON array nor JSON Lines: line {line_no} "
                                   "is not a whole JSON record (a catalogue is [{...}, {...}] or "
                                   "one {...} per line)") from None
            yield BadRecord(where, "invalid_json", f"invalid JSON ({e.msg} at column "
                            f"{e.colno})"), where
            continue
        yield record, where


def read_catalog(path: str, max_records: int | None = None) -> Iterator[dict]:
    """Yield the catalogue's normalised records in order (see `normalise`)."""
    yield from _read(path, max_records, summary=None)


def _read(path: str, max_records: int | None, summary: CatalogSummary | None,
          allow_local: bool | None = None) -> Iterator[dict | BadRecord]:
    """The normalised records in order; a bad record is raised, or yielded as a BadRecord
    (carrying its `index`) when a summary is kept, for the caller to decide."""
    try:
        yield from _read_records(path, max_records, summary, allow_local)
    except _read_errors() as e:
        raise CatalogError(f"cannot read catalogue {path}: {_first_line(e)}") from None


def _read_records(path: str, max_records: int | None, summary: CatalogSummary | None,
                  allow_local: bool | None) -> Iterator[dict | BadRecord]:
    name = os.path.basename(path.rstrip("/")) or path
    catalog_dir = path.rsplit("/", 1)[0] if is_remote(path) else os.path.dirname(absolute(path))
    if allow_local is None:
        allow_local = not is_remote(path)
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
            try:
                if isinstance(record, BadRecord):
                    raise record
                yield normalise(record, index, catalog_dir, where, allow_local)
            except BadRecord as bad:
                if summary is None:
                    raise
                bad.index = index
                yield bad
        if index < 0:
            raise CatalogError(f"{name} holds no records")
        if summary is not None:
            while buffered.read(1 << 20):  # hash the whole file, even past --max-records
                pass
            summary.records = index + 1
            summary.sha256 = reader.sha256.hexdigest()
            summary.format = fmt


def error_line(bad: BadRecord) -> dict:
    """A skipped record's line of errors.jsonl (the format of preprocess/steps.error_record)."""
    return {"index": bad.index, "url": bad.url if isinstance(bad.url, str) else "",
            "stage": "catalog", "reason": bad.reason, "message": bad.problem}


def write_normalised(path: str, out_path: str, max_records: int | None = None, *,
                     skip_bad: bool = False, errors_path: str | None = None,
                     allow_local: bool | None = None) -> CatalogSummary:
    """Validate the whole catalogue and write it as normalised JSON Lines to out_path.

    Nothing is fetched until this returns, so a malformed catalogue fails before any work.
    skip_bad: bad records become error lines in errors_path (JSON Lines, stage `catalog`)
    instead of a CatalogError. allow_local: may records name local files (default: when the
    catalogue itself is local).
    """
    summary = CatalogSummary(0, "", "")
    errors = open(errors_path, "w", encoding="utf-8") if skip_bad and errors_path else None
    try:
        with open(out_path, "w", encoding="utf-8") as out:
            for record in _read(path, max_records, summary, allow_local):
                if isinstance(record, BadRecord):
                    if errors is None:
                        raise record
                    summary.bad += 1
                    errors.write(json.dumps(error_line(record), ensure_ascii=False) + "\n")
                    continue
                out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
                out.write("\n")
    finally:
        if errors is not None:
            errors.close()
    return summary
