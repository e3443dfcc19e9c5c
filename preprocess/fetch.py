"""Fetching image bytes from wherever a catalogue points: http(s), local paths, file://, and any
scheme Beam's FileSystems knows (gs://, s3://, ... when the matching extra is installed).

HTTP goes through one urllib3 pool per worker, with a timeout per connect and per read, a total
deadline per image (a server that trickles a byte a second never times out a read), retries
with exponential backoff for 429/5xx and connection errors (urllib3's Retry, honouring a
Retry-After of up to `MAX_RETRY_AFTER` seconds), and a cap on the response size, checked
against Content-Length and again while the body arrives.

Redirects are followed here, not by urllib3, so that each hop is checked: at most
`max_redirects` of them, only to http(s), and never from https down to http. With
`deny_private`, every connection's actual peer address (after DNS, so a name that resolves to
an internal address is caught, and so is a redirect to one) must be a public one: loopback,
link-local (cloud metadata at 169.254.169.254), private, shared and reserved ranges are
refused, so a partner's catalogue cannot make the workers fetch internal endpoints.

`fetch_validated` also returns the validators that let the next season's run ask whether an
image changed (preprocess/previous.py): an HTTP server's ETag and Last-Modified, sent back as
If-None-Match / If-Modified-Since (a 304 means unchanged, nothing is downloaded); for a file
(local or on a Beam filesystem) its size and modification time, compared without reading it.
With them come the response's freshness fields (Cache-Control, Expires, Date, Age:
preprocess/freshness.py), which decide whether the next season asks at all.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import time
import urllib.parse

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from streamgan.common.errors import RecordError
from streamgan.common.files import is_remote, local_path
from streamgan.preprocess.freshness import Freshness

RETRY_STATUSES = (429, 500, 502, 503, 504)
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
HTTP_SCHEMES = ("http", "https")
USER_AGENT = "streamgan/0.1 (+catalogue preprocessing)"
MAX_RETRY_AFTER = 30.0  # seconds: a longer Retry-After is waited out for this long at most


@dataclasses.dataclass(frozen=True)
class FetchOptions:
    timeout: float = 20.0
    retries: int = 3
    backoff: float = 0.5
    max_bytes: int = 30 * 1024 * 1024
    pool_size: int = 16
    deadline: float = 120.0      # seconds for one image's whole download
    max_redirects: int = 5
    deny_private: bool = False   # refuse non-public peer addresses
    allow_local: bool = True     # local paths and file:// may be read


@dataclasses.dataclass(frozen=True)
class Fetched:
    """One fetch: the bytes (None when the validators given still hold: unchanged) and the
    validators to store with them ("" when the source gave none)."""
    data: bytes | None
    etag: str = ""
    last_modified: str = ""
    freshness: Freshness = Freshness()


def options_for(cfg) -> FetchOptions:
    """The fetcher's options from a PreprocessConfig."""
    return FetchOptions(cfg.timeout, cfg.retries, cfg.backoff, cfg.max_bytes,
                        cfg.fetch_threads + cfg.revalidate_threads,
                        deadline=cfg.fetch_deadline, deny_private=cfg.deny_private(),
                        allow_local=cfg.allow_local())


def address_problem(address: str) -> str | None:
    """Why a peer IP address must not be fetched from when private addresses are denied."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    if ip.is_global:
        return None
    kind = ("loopback" if ip.is_loopback else "link-local" if ip.is_link_local
            else "private" if ip.is_private else "non-public")
    return f"{kind} address ({ip})"


class PrivateAddressError(Exception):
    """Raised by a connection whose peer is not a public address (not an OSError: urllib3
    must not retry it)."""


class _CheckedMixin:
    def _new_conn(self):
        try:  # an address given literally is refused before any packet is sent to it
            problem = address_problem(self.host.strip("[]"))
        except ValueError:  # a name: checked once connected, on the address DNS gave
            problem = None
        if problem:
            raise PrivateAddressError(f"{problem} refused")
        sock = super()._new_conn()
        problem = address_problem(sock.getpeername()[0])
        if problem:
            sock.close()
            raise PrivateAddressError(f"{self.host} resolves to a {problem}, refused")
        return sock


class _CheckedHTTPConnection(_CheckedMixin, HTTPConnection):
    pass


class _CheckedHTTPSConnection(_CheckedMixin, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _Retry(Retry):
    """urllib3's Retry, with Retry-After capped: a server asking for an hour would otherwise
    hold a fetch thread for an hour."""

    def get_retry_after(self, response):
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, MAX_RETRY_AFTER)


_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>: ")


def _text(error: BaseException) -> str:
    """An exception's message without urllib3's object reprs (which differ run to run)."""
    return _OBJECT_REPR.sub("", str(error))


def _status_text(response, retries: int) -> str:
    text = f"HTTP {response.status} {response.reason or ''}".strip()
    return f"{text} (after {retries} retries)" if response.status in RETRY_STATUSES else text


def redirect_problem(source: str, target: str) -> str | None:
    """Why a redirect from source to target is refused, or None."""
    old, new = urllib.parse.urlsplit(source).scheme, urllib.parse.urlsplit(target).scheme.lower()
    if new not in HTTP_SCHEMES:
        return f"redirect to another scheme ({new or 'none'}:) refused: {target[:100]}"
    if old == "https" and new == "http":
        return f"redirect from https down to http refused ({target[:100]})"
    return None


class Fetcher:
    """Reads one URL or path into bytes. Thread-safe: one instance serves a worker's threads."""

    def __init__(self, options: FetchOptions):
        self.options = options
        retry = _Retry(total=options.retries, connect=options.retries, read=options.retries,
                       status=options.retries, redirect=False, backoff_factor=options.backoff,
                       backoff_max=30, status_forcelist=RETRY_STATUSES,
                       allowed_methods=frozenset({"GET"}), respect_retry_after_header=True,
                       raise_on_status=False, raise_on_redirect=False)
        self._http = urllib3.PoolManager(
            num_pools=64, maxsize=options.pool_size, block=False, retries=retry,
            timeout=urllib3.Timeout(connect=options.timeout, read=options.timeout),
            headers={"User-Agent": USER_AGENT})
        if options.deny_private:
            self._http.pool_classes_by_scheme = {"http": _CheckedHTTPPool,
                                                 "https": _CheckedHTTPSPool}

    def fetch(self, source: str) -> bytes:
        return self.fetch_validated(source).data

    def fetch_validated(self, source: str, etag: str = "", last_modified: str = "") -> Fetched:
        """The bytes of source with their validators; with the validators of an earlier
        fetch, data is None when the source is unchanged (HTTP 304, or the same file size and
        modification time)."""
        if source.startswith(("http://", "https://")):
            return self._fetch_http(source, etag, last_modified)
        if is_remote(source):
            return self._fetch_filesystem(source, etag)
        if not self.options.allow_local:
            raise RecordError("local_file", f"local file refused for this catalogue "
                                            f"(--allow-local-files to permit): {source}")
        return self._fetch_local(local_path(source), etag)

    def _fetch_http(self, url: str, etag: str = "", last_modified: str = "") -> Fetched:
        deadline = time.monotonic() + self.options.deadline
        conditions = {}
        if etag:
            conditions["If-None-Match"] = etag
        if last_modified:
            conditions["If-Modified-Since"] = last_modified
        response = self._follow(url, conditions)
        if response.status == 304 and conditions:
            response.drain_conn()
            response.release_conn()
            return Fetched(None, response.headers.get("ETag") or etag,
                           response.headers.get("Last-Modified") or last_modified,
                           Freshness.from_headers(response.headers))
        validators = (response.headers.get("ETag") or "", response.headers.get("Last-Modified") or "")
        freshness = Freshness.from_headers(response.headers)
        return Fetched(self._read_body(response, deadline), *validators, freshness)

    def open(self, url: str):
        """An http(s) URL as a streamed binary file (for a catalogue; the caller closes it)."""
        response = self._follow(url)
        if response.status != 200:
            response.release_conn()
            raise RecordError("http_status", _status_text(response, self.options.retries))
        return response

    def _follow(self, url: str, headers: dict | None = None):
        """The response to GET url after the allowed redirects (not yet read)."""
        for _ in range(self.options.max_redirects + 1):
            response = self._request(url, headers)
            if response.status not in REDIRECT_STATUSES:
                return response
            location = response.headers.get("Location")
            response.drain_conn()
            response.release_conn()
            if not location:
                raise RecordError("http_status", f"HTTP {response.status} without a Location")
            target = urllib.parse.urljoin(url, location)
            problem = redirect_problem(url, target)
            if problem:
                raise RecordError("redirect", problem)
            url = target
        raise RecordError("redirect", f"more than {self.options.max_redirects} redirects "
                                      f"(a loop?), last to {url[:100]}")

    def _request(self, url: str, headers: dict | None = None):
        try:
            return self._http.request("GET", url, preload_content=False, redirect=False,
                                      headers=dict(self._http.headers, **headers) if headers
                                      else None)
        except PrivateAddressError as e:
            raise RecordError("private_address", f"{e} (--private-addresses allow to fetch "
                                                 "from internal hosts)") from None
        except urllib3.exceptions.MaxRetryError as e:
            cause = e.reason
            if isinstance(cause, urllib3.exceptions.ResponseError):  # retried statuses ran out
                raise RecordError("http_status", f"{cause} after {self.options.retries} retries") from None
            # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: test it first.
            if isinstance(cause, urllib3.exceptions.NewConnectionError):
                raise RecordError("connection", f"cannot connect: {_text(cause)}") from None
            if isinstance(cause, (urllib3.exceptions.TimeoutError, TimeoutError)):
                raise RecordError("timeout", f"no answer within {self.options.timeout:g}s "
                                            f"({self.options.retries} retries)") from None
            raise RecordError("connection", f"cannot connect: {_text(cause)}") from None
        except urllib3.exceptions.TimeoutError:
            raise RecordError("timeout", f"no answer within {self.options.timeout:g}s") from None
        except urllib3.exceptions.LocationValueError as e:
            raise RecordError("bad_url", f"{e}") from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise RecordError("connection", f"{type(e).__name__}: {_text(e)}") from None

    def _read_body(self, response, deadline: float) -> bytes:
        cap = self.options.max_bytes
        try:
            if response.status != 200:
                raise RecordError("http_status", _status_text(response, self.options.retries))
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > cap:
                raise RecordError("too_large", f"{int(length)} bytes > --max-bytes {cap}")
            body = bytearray()
            while True:
                # read1: whatever one socket read brings, so the deadline is checked as bytes
                # trickle in (read(n) would wait for all n bytes).
                chunk = response.read1(1 << 16)
                if not chunk:
                    return bytes(body)
                body += chunk
                if len(body) > cap:
                    raise RecordError("too_large", f"more than --max-bytes {cap} bytes")
                if time.monotonic() > deadline:
                    raise RecordError("too_slow", "body not complete within --fetch-deadline "
                                                  f"{self.options.deadline:g}s (the server sends "
                                                  "too slowly)")
        except urllib3.exceptions.TimeoutError:
            raise RecordError("timeout", f"body not received within {self.options.timeout:g}s") from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise RecordError("connection", f"download broke off: {_text(e)}") from None
        finally:
            response.release_conn()

    def _fetch_local(self, path: str, etag: str = "") -> Fetched:
        try:
            stat = os.stat(path)
            validator = file_validator(stat.st_size, stat.st_mtime_ns)
            if etag and etag == validator:
                return Fetched(None, validator)
            if stat.st_size > self.options.max_bytes:
                raise RecordError("too_large", f"{stat.st_size} bytes > --max-bytes "
                                               f"{self.options.max_bytes}")
            with open(path, "rb") as fh:
                return Fetched(fh.read(), validator)
        except FileNotFoundError:
            raise RecordError("not_found", f"no such file: {path}") from None
        except IsADirectoryError:
            raise RecordError("not_found", f"is a directory: {path}") from None
        except OSError as e:
            raise RecordError("read_error", f"{e.strerror or e}: {path}") from None

    def _fetch_filesystem(self, url: str, etag: str = "") -> Fetched:
        from apache_beam.io.filesystems import FileSystems
        try:
            found = FileSystems.match([url])[0].metadata_list
            validator = (file_validator(found[0].size_in_bytes, found[0].last_updated_in_seconds)
                         if len(found) == 1 else "")
            if etag and etag == validator:
                return Fetched(None, validator)
            with FileSystems.open(url) as fh:
                data = fh.read(self.options.max_bytes + 1)
        except Exception as e:  # each filesystem raises its own types; all mean "not fetched"
            raise RecordError("read_error", f"{type(e).__name__}: {e}") from None
        if len(data) > self.options.max_bytes:
            raise RecordError("too_large", f"more than --max-bytes {self.options.max_bytes} bytes")
        return Fetched(data, validator)


def file_validator(size: int, modified) -> str:
    """A file's stand-in for an ETag: it changes when the file is rewritten."""
    return f"file:{size}:{modified}"
