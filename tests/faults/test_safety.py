"""What a catalogue may make the job read: allowlisted schemes, no local files from a remote
catalogue, no internal addresses when denied, and no code run from catalogue or store data."""
import json
import os
import pathlib
import re

import h5py
import pytest

from streamgan.common.errors import CatalogError, RecordError
from streamgan.pipeline.preprocess_cmd import run
from streamgan.pipeline.serve import StaticServer
from streamgan.preprocess.catalog import write_normalised
from streamgan.preprocess.config import PreprocessConfig
from streamgan.preprocess.fetch import Fetcher, FetchOptions, redirect_problem
from streamgan.store.contract import open_store, read_jsonl
from tests.helpers import encode, numbered
from tests.http_faults import redirect

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("safety-site")
    (root / "img").mkdir()
    for i in range(3):
        (root / "img" / f"{i}.jpg").write_bytes(encode(numbered(i), "JPEG", quality=95))
    secret = root / "secret.jpg"  # a local file a remote catalogue must not reach
    secret.write_bytes(encode(numbered(9), "JPEG"))
    routes = {"/to-metadata": redirect("http://169.254.169.254/latest/meta-data/"),
              "/to-local": redirect(f"file://{secret}")}
    with StaticServer(str(root), routes=routes) as server:
        records = [{"url": f"img/{i}.jpg", "description": f"relative {i}"} for i in range(3)]
        records += [{"url": str(secret), "description": "absolute local path"},
                    {"url": f"file://{secret}", "description": "file url"},
                    {"url": server.url_for("to-local"), "description": "redirect to a file"}]
        (root / "catalog.json").write_text(json.dumps(records))
        yield {"server": server, "root": root, "records": records, "secret": str(secret),
               "catalog": server.url_for("catalog.json")}


def test_private_addresses_are_denied_by_default_only_for_a_remote_catalogue():
    remote = PreprocessConfig(catalog="https://partner.example/catalog.json", output="")
    local = PreprocessConfig(catalog="catalog.json", output="")
    assert remote.deny_private() and not remote.allow_local()
    assert not local.deny_private() and local.allow_local()
    assert PreprocessConfig(catalog="catalog.json", output="", private_addresses="deny").deny_private()
    assert not PreprocessConfig(catalog=remote.catalog, output="",
                                private_addresses="allow").deny_private()
    assert PreprocessConfig(catalog=remote.catalog, output="", allow_local_files=True).allow_local()


def test_denied_fetches_name_the_address_and_send_nothing(site):
    fetcher = Fetcher(FetchOptions(deny_private=True, timeout=2, retries=0))
    port = site["server"].port
    cases = {"http://169.254.169.254/latest/meta-data/": "link-local address (169.254.169.254)",
             f"http://127.0.0.1:{port}/img/0.jpg": "loopback address (127.0.0.1)",
             f"http://localhost:{port}/img/0.jpg": "localhost resolves to a loopback address",
             "http://10.0.0.7/a.jpg": "private address (10.0.0.7)",
             "http://[::1]/a.jpg": "loopback address (::1)",
             site["server"].url_for("to-metadata"): "loopback address (127.0.0.1)"}
    for url, expected in cases.items():
        with pytest.raises(RecordError) as info:
            fetcher.fetch(url)
        assert info.value.reason == "private_address" and expected in info.value.message, url
    allowed = Fetcher(FetchOptions(deny_private=False, timeout=2, retries=0))
    assert allowed.fetch(f"http://localhost:{port}/img/0.jpg")[:2] == b"\xff\xd8"
    with pytest.raises(RecordError, match=r"redirect to another scheme \(file:\) refused"):
        allowed.fetch(site["server"].url_for("to-local"))


def test_a_remote_catalogue_may_not_name_local_files(site, tmp_path):
    with pytest.raises(CatalogError, match=r"record 4: `url` '/.*secret.jpg' is a local file, "
                                           r"refused for a catalogue read from a remote location"):
        write_normalised(site["catalog"], str(tmp_path / "r.jsonl"))
    summary = write_normalised(site["catalog"], str(tmp_path / "r.jsonl"), allow_local=True)
    assert summary.records == 6 and summary.bad == 0


@pytest.mark.slow
def test_remote_catalogue_job_reads_relative_images_over_http_and_refuses_local_files(site, tmp_path):
    out = str(tmp_path / "store")
    manifest = run(["--catalog", site["catalog"], "--output", out, "--image-size", "16",
                    "--skip-bad-records", "--private-addresses", "allow", "--retries", "0"])
    errors = {e["index"]: (e["stage"], e["reason"]) for e in read_jsonl(out)}
    assert errors == {3: ("catalog", "local_file"), 4: ("catalog", "local_file"),
                      5: ("fetch", "redirect")}
    c = manifest.counts
    assert (c.written, c.rejected, c.duplicates, c.records) == (3, 3, 0, 6)
    with h5py.File(open_store(out).h5_path) as f:
        assert list(f["url"].asstr()[:]) == ["img/0.jpg", "img/1.jpg", "img/2.jpg"]


UNSAFE = re.compile(r"\b(pickle|cPickle|dill|marshal|shelve)\.loads?\(|(?<![.\w])(eval|exec)\("
                    r"|allow_pickle\s*=\s*True|yaml\.(unsafe_)?load\(|\btorch\.load\(")


def test_no_catalogue_or_store_data_is_unpickled_or_evaluated():
    """Catalogue fields and store columns are parsed as JSON and stored as strings; nothing in
    streamgan's own code unpickles, evals or execs data (Beam pickles its own DoFns, not ours)."""
    hits = []
    for package in ("common", "store", "preprocess", "train", "pipeline"):
        for path in sorted((REPO / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if UNSAFE.search(line.split("#", 1)[0]):
                    hits.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not hits
    assert os.path.exists(REPO / "store" / "contract.py")  # the scan saw the store code


def test_redirects_may_upgrade_to_https_but_never_downgrade_or_leave_http():
    assert redirect_problem("http://shop.example/a.jpg", "https://cdn.example/a.jpg") is None
    assert "down to http" in redirect_problem("https://shop.example/a", "http://shop.example/a")
    for target in ("file:///etc/passwd", "gs://bucket/a.jpg", "ftp://h/a", "javascript:x"):
        assert "another scheme" in redirect_problem("http://shop.example/a", target), target
