"""Benchmark: the whole `streamgan preprocess` job vs gapcv's ingestion vs a naive Pillow loop.

    python -m bench.preprocess                       # >= 30,000 images, about 5-10 minutes
    python -m bench.preprocess --images 6000 --skip-memory
    python -m bench.preprocess --build-only          # only make (and cache) the file set
    python -m bench.preprocess --simulate 300000     # a 300,000-record catalogue of small
                                                     # generated images: time and peak memory

Builds (once, cached in bench/out/) a catalogue of distinct images: variants of the shared
clothing photos, each shifted and re-encoded so content deduplication keeps them all. Then, in
one run on the same files, it times

  naive   - a Pillow loop: open, convert RGB, resize to 64x64 (one core)
  draft   - the decode limit of this machine: Pillow's draft-mode JPEG decode (what the job
            does for small targets) + resize, on every core, nothing else
  gapcv   - gapcv 1.0.0 ingesting the image folders into its HDF5 store (its own process)
  streamgan - the whole `streamgan preprocess` command: start-up, validation, Beam pipeline,
              TFT analysis, publishing (its own process, DirectRunner on all cores)

and prints rates and ratios against those anchors, plus the peak memory (summed over the job's
process tree) at 1x and 10x the catalogue size. Nothing here asserts: it reports.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from PIL import Image

from bench.data import CLOTHING, OUT
from streamgan.store.contract import Manifest


def _variant(args) -> int:
    src, out_dir, copies = args
    made = 0
    base = Image.open(src).convert("RGB")
    w, h = base.size
    stem = os.path.splitext(os.path.basename(src))[0]
    for k in range(copies):
        path = os.path.join(out_dir, f"{stem}_v{k}.jpg")
        if os.path.exists(path):
            continue
        dx, dy = (k % 3) * 2, (k // 3) * 2
        img = base.crop((dx, dy, w - 6 + dx, h - 6 + dy))
        img.save(path, "JPEG", quality=88 + k % 5)
        made += 1
    return made


def build_variants(source: str, out: str, n_images: int) -> list[dict]:
    """n_images distinct JPEGs derived from the shared photos, in class folders; the catalogue."""
    photos = sorted(glob.glob(os.path.join(source, "*", "*", "*.jpg")))
    if not photos:
        sys.exit(f"no photos under {source}: the shared clothing-small data set is needed")
    copies = -(-n_images // len(photos))
    jobs = []
    for path in photos:
        category = os.path.basename(os.path.dirname(path))
        os.makedirs(os.path.join(out, category), exist_ok=True)
        jobs.append((path, os.path.join(out, category), copies))
    started = time.time()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        made = sum(pool.map(_variant, jobs, chunksize=32))
    if made:
        print(f"made {made} variant images in {time.time() - started:.0f}s")
    # Every variant, so the catalogue and gapcv's folders hold exactly the same files.
    files = sorted(glob.glob(os.path.join(out, "*", "*.jpg")))
    return [{"url": os.path.relpath(f, out), "description": os.path.basename(os.path.dirname(f))}
            for f in files]


def naive_loop(files: list[str], size: int) -> float:
    started = time.time()
    for path in files:
        np.asarray(Image.open(path).convert("RGB").resize((size, size)))
    return len(files) / (time.time() - started)


def _draft_decode(args) -> int:
    paths, size = args
    for path in paths:
        with Image.open(path) as img:
            img.draft("RGB", (size, size))
            np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR))
    return len(paths)


def draft_limit(files: list[str], size: int) -> float:
    """Images/s of draft-mode decode + resize on all cores: the ceiling for any decoder here."""
    cores = os.cpu_count() or 1
    chunks = [(files[i:i + 200], size) for i in range(0, len(files), 200)]
    with ProcessPoolExecutor(cores) as pool:
        list(pool.map(_draft_decode, chunks[:cores]))  # start the workers, warm the page cache
        started = time.time()
        done = sum(pool.map(_draft_decode, chunks))
    return done / (time.time() - started)


def _tiny(args) -> None:
    start, stop, out = args
    rng = np.random.default_rng(start)
    for i in range(start, stop):
        path = os.path.join(out, f"{i // 10000:03d}", f"{i}.jpg")
        if not os.path.exists(path):
            arr = np.full((48, 36, 3), (i * 37 % 256, i * 91 % 256, i * 53 % 256), np.uint8)
            arr[:4, :4] = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)  # distinct bytes
            Image.fromarray(arr).save(path, "JPEG", quality=90)


def build_simulated(out: str, n: int) -> str:
    """A catalogue of n small distinct JPEGs (48x36, generated, local files); its path."""
    for folder in range(-(-n // 10000)):
        os.makedirs(os.path.join(out, f"{folder:03d}"), exist_ok=True)
    started = time.time()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_tiny, [(i, min(i + 5000, n), out) for i in range(0, n, 5000)]))
    catalog = os.path.join(out, f"catalog-{n}.jsonl")
    with open(catalog, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"url": f"{i // 10000:03d}/{i}.jpg",
                                 "description": f"garment {i % 997}"}) + "\n")
    print(f"simulated catalogue: {n} records ({time.time() - started:.0f}s to make)")
    return catalog


def report_job(label: str, seconds: float, peak: int, store: str) -> Manifest:
    manifest = Manifest.read(store)
    t, c = manifest.timings, manifest.counts
    print(f"{label}: {seconds:.1f}s, {c.records / seconds:.0f} records/s, peak memory "
          f"{peak / 2**20:.0f} MiB (written {c.written}, rejected {c.rejected}, "
          f"duplicates {c.duplicates})")
    print(f"  where the time goes: start-up {seconds - t.total_s:.1f}s, validate "
          f"{t.validate_s:.1f}s, Beam pipeline (fetch+decode+shards) {t.pipeline_s:.1f}s, "
          f"content dedup {t.dedup_s:.1f}s, TFT analysis {t.analyse_s:.1f}s, "
          f"publish {t.publish_s:.1f}s")
    return manifest


class TreeRss:
    """Peak resident memory of a process and all its descendants, sampled from /proc."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _children() -> dict[int, list[int]]:
        tree: dict[int, list[int]] = {}
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(stat) as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                tree.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
            except (OSError, IndexError, ValueError):
                pass
        return tree

    def _rss(self) -> int:
        tree, total, todo = self._children(), 0, [self.pid]
        while todo:
            pid = todo.pop()
            todo += tree.get(pid, [])
            try:
                with open(f"/proc/{pid}/statm") as fh:
                    total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, IndexError, ValueError):
                pass
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def timed(cmd: list[str], log: str) -> tuple[float, int]:
    """Wall seconds and peak tree RSS (bytes) of a command; its output goes to log."""
    started = time.time()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        rss = TreeRss(proc.pid)
        code = proc.wait()
    peak = rss.stop()
    if code:
        sys.exit(f"{' '.join(cmd[:3])} ... failed ({code}); see {log}")
    return time.time() - started, peak


GAPCV_SCRIPT = """
import sys, time
from gapcv.vision import Images
started = time.time()
images = Images('bench', sys.argv[1], _dir=sys.argv[2],
                config=['resize=({0},{0})'.format(sys.argv[3]), 'store', 'uint8'])
print('gapcv images', len(images), 'errors', images.fail, 'seconds', time.time() - started)
"""


def streamgan_cmd(catalog: str, output: str, size: int) -> list[str]:
    return [sys.executable, "-m", "streamgan.pipeline", "preprocess", "--catalog", catalog, "--output",
            output, "--image-size", str(size), "--overwrite"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=30000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--source", default=CLOTHING)
    parser.add_argument("--work", default=os.path.join(OUT, "preprocess"))
    parser.add_argument("--skip-gapcv", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--build-only", action="store_true", help="make the file set and exit")
    parser.add_argument("--simulate", type=int, metavar="N",
                        help="only run the job on a catalogue of N small generated images")
    args = parser.parse_args()

    args.work = os.path.abspath(args.work)
    if args.simulate:
        catalog = build_simulated(os.path.join(args.work, "simulated"), args.simulate)
        store = os.path.join(args.work, "store-simulated")
        seconds, peak = timed(streamgan_cmd(catalog, store, args.size),
                              os.path.join(args.work, "streamgan-simulated.log"))
        report_job(f"streamgan, {args.simulate} simulated records", seconds, peak, store)
        shutil.rmtree(store, ignore_errors=True)
        return
    variants = os.path.join(args.work, "variants")
    records = build_variants(os.path.abspath(args.source), variants, args.images)
    catalog = os.path.join(variants, "catalog.json")
    with open(catalog, "w") as fh:
        json.dump(records, fh)
    small = os.path.join(variants, "catalog-tenth.json")
    with open(small, "w") as fh:
        json.dump(records[::10], fh)
    files = [os.path.join(variants, r["url"]) for r in records]
    n = len(files)
    print(f"catalogue: {n} distinct images ({args.size}px), {os.cpu_count()} cores")
    if args.build_only:
        return

    naive = naive_loop(files[:2000], args.size)
    print(f"naive Pillow loop: {naive:.0f} images/s (one core)")
    draft = draft_limit(files[:6000], args.size)
    print(f"draft-mode decode limit: {draft:.0f} images/s ({os.cpu_count()} cores)")

    results = {}
    if not args.skip_gapcv:
        gapcv_dir = os.path.join(args.work, "gapcv")
        shutil.rmtree(gapcv_dir, ignore_errors=True)
        os.makedirs(gapcv_dir)
        folder = os.path.join(args.work, "gapcv-input")
        if not os.path.isdir(folder):  # gapcv wants only class folders of images
            os.makedirs(folder)
            for category in os.listdir(variants):
                if os.path.isdir(os.path.join(variants, category)):
                    os.symlink(os.path.join(variants, category), os.path.join(folder, category))
        # gapcv changes directory while it works: give it absolute paths.
        seconds, _ = timed([sys.executable, "-c", GAPCV_SCRIPT, os.path.abspath(folder),
                            os.path.abspath(gapcv_dir) + "/", str(args.size)],
                           os.path.join(args.work, "gapcv.log"))
        results["gapcv"] = n / seconds
        print(f"gapcv ingestion: {seconds:.1f}s, {results['gapcv']:.0f} images/s")

    store = os.path.join(args.work, "store")
    seconds, peak10 = timed(streamgan_cmd(catalog, store, args.size),
                            os.path.join(args.work, "streamgan.log"))
    results["streamgan"] = n / seconds
    report_job("streamgan whole job", seconds, peak10, store)

    print("\nratios (same run, same files):")
    print(f"  streamgan / naive Pillow (1 core) = {results['streamgan'] / naive:.2f}x")
    print(f"  streamgan / draft-decode limit    = {results['streamgan'] / draft:.2f}x"
          "   (moonshot 0.6x)")
    if "gapcv" in results:
        print(f"  streamgan / gapcv ingestion       = {results['streamgan'] / results['gapcv']:.2f}x"
              "   (target >= 2.5x)")
    if not args.skip_memory:
        _, peak1 = timed(streamgan_cmd(small, store + "-tenth", args.size),
                         os.path.join(args.work, "streamgan-tenth.log"))
        print(f"  peak memory of the job (process tree): {peak1 / 2**20:.0f} MiB at {n // 10} "
              f"records, {peak10 / 2**20:.0f} MiB at {n}: ratio {peak10 / peak1:.2f} for 10x records")


if __name__ == "__main__":
    main()
