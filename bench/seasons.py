"""Benchmark: a new season's preprocessing with and without last season's store (issue 11).

    python -m bench.seasons                          # about 5 minutes on 2 cores
    python -m bench.seasons --source /work/shared/data/clothing-small --delay 0.05
    python -m bench.seasons --skip-jobs              # only the lookup's memory

Two seasons from the shared clothing-small catalogue's training photos: two categories are held
out of season 1; season 1 is 80% of the other photos; season 2 is 60% of season 1, the other 20%
and the two held-out categories. Each season is preprocessed by the real `streamgan
preprocess` command (its own process, DirectRunner on all cores), with its images

  http  - served from 127.0.0.1 (pipeline/serve.py) with a fixed delay per request (a CDN's round trip, 50 ms
          by default; a conditional GET answered 304 pays it too), Last-Modified from the files
  http-plain - the same host sending no validators: unchanged URLs are reused unasked
  local - read as plain local files (reuse then saves the read and the decode)

and season 2 is timed from scratch and with `--previous` season 1. Then the reuse lookup alone
(index the previous store, look up every record: preprocess/previous.py) is measured on
synthetic stores of 1x, 10x and 100x the catalogue's records, each in a fresh process: peak
Python allocations (tracemalloc) and the growth of resident memory. Prints ratios measured in
the same run; asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time

from bench.data import CLOTHING, OUT
from bench.preprocess import TreeRss  # the peak memory of a process tree
from streamgan.store import contract as sf

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where `-m bench.X` runs


def seasons(source: str, held_out: tuple[str, ...], seed: int = 0) -> tuple[list, list]:
    """(season 1, season 2) records of the training photos, with their category (the folder)."""
    with open(os.path.join(source, "catalog.json")) as fh:
        photos = [dict(r, category=r["url"].split("/")[1]) for r in json.load(fh)
                  if r.get("split") == "train"]
    rng = random.Random(seed)
    rng.shuffle(photos)
    kept = [r for r in photos if r["category"] not in held_out]
    new_kinds = [r for r in photos if r["category"] in held_out]
    cut = len(kept) * 8 // 10
    first, rest = kept[:cut], kept[cut:]
    second = first[:len(first) * 6 // 10] + rest + new_kinds
    rng.shuffle(second)
    return first, second


def write_catalog(records: list, path: str, prefix: str) -> str:
    with open(path, "w") as fh:
        json.dump([{"url": prefix + r["url"], "description": r["description"],
                    "category": r["category"], "split": r["split"]} for r in records], fh)
    return path


def preprocess(catalog: str, store: str, size: int, log: str,
               *extra: str) -> tuple[float, int, sf.Manifest]:
    """Wall seconds, peak tree RSS and manifest of one `streamgan preprocess` process."""
    cmd = [sys.executable, "-m", "streamgan.pipeline", "preprocess", "--catalog", catalog, "--output",
           store, "--image-size", str(size), "--overwrite", *extra]
    started = time.time()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        rss = TreeRss(proc.pid)
        code = proc.wait()
    peak = rss.stop()
    if code:
        sys.exit(f"preprocess of {catalog} failed ({code}); see {log}")
    return time.time() - started, peak, sf.Manifest.read(store)


def run_mode(mode: str, first: list, second: list, args, work: str) -> dict:
    """Season 1, then season 2 from scratch and with reuse, in one mode; returns timings."""
    source = os.path.abspath(args.source)
    server = None
    if mode.startswith("http"):
        from streamgan.pipeline.serve import StaticServer
        server = StaticServer(source, delay=args.delay, validators=mode == "http").start()
        prefix = server.base_url
    else:
        prefix = source + "/"
    folder = os.path.join(work, mode)
    os.makedirs(folder, exist_ok=True)
    cat1 = write_catalog(first, os.path.join(folder, "season1.json"), prefix)
    cat2 = write_catalog(second, os.path.join(folder, "season2.json"), prefix)
    s1 = os.path.join(folder, "store-season1")
    results = {}
    try:
        t, _, _ = preprocess(cat1, s1, args.size, os.path.join(folder, "season1.log"))
        print(f"[{mode}] season 1: {len(first)} records in {t:.1f}s")
        for label, extra in (("scratch", ()), ("reuse", ("--previous", s1))):
            if server is not None:
                server.statuses.clear()
            store = os.path.join(folder, f"store-season2-{label}")
            t, peak, m = preprocess(cat2, store, args.size,
                                    os.path.join(folder, f"season2-{label}.log"), *extra)
            c, tm = m.counts, m.timings
            results[label] = t
            requests = (f", server answered {dict(sorted(server.statuses.items()))}"
                        if server is not None else "")
            print(f"[{mode}] season 2 {label:<7}: {t:6.1f}s wall (pipeline {tm.pipeline_s:.1f}s,"
                  f" analyse {tm.analyse_s:.1f}s, publish {tm.publish_s:.1f}s), peak "
                  f"{peak / 2**20:.0f} MiB; written {c.written} = reused {c.reused} + "
                  f"fetched {c.fetched}{requests}")
            results[label + "_pipeline"] = tm.pipeline_s
            if m.previous:
                p = m.previous
                new_kinds = p.new_categories.get("category", sf.NewEntries()).examples
                print(f"    changes: {p.records_new} new, {p.records_kept} kept, "
                      f"{p.records_gone} gone; new categories {list(new_kinds)}; "
                      f"{p.new_tokens.count} new description tokens")
            shutil.rmtree(store, ignore_errors=True)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(s1, ignore_errors=True)
    return results


def synthetic_store(path: str, n: int, size: int = 16) -> str:
    """A valid store of n rows with distinct sources (blank gzip images: the lookup never
    reads pixels), cached."""
    from streamgan.preprocess.config import PreprocessConfig
    if os.path.exists(os.path.join(path, sf.MANIFEST_FILE)):
        return path
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(os.path.join(path, sf.TRANSFORM_DIR))
    import numpy as np
    block = 8192
    with sf.StoreWriter(os.path.join(path, sf.STORE_FILE), n, size, compression="gzip") as w:
        blank = np.zeros((block, size, size, 3), np.uint8)
        for start in range(0, n, block):
            stop = min(n, start + block)
            rows = [{sf.INDEX: i, sf.URL: url(i), sf.SOURCE: url(i), sf.DESCRIPTION: "",
                     sf.DESCRIPTIONS: "[]", sf.SHA256: f"{i:064x}", sf.SPLIT: "train",
                     sf.EXTRA: "{}", sf.ETAG: f'"{i:x}"',
                     sf.LAST_MODIFIED: "Tue, 01 Dec 2026 10:00:00 GMT"} for i in range(start, stop)]
            w.write(start, blank[:stop - start], rows)
    cfg = PreprocessConfig(catalog="", output="", image_size=size)
    sf.Manifest(catalog=sf.CatalogSection(records=n),
                counts=sf.Counts(records=n, written=n, rejected=0, duplicates=0, fetched=n),
                image=sf.ImageSection(size=size, pixel_range=(-1, 1)),
                options=cfg.to_json()).write(path)
    return path


def url(i: int) -> str:
    return f"https://cdn.example.com/season/{i:09d}/photo-{i * 7919 % 1000003:07d}.jpg"


def lookup_memory(store: str, n: int) -> None:
    """(child process) Index the previous store and look up n new records (every other one
    in it), printing peak Python allocations and resident-memory growth as JSON."""
    import tempfile
    import tracemalloc

    from streamgan.preprocess.config import PreprocessConfig
    from streamgan.preprocess.previous import PreviousStore
    from streamgan.preprocess.staging import Paths
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = PreprocessConfig(catalog="", output="", image_size=16, previous=store)
        previous = PreviousStore.open(cfg, Paths.under(tmp, tmp), cluster=False)
        records = ({"source": url(2 * i)} for i in range(n))
        found = sum(1 for r in previous.attach(records, reuse=True) if "previous" in r)
        previous.close()
    _, peak = tracemalloc.get_traced_memory()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    print(json.dumps({"n": n, "found": found, "seconds": time.time() - started,
                      "traced_peak": peak, "rss_growth": grown * 1024}))


def measure_lookup(work: str, base: int) -> None:
    rows = []
    for factor in (1, 10, 100):
        n = base * factor
        store = synthetic_store(os.path.join(work, f"lookup-{factor}x"), n)
        out = subprocess.run([sys.executable, "-m", "bench.seasons", "--lookup-child", store,
                              str(n)], capture_output=True, text=True, cwd=CHECKOUT)
        if out.returncode:
            sys.exit(out.stderr[-2000:])
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"reuse lookup at {factor:>3}x ({n} records, {r['found']} found): "
              f"{r['seconds']:.1f}s, peak Python allocations {r['traced_peak'] / 2**20:.2f} MiB, "
              f"resident memory grew {r['rss_growth'] / 2**20:.1f} MiB")
    print(f"  lookup memory 10x / 1x = {rows[1]['traced_peak'] / rows[0]['traced_peak']:.2f} "
          f"(allocations), {max(rows[1]['rss_growth'], 1) / max(rows[0]['rss_growth'], 1):.2f} "
          f"(resident); 100x / 10x = {rows[2]['traced_peak'] / rows[1]['traced_peak']:.2f} "
          f"(allocations), {max(rows[2]['rss_growth'], 1) / max(rows[1]['rss_growth'], 1):.2f} "
          "(resident): bounded by a block of rows and sqlite's page cache, not the records")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=CLOTHING)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds per HTTP request")
    parser.add_argument("--held-out", default="hat,skirt", help="categories season 1 lacks")
    parser.add_argument("--modes", default="http,http-plain,local",
                        help="http: a host with Last-Modified (conditional GETs); http-plain: "
                             "one without validators; local: plain files")
    parser.add_argument("--work", default=os.path.join(OUT, "seasons"))
    parser.add_argument("--skip-jobs", action="store_true")
    parser.add_argument("--skip-lookup", action="store_true", help="no lookup memory runs")
    parser.add_argument("--lookup-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.lookup_child:
        lookup_memory(args.lookup_child[0], int(args.lookup_child[1]))
        return
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    first, second = seasons(os.path.abspath(args.source), tuple(args.held_out.split(",")))
    kept = len({r["url"] for r in first} & {r["url"] for r in second})
    print(f"season 1: {len(first)} photos; season 2: {len(second)} photos ({kept} of season "
          f"1's, {len(second) - kept} new, held-out categories {args.held_out}); "
          f"{args.size} px, {os.cpu_count()} cores, HTTP delay {args.delay * 1000:.0f} ms")
    if not args.skip_jobs:
        results = {mode: run_mode(mode, first, second, args, work)
                   for mode in args.modes.split(",")}
        print("\nratios (same run): season 2 from scratch / with reuse")
        for mode, r in results.items():
            print(f"  {mode:<10} whole job {r['scratch'] / r['reuse']:.2f}x, Beam pipeline "
                  f"(fetch + decode) {r['scratch_pipeline'] / r['reuse_pipeline']:.2f}x"
                  + ("   (target >= 3x over HTTP)" if mode.startswith("http") else ""))
    if not args.skip_lookup:
        measure_lookup(work, len(first) + len(second))


if __name__ == "__main__":
    main()
