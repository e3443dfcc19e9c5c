"""Fetching image bytes from wherever a catalogue points: http(s), local paths, file://, and any
scheme Beam's FileSystems knows (gs://, s3://, ... when the matching extra is installed).

HTTP goes through one urllib3 pool per worker, with a timeout, retries with exponential backoff
for 429/5xx and connection errors (urllib3's Retry, honouring Retry-After), and a cap on the
response size, checked against Content-Length and again while streaming the body.
"""
from __future__ import annotations

import dataclasses
import os

import urllib3
from urllib3.util.retry import Retry

from common.errors import RecordError
from common.files import is_remote, local_path

RETRY_STATUSES = (429, 500, 502, 503, 504)
USER_AGENT = "streamgan/0.1 (+catalogue preprocessing)"




@dataclasses.dataclass(frozen=True)
class FetchOptions:
    timeout: float = 20.0
    retries: int = 3
    backoff: float = 0.5
    max_bytes: int = 30 * 1024 * 1024
    pool_size: int = 16


class Fetcher:
    """Reads one URL or path into bytes. Thread-safe: one instance serves a worker's threads."""

    def __init__(self, options: FetchOptions):
        self.options = options
        retry = Retry(total=options.retries, connect=options.retries, read=options.retries,
                      status=options.retries, backoff_factor=options.backoff, backoff_max=30,
                      status_forcelist=RETRY_STATUSES, allowed_methods=frozenset({"GET"}),
                      respect_retry_after_header=True, raise_on_status=False)
        self._http = urllib3.PoolManager(
            num_pools=64, maxsize=options.pool_size, block=False, retries=retry,
            timeout=urllib3.Timeout(connect=options.timeout, read=options.timeout),
            headers={"User-Agent": USER_AGENT})

    def fetch(self, source: str) -> bytes:
        if source.startswith(("http://", "https://")):
            return self._fetch_http(source)
        if is_remote(source):
            return self._fetch_filesystem(source)
        return self._fetch_local(local_path(source))

    def _fetch_http(self, url: str) -> bytes:
        cap = self.options.max_bytes
        try:
            response = self._http.request("GET", url, preload_content=False)
        except urllib3.exceptions.MaxRetryError as e:
            cause = e.reason
            if isinstance(cause, urllib3.exceptions.ResponseError):  # retried statuses ran out
                raise RecordError("http_status", f"{cause} after {self.options.retries} retries") from None
            # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: test it first.
            if isinstance(cause, urllib3.exceptions.NewConnectionError):
                raise RecordError("connection", f"cannot connect: {cause}") from None
            if isinstance(cause, (urllib3.exceptions.TimeoutError, TimeoutError)):
                raise RecordError("timeout", f"no answer within {self.options.timeout:g}s "
                                            f"({self.options.retries} retries)") from None
            raise RecordError("connection", f"cannot connect: {cause}") from None
        except urllib3.exceptions.TimeoutError:
            raise RecordError("timeout", f"no answer within {self.options.timeout:g}s") from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise RecordError("connection", f"{type(e).__name__}: {e}") from None
        try:
            if response.status != 200:
                raise RecordError("http_status", f"HTTP {response.status} {response.reason or ''}".strip())
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > cap:
                raise RecordError("too_large", f"{int(length)} bytes > --max-bytes {cap}")
            body = bytearray()
            for chunk in response.stream(1 << 16):
                body += chunk
                if len(body) > cap:
                    raise RecordError("too_large", f"more than --max-bytes {cap} bytes")
            return bytes(body)
        except urllib3.exceptions.TimeoutError:
            raise RecordError("timeout", f"body not received within {self.options.timeout:g}s") from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise RecordError("connection", f"download broke off: {e}") from None
        finally:
            response.release_conn()

    def _fetch_local(self, path: str) -> bytes:
        try:
            size = os.path.getsize(path)
            if size > self.options.max_bytes:
                raise RecordError("too_large", f"{size} bytes > --max-bytes {self.options.max_bytes}")
            with open(path, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            raise RecordError("not_found", f"no such file: {path}") from None
        except IsADirectoryError:
            raise RecordError("not_found", f"is a directory: {path}") from None
        except OSError as e:
            raise RecordError("read_error", f"{e.strerror or e}: {path}") from None

    def _fetch_filesystem(self, url: str) -> bytes:
        from apache_beam.io.filesystems import FileSystems
        try:
            with FileSystems.open(url) as fh:
                data = fh.read(self.options.max_bytes + 1)
        except Exception as e:  # each filesystem raises its own types; all mean "not fetched"
            raise RecordError("read_error", f"{type(e).__name__}: {e}") from None
        if len(data) > self.options.max_bytes:
            raise RecordError("too_large", f"more than --max-bytes {self.options.max_bytes} bytes")
        return data
