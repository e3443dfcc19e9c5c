"""The job on Beam's portability layer (what Dataflow, Flink and Spark run): a job service and
separate SDK worker processes, started by a worker pool, that share nothing with the launcher
but the files under --temp_location. The store must equal the DirectRunner's on the same
catalogue. And `python setup.py sdist`, what --setup_file ships, holds every module they import.
"""
import json
import modulefinder
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile

import h5py
import numpy as np
import pytest
import tensorflow_transform as tft

from streamgan.pipeline.preprocess_cmd import run
from streamgan.pipeline.serve import StaticServer
from streamgan.store import contract as sf
from streamgan.store.contract import DUPLICATES_FILE, ERRORS_FILE, METADATA_COLUMNS, open_store, read_jsonl
from tests.helpers import colour_of, encode, numbered

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOOD = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def worker_pool(tmp_path_factory):
    """A Beam worker pool on localhost (its own process group, ended by the fixture); it
    starts each SDK worker as a new `python` process, so this venv's python goes first on PATH."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("pool") / "pool.log", "w")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    pool = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                             "--service_port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=str(tmp_path_factory.mktemp("pool-cwd")),
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("localhost", port), timeout=1).close()
                break
            except OSError:
                if pool.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker pool did not start; see {log.name}") from None
                time.sleep(0.2)
        yield port
    finally:
        os.killpg(pool.pid, signal.SIGTERM)  # the pool and the workers it started
        pool.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """GOOD distinct images, a 404, one URL repeated, one image's bytes under a second URL."""
    root = tmp_path_factory.mktemp("site")
    for i in range(GOOD):
        fmt = "PNG" if i % 2 else "JPEG"
        (root / f"{i}.img").write_bytes(encode(numbered(i), fmt))
    (root / "copy-of-2.img").write_bytes((root / "2.img").read_bytes())
    # a fixed clock: the stores keep each answer's Date, and the two runs must match byte for byte
    with StaticServer(str(root), clock=lambda: 1_796_000_000.0) as server:
        records = [{"url": server.url_for(f"{i}.img"), "description": f"garment {i}",
                    "split": "train" if i % 2 else "validation", "sku": i} for i in range(GOOD)]
        records += [{"url": server.url_for("gone.img"), "description": "missing"},       # 5
                    {"url": server.url_for("1.img"), "description": "listed twice"},      # 6
                    {"url": server.url_for("copy-of-2.img"), "description": "same bytes"}]  # 7
        path = root / "catalog.json"
        path.write_text(json.dumps(records))
        yield str(path)


def job(catalog, out, *beam_args):
    return run(["--catalog", catalog, "--output", out, "--image-size", "16",
                "--retries", "0", *beam_args])


@pytest.mark.slow
def test_portable_runner_store_equals_the_direct_runners(catalog, worker_pool, tmp_path):
    direct = job(catalog, str(tmp_path / "direct"))
    temp = tmp_path / "shared" / "not-made-yet"  # the launcher and the workers share only this
    portable = job(catalog, str(tmp_path / "portable"), "--runner", "PortableRunner",
                   "--job_endpoint", "embed", "--environment_type", "EXTERNAL",
                   "--environment_config", f"localhost:{worker_pool}",
                   "--temp_location", str(temp))

    assert portable.counts == direct.counts
    assert portable.counts.written == GOOD and portable.counts.rejected == 1
    assert portable.counts.duplicates_by_kind == {"url": 1, "content": 1}
    assert portable.rejected_by_reason == direct.rejected_by_reason == {"fetch/http_status": 1}
    assert portable.statistics == direct.statistics
    assert portable.vocabulary == direct.vocabulary

    a, b = str(tmp_path / "direct"), str(tmp_path / "portable")
    for store in (a, b):  # the store's files and nothing else: no scratch left behind
        assert set(os.listdir(store)) == {sf.STORE_FILE, sf.MANIFEST_FILE, ERRORS_FILE,
                                          DUPLICATES_FILE, sf.TRANSFORM_DIR,
                                          sf.TRANSFORMED_METADATA_DIR}
    assert list(read_jsonl(b)) == list(read_jsonl(a))
    assert [e["index"] for e in read_jsonl(b)] == [5]
    for name in (ERRORS_FILE, DUPLICATES_FILE):
        assert open(os.path.join(b, name)).read() == open(os.path.join(a, name)).read()
    with h5py.File(open_store(a).h5_path) as fa, h5py.File(open_store(b).h5_path) as fb:
        np.testing.assert_array_equal(fb["images"][:], fa["images"][:])
        for column in METADATA_COLUMNS:
            assert fb[column][:].tolist() == fa[column][:].tolist(), column
        assert fb["index"][:].tolist() == list(range(GOOD))
        for i in range(GOOD):
            np.testing.assert_allclose(fb["images"][i, 8, 8].astype(int), colour_of(i), atol=6)
        assert json.loads(fb["descriptions"].asstr()[1]) == ["garment 1", "listed twice"]
        assert json.loads(fb["descriptions"].asstr()[2]) == ["garment 2", "same bytes"]
    vocabulary = tft.TFTransformOutput(b).vocabulary_by_name("description")
    assert vocabulary == tft.TFTransformOutput(a).vocabulary_by_name("description")
    assert not os.listdir(temp)  # the run's staging area is cleaned up

    # Reuse on a cluster runner: the workers read the previous store's rows from the copy the
    # launcher put in the shared staging area (they cannot read the launcher's disk).
    again = job(catalog, str(tmp_path / "again"), "--runner", "PortableRunner",
                "--job_endpoint", "embed", "--environment_type", "EXTERNAL",
                "--environment_config", f"localhost:{worker_pool}",
                "--temp_location", str(temp), "--previous", a)
    assert (again.counts.reused, again.counts.fetched) == (GOOD, 0)
    with h5py.File(open_store(a).h5_path) as fa, \
            h5py.File(open_store(str(tmp_path / "again")).h5_path) as fc:
        np.testing.assert_array_equal(fc["images"][:], fa["images"][:])
    assert not os.listdir(temp)


def test_the_shipped_package_holds_every_module_the_workers_import(tmp_path):
    """--setup_file ships `setup.py sdist`; each worker builds and installs it. The wheel built
    from that sdist must hold every project module reachable by import from the job's entry
    point (found by following the imports, not listed by hand), under the one top-level name
    `streamgan` (no `train` or `common` of ours in a worker's site-packages)."""
    subprocess.run([sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path),
                    "sdist", "--dist-dir", str(tmp_path)], cwd=ROOT, check=True,
                   capture_output=True)
    (sdist,) = tmp_path.glob("streamgan-*.tar.gz")
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(sdist)], check=True, capture_output=True)
    (wheel,) = wheels.glob("streamgan-*.whl")
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(unpacked)
        top = {name.split("/", 1)[0] for name in zf.namelist()}
    assert {t for t in top if not t.endswith(".dist-info")} == {"streamgan"}

    finder = modulefinder.ModuleFinder(path=[str(unpacked)])  # project modules only
    finder.run_script(str(unpacked / "streamgan" / "preprocess" / "pipeline.py"))
    found = {name for name, m in finder.modules.items() if m.__file__ and name != "__main__"}
    assert {"streamgan.preprocess.steps", "streamgan.preprocess.fetch",
            "streamgan.store.contract"} <= found
    missing = sorted(n for n in finder.badmodules if n.startswith("streamgan"))
    assert not missing, f"imported by the job but not in the wheel: {missing}"
