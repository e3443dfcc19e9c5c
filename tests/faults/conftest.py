"""Fixtures of the fault suite: a small real store, and a small disk that fills up."""
import contextlib
import os
import subprocess
import uuid

import pytest

from tests.train.tiny_store import build_store


@pytest.fixture(scope="session")
def fault_store(tmp_path_factory):
    """100 images of 32 px with a real TFT transform_fn (tests/train/tiny_store.py)."""
    return build_store(os.path.join(str(tmp_path_factory.mktemp("fault-stores")), "store32"),
                       100, 32, chunk_rows=16)


@pytest.fixture()
def small_disk(tmp_path):
    """small_disk(bytes) -> a fresh directory on a tmpfs of that size (a disk that fills up);
    unmounted after the test. Skips when this machine cannot mount one (needs root)."""
    mounts = []

    def make(size: int) -> str:
        path = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
        path.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip()[:80]})")
        mounts.append(path)
        return str(path)

    yield make
    for path in mounts:
        with contextlib.suppress(Exception):
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)
