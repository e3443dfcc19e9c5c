"""Stores for the train/ tests, each built once per session (the Beam + TFT analysis takes
seconds). Images encode their index in their pixels (see tiny_store.py)."""
import os

import pytest

from tests.train.tiny_store import build_store

NUM_IMAGES = 100   # not a multiple of any batch size the tests use
CHUNK_ROWS = 16    # several chunks, the last one partial


@pytest.fixture(scope="session")
def store32(tmp_path_factory):
    """100 images of 32 px in chunks of 16 rows, with a real TFT transform_fn."""
    path = os.path.join(str(tmp_path_factory.mktemp("stores")), "store32")
    return build_store(path, NUM_IMAGES, 32, chunk_rows=CHUNK_ROWS)


@pytest.fixture(scope="session")
def store16(tmp_path_factory, store32):
    """A 16 px store, for image-size mismatches. It never reaches its transform (the size check
    comes first), so it borrows store32's instead of running Beam again."""
    path = os.path.join(str(tmp_path_factory.mktemp("stores")), "store16")
    return build_store(path, 20, 16, transform_from=store32)
