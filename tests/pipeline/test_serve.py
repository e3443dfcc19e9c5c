"""The loopback HTTP server and its fault routes, exercised with real urllib3 requests."""
from __future__ import annotations

import concurrent.futures
import time

import pytest
import urllib3

from streamgan.pipeline.serve import StaticServer
from tests.http_faults import fail_then_serve, html_page, slow, truncated

NO_RETRY = urllib3.Retry(total=False)  # each request is exactly one round trip


@pytest.fixture
def site(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(b"\xff\xd8jpeg bytes\xff\xd9")
    (tmp_path / "images" / "b c.png").write_bytes(b"\x89PNG fake")
    return tmp_path


@pytest.fixture
def http():
    pool = urllib3.PoolManager(retries=NO_RETRY, timeout=urllib3.Timeout(connect=2, read=5))
    yield pool
    pool.clear()


def test_serves_files_from_loopback_with_image_content_types(site, http):
    with StaticServer(str(site)) as srv:
        assert srv.base_url.startswith("http://127.0.0.1:") and srv.base_url.endswith("/")
        r = http.request("GET", srv.url_for("images/a.jpg"))
        assert r.status == 200
        assert r.data == b"\xff\xd8jpeg bytes\xff\xd9"
        assert r.headers["Content-Type"] == "image/jpeg"
        # url_for quotes what a URL cannot carry raw, like the space here.
        r = http.request("GET", srv.url_for("images/b c.png"))
        assert (r.status, r.data, r.headers["Content-Type"]) == (200, b"\x89PNG fake", "image/png")


def test_missing_file_is_404(site, http):
    with StaticServer(str(site)) as srv:
        assert http.request("GET", srv.url_for("images/nope.jpg")).status == 404


def test_fail_then_serve_fails_exactly_n_times_then_serves(site, http):
    flaky = fail_then_serve(2, 503, b"image!", "image/jpeg")
    with StaticServer(str(site), routes={"/flaky.jpg": flaky}) as srv:
        answers = [http.request("GET", srv.url_for("flaky.jpg")) for _ in range(4)]
    assert [r.status for r in answers] == [503, 503, 200, 200]
    assert answers[2].data == b"image!" and answers[2].headers["Content-Type"] == "image/jpeg"
    # Routes close their connection, and say so, so pooled clients never reuse a dead one.
    assert answers[0].headers["Connection"] == "close"
    assert flaky.calls == 4


def test_fail_then_serve_counts_correctly_under_concurrent_requests(site):
    http = urllib3.PoolManager(maxsize=8, retries=NO_RETRY, timeout=5)
    flaky = fail_then_serve(5, 500, b"ok", "image/png")
    with StaticServer(str(site), routes={"flaky.png": flaky}) as srv:  # leading "/" optional
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: http.request("GET", srv.url_for("flaky.png")).status,
                                     range(20)))
    assert sorted(statuses) == [200] * 15 + [500] * 5
    assert flaky.calls == 20


def test_slow_route_times_out_the_client_and_does_not_delay_shutdown(site, http):
    with StaticServer(str(site), routes={"/slow.jpg": slow(30, b"late")}) as srv:
        started = time.monotonic()
        with pytest.raises(urllib3.exceptions.ReadTimeoutError):
            http.request("GET", srv.url_for("slow.jpg"), timeout=urllib3.Timeout(connect=2, read=0.3))
        assert time.monotonic() - started < 5
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 2, "a pending slow response held up the server's stop()"


def test_slow_route_answers_a_patient_client(site, http):
    with StaticServer(str(site), routes={"/slow.jpg": slow(0.2, b"late")}) as srv:
        r = http.request("GET", srv.url_for("slow.jpg"))
    assert (r.status, r.data) == (200, b"late")


def test_html_page_is_served_as_text_html(site, http):
    with StaticServer(str(site), routes={"/page.jpg": html_page()}) as srv:
        r = http.request("GET", srv.url_for("page.jpg"))
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.data.lstrip().lower().startswith(b"<!doctype html>")


def test_truncated_route_drops_the_connection_mid_body(site, http):
    with StaticServer(str(site), routes={"/cut.jpg": truncated(b"x" * 1000)}) as srv:
        with pytest.raises(urllib3.exceptions.ProtocolError):
            http.request("GET", srv.url_for("cut.jpg"))


def test_routes_see_the_query_string_stripped_from_the_path(site, http):
    page = html_page()
    with StaticServer(str(site), routes={"/page.html": page}) as srv:
        assert http.request("GET", srv.url_for("page.html") + "?n=3").status == 200
    assert page.calls == 1


def test_requests_are_not_logged_to_stderr(site, http, capsys):
    with StaticServer(str(site), routes={"/slow.jpg": slow(30)}) as srv:
        http.request("GET", srv.url_for("images/a.jpg"))
        http.request("GET", srv.url_for("images/missing.jpg"))
        with pytest.raises(urllib3.exceptions.ReadTimeoutError):
            http.request("GET", srv.url_for("slow.jpg"), timeout=0.2)
    assert capsys.readouterr().err == ""


def test_stop_closes_the_port_and_keep_alive_connections(site, http):
    with StaticServer(str(site)) as srv:
        url = srv.url_for("images/a.jpg")
        assert http.request("GET", url).status == 200  # leaves a pooled keep-alive connection
    # Neither the pooled connection nor a fresh one gets an answer any more.
    for pool in (http, urllib3.PoolManager(retries=NO_RETRY)):
        with pytest.raises((urllib3.exceptions.ProtocolError, urllib3.exceptions.NewConnectionError,
                            urllib3.exceptions.MaxRetryError)):
            pool.request("GET", url, timeout=2)


def test_misuse_is_reported():
    with pytest.raises(FileNotFoundError, match="not a directory"):
        StaticServer("/no/such/dir")
    with pytest.raises(RuntimeError, match="not running"):
        _ = StaticServer(".").base_url


def test_files_carry_last_modified_and_an_unchanged_one_is_304_counted_by_status(site, http):
    with StaticServer(str(site)) as srv:
        first = http.request("GET", srv.url_for("images/a.jpg"))
        modified = first.headers["Last-Modified"]
        again = http.request("GET", srv.url_for("images/a.jpg"),
                             headers={"If-Modified-Since": modified})
        http.request("GET", srv.url_for("images/nope.jpg"))
        assert again.status == 304 and again.data == b""
        assert srv.statuses == {200: 1, 304: 1, 404: 1}


def test_a_host_without_validators_and_a_distant_one(site, http):
    with StaticServer(str(site), validators=False, delay=0.2) as srv:
        started = time.perf_counter()
        r = http.request("GET", srv.url_for("images/a.jpg"))
        waited = time.perf_counter() - started
    assert r.status == 200 and r.data.startswith(b"\xff\xd8") and "Last-Modified" not in r.headers
    assert waited >= 0.2  # the delay is a sleep before the answer: a lower bound, not a speed
