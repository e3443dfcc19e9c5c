"""The reuse lookup's memory stays flat in the catalogue's size: indexing a previous store and
looking every new record up in it holds a block of rows, never the store (bench/seasons.py
measures the same at 1x / 10x / 100x)."""
import os
import tracemalloc

import numpy as np

from streamgan.preprocess.config import PreprocessConfig
from streamgan.preprocess.previous import BLOCK, PreviousStore
from streamgan.preprocess.staging import Paths
from streamgan.store import contract as sf


def url(i: int) -> str:
    return f"https://cdn.example.com/season/{i:09d}/photo.jpg"


def store(path, n: int, size: int = 16) -> str:
    os.makedirs(os.path.join(path, sf.TRANSFORM_DIR))
    blank = np.zeros((BLOCK, size, size, 3), np.uint8)
    with sf.StoreWriter(os.path.join(path, sf.STORE_FILE), n, size, compression="gzip") as w:
        for start in range(0, n, BLOCK):
            stop = min(n, start + BLOCK)
            w.write(start, blank[:stop - start], [
                {sf.INDEX: i, sf.URL: url(i), sf.SOURCE: url(i), sf.DESCRIPTION: "",
                 sf.DESCRIPTIONS: "[]", sf.SHA256: f"{i:064x}", sf.SPLIT: "", sf.EXTRA: "{}",
                 sf.ETAG: f'"{i:x}"', sf.CACHE_CONTROL: "max-age=31536000, immutable",
                 sf.DATE: "Sun, 06 Dec 2026 00:00:00 GMT"} for i in range(start, stop)])
    cfg = PreprocessConfig(catalog="", output="", image_size=size)
    sf.Manifest(catalog={"records": n}, counts={"records": n, "written": n, "rejected": 0,
                                                "duplicates": 0},
                image={"size": size, "pixel_range": [-1, 1]}, options=cfg.to_json()).write(path)
    return str(path)


def peak_of_lookup(tmp_path, n: int) -> tuple[int, int]:
    """(peak Python allocations, records found) of indexing an n-row store and looking up n
    records, every other one in it."""
    previous_dir = store(tmp_path / f"store-{n}", n)
    scratch = tmp_path / f"scratch-{n}"
    scratch.mkdir()
    cfg = PreprocessConfig(catalog="", output="", image_size=16, previous=previous_dir)
    tracemalloc.start()
    try:
        previous = PreviousStore.open(cfg, Paths.under(str(scratch), str(scratch)), cluster=False)
        found = sum(1 for r in previous.attach(({"source": url(2 * i)} for i in range(n)),
                                               reuse=True) if "previous" in r)
        previous.close()
        return tracemalloc.get_traced_memory()[1], found
    finally:
        tracemalloc.stop()


def test_lookup_memory_does_not_grow_with_the_catalogue(tmp_path):
    small, found_small = peak_of_lookup(tmp_path, 2 * BLOCK)
    large, found_large = peak_of_lookup(tmp_path, 16 * BLOCK)
    assert (found_small, found_large) == (BLOCK, 8 * BLOCK)  # every other record found
    # eight times the records: the same peak (a block of rows), within a third
    assert large < small * 1.33, (small, large)
