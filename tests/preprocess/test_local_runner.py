"""On this machine the job runs on the runner the suite tests (Beam's FnApiRunner, named in
preprocess/runners.py), with no network call but the catalogue's own images: Beam's
DirectRunner would first try to download the Prism runner from GitHub.

Checked at the socket level: the installed `streamgan` script runs as a new process with an
audit hook (sys.addaudithook, loaded by a sitecustomize on PYTHONPATH, so Beam's worker
processes carry it too) that records every host name looked up and every address connected to.
"""
import json
import os
import subprocess
import sys
import textwrap

import h5py
import pytest

from streamgan.pipeline.serve import StaticServer
from tests.helpers import encode, numbered

STREAMGAN = os.path.join(os.path.dirname(sys.executable), "streamgan")
RECORDS = 6

AUDIT_HOOK = textwrap.dedent('''
    """Test-only: append each host name looked up and address connected to, to $NET_LOG."""
    import os
    import sys

    def _record(event, args):
        if event in ("socket.getaddrinfo", "socket.connect"):
            target = args[0] if event == "socket.getaddrinfo" else args[1]
            with open(os.environ["NET_LOG"], "a") as fh:
                fh.write(f"{os.getpid()} {event} {target!r}\\n")

    if os.environ.get("NET_LOG"):
        sys.addaudithook(_record)
''')


@pytest.fixture(scope="module")
def hooked_run(tmp_path_factory):
    """A real `streamgan preprocess` of images served from 127.0.0.1: (store path, log text,
    network lines)."""
    root = tmp_path_factory.mktemp("net")
    site, hooks = root / "site", root / "hooks"
    site.mkdir()
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(AUDIT_HOOK)
    for i in range(RECORDS):
        (site / f"{i}.jpg").write_bytes(encode(numbered(i), "JPEG", quality=95))
    net_log = root / "net.log"
    with StaticServer(str(site)) as server:
        catalog = root / "catalog.json"
        catalog.write_text(json.dumps([{"url": server.url_for(f"{i}.jpg"),
                                        "description": f"item {i}"} for i in range(RECORDS)]))
        env = dict(os.environ, NET_LOG=str(net_log),
                   PYTHONPATH=os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]))
        result = subprocess.run(
            [STREAMGAN, "preprocess", "--catalog", str(catalog), "--output", "store",
             "--image-size", "16", "--direct_running_mode", "in_memory",
             "--direct_num_workers", "1"],
            cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    log = (root / "streamgan.log").read_text()
    return root / "store", log, net_log.read_text().splitlines()


@pytest.mark.slow
def test_the_job_runs_on_the_local_runner_without_trying_prism(hooked_run):
    store, log, _ = hooked_run
    with h5py.File(store / "store.h5") as h5:
        assert len(h5["images"]) == RECORDS
    assert log.count("Running pipeline with FnApiRunner") == 2  # the job and the TFT analysis
    assert "prism" not in log.lower()  # neither "Running pipeline with PrismRunner" nor a download


@pytest.mark.slow
def test_nothing_but_127_0_0_1_is_contacted(hooked_run):
    _, _, net = hooked_run
    connects = [line for line in net if " socket.connect " in line]
    assert any("'127.0.0.1'" in line for line in connects)  # the hook saw the image fetches
    looked_up = {line.split(" ", 2)[2] for line in net if " socket.getaddrinfo " in line}
    assert looked_up <= {"'127.0.0.1'", "'localhost'"}, looked_up
    strangers = [line for line in connects
                 if "'127.0.0.1'" not in line and "'localhost'" not in line and "'::1'" not in line]
    assert not strangers
