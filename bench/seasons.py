"""Benchmark: a new season at the network's limit (issue 25).

    python -m bench.seasons                          # 5,000 records, about 15 minutes here
    python -m bench.seasons --records 20000          # the issue's scale
    python -m bench.seasons --skip-jobs              # only the lookup's memory

A synthetic catalogue of `--records` distinct generated JPEGs, served from 127.0.0.1
(pipeline/serve.py StaticServer) with a fixed delay per answer (a CDN's round trip, 50 ms by
default; a 304 pays it too). Season 2 has 60% of season 1's records unchanged, 10% changed
(new bytes behind the same URL) and 30% new URLs. For each server behaviour

  immutable   Cache-Control: public, max-age=31536000, immutable (and Last-Modified)
  validators  Last-Modified only, no freshness information (the files are minutes old, so the
              RFC's heuristic lifetime, 10% of their age, has run out: revalidated)
  no-cache    Cache-Control: no-cache (and Last-Modified): always revalidated

season 1 is preprocessed from scratch, then season 2 with `--previous` season 1, and a
catalogue of season 2's new and changed records alone from scratch, each by the real
`streamgan preprocess` command in its own process (DirectRunner on all cores). It prints
T(season 2) / T(new and changed alone) and the requests by kind (unconditional 200,
conditional answered 304 / 200), the most conditional and unconditional requests the server
had in flight at once, and each job's breakdown: start-up (imports, before the job's clock
starts), validation, the Beam stage, TFT analysis (content dedup + analysis), publish.

Then season 1's catalogue once more from scratch, killed with SIGKILL (the whole process
group) when the server has answered half of the catalogue, and rerun: requests in all /
records, T(rerun) / T(season 1), and whether the rerun's pixels equal season 1's. Then the
fixed cost: a 1-record and a 1,000-record job's breakdown. Then the reuse lookup alone (index
the previous store, look up every record: preprocess/previous.py) on synthetic stores of 1x,
10x and 100x the records, each in a fresh process: peak Python allocations (tracemalloc) and
the growth of resident memory. Prints ratios measured in the same run; asserts nothing.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time

from bench.data import OUT
from bench.preprocess import TreeRss  # the peak memory of a process tree
from streamgan.pipeline.serve import StaticServer
from streamgan.store import contract as sf

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where `-m bench.X` runs
BEHAVIOURS = {"immutable": "public, max-age=31536000, immutable", "validators": "",
              "no-cache": "no-cache"}
TARGETS = {"immutable": 1.25, "no-cache": 1.5}


def make_image(path: str, seed: int, size: int = 48) -> None:
    """A distinct small JPEG: random colour blocks from seed."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    Image.fromarray(np.kron(blocks, np.ones((size // 6, size // 6, 1), np.uint8))).save(
        path, "JPEG", quality=85)


def build_site(root: str, n: int, seed: int = 0) -> dict:
    """n season-1 images and season 2's plan: 60% unchanged, 10% changed, 30% new."""
    os.makedirs(root, exist_ok=True)
    rng = random.Random(seed)
    for i in range(n):
        make_image(os.path.join(root, f"{i:06d}.jpg"), i)
    order = list(range(n))
    rng.shuffle(order)
    unchanged, changed = order[:n * 6 // 10], order[n * 6 // 10:n * 7 // 10]
    new = list(range(n, n + n * 3 // 10))
    return {"n": n, "unchanged": sorted(unchanged), "changed": sorted(changed), "new": new}


def write_catalog(path: str, prefix: str, indices) -> str:
    with open(path, "w") as fh:
        for i in indices:
            fh.write(json.dumps({"url": f"{prefix}{i:06d}.jpg",
                                 "description": f"garment {i % 97} colour {i % 13}",
                                 "category": f"c{i % 7}"}) + "\n")
    return path


def preprocess(catalog: str, store: str, size: int, log: str, *extra: str,
               kill_after: tuple[StaticServer, int] | None = None) -> dict:
    """One `streamgan preprocess` process: wall seconds, peak tree RSS, manifest (None when
    killed once the server has answered kill_after = (server, n) requests)."""
    cmd = [sys.executable, "-m", "streamgan.pipeline", "preprocess", "--catalog", catalog,
           "--output", store, "--image-size", str(size), "--retries", "1", *extra]
    started = time.time()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=CHECKOUT,
                                start_new_session=True)
        rss = TreeRss(proc.pid)
        if kill_after is not None:
            server, n = kill_after
            while proc.poll() is None and sum(server.requests.values()) < n:
                time.sleep(0.01)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
    peak = rss.stop()
    wall = time.time() - started
    if kill_after is not None:
        return {"wall": wall, "manifest": None}
    if code:
        sys.exit(f"preprocess of {catalog} failed ({code}); see {log}")
    with open(os.path.join(store, "manifest.json")) as fh:
        return {"wall": wall, "peak": peak, "manifest": json.load(fh)}


def breakdown(result: dict) -> str:
    t = result["manifest"]["timings"]
    startup = result["wall"] - t["total_s"]
    return (f"{result['wall']:6.1f}s = start-up {startup:4.1f} + validate {t['validate_s']:4.1f}"
            f" + Beam {t['pipeline_s']:5.1f} + TFT {t['dedup_s'] + t['analyse_s']:4.1f} "
            f"+ publish {t['publish_s']:4.1f}")


def by_kind(server: StaticServer) -> dict:
    """The requests answered since the last reset, by kind."""
    conditional = server.requests["conditional"]
    return {"GET 200": server.requests["unconditional"], "conditional 304": server.statuses[304],
            "conditional 200": conditional - server.statuses[304],
            "in flight conditional": server.most_in_flight["conditional"],
            "in flight downloads": server.most_in_flight["unconditional"]}


def requests_text(server: StaticServer) -> str:
    k = by_kind(server)
    return (f"requests: {k['GET 200']} GET 200, {k['conditional 304']} conditional 304, "
            f"{k['conditional 200']} conditional 200; most in flight: "
            f"{k['in flight conditional']} conditional, {k['in flight downloads']} downloads")


def serve(root: str, cache_control: str, delay: float) -> StaticServer:
    return StaticServer(root, delay=delay, cache_control=cache_control).start()


def run_behaviour(name: str, args, work: str) -> dict:
    """Season 1, season 2 with its store, and season 2's new + changed images alone."""
    root = os.path.join(work, f"site-{name}")
    shutil.rmtree(root, ignore_errors=True)
    plan = build_site(root, args.records)
    server = serve(root, BEHAVIOURS[name], args.delay)
    prefix = server.base_url
    folder = os.path.join(work, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    try:
        cat1 = write_catalog(os.path.join(folder, "season1.jsonl"), prefix, range(plan["n"]))
        season2 = sorted(plan["unchanged"] + plan["changed"] + plan["new"])
        cat2 = write_catalog(os.path.join(folder, "season2.jsonl"), prefix, season2)
        alone = write_catalog(os.path.join(folder, "alone.jsonl"), prefix,
                              sorted(plan["changed"] + plan["new"]))
        s1 = os.path.join(folder, "season1")
        server.reset_counts()
        first = preprocess(cat1, s1, args.size, os.path.join(folder, "season1.log"))
        print(f"[{name}] season 1 ({plan['n']} records): {breakdown(first)}")
        for i in plan["changed"]:  # new bytes behind the same URL
            make_image(os.path.join(root, f"{i:06d}.jpg"), 10**6 + i)
        for i in plan["new"]:
            make_image(os.path.join(root, f"{i:06d}.jpg"), i)
        results = {"season1": first["wall"]}
        for label, catalog, extra in (("season 2", cat2, ("--previous", s1)),
                                      ("new + changed alone", alone, ())):
            server.reset_counts()
            out = os.path.join(folder, label.replace(" ", "-").replace("+", "and"))
            r = preprocess(catalog, out, args.size, os.path.join(folder, f"{label}.log"), *extra)
            c = r["manifest"]["counts"]
            print(f"[{name}] {label:<20}: {breakdown(r)}; written {c['written']} = reused "
                  f"{c['reused']} + fetched {c['fetched']}; {requests_text(server)}")
            results[label] = r["wall"]
            results[label + " requests"] = by_kind(server)
            shutil.rmtree(out, ignore_errors=True)
        return results
    finally:
        server.stop()


def run_kill(args, work: str) -> dict:
    """Season 1 from scratch, killed at half of the answers, then rerun."""
    root = os.path.join(work, "site-kill")
    shutil.rmtree(root, ignore_errors=True)
    plan = build_site(root, args.records)
    server = serve(root, BEHAVIOURS["immutable"], args.delay)
    prefix = server.base_url
    folder = os.path.join(work, "kill")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    try:
        catalog = write_catalog(os.path.join(folder, "catalog.jsonl"), prefix, range(plan["n"]))
        reference = os.path.join(folder, "reference")
        server.reset_counts()
        full = preprocess(catalog, reference, args.size, os.path.join(folder, "full.log"))
        server.reset_counts()
        out = os.path.join(folder, "store")
        killed = preprocess(catalog, out, args.size, os.path.join(folder, "killed.log"),
                            kill_after=(server, plan["n"] // 2))
        before = sum(server.requests.values())
        rerun = preprocess(catalog, out, args.size, os.path.join(folder, "rerun.log"))
        total = sum(server.requests.values())
        same = digest(out) == digest(reference)
        resumed = [line for line in open(os.path.join(folder, "rerun.log"))
                   if "resuming" in line]
        print(f"[kill] full run {breakdown(full)}")
        print(f"[kill] killed after {killed['wall']:.1f}s with {before} answers; rerun "
              f"{breakdown(rerun)}; {resumed[0].strip() if resumed else 'did not resume'}")
        print(f"[kill] requests in all {total} / {plan['n']} records = {total / plan['n']:.2f}x "
              f"(target <= 1.1x); rerun / full run {rerun['wall'] / full['wall']:.2f}x (target "
              f"<= 0.6x); same pixels and metadata as the uninterrupted run: {same}")
        return {"requests": total / plan["n"], "rerun": rerun["wall"] / full["wall"],
                "same": same}
    finally:
        server.stop()


def digest(store: str) -> str:
    """sha256 of store.h5's datasets but `date` (the server's Date: when it answered)."""
    import h5py
    h = hashlib.sha256()
    with h5py.File(os.path.join(store, "store.h5")) as f:
        for name in sorted(f):
            if name == "date":
                continue
            column = f[name]
            data = (column[:].tobytes() if column.dtype.kind != "O"
                    else "\n".join(column.asstr()[:]).encode())
            h.update(name.encode() + data)
    return h.hexdigest()


def run_fixed_cost(args, work: str) -> None:
    """A 1-record and a 1,000-record job over local files: where the time goes."""
    folder = os.path.join(work, "fixed")
    os.makedirs(folder, exist_ok=True)
    images = os.path.join(folder, "images")
    os.makedirs(images, exist_ok=True)
    for i in range(1000):
        path = os.path.join(images, f"{i:06d}.jpg")
        if not os.path.exists(path):
            make_image(path, i)
    for n in (1, 1000):
        catalog = write_catalog(os.path.join(folder, f"{n}.jsonl"), images + "/", range(n))
        out = os.path.join(folder, f"store-{n}")
        r = preprocess(catalog, out, args.size, os.path.join(folder, f"{n}.log"), "--overwrite")
        print(f"[fixed cost] {n:>5} records: {breakdown(r)}")
        shutil.rmtree(out, ignore_errors=True)


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
    parser.add_argument("--records", type=int, default=5000, help="season 1's records")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds per HTTP answer")
    parser.add_argument("--behaviours", default=",".join(BEHAVIOURS))
    parser.add_argument("--work", default=os.path.join(OUT, "seasons"))
    parser.add_argument("--skip-jobs", action="store_true")
    parser.add_argument("--skip-kill", action="store_true")
    parser.add_argument("--skip-fixed", action="store_true")
    parser.add_argument("--skip-lookup", action="store_true", help="no lookup memory runs")
    parser.add_argument("--lookup-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.lookup_child:
        lookup_memory(args.lookup_child[0], int(args.lookup_child[1]))
        return
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    print(f"{args.records} records in season 1; season 2: 60% unchanged, 10% changed, 30% new; "
          f"{args.size} px, {os.cpu_count()} cores, {args.delay * 1000:.0f} ms per answer, "
          f"load average {os.getloadavg()[0]:.1f}")
    if not args.skip_jobs:
        results = {b: run_behaviour(b, args, work) for b in args.behaviours.split(",")}
        print("\nT(season 2 with season 1's store) / T(its new and changed images alone), "
              "same run:")
        print(f"  {'behaviour':<11} {'ratio':>6} {'target':>7}  requests (season 2)")
        for b, r in results.items():
            ratio = r["season 2"] / r["new + changed alone"]
            target = f"<= {TARGETS[b]}" if b in TARGETS else "-"
            k = r["season 2 requests"]
            print(f"  {b:<11} {ratio:6.2f} {target:>7}  {k['GET 200']} GET, "
                  f"{k['conditional 304']} x 304, {k['conditional 200']} conditional 200; in "
                  f"flight at most {k['in flight conditional']} conditional / "
                  f"{k['in flight downloads']} downloads")
    if not args.skip_kill:
        run_kill(args, work)
    if not args.skip_fixed:
        run_fixed_cost(args, work)
    if not args.skip_lookup:
        measure_lookup(work, args.records)


if __name__ == "__main__":
    main()
