"""A tiny static HTTP server on 127.0.0.1, so the demo and the tests fetch images over real HTTP.

streamgan fetches catalogue images over HTTP. The demo and the tests must never touch the
network, so they serve a directory from loopback instead:

    with StaticServer("demo_data") as srv:
        make_catalog("demo_data", 200, url_prefix=srv.base_url)
        urllib3.request("GET", srv.url_for("images/000000.jpg"))

`routes` maps a URL path to a function that answers the request itself, for misbehaving
endpoints in tests (tests/http_faults.py has ready-made ones):

    with StaticServer(root, routes={"/flaky.jpg": fail_then_serve(2, 503, data, "image/jpeg")}):
        ...

A route gets the live `http.server.BaseHTTPRequestHandler`; `handler.server.closing` is a
`threading.Event` set when the server stops, so a deliberately slow route can wait on it and
let shutdown proceed at once.

Static files carry Last-Modified and a request with If-Modified-Since gets 304 when the file is
unchanged (http.server's own behaviour), as from a CDN. To stand in for other hosts:
`delay` seconds before every answer (a distant one), `validators=False` (one that sends no
Last-Modified, so nothing can be asked conditionally), `cache_control` (a Cache-Control header
on every static answer: "public, max-age=31536000, immutable", "no-cache", ...); `statuses`
counts the answers by status code, `requests` the GETs by kind ("conditional" when they carry
If-Modified-Since or If-None-Match, else "unconditional") and `most_in_flight` the most of
each kind answered at once (bench/seasons.py measures a new season's requests with them).

`clock` (a function returning POSIX seconds) is the time the server's `Date` headers show:
tests that compare the stores of two runs (which keep each response's Date) give it a fixed
one.
"""
from __future__ import annotations

import collections
import functools
import http.server
import os
import socket
import sys
import threading
import time
import urllib.parse
from typing import Callable

Route = Callable[[http.server.BaseHTTPRequestHandler], None]


class _Handler(http.server.SimpleHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, as a real image CDN does, so the fetcher's connection
    # pool is exercised; static files always carry Content-Length, which 1.1 requires.
    protocol_version = "HTTP/1.1"
    # The handler writes headers and body separately; with Nagle's algorithm the body waits
    # for the client's delayed ACK, ~40 ms a request on Linux loopback (measured: 370 -> 1,300+
    # requests/s with 16 client threads).
    disable_nagle_algorithm = True
    timeout = 60  # seconds an idle keep-alive connection may hold its thread
    _in_route = False

    def _dispatch(self, fallback: Callable[[], None]) -> None:
        route = self.server.routes.get(urllib.parse.urlsplit(self.path).path)
        if route is None:
            fallback()
            return
        # A route may write a body without Content-Length; closing the connection afterwards
        # is what tells the client where that body ends. end_headers() announces the close,
        # so a client never reuses the connection and races the server closing it.
        self._in_route = True
        try:
            route(self)
        finally:
            self._in_route = False
            self.close_connection = True

    def end_headers(self) -> None:
        if self._in_route:
            self.send_header("Connection", "close")
        super().end_headers()

    def send_header(self, keyword: str, value: str) -> None:
        if keyword != "Last-Modified" or self.server.owner.validators:
            super().send_header(keyword, value)

    def send_response(self, code: int, message: str | None = None) -> None:
        self.server.count(int(code))
        super().send_response(code, message)
        if self.server.owner.cache_control and not self._in_route:
            self.send_header("Cache-Control", self.server.owner.cache_control)

    def date_time_string(self, timestamp=None) -> str:
        return super().date_time_string(self.server.owner.clock() if timestamp is None
                                        else timestamp)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        kind = ("conditional" if self.headers.get("If-Modified-Since")
                or self.headers.get("If-None-Match") else "unconditional")
        self.server.begin(kind)
        try:
            self._wait()
            self._dispatch(super().do_GET)
        finally:
            self.server.end(kind)

    def do_HEAD(self) -> None:  # noqa: N802
        self._wait()
        self._dispatch(super().do_HEAD)

    def _wait(self) -> None:
        if self.server.owner.delay:
            time.sleep(self.server.owner.delay)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass  # tests and the demo would otherwise print one stderr line per image


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True  # a handler stuck on a slow client never holds up interpreter exit
    # socketserver's default backlog of 5 drops connections when a fetcher opens a burst of
    # them, and each dropped SYN costs the client a 1 s retransmit.
    request_queue_size = 128

    def __init__(self, address, handler, owner: "StaticServer"):
        super().__init__(address, handler)
        self.owner = owner
        self.routes = owner.routes
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._in_flight: collections.Counter = collections.Counter()

    def count(self, status: int) -> None:
        with self._lock:
            self.owner.statuses[status] += 1

    def begin(self, kind: str) -> None:
        with self._lock:
            self.owner.requests[kind] += 1
            self._in_flight[kind] += 1
            peak = self.owner.most_in_flight
            peak[kind] = max(peak[kind], self._in_flight[kind])

    def end(self, kind: str) -> None:
        with self._lock:
            self._in_flight[kind] -= 1

    # Open connections are tracked so stop() can cut keep-alive connections too; otherwise a
    # client's pooled connection would go on being served after the server "stopped".
    def process_request(self, request, client_address) -> None:
        with self._lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already gone

    def handle_error(self, request, client_address) -> None:
        # Clients that time out or hang up mid-response are routine here (fault tests do it
        # on purpose); anything else is a bug worth a traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class StaticServer:
    """Serves `root` on 127.0.0.1 at an OS-chosen port from a daemon thread.

    Use as a context manager (or call start()/stop()). Paths in `routes` start with "/" and
    take precedence over files. delay, validators, cache_control, clock, statuses, requests,
    most_in_flight: see the module docstring.
    """

    def __init__(self, root: str, routes: dict[str, Route] | None = None, host: str = "127.0.0.1",
                 delay: float = 0.0, validators: bool = True, cache_control: str = "",
                 clock: Callable[[], float] = time.time):
        if not os.path.isdir(root):
            raise FileNotFoundError(f"cannot serve {root!r}: not a directory")
        self.root = os.path.abspath(root)
        self.host = host
        self.delay = delay
        self.validators = validators
        self.cache_control = cache_control
        self.clock = clock
        self.statuses: collections.Counter = collections.Counter()  # answers by status code
        self.requests: collections.Counter = collections.Counter()  # GETs by kind
        self.most_in_flight: collections.Counter = collections.Counter()
        self.routes = {("/" + path.lstrip("/")): fn for path, fn in (routes or {}).items()}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("StaticServer is not running; use it as a context manager")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """e.g. "http://127.0.0.1:40123/", ending in "/" so it can prefix relative paths."""
        return f"http://{self.host}:{self.port}/"

    def url_for(self, relpath: str) -> str:
        """URL of a file under root, given its path relative to root ("images/a b.jpg")."""
        return self.base_url + urllib.parse.quote(relpath.replace(os.sep, "/").lstrip("/"))

    def start(self) -> "StaticServer":
        if self._server is not None:
            raise RuntimeError("StaticServer is already running")
        handler = functools.partial(_Handler, directory=self.root)
        self._server = _Server((self.host, 0), handler, self)  # port 0: the OS picks
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"StaticServer:{self.port}", daemon=True)
        self._thread.start()
        return self

    def reset_counts(self) -> None:
        """Forget the answers counted so far (a new job against the same server)."""
        for counter in (self.statuses, self.requests, self.most_in_flight):
            counter.clear()

    def stop(self) -> None:
        """Stops accepting requests and closes the socket; idempotent."""
        if self._server is None:
            return
        self._server.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> "StaticServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
