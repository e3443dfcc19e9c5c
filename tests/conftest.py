"""Fixtures shared across the suite: a synthetic catalogue served from 127.0.0.1 and a store
built from it by the real preprocessing job (built once per session: it takes seconds)."""
import json
import os
import sys

import pytest

from streamgan.pipeline.serve import StaticServer
from streamgan.pipeline.synthetic import make_catalog

SERVED_IMAGES = 24  # garments; the catalogue adds a missing image and a repeated record


@pytest.fixture(scope="session")
def served_catalog(tmp_path_factory):
    """(catalog path, records) of synthetic garments served over HTTP, plus a 404 and a
    duplicate; the server lives for the whole session."""
    site = str(tmp_path_factory.mktemp("served-site"))
    with StaticServer(site) as server:
        catalog = make_catalog(site, SERVED_IMAGES, seed=3, url_prefix=server.base_url)
        with open(catalog) as fh:
            records = json.load(fh)
        records.append({"url": server.url_for("images/not-there.jpg"), "description": "missing"})
        records.append(dict(records[0], description="listed twice"))
        with open(catalog, "w") as fh:
            json.dump(records, fh)
        yield catalog, records


@pytest.fixture(scope="session")
def served_store(served_catalog, tmp_path_factory):
    """A 32 px store made by the real Beam + TFT job from served_catalog."""
    from streamgan.pipeline.preprocess_cmd import run
    out = os.path.join(str(tmp_path_factory.mktemp("served-store")), "store")
    run(["--catalog", served_catalog[0], "--output", out, "--image-size", "32",
         "--retries", "1", "--backoff", "0.05"])
    return out


# Files that each take minutes: collected first, so that with one test process per core
# (pytest.ini: pytest-xdist, a file per process) none of them starts last and runs alone.
LONG_FILES = ("shell/test_user_path.py", "train/test_warmstart.py", "pipeline/test_run.py",
              "faults/test_preprocess_interruptions.py", "faults/test_training_faults.py")


def pytest_collection_modifyitems(config, items):
    def long_first(item):
        path = item.nodeid.split("::")[0]
        return next((i for i, name in enumerate(LONG_FILES) if path.endswith(name)),
                    len(LONG_FILES))
    items.sort(key=long_first)  # stable: the rest keep their order


def pytest_sessionfinish(session, exitstatus):
    session.config.stash[EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the test process with pytest's own exit status once everything is reported.

    A process that imported TensorFlow and then ran a Beam job on the FnApiRunner in-process
    (the suite's store builders do; a `streamgan` command never does, and the fresh-process
    tests check their exit codes) can crash in the interpreter's final garbage collection,
    after every test has passed and the summary is printed: a teardown-order clash of the
    native libraries (grpc, TensorFlow), not a failure of anything tested. Skipping that
    teardown keeps pytest's verdict the exit status."""
    status = config.stash.get(EXIT_STATUS, None)
    if status is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


EXIT_STATUS = pytest.StashKey[int]()
