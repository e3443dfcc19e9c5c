"""A new season's catalogue against last season's store: real Beam + TFT jobs, images served
from 127.0.0.1 by a server that answers conditional GETs, every request counted."""
import contextlib
import io
import json
import os
import shutil

import h5py
import numpy as np
import pytest

from streamgan.pipeline.preprocess_cmd import run
from streamgan.preprocess.config import PreprocessConfig
from streamgan.preprocess.fetch import Fetcher, FetchOptions
from streamgan.preprocess.previous import PreviousStore
from streamgan.preprocess.staging import Paths
from streamgan.store.contract import open_store, read_jsonl
from streamgan.store.summary import render, summarise
from tests.helpers import encode, numbered
from tests.http_faults import served, versioned

JOB = ["--image-size", "32", "--retries", "0", "--timeout", "5"]


def jpeg(i: int) -> bytes:
    return encode(numbered(i), "JPEG", quality=95)


@pytest.fixture(scope="module")
def seasons(tmp_path_factory):
    """Season 1: images 0-5 (ETag, no freshness: revalidated) and 6 (a server without validators
    or freshness: fetched again). Season 2: 0 and 1 are
    gone, 3 has a new image behind its old URL, 7 and 8 are new (a new category, a new word),
    and a new URL serves the very bytes of 2."""
    from streamgan.pipeline.serve import StaticServer
    root = tmp_path_factory.mktemp("seasons")
    routes = {f"/v/{i}.jpg": versioned(jpeg(i)) for i in (0, 1, 2, 3, 4, 5, 7, 8)}
    routes["/v/copy-of-2.jpg"] = versioned(jpeg(2))
    routes["/plain/6.jpg"] = served(jpeg(6), "image/jpeg")
    with StaticServer(str(root), routes=routes) as server:
        def record(path, category, words):
            return {"url": server.url_for(path), "description": f"{words} {category}",
                    "category": category, "split": "train"}
        summer = [record(f"v/{i}.jpg", "dress", "red summer") for i in range(6)]
        summer.append(record("plain/6.jpg", "shirt", "linen"))
        autumn = summer[2:] + [record(f"v/{i}.jpg", "coat", "quilted wool") for i in (7, 8)]
        autumn.append(record("v/copy-of-2.jpg", "dress", "red summer again"))
        (root / "summer.json").write_text(json.dumps(summer))
        (root / "autumn.json").write_text(json.dumps(autumn))
        out = tmp_path_factory.mktemp("stores")
        first = str(out / "summer")
        run(["--catalog", str(root / "summer.json"), "--output", first, *JOB])
        routes["/v/3.jpg"].update(jpeg(103))
        yield {"routes": routes, "root": root, "out": out, "first": first,
               "autumn": str(root / "autumn.json"), "server": server}


def requests(routes) -> dict:
    """{route: {status: count}} since the last reset, then reset."""
    counts = {}
    for path, route in routes.items():
        counts[path] = dict(getattr(route, "statuses", {200: route.calls}))
        counts[path] = {k: v for k, v in counts[path].items() if v}
        route.reset()
    return counts


@pytest.fixture(scope="module")
def second(seasons):
    """Season 2 with season 1 as the previous store, and the requests it made."""
    requests(seasons["routes"])
    out = str(seasons["out"] / "autumn")
    manifest = run(["--catalog", seasons["autumn"], "--output", out, "--previous",
                    seasons["first"], *JOB])
    return out, manifest, requests(seasons["routes"])


@pytest.fixture(scope="module")
def scratch(seasons):
    """Season 2 from nothing: its previous store is damaged, so it is ignored."""
    damaged = seasons["out"] / "last-season"
    damaged.mkdir()
    (damaged / "manifest.json").write_text('{"schema_version": 4, "counts": ')
    (damaged / "store.h5").write_bytes(b"not hdf5")
    (damaged / "transform_fn").mkdir()
    requests(seasons["routes"])
    out = str(seasons["out"] / "scratch")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        manifest = run(["--catalog", seasons["autumn"], "--output", out, "--previous",
                        str(damaged), *JOB])
    return out, manifest, requests(seasons["routes"]), printed.getvalue()


def by_url(store_dir: str) -> dict:
    with h5py.File(os.path.join(store_dir, "store.h5")) as f:
        return {u: (image, sha) for u, image, sha in
                zip(f["url"].asstr()[:], f["images"][:], f["sha256"].asstr()[:])}


@pytest.mark.slow
def test_second_season_fetches_only_new_and_changed_images(second):
    _, manifest, seen = second
    # no validators and no freshness: stale by RFC 9111, fetched again (reused unasked only
    # under --revalidate never)
    assert seen["/plain/6.jpg"] == {200: 1}
    for i in (2, 4, 5):
        assert seen[f"/v/{i}.jpg"] == {304: 1, "conditional": 1}  # asked once, unchanged
    assert seen["/v/3.jpg"] == {200: 1, "conditional": 1}         # asked, changed: downloaded
    for path in ("/v/7.jpg", "/v/8.jpg", "/v/copy-of-2.jpg"):
        assert seen[path] == {200: 1}                  # new: downloaded
    assert seen["/v/0.jpg"] == seen["/v/1.jpg"] == {}  # gone
    c = manifest.counts
    assert (c.written, c.reused, c.fetched) == (7, 3, 4)
    assert c.written + c.rejected + c.duplicates == c.records == 8


@pytest.mark.slow
def test_reused_pixels_equal_a_from_scratch_store_and_changed_image_is_the_new_one(
        seasons, second, scratch):
    reused, fresh, old = by_url(second[0]), by_url(scratch[0]), by_url(seasons["first"])
    assert reused.keys() == fresh.keys()
    for url, (image, sha) in fresh.items():
        np.testing.assert_array_equal(reused[url][0], image, err_msg=url)
        assert reused[url][1] == sha
    changed = seasons["server"].url_for("v/3.jpg")
    assert not np.array_equal(reused[changed][0], old[changed][0])
    for gone in ("v/0.jpg", "v/1.jpg"):
        assert seasons["server"].url_for(gone) not in reused


@pytest.mark.slow
def test_content_dedup_holds_across_reused_and_fetched_images(seasons, second):
    duplicates = list(read_jsonl(second[0], "duplicates.jsonl"))
    copy = seasons["server"].url_for("v/copy-of-2.jpg")
    assert [(d["url"], d["kind"]) for d in duplicates] == [(copy, "content")]
    with h5py.File(os.path.join(second[0], "store.h5")) as f:
        row = list(f["url"].asstr()[:]).index(seasons["server"].url_for("v/2.jpg"))
        assert "red summer again dress" in json.loads(f["descriptions"].asstr()[row])


@pytest.mark.slow
def test_change_summary_names_new_gone_and_new_vocabulary(second):
    summary = second[1].previous
    assert (summary.records_new, summary.records_kept, summary.records_gone) == (3, 5, 2)
    assert (summary.unchanged, summary.changed) == (3, 1)
    assert "quilted" in summary.new_tokens.examples
    assert summary.new_categories["category"].examples == ("coat",)
    info = open_store(second[0])
    assert info.manifest.previous == summary
    shown = render(summarise(second[0]))
    assert "7 written (3 reused from the previous store)" in shown
    assert "3 new, 5 kept (3 unchanged, 1 changed), 2 gone" in shown


@pytest.mark.slow
def test_damaged_previous_store_is_one_line_and_everything_is_fetched(scratch):
    _, manifest, seen, printed = scratch
    notes = [line for line in printed.splitlines() if "previous store" in line]
    assert len(notes) == 1 and "every image is fetched" in notes[0] and "unreadable" in notes[0]
    assert all(statuses == {200: 1} for path, statuses in seen.items()
               if path not in ("/v/0.jpg", "/v/1.jpg"))
    assert manifest.counts.reused == 0 and manifest.counts.fetched == 7
    assert manifest.previous is None


@pytest.mark.slow
def test_refetch_fetches_every_image(seasons, capsys):
    requests(seasons["routes"])
    out = str(seasons["out"] / "refetched")
    manifest = run(["--catalog", seasons["autumn"], "--output", out, "--previous",
                    seasons["first"], "--refetch", *JOB])
    seen = requests(seasons["routes"])
    assert sum(s.get(200, 0) for s in seen.values()) == 8
    assert not any(304 in s for s in seen.values())
    assert manifest.counts.reused == 0 and manifest.previous.records_gone == 2
    assert "--refetch" in capsys.readouterr().out


@pytest.mark.slow
def test_unusable_previous_store_is_one_line_and_ignored(seasons, tmp_path, capsys):
    paths = Paths.under(str(tmp_path / "staging"), str(tmp_path))
    older = tmp_path / "schema-3"
    shutil.copytree(seasons["first"], older)
    manifest = json.loads((older / "manifest.json").read_text())
    (older / "manifest.json").write_text(json.dumps(dict(manifest, schema_version=3)))
    cases = [({"image_size": 16}, seasons["first"], "--image-size 32, this run uses 16"),
             ({"fit": "crop"}, seasons["first"], "--fit pad"),
             ({"background": (0, 0, 0)}, seasons["first"], "--background 255,255,255"),
             ({}, str(older), "schema version 3"),
             ({}, str(tmp_path / "nothing-here"), "no store at")]
    for change, previous, expected in cases:
        cfg = PreprocessConfig(catalog=seasons["autumn"], output=str(tmp_path / "x"),
                               previous=previous, **{"image_size": 32, **change})
        assert PreviousStore.open(cfg, paths, cluster=False) is None
        out = capsys.readouterr().out
        assert len(out.splitlines()) == 1 and expected in out and "every image is fetched" in out


def test_file_validator_skips_reading_an_unchanged_file_and_notices_a_rewrite(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg(1))
    fetcher = Fetcher(FetchOptions())
    first = fetcher.fetch_validated(str(path))
    assert first.data == jpeg(1) and first.etag.startswith("file:")
    assert fetcher.fetch_validated(str(path), first.etag).data is None
    path.write_bytes(jpeg(2) + b"\0")
    os.utime(path, ns=(1, 10**9))
    assert fetcher.fetch_validated(str(path), first.etag).data == jpeg(2) + b"\0"
