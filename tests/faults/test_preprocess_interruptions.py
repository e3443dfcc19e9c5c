"""SIGKILL the preprocessing job while it fetches, while TFT analyses, and while it publishes:
nothing that looks finished is left, and the rerun publishes the same store as a run that was
never interrupted (the same records in the same order, the same bytes)."""
import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from streamgan.pipeline.serve import StaticServer
from streamgan.preprocess.pipeline import run
from streamgan.store.contract import DUPLICATES_FILE, ERRORS_FILE, STORE_FILE, open_store
from tests.helpers import encode, numbered
from tests.http_faults import gated

pytestmark = pytest.mark.slow
GOOD = 12


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill-site")
    for i in range(GOOD):
        (root / f"{i}.jpg").write_bytes(encode(numbered(i), "JPEG", quality=90))
    gate = gated(encode(numbered(40), "JPEG"))
    with StaticServer(str(root), routes={"/gate.jpg": gate}) as server:
        records = [{"url": server.url_for(f"{i}.jpg"), "description": f"garment {i}"}
                   for i in range(GOOD)]
        records += [{"url": server.url_for("gate.jpg"), "description": "held until released"},
                    {"url": server.url_for("missing.jpg"), "description": "a 404"},
                    {"url": server.url_for("3.jpg"), "description": "a duplicate url"}]
        catalog = root / "catalog.json"
        catalog.write_text(json.dumps(records))
        yield {"catalog": str(catalog), "gate": gate}


def command(catalog, out):
    return [sys.executable, "-m", "streamgan.preprocess", "--catalog", catalog, "--output", out,
            "--image-size", "16", "--timeout", "5", "--retries", "0",
            "--direct_num_workers", "2"]


def kill_when(proc, predicate, what, timeout=300.0):
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if predicate():
                os.killpg(proc.pid, signal.SIGKILL)
                return
            if proc.poll() is not None:
                pytest.fail(f"the job ended (code {proc.returncode}) before {what}")
            time.sleep(0.005)
        pytest.fail(f"never saw {what}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def partial_has(out, *pattern):
    return glob.glob(os.path.join(f"{glob.escape(out)}.partial-*", *pattern))


def test_killed_in_fetch_analysis_and_publish_then_the_rerun_is_the_uninterrupted_store(
        site, tmp_path):
    out = str(tmp_path / "store")
    points = [
        ("during fetch", lambda: site["gate"].calls >= 1),
        ("during TFT analysis", lambda: partial_has(out, "staging", "tft-temp", "*")
         and not partial_has(out, ERRORS_FILE)),
        ("during publish", lambda: partial_has(out, ERRORS_FILE)),
    ]
    for number, (what, predicate) in enumerate(points):
        if number == 1:
            site["gate"].gate.set()  # from now on the held image arrives
        proc = subprocess.Popen(command(site["catalog"], out), start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_when(proc, predicate, what)
        assert not os.path.exists(out), f"killed {what}, yet {out} exists"
        assert partial_has(out), what  # what is left is named as unfinished

    rerun = subprocess.run(command(site["catalog"], out), capture_output=True, text=True,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "left by an interrupted run" in rerun.stdout
    assert not glob.glob(f"{glob.escape(out)}.partial-*") + glob.glob(f"{glob.escape(out)}.old-*")

    reference = str(tmp_path / "reference")
    expected = run(command(site["catalog"], reference)[3:])  # never interrupted, in-process
    assert open_store(out).num_images == GOOD + 1 == expected.counts.written
    for name in (ERRORS_FILE, DUPLICATES_FILE):
        assert sha256(os.path.join(out, name)) == sha256(os.path.join(reference, name)), name
    with h5py.File(os.path.join(out, STORE_FILE)) as a, \
            h5py.File(os.path.join(reference, STORE_FILE)) as b:
        assert sorted(a) == sorted(b)
        for name in a:
            np.testing.assert_array_equal(a[name][:], b[name][:], err_msg=name)
        assert a["index"][:].tolist() == list(range(GOOD + 1))
    assert sha256(os.path.join(out, STORE_FILE)) == sha256(os.path.join(reference, STORE_FILE))
    got = json.load(open(os.path.join(out, "manifest.json")))
    want = expected.to_dict()
    for key in ("counts", "rejected_by_reason", "statistics", "vocabulary", "image"):
        assert got[key] == want[key], key
