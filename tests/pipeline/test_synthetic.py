"""The synthetic catalogue: valid, deterministic, varied, and servable over loopback HTTP."""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest
import urllib3
from PIL import Image

from streamgan.pipeline.serve import StaticServer
from streamgan.pipeline.synthetic import COLOURS, KINDS, PATTERNS, SIZES, draw_garment, make_catalog

N = 40


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    path = make_catalog(str(out), N, seed=3)
    with open(path, encoding="utf-8") as f:
        return str(out), path, json.load(f)


def _bytes(out_dir, rec):
    with open(os.path.join(out_dir, rec["url"]), "rb") as f:
        return f.read()


def test_catalog_is_a_json_array_of_complete_records(catalog):
    out, path, records = catalog
    assert path == os.path.join(out, "catalog.json")
    assert isinstance(records, list) and len(records) == N
    for rec in records:
        assert set(rec) == {"id", "url", "description", "category", "split"}
        assert rec["url"].startswith("images/") and os.path.isfile(os.path.join(out, rec["url"]))
        assert rec["category"] in KINDS
        assert rec["split"] in ("train", "validation")
    assert len({r["id"] for r in records}) == N
    assert not os.path.exists(path + ".tmp")


def test_about_a_tenth_is_validation(catalog):
    splits = [r["split"] for r in catalog[2]]
    assert splits.count("validation") == N // 10


def test_descriptions_name_the_colour_and_the_kind(catalog):
    for rec in catalog[2]:
        desc = rec["description"]
        assert rec["category"] in desc, desc
        assert any(desc.startswith(colour + " ") for colour in COLOURS), desc


def test_images_decode_in_the_promised_sizes_and_formats(catalog):
    out, _, records = catalog
    formats = {}
    for rec in records:
        with Image.open(os.path.join(out, rec["url"])) as img:
            img.load()
            assert img.size in SIZES
            formats.setdefault(img.format, []).append(img)
    assert set(formats) == {"JPEG", "PNG", "WEBP"}
    assert len(formats["JPEG"]) > N / 2
    for png in formats["PNG"]:  # cut-outs: transparent corners, opaque garment
        alpha = np.asarray(png.getchannel("A"))
        assert png.mode == "RGBA" and alpha[0, 0] == 0 and alpha.max() == 255


def test_no_two_images_are_identical(catalog):
    out, _, records = catalog
    digests = {hashlib.sha256(_bytes(out, r)).hexdigest() for r in records}
    assert len(digests) == N


def test_same_seed_same_bytes_and_shorter_runs_are_prefixes(catalog, tmp_path):
    out, _, records = catalog
    again = make_catalog(str(tmp_path / "again"), 12, seed=3)
    with open(again, encoding="utf-8") as f:
        prefix = json.load(f)
    assert prefix == records[:12]
    for rec in prefix:
        assert _bytes(str(tmp_path / "again"), rec) == _bytes(out, rec)


def test_another_seed_gives_another_catalogue(catalog, tmp_path):
    other = make_catalog(str(tmp_path), 12, seed=4)
    with open(other, encoding="utf-8") as f:
        records = json.load(f)
    assert [r["description"] for r in records] != [r["description"] for r in catalog[2][:12]]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_draws_a_garment_on_white(kind):
    img = draw_garment(kind, "navy", None, (300, 400), np.random.default_rng(0))
    assert img.size == (300, 400) and img.mode == "RGB"
    px = np.asarray(img).astype(int)
    assert px[:8, :8].min() > 230, "background should be near-white"
    navy = np.abs(px - np.array(COLOURS["navy"])).sum(axis=2) < 60
    assert navy.mean() > 0.04, "the garment should cover a good part of the picture"


@pytest.mark.parametrize("pattern", PATTERNS)
def test_patterns_add_a_second_colour(pattern):
    img = draw_garment("t-shirt", "red", pattern, (400, 400), np.random.default_rng(1),
                       transparent=True)
    px = np.asarray(img)
    opaque = px[px[..., 3] == 255][:, :3].astype(int)
    red_like = np.abs(opaque - np.array(COLOURS["red"])).sum(axis=1) < 90
    assert 0.1 < red_like.mean() < 0.95, "a patterned garment is neither plain nor all pattern"


def test_bad_arguments_name_the_bad_value():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="'cape'"):
        draw_garment("cape", "red", None, (100, 100), rng)
    with pytest.raises(ValueError, match="'mauve'"):
        draw_garment("dress", "mauve", None, (100, 100), rng)
    with pytest.raises(ValueError, match="'tartan'"):
        draw_garment("dress", "red", "tartan", (100, 100), rng)


def test_url_prefix_makes_a_catalogue_servable_over_loopback(tmp_path):
    with StaticServer(str(tmp_path)) as srv:
        path = make_catalog(str(tmp_path), 5, seed=0, url_prefix=srv.base_url)
        with open(path, encoding="utf-8") as f:
            records = json.load(f)
        http = urllib3.PoolManager()
        for rec in records:
            assert rec["url"].startswith(srv.base_url)
            r = http.request("GET", rec["url"])
            assert r.status == 200
            assert r.data == (tmp_path / rec["url"][len(srv.base_url):]).read_bytes()
