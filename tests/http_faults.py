"""Misbehaving HTTP endpoints for tests, as routes for pipeline.serve.StaticServer.

Real image hosts fail in many ways the fetcher must survive: transient 5xx, rate limits with
Retry-After, responses slower than the client's timeout, bytes trickling in, an HTML error page
where an image should be, a connection that drops or is reset mid-body, redirect loops and
redirects elsewhere, bodies without Content-Length. Each function here returns a route handler
that does one of these (and `versioned` is a well-behaved CDN that answers conditional GETs):

    flaky = fail_then_serve(2, 503, jpeg_bytes, "image/jpeg")
    with StaticServer(root, routes={"/flaky.jpg": flaky, "/slow.jpg": slow(5, jpeg_bytes),
                                    "/page.jpg": html_page()}) as srv:
        ...
    assert flaky.calls == 3

Routes are called from the server's request threads at the same time, so counters are locked.
"""
from __future__ import annotations

import collections
import hashlib
import socket
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes,
         content_type: str = "application/octet-stream") -> None:
    """Writes one complete response with Content-Length."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


class CountingRoute:
    """A route that counts its calls (thread-safe); subclasses answer in respond()."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls = 0

    @property
    def calls(self) -> int:
        with self._lock:
            return self._calls

    def reset(self) -> None:
        """Forget the calls so far (a second job against the same server starts afresh)."""
        with self._lock:
            self._calls = 0

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._calls += 1
            call = self._calls
        self.respond(handler, call)

    def respond(self, handler: BaseHTTPRequestHandler, call: int) -> None:
        raise NotImplementedError


class _FailThenServe(CountingRoute):
    def __init__(self, n_failures: int, status: int, body: bytes, content_type: str) -> None:
        super().__init__()
        self.n_failures, self.status, self.body, self.content_type = n_failures, status, body, content_type

    def respond(self, handler, call):
        if call <= self.n_failures:
            send(handler, self.status, f"transient failure {call}/{self.n_failures}".encode(),
                 "text/plain")
        else:
            send(handler, 200, self.body, self.content_type)


def fail_then_serve(n_failures: int, status: int, body_bytes: bytes,
                    content_type: str = "image/jpeg") -> CountingRoute:
    """Answers `status` (e.g. 500, 503, 429) to the first n_failures requests, then 200 + body.

    Exactly n_failures requests fail even when requests arrive concurrently. With a huge
    n_failures this is an endpoint that always fails.
    """
    return _FailThenServe(n_failures, status, body_bytes, content_type)


class _Slow(CountingRoute):
    def __init__(self, seconds: float, body: bytes, content_type: str) -> None:
        super().__init__()
        self.seconds, self.body, self.content_type = seconds, body, content_type

    def respond(self, handler, call):
        # Waiting on the server's closing event, not time.sleep, lets the server stop at once
        # even while a client is still waiting for this response.
        if handler.server.closing.wait(self.seconds):
            return
        try:
            send(handler, 200, self.body, self.content_type)
        except ConnectionError:
            pass  # the client gave up long ago: that is the point of this route


def slow(seconds: float, body: bytes = b"", content_type: str = "image/jpeg") -> CountingRoute:
    """Sends nothing at all for `seconds`, then 200 + body: a read timeout for any shorter client timeout."""
    return _Slow(seconds, body, content_type)


class _Html(CountingRoute):
    def __init__(self, body: bytes, status: int) -> None:
        super().__init__()
        self.body, self.status = body, status

    def respond(self, handler, call):
        send(handler, self.status, self.body, "text/html; charset=utf-8")


def html_page(status: int = 200) -> CountingRoute:
    """A 200 text/html page where an image was expected (a CDN's 'image not found' page)."""
    body = (b"<!doctype html><html><head><title>Not available</title></head>"
            b"<body><h1>This product image is no longer available</h1></body></html>")
    return _Html(body, status)


class _Truncated(CountingRoute):
    def __init__(self, body: bytes, content_type: str) -> None:
        super().__init__()
        self.body, self.content_type = body, content_type

    def respond(self, handler, call):
        handler.send_response(200)
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        handler.wfile.write(self.body[: len(self.body) // 2])
        handler.wfile.flush()
        handler.close_connection = True  # drop the connection with half the promised bytes


def truncated(body: bytes, content_type: str = "image/jpeg") -> CountingRoute:
    """Promises len(body) bytes, sends half, then closes: a connection dropped mid-download."""
    return _Truncated(body, content_type)


class _Served(CountingRoute):
    def __init__(self, body: bytes, content_type: str, status: int = 200) -> None:
        super().__init__()
        self.body, self.content_type, self.status = body, content_type, status

    def respond(self, handler, call):
        send(handler, self.status, self.body, self.content_type)


def served(body: bytes, content_type: str, status: int = 200) -> CountingRoute:
    """Always answers status + body with the given Content-Type (right, wrong or lying)."""
    return _Served(body, content_type, status)


class _RateLimited(CountingRoute):
    def __init__(self, retry_after: int, body: bytes, content_type: str) -> None:
        super().__init__()
        self.retry_after, self.body, self.content_type = retry_after, body, content_type
        self.times: list[float] = []

    def reset(self) -> None:
        super().reset()
        self.times = []

    def respond(self, handler, call):
        self.times.append(time.monotonic())
        if call == 1:
            handler.send_response(429)
            handler.send_header("Retry-After", str(self.retry_after))
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        else:
            send(handler, 200, self.body, self.content_type)


def rate_limited(retry_after: int, body: bytes, content_type: str = "image/jpeg") -> CountingRoute:
    """429 with `Retry-After: retry_after` to the first request, then 200 + body; `times`
    holds when each request arrived (time.monotonic), to check the wait was honoured."""
    return _RateLimited(retry_after, body, content_type)


class _Reset(CountingRoute):
    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body

    def respond(self, handler, call):
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        handler.wfile.write(self.body[: len(self.body) // 2])
        handler.wfile.flush()
        # SO_LINGER with a zero timeout: close() sends a TCP RST instead of a FIN.
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()
        handler.close_connection = True


def reset_mid_body(body: bytes) -> CountingRoute:
    """Sends half the promised body, then resets the connection (RST): 'connection reset by peer'."""
    return _Reset(body)


class _Trickle(CountingRoute):
    def __init__(self, body: bytes, interval: float) -> None:
        super().__init__()
        self.body, self.interval = body, interval

    def respond(self, handler, call):
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        try:
            for i in range(len(self.body)):
                if handler.server.closing.wait(self.interval):
                    return
                handler.wfile.write(self.body[i:i + 1])
                handler.wfile.flush()
        except (ConnectionError, OSError):
            pass  # the client gave up: what a deadline should make it do


def trickle(body: bytes, interval: float = 0.05) -> CountingRoute:
    """Sends the body one byte every `interval` seconds: each read succeeds quickly, the whole
    takes len(body) * interval seconds. Only a total deadline stops it."""
    return _Trickle(body, interval)


def send_redirect(handler: BaseHTTPRequestHandler, status: int, location: str) -> None:
    """Writes one bodiless redirect response to `location`."""
    handler.send_response(status)
    handler.send_header("Location", location)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


class _Redirect(CountingRoute):
    def __init__(self, location: str, status: int) -> None:
        super().__init__()
        self.location, self.status = location, status

    def respond(self, handler, call):
        send_redirect(handler, self.status, self.location)


def redirect(location: str, status: int = 302) -> CountingRoute:
    """Redirects to `location` (relative or absolute; its own path makes a loop)."""
    return _Redirect(location, status)


class _EndlessRedirects(CountingRoute):
    def __init__(self, status: int) -> None:
        super().__init__()
        self.status, self.hops = status, set()

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.hops = set()

    def respond(self, handler, call):
        split = urllib.parse.urlsplit(handler.path)
        hop = int(urllib.parse.parse_qs(split.query).get("hop", ["0"])[0])
        with self._lock:
            self.hops.add(hop)
        send_redirect(handler, self.status, f"{split.path}?hop={hop + 1}")


def endless_redirects(status: int = 302) -> CountingRoute:
    """Redirects ?hop=k to ?hop=k+1 forever; `.hops` is the set of hops requested, which a
    retried request (a read timeout under load) repeats rather than extends."""
    return _EndlessRedirects(status)


class _Unbounded(CountingRoute):
    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total

    def respond(self, handler, call):
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.end_headers()  # no Content-Length: the body ends when the connection closes
        block = bytes(1 << 14)
        try:
            for _ in range(0, self.total, len(block)):
                handler.wfile.write(block)
        except (ConnectionError, OSError):
            pass  # the client stopped reading at its cap


def unbounded(total: int) -> CountingRoute:
    """A body of `total` bytes without Content-Length: only a cap while reading catches it."""
    return _Unbounded(total)


class _Gated(CountingRoute):
    def __init__(self, body: bytes, content_type: str) -> None:
        super().__init__()
        self.body, self.content_type = body, content_type
        self.gate = threading.Event()

    def respond(self, handler, call):
        while not self.gate.wait(0.05):
            if handler.server.closing.is_set():
                return
        try:
            send(handler, 200, self.body, self.content_type)
        except ConnectionError:
            pass


def gated(body: bytes, content_type: str = "image/jpeg") -> CountingRoute:
    """Holds every request until `route.gate.set()`, then serves body: a fetch that is in
    progress for exactly as long as a test wants (`route.calls` says it has started)."""
    return _Gated(body, content_type)


class _Versioned(CountingRoute):
    def __init__(self, body: bytes, content_type: str, cache_control: str, age: int | None,
                 etag: bool, last_modified: str | None) -> None:
        super().__init__()
        self.content_type = content_type
        self.cache_control, self.age, self.send_etag = cache_control, age, etag
        self.last_modified = last_modified
        self.statuses: collections.Counter = collections.Counter()
        self.update(body)

    def update(self, body: bytes) -> None:
        self.body, self.etag = body, f'"{hashlib.sha256(body).hexdigest()[:16]}"'

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.statuses.clear()

    def respond(self, handler, call):
        body, etag = self.body, self.etag
        asked = handler.headers.get("If-None-Match") or handler.headers.get("If-Modified-Since")
        unchanged = bool(asked) and (
            handler.headers.get("If-None-Match") == etag if self.send_etag
            else handler.headers.get("If-Modified-Since") == self.last_modified)
        with self._lock:
            self.statuses[304 if unchanged else 200] += 1
            if asked:
                self.statuses["conditional"] += 1
        handler.send_response(304 if unchanged else 200)
        if self.send_etag:
            handler.send_header("ETag", etag)
        if self.last_modified:
            handler.send_header("Last-Modified", self.last_modified)
        if self.cache_control:
            handler.send_header("Cache-Control", self.cache_control)
        if self.age is not None:
            handler.send_header("Age", str(self.age))
        if unchanged:
            handler.end_headers()
            return
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


def versioned(body: bytes, content_type: str = "image/jpeg", cache_control: str = "",
              age: int | None = None, etag: bool = True,
              last_modified: str | None = None) -> CountingRoute:
    """Serves body with an ETag (a hash of it) and answers a request whose If-None-Match is
    that ETag with 304 Not Modified, as an image CDN does; `route.update(new_body)` changes
    the image behind the URL, `route.statuses` counts the 200s and 304s sent (and, under
    "conditional", the requests that asked If-None-Match / If-Modified-Since).

    cache_control: its Cache-Control header ("max-age=31536000, immutable", "no-cache", ...);
    age: an Age header (seconds the answer spent in a CDN's cache: Age above max-age makes it
    stale at once); etag=False with last_modified: validated by Last-Modified alone."""
    return _Versioned(body, content_type, cache_control, age, etag, last_modified)
