"""SIGKILL the preprocessing job while it fetches, while TFT analyses, and while it publishes:
nothing that looks finished is left, the rerun fetches only what the killed run had not
finished (every request the server answers is counted), and it publishes the same store as a
run that was never interrupted (the same records in the same order, the same bytes)."""
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

from streamgan.pipeline.preprocess_cmd import run
from streamgan.pipeline.serve import StaticServer
from streamgan.store.contract import DUPLICATES_FILE, ERRORS_FILE, STORE_FILE, open_store
from tests.helpers import encode, numbered
from tests.http_faults import gated, served

pytestmark = pytest.mark.slow
GOOD = 12
CLOCK = 1_796_000_000.0  # the server's Date: stores keep it, and runs are compared byte for byte


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill-site")
    for i in range(GOOD):
        (root / f"{i}.jpg").write_bytes(encode(numbered(i), "JPEG", quality=90))
    gate = gated(encode(numbered(40), "JPEG"))
    with StaticServer(str(root), routes={"/gate.jpg": gate}, clock=lambda: CLOCK) as server:
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
        ("during TFT analysis", lambda: glob.glob(os.path.join(f"{glob.escape(out)}.staging",
                                                               "tft-temp", "*"))
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


COUNTED = 40
BATCH = 4


def counted_command(catalog, out):
    return [sys.executable, "-m", "streamgan.preprocess", "--catalog", catalog, "--output", out,
            "--image-size", "16", "--timeout", "5", "--retries", "0", "--fetch-batch",
            str(BATCH), "--direct_num_workers", "1"]


def unit_indices(out):
    """Catalogue positions the finished units in the output's staging area hold."""
    done = set()
    for path in glob.glob(os.path.join(f"{out}.staging", "units", "unit-*.jsonl")):
        done.update(json.loads(line)["index"] for line in open(path))
    return done


def assert_same_store(out, reference):
    for name in (STORE_FILE, ERRORS_FILE, DUPLICATES_FILE):
        assert sha256(os.path.join(out, name)) == sha256(os.path.join(reference, name)), name


def test_killed_at_fetch_and_at_publish_the_rerun_fetches_only_what_was_not_done(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    routes = {f"/{i}.jpg": served(encode(numbered(i), "JPEG", quality=90), "image/jpeg")
              for i in range(COUNTED)}
    gate = routes[f"/{COUNTED * 3 // 4}.jpg"] = gated(encode(numbered(99), "JPEG"))
    with StaticServer(str(root), routes=routes, clock=lambda: CLOCK) as server:
        catalog = root / "catalog.json"
        catalog.write_text(json.dumps([{"url": server.url_for(f"{i}.jpg"),
                                        "description": f"garment {i}"} for i in range(COUNTED)]))
        out, reference = str(tmp_path / "store"), str(tmp_path / "reference")

        def calls():
            return {path: route.calls for path, route in routes.items()}

        def reset():
            for route in routes.values():
                route.reset()

        # 1. killed while the gated image is being fetched: units before it are finished
        proc = subprocess.Popen(counted_command(str(catalog), out), start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # every other unit is saved while the held image's unit waits: a slow image holds up
        # only its own unit
        kill_when(proc, lambda: gate.calls >= 1 and len(unit_indices(out)) == COUNTED - BATCH,
                  "every unit but the held image's")
        first = calls()
        done = unit_indices(out)
        assert COUNTED * 3 // 4 not in done
        assert all(n <= 1 for n in first.values())
        # 2. rerun with the gate open, killed while publishing
        gate.gate.set()
        reset()
        proc = subprocess.Popen(counted_command(str(catalog), out), start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        kill_when(proc, lambda: partial_has(out, ERRORS_FILE), "publishing")
        second = calls()
        printed = proc.stdout.read()
        assert f"resuming an interrupted run: {len(done)} of {COUNTED} records already done" \
            in printed
        for i in range(COUNTED):  # only what the first run had not finished is asked for
            assert second[f"/{i}.jpg"] == (0 if i in done else 1), i
        assert sum(first.values()) + sum(second.values()) <= COUNTED + BATCH
        # 3. rerun after the kill in publish: no request at all, the uninterrupted store
        reset()
        rerun = subprocess.run(counted_command(str(catalog), out), capture_output=True,
                               text=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        assert sum(calls().values()) == 0
        assert f"{COUNTED} of {COUNTED} records already done" in rerun.stdout
        assert not os.path.exists(f"{out}.staging")
        reset()
        expected = run(counted_command(str(catalog), reference)[3:])
        assert sum(calls().values()) == COUNTED and expected.counts.written == COUNTED
    assert_same_store(out, reference)


def test_a_changed_catalogue_or_store_option_starts_clean_in_one_line(site, tmp_path):
    out = str(tmp_path / "store")
    site["gate"].gate.clear()
    site["gate"].reset()
    batched = command(site["catalog"], out) + ["--fetch-batch", "4"]
    proc = subprocess.Popen(batched, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    kill_when(proc, lambda: site["gate"].calls >= 1 and unit_indices(out), "a finished unit")
    site["gate"].gate.set()
    changed = subprocess.run(batched + ["--max-aspect", "5"],
                             capture_output=True, text=True, timeout=600)
    assert changed.returncode == 0, changed.stderr[-2000:]
    lines = [line for line in changed.stdout.splitlines() if "starting clean" in line]
    assert len(lines) == 1 and "--max-aspect changed since the interrupted run (10.0 -> 5.0)" \
        in lines[0]
