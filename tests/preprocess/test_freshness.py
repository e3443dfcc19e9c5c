"""HTTP freshness (RFC 9111) and catalogue hashes decide which of last season's images are
asked about: the rules one by one, then real Beam + TFT jobs against a 127.0.0.1 server that
sends each caching behaviour, counting every request it answers."""
import json
import os

import h5py
import numpy as np
import pytest

from streamgan.pipeline.preprocess_cmd import run
from streamgan.preprocess.freshness import FETCH, REUSE, REVALIDATE, Freshness, http_date, plan
from streamgan.store.contract import open_store, read_jsonl
from tests.helpers import encode, numbered
from tests.http_faults import served, versioned

NOW = 1_800_000_000.0
JOB = ["--image-size", "16", "--retries", "0", "--timeout", "5"]


def row(cache_control="", age="", date=NOW - 10, expires="", etag='"e"', last_modified="",
        sha256="a" * 64):
    return {"etag": etag, "last_modified": last_modified, "sha256": sha256,
            "cache_control": cache_control, "expires": expires, "date": http_date(date),
            "age": age}


@pytest.mark.parametrize("stored, mode, action", [
    (row("max-age=3600"), "auto", REUSE),                          # fresh: no request
    (row("max-age=3600", age="3595"), "auto", REVALIDATE),         # Age counts: stale
    (row("max-age=5"), "auto", REVALIDATE),                        # stale, has an ETag
    (row("max-age=5", etag=""), "auto", FETCH),                    # stale, nothing to ask with
    (row("max-age=31536000, immutable"), "auto", REUSE),
    (row("no-cache, max-age=3600"), "auto", REVALIDATE),           # no-cache: always asks
    (row("no-store"), "auto", REVALIDATE),
    (row("s-maxage=3600"), "auto", REVALIDATE),                    # a private cache ignores it
    (row(expires=http_date(NOW + 60)), "auto", REUSE),             # Expires - Date
    (row(expires="0"), "auto", REVALIDATE),                        # invalid Expires: expired
    (row("max-age=60", expires=http_date(NOW - 100)), "auto", REUSE),  # max-age beats Expires
    (row(last_modified=http_date(NOW - 100 * 86400)), "auto", REUSE),  # heuristic: 10%
    (row(last_modified=http_date(NOW - 60)), "auto", REVALIDATE),  # 6 s heuristic: stale
    (row(etag=""), "auto", FETCH),                                 # nothing known: fetched
    (row(etag=""), "never", REUSE),                                # ... unless trusted
    (row("no-cache"), "never", REUSE),
    (row("max-age=31536000, immutable"), "always", REVALIDATE),
    (row("max-age=3600", etag=""), "always", FETCH),
    (row(etag="file:10:20"), "auto", REVALIDATE),                  # a file: size + mtime
])
def test_each_freshness_rule(stored, mode, action):
    assert plan(stored, mode, NOW) == action


def test_catalogue_hash_overrides_freshness():
    assert plan(row("no-cache"), "always", NOW, expected_sha256="a" * 64) == REUSE
    assert plan(row("max-age=31536000, immutable"), "never", NOW, "b" * 64) == FETCH


def test_a_304_updates_the_stored_fields():
    stored = Freshness("max-age=60", "", http_date(NOW - 500), "30")
    answer = Freshness.from_headers({"Date": http_date(NOW)})
    updated = stored.updated(answer)
    assert updated.cache_control == "max-age=60" and updated.date == http_date(NOW)
    assert updated.fresh(NOW + 10) and not stored.fresh(NOW)
    assert Freshness.from_headers({}, received=NOW).date == http_date(NOW)  # no Date: ours


# The server behaviours of season 1, by path: Cache-Control, Age (seconds the answer spent in
# a CDN cache: above max-age it arrives stale), and whether it validates.
BEHAVIOURS = {
    "fresh": dict(cache_control="max-age=3600"),
    "immutable": dict(cache_control="public, max-age=31536000, immutable"),
    "stale-same": dict(cache_control="max-age=60", age=120),
    "stale-new": dict(cache_control="max-age=60", age=120),
    "no-cache": dict(cache_control="no-cache, max-age=3600"),
    "etag-only": dict(),
    "modified-only": dict(etag=False, last_modified="Mon, 01 Jan 2024 00:00:00 GMT"),
    "hashed-no-cache": dict(cache_control="no-cache"),
}


def jpeg(i: int) -> bytes:
    return encode(numbered(i), "JPEG", quality=95)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from streamgan.pipeline.serve import StaticServer
    root = tmp_path_factory.mktemp("fresh-site")
    images = {name: jpeg(i) for i, name in enumerate(BEHAVIOURS)}
    routes = {f"/{name}.jpg": versioned(images[name], **kw) for name, kw in BEHAVIOURS.items()}
    routes["/plain.jpg"] = served(jpeg(20), "image/jpeg")             # no validators at all
    routes["/copy-of-immutable.jpg"] = versioned(images["immutable"],   # a content duplicate
                                                 cache_control="max-age=31536000, immutable")
    routes["/wrong-hash.jpg"] = versioned(jpeg(21), cache_control="max-age=3600")
    with StaticServer(str(root), routes=routes) as server:
        def record(name):
            return {"url": server.url_for(f"{name}.jpg"), "description": f"garment {name}"}
        summer = [record(n) for n in [*BEHAVIOURS, "plain", "copy-of-immutable"]]
        (root / "summer.json").write_text(json.dumps(summer))
        first = str(tmp_path_factory.mktemp("stores") / "summer")
        run(["--catalog", str(root / "summer.json"), "--output", first, *JOB])
        routes["/stale-new.jpg"].update(jpeg(30))   # a new image behind the same URL
        autumn = [dict(r) for r in summer]
        hashed = next(r for r in autumn if "hashed-no-cache" in r["url"])
        hashed["sha256"] = open_store_sha(first, hashed["url"])
        wrong = record("wrong-hash")
        wrong["sha256"] = "0" * 64
        autumn.append(wrong)
        (root / "autumn.json").write_text(json.dumps(autumn))
        yield {"routes": routes, "first": first, "autumn": str(root / "autumn.json"),
               "server": server}


def open_store_sha(store: str, url: str) -> str:
    with h5py.File(os.path.join(store, "store.h5")) as f:
        return f["sha256"].asstr()[list(f["url"].asstr()[:]).index(url)]


def requests(routes) -> dict:
    """{path: {status or "conditional": count}} since the last reset, then reset."""
    counts = {}
    for path, route in routes.items():
        seen = dict(getattr(route, "statuses", {200: route.calls}))
        counts[path.strip("/").removesuffix(".jpg")] = {k: v for k, v in seen.items() if v}
        route.reset()
    return counts


def season_two(site, tmp_path, *extra):
    requests(site["routes"])
    out = str(tmp_path / "autumn")
    manifest = run(["--catalog", site["autumn"], "--output", out, "--previous", site["first"],
                    *JOB, *extra])
    return out, manifest, requests(site["routes"])


@pytest.mark.slow
def test_auto_follows_each_response_s_freshness(site, tmp_path):
    out, manifest, seen = season_two(site, tmp_path)
    for name in ("fresh", "immutable", "copy-of-immutable", "modified-only",
                 "hashed-no-cache"):
        assert seen[name] == {}, name                             # fresh (or same hash): none
    for name in ("stale-same", "no-cache", "etag-only"):
        assert seen[name] == {304: 1, "conditional": 1}, name     # asked once: unchanged
    assert seen["stale-new"] == {200: 1, "conditional": 1}        # asked once: new pixels
    assert seen["plain"] == {200: 1}                              # nothing to ask with: GET
    assert seen["wrong-hash"] == {200: 1}
    c = manifest.counts
    assert (c.reused, c.fetched, c.rejected, c.duplicates) == (7, 2, 1, 1)
    with h5py.File(os.path.join(out, "store.h5")) as f:
        stored = dict(zip(f["url"].asstr()[:], f["images"][:]))
        row = {u: i for i, u in enumerate(f["url"].asstr()[:])}
        cache_control = f["cache_control"].asstr()[:]
    with h5py.File(os.path.join(site["first"], "store.h5")) as f:
        before = dict(zip(f["url"].asstr()[:], f["images"][:]))
    new_url = site["server"].url_for("stale-new.jpg")
    assert not np.array_equal(stored[new_url], before[new_url])
    same = site["server"].url_for("stale-same.jpg")
    np.testing.assert_array_equal(stored[same], before[same])
    assert cache_control[row[site["server"].url_for("immutable.jpg")]].endswith("immutable")


@pytest.mark.slow
def test_a_fetched_image_with_another_hash_is_rejected_in_one_line(site, tmp_path):
    out, manifest, _ = season_two(site, tmp_path, "--revalidate", "never")
    errors = list(read_jsonl(out))
    assert [(e["reason"], e["stage"]) for e in errors] == [("hash_mismatch", "fetch")]
    assert errors[0]["url"] == site["server"].url_for("wrong-hash.jpg")
    assert "0" * 64 in errors[0]["message"] and len(errors[0]["message"].splitlines()) == 1
    assert site["server"].url_for("wrong-hash.jpg") not in set(
        h5py.File(os.path.join(out, "store.h5"))["url"].asstr()[:])
    assert manifest.rejected_by_reason == {"fetch/hash_mismatch": 1}


@pytest.mark.slow
def test_never_asks_nothing_and_always_asks_everything(site, tmp_path):
    _, manifest, seen = season_two(site, tmp_path, "--revalidate", "never")
    assert all(v == {} for k, v in seen.items() if k != "wrong-hash"), seen
    assert (manifest.counts.reused, manifest.counts.fetched) == (9, 0)
    out, manifest, seen = season_two(site, tmp_path / "always", "--revalidate", "always")
    assert seen["hashed-no-cache"] == {}          # the catalogue's hash still answers it
    assert seen["plain"] == {200: 1}
    for name in ("fresh", "immutable", "copy-of-immutable", "stale-same", "no-cache",
                 "etag-only", "modified-only"):
        assert seen[name] == {304: 1, "conditional": 1}, name
    assert seen["stale-new"] == {200: 1, "conditional": 1}
    assert open_store(out).num_images == 9 and manifest.counts.fetched == 2
