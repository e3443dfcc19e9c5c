"""Every way a server, a file or a catalogue record can be wrong, in ONE catalogue run through the
real Beam + TFT job twice (2 worker processes, then 1): each fault is one exact line in
errors.jsonl, every good record is kept with the right pixels, the accounting closes, and the
two runs publish identical stores."""
import json
import os

import h5py
import numpy as np
import pytest
from PIL import Image

from streamgan.pipeline.preprocess_cmd import run
from streamgan.pipeline.serve import StaticServer
from streamgan.store.contract import DUPLICATES_FILE, ERRORS_FILE, METADATA_COLUMNS, open_store, read_jsonl
from tests.faults import content
from tests.helpers import encode, solid
from tests.http_faults import (
    endless_redirects,
    fail_then_serve,
    rate_limited,
    redirect,
    reset_mid_body,
    served,
    slow,
    trickle,
    truncated,
    unbounded,
)

pytestmark = pytest.mark.slow
SIZE = 32
MAX_BYTES = 200_000
RETRIES = 2


def jpeg(colour):
    return encode(solid(colour, (40, 40)), "JPEG", quality=95)


def is_error(expect) -> bool:
    """An expectation is (stage, reason) for a rejected record; for a kept one, the RGB its
    stored image's centre must have or a word naming a special check."""
    return isinstance(expect, tuple) and isinstance(expect[0], str)


def build_faults(site):
    """(routes, [(name, expectation, extra record fields)]): a route or a file per fault."""
    routes, entries = {}, []

    def route(name, handler, expect, **record):
        routes[f"/{name}"] = handler
        entries.append((name, expect, record))

    def file(name, data, expect):
        (site / name).write_bytes(data)
        entries.append((name, expect, {}))

    file("good.jpg", jpeg((200, 40, 40)), (200, 40, 40))
    file("good.png", encode(solid((40, 200, 40), (30, 50)), "PNG"), (40, 200, 40))
    route("503-then-200", fail_then_serve(1, 503, jpeg((40, 40, 200))), (40, 40, 200))
    route("429-retry-after", rate_limited(1, jpeg((200, 200, 40))), (200, 200, 40))
    route("wrong-type", served(jpeg((40, 200, 200)), "text/html"), (40, 200, 200))
    file("two-frames.gif", content.gif_two_frames((255, 0, 0), (0, 0, 255)), (255, 0, 0))
    file("cmyk.jpg", encode(Image.new("CMYK", (30, 30), (0, 255, 255, 0)), "JPEG", quality=95),
         (255, 0, 0))
    file("grey16.png", encode(Image.fromarray(np.full((30, 30), 90 * 257, np.uint16)), "PNG"),
         (90, 90, 90))
    file("rgb16.png", content.png_16bit_rgb((10 * 257, 120 * 257, 230 * 257)), (10, 120, 230))
    file("palette.png", encode(solid((30, 60, 200), (30, 30)).convert(
        "P", palette=Image.Palette.ADAPTIVE), "PNG"), (30, 60, 200))
    file("la.png", content.la_half_transparent(100), (100, 100, 100))
    file("rgba.png", encode(Image.new("RGBA", (30, 30), (255, 0, 0, 128)), "PNG"), (255, 127, 127))
    file("exif-rotated.jpg", content.exif_rotated_jpeg(), "upright")
    (site / "moved.jpg").write_bytes(jpeg((120, 60, 160)))  # only reachable by the redirect
    route("redirect-once", redirect("/moved.jpg"), (120, 60, 160))

    route("403", fail_then_serve(10**9, 403, b""), ("fetch", "http_status"))
    route("410", fail_then_serve(10**9, 410, b""), ("fetch", "http_status"))
    route("500-for-good", fail_then_serve(10**9, 500, b""), ("fetch", "http_status"))
    route("reset-mid-body", reset_mid_body(jpeg((1, 2, 3)) * 4), ("fetch", "connection"))
    route("closed-mid-body", truncated(jpeg((1, 2, 4)) * 4), ("fetch", "connection"))
    route("never-answers", slow(60.0, b""), ("fetch", "timeout"))
    route("trickles", trickle(jpeg((1, 2, 5)), 0.05), ("fetch", "too_slow"))
    route("redirect-loop", endless_redirects(), ("fetch", "redirect"))
    route("redirect-to-file", redirect("file:///etc/passwd"), ("fetch", "redirect"))
    route("redirect-to-ftp", redirect("ftp://127.0.0.1/x.jpg"), ("fetch", "redirect"))
    route("no-length-too-big", unbounded(5 * MAX_BYTES), ("fetch", "too_large"))
    route("json-as-image", served(content.JSON_BODY, "image/jpeg"), ("decode", "not_an_image"))
    route("html-as-image", served(content.HTML_BODY, "image/jpeg"), ("decode", "not_an_image"))
    route("zero-bytes", served(b"", "image/jpeg"), ("decode", "empty"))
    file("truncated.jpg", encode(solid((9, 9, 9), (200, 200)), "JPEG")[:400],
         ("decode", "truncated"))
    file("corrupt.png", content.png_corrupt(), ("decode", "corrupt"))
    file("bomb.png", content.png_bomb(), ("decode", "too_many_pixels"))
    file("drawing.svg", content.SVG, ("decode", "unsupported_format"))
    file("strip-1x4000.png", encode(solid((0, 128, 0), (1, 4000)), "PNG"),
         ("decode", "aspect_ratio"))
    return routes, entries


BAD_RECORDS = [  # (record, reason): each one line at stage catalog with --skip-bad-records
    ({"url": 5, "description": "number"}, "bad_url"),
    ({"description": "no url at all"}, "no_url"),
    ({"url": "ftp://127.0.0.1/x.jpg"}, "scheme"),
    ({"url": "http://"}, "bad_url"),
    ({"url": "javascript:alert(1)"}, "bad_url"),
    ({"url": "good.jpg", "description": ["a", "list"]}, "bad_field"),
]


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """The mixed catalogue, run with 2 worker processes and with 1."""
    site = tmp_path_factory.mktemp("fault-site")
    routes, entries = build_faults(site)
    # a fixed clock: the stores keep each answer's Date, and two runs must write the same ones
    with StaticServer(str(site), routes=routes, clock=lambda: 1_796_000_000.0) as server:
        records, expected = [], {}
        for name, expect, extra in entries:  # files over HTTP too, but for one local path
            url = name if name == "good.png" else server.url_for(name)
            records.append({"url": url, "description": f"fault {name}", **extra})
            expected[len(records) - 1] = (name, expect)
        for record, reason in BAD_RECORDS:
            records.append(record)
            expected[len(records) - 1] = ("bad record", ("catalog", reason))
        records.append({"url": server.url_for("good.jpg"), "description": "same url again"})
        expected[len(records) - 1] = ("duplicate url", "duplicate")
        (site / "copy.png").write_bytes((site / "good.png").read_bytes())
        records.append({"url": "copy.png", "description": "same bytes as good.png"})
        expected[len(records) - 1] = ("duplicate content", "duplicate")
        catalog = site / "catalog.json"
        catalog.write_text(json.dumps(records, indent=1))
        stores = {}
        for workers in (2, 1):
            for handler in routes.values():
                handler.reset()
            out = str(tmp_path_factory.mktemp(f"fault-store-{workers}") / "store")
            manifest = run(["--catalog", str(catalog), "--output", out, "--image-size", str(SIZE),
                            "--timeout", "1", "--retries", str(RETRIES), "--backoff", "0.05",
                            "--fetch-deadline", "2", "--max-bytes", str(MAX_BYTES),
                            "--skip-bad-records", "--direct_num_workers", str(workers)])
            stores[workers] = (out, manifest)
            if workers == 2:
                calls = {path: handler.calls for path, handler in routes.items()}
                redirect_hops = set(routes["/redirect-loop"].hops)
                retry_times = list(routes["/429-retry-after"].times)
        yield {"records": records, "expected": expected, "stores": stores, "calls": calls,
               "retry_times": retry_times, "redirect_hops": redirect_hops, "site": site}


def test_each_fault_is_one_exact_error_line(jobs):
    out, _ = jobs["stores"][2]
    errors = list(read_jsonl(out))
    got = {e["index"]: (e["stage"], e["reason"]) for e in errors}
    want = {i: expect for i, (_, expect) in jobs["expected"].items() if is_error(expect)}
    assert got == want
    assert [e["index"] for e in errors] == sorted(got)  # one line each, catalogue order
    names = {i: name for i, (name, _) in jobs["expected"].items()}
    message = {names[e["index"]]: e["message"] for e in errors if e["stage"] != "catalog"}
    assert "403" in message["403"] and "410" in message["410"]
    assert f"HTTP 500 Internal Server Error (after {RETRIES} retries)" == message["500-for-good"]
    assert "JSON document" in message["json-as-image"] and "HTML page" in message["html-as-image"]
    assert "SVG" in message["drawing.svg"] and "1x4000" in message["strip-1x4000.png"]
    assert "file:" in message["redirect-to-file"] and "ftp:" in message["redirect-to-ftp"]
    assert "redirects" in message["redirect-loop"]
    for e in errors:
        assert "\n" not in e["message"] and " object at 0x" not in e["message"]


def test_retries_are_counted_and_retry_after_is_honoured(jobs):
    calls, times = jobs["calls"], jobs["retry_times"]
    assert calls["/500-for-good"] == RETRIES + 1  # retried, then given up
    assert calls["/403"] == calls["/410"] == 1      # not retried: they will not change
    assert calls["/503-then-200"] == 2
    assert len(times) == 2 and times[1] - times[0] >= 0.95  # waited the Retry-After: 1
    # the first request and 5 redirects, then refused (a hop retried after a timeout repeats)
    assert jobs["redirect_hops"] == set(range(6))


def test_good_records_are_kept_with_the_right_pixels(jobs):
    out, manifest = jobs["stores"][2]
    info = open_store(out)
    with h5py.File(info.h5_path) as f:
        index = f["index"][:].tolist()
        images = f["images"][:]
        descriptions = [json.loads(d) for d in f["descriptions"].asstr()[:]]
    kept = {i: expect for i, (_, expect) in jobs["expected"].items()
            if not is_error(expect) and expect != "duplicate"}
    assert index == sorted(kept)
    names = {i: name for i, (name, _) in jobs["expected"].items()}
    row = {names[i]: images[index.index(i)].astype(int) for i in kept}
    for name, expect in ((names[i], e) for i, e in kept.items()):
        if isinstance(expect, tuple):
            np.testing.assert_allclose(row[name][SIZE // 2, SIZE // 2], expect, atol=4,
                                       err_msg=name)
    # LA: left half transparent -> white background, right half the grey
    assert (row["la.png"][SIZE // 2, 2] >= 250).all()
    assert (np.abs(row["la.png"][SIZE // 2, -3] - 100) <= 2).all()
    # EXIF orientation 6 applied: upright portrait, red on top, blue below, white pad beside
    upright = row["exif-rotated.jpg"]
    assert upright[4, SIZE // 2, 0] > 200 and upright[4, SIZE // 2, 2] < 60
    assert upright[-5, SIZE // 2, 2] > 200 and upright[-5, SIZE // 2, 0] < 60
    assert (upright[SIZE // 2, 1] >= 250).all()
    first = index.index(next(i for i, n in names.items() if n == "good.png"))
    assert descriptions[first] == ["fault good.png", "same bytes as good.png"]


def test_accounting_closes_with_catalogue_rejects(jobs):
    _, manifest = jobs["stores"][2]
    c = manifest.counts
    expected = jobs["expected"]
    rejected = sum(1 for _, e in expected.values() if is_error(e))
    assert c.records == len(jobs["records"])
    assert c.rejected == rejected and c.duplicates == 2
    assert c.written == len(expected) - rejected - 2
    assert c.written + c.rejected + c.duplicates == c.records
    assert manifest.rejected_by_reason["catalog/bad_url"] == 3
    assert manifest.counts.duplicates_by_kind == {"url": 1, "content": 1}


def test_one_and_two_workers_publish_identical_stores(jobs):
    (two, m2), (one, m1) = jobs["stores"][2], jobs["stores"][1]
    with h5py.File(os.path.join(two, "store.h5")) as a, h5py.File(os.path.join(one, "store.h5")) as b:
        for name in ("images",) + METADATA_COLUMNS:
            np.testing.assert_array_equal(a[name][:], b[name][:], err_msg=name)
    for name in (ERRORS_FILE, DUPLICATES_FILE):
        assert open(os.path.join(two, name)).read() == open(os.path.join(one, name)).read(), name
    assert m1.counts == m2.counts and m1.statistics == m2.statistics
    assert m1.vocabulary == m2.vocabulary
