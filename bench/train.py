"""Benchmark: the streaming HDF5 input pipeline vs in-memory tf.data vs gapcv, in one run.

    python -m bench.train                                  # defaults: about 6-9 minutes
    python -m bench.train --images 4096 --train-steps 10 --rss-factor 4   # quicker

Builds (cached in bench/out/train/) stores of 64 px random-texture images with the real
StoreWriter, taking the TFT graph of a small store the real job made (synthetic garments from
pipeline/synthetic.py served from 127.0.0.1), then measures, on the same images:

  input pipeline   images/s of train.data.stream_dataset (HDF5 -> shuffled float batches) vs
                   the same stages fed from memory (from_tensor_slices, same shuffle buffer,
                   same TFT transform) vs gapcv 1.0.0's HDF5 stream feeder (`minibatch`)
  training         images/s of the DCGAN (paper layout, base 64, batch 64) fed by the stream
                   vs fed from memory; rounds alternate so background load hits both alike
  anchors          the keras.io DCGAN example's 64 px architecture, in memory
  peak memory      ru_maxrss of a fresh process that streams (and one that trains) one full
                   epoch of the 1x store vs a store rss-factor times larger; the in-memory
                   pipeline at both sizes for contrast

Targets (reported, not asserted): training stream/memory >= 0.97, pipeline stream/memory
>= 0.8, stream/gapcv >= 8, peak RSS 10x/1x <= 1.1.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from bench.data import OUT
from streamgan.store import contract as store_format

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where `-m bench.X` runs
TEMPLATE_IMAGES = 24

# ----------------------------------------------------------------------------- stores

def template_store(folder: str, size: int) -> str:
    """A small store made by the real job from synthetic garments (pipeline/synthetic.py)
    served from 127.0.0.1 (pipeline/serve.py): the TFT graph and image section the benchmark's
    stores take (cached)."""
    from streamgan.pipeline.preprocess_cmd import run
    from streamgan.pipeline.serve import StaticServer
    from streamgan.pipeline.synthetic import make_catalog
    store = os.path.join(folder, f"template-{size}px")
    try:
        store_format.open_store(store)
        return store
    except store_format.StoreError:
        pass
    site = os.path.join(folder, "template-site")
    os.makedirs(site, exist_ok=True)
    with StaticServer(site) as server:
        catalog = make_catalog(site, TEMPLATE_IMAGES, url_prefix=server.base_url)
        run(["--catalog", catalog, "--output", store, "--image-size", str(size), "--overwrite"])
    return store


def build_store(path: str, num_images: int, size: int, template: str | None) -> str:
    """A store of num_images random-texture images (cached: reused when it already exists),
    with the TFT graph and image section of `template`, a store of the same size (default:
    template_store's)."""
    if os.path.exists(os.path.join(path, store_format.MANIFEST_FILE)):
        info = store_format.open_store(path)
        if info.num_images == num_images and info.image_size == size:
            return path
    template = template or template_store(os.path.dirname(os.path.abspath(path)), size)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    rng = np.random.default_rng(num_images)
    block = 4096
    with store_format.StoreWriter(os.path.join(path, store_format.STORE_FILE), num_images,
                                  size) as writer:
        for start in range(0, num_images, block):
            stop = min(num_images, start + block)
            images = rng.integers(0, 256, (stop - start, size, size, 3), dtype=np.uint8)
            rows = [{store_format.INDEX: i, store_format.URL: "", store_format.DESCRIPTION: "",
                     store_format.DESCRIPTIONS: "[]", store_format.SHA256: "",
                     store_format.SPLIT: "", store_format.EXTRA: "{}"}
                    for i in range(start, stop)]
            writer.write(start, images, rows)
    store_format.copy_transform(template, path)
    store_format.Manifest(
        catalog=store_format.CatalogSection(path="random textures", records=num_images),
        counts=store_format.Counts(records=num_images, written=num_images, rejected=0,
                                   duplicates=0, fetched=num_images),
        image=store_format.Manifest.read(template).image,
    ).write(path)
    open(os.path.join(path, store_format.ERRORS_FILE), "w").close()
    return path


def load_all(store_dir: str) -> np.ndarray:
    from streamgan.train.data import StoreReader
    reader = StoreReader.from_info(store_format.open_store(store_dir))
    images = reader.read(0, reader.num_images)
    reader.close()
    return images


# ----------------------------------------------------------------------------- pipelines

def stream_pipeline(store_dir: str, batch_size: int, seed: int = 0, transform: bool = True):
    """The trainer's input pipeline; transform=False stops at batches of raw image bytes."""
    from streamgan.train.data import StoreReader, load_transform, stream_dataset
    info = store_format.open_store(store_dir)
    reader = StoreReader.from_info(info)
    fn = load_transform(store_dir) if transform else None
    return stream_dataset(reader, fn, batch_size, seed=seed), reader


def memory_pipeline(images: np.ndarray, store_dir: str, batch_size: int, seed: int = 0,
                    transform: bool = True):
    """What one writes when the data fits in RAM: the same bytes, mixing and transform."""
    import tensorflow as tf

    from streamgan.train.data import StoreReader, load_transform, window_chunks
    raw = np.empty(len(images), dtype=object)
    raw[:] = [image.tobytes() for image in images]
    reader = StoreReader.from_info(store_format.open_store(store_dir))
    buffer = window_chunks(reader) * reader.chunk_rows  # as many images as the stream mixes
    dataset = (tf.data.Dataset.from_tensor_slices(raw)
               .shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
               .batch(batch_size))
    if transform:
        dataset = dataset.map(load_transform(store_dir), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def gapcv_feeder(images: np.ndarray, workdir: str, batch_size: int):
    """gapcv 1.0.0 in stream mode: it ingests the images into its own HDF5 file, then its
    `minibatch` generator reads them back one h5py call per image, normalised to float32."""
    from gapcv.vision import Images
    os.makedirs(workdir, exist_ok=True)
    size = images.shape[1]
    collection = Images("bench", images, labels=np.zeros(len(images), np.uint8),
                        _dir=workdir + "/", config=["stream", "uint8", f"resize=({size},{size})"])
    collection.split = 0.0  # everything is training data
    collection.minibatch = batch_size
    return collection.minibatch


def dataset_rate(dataset, epochs: int) -> float:
    """images/s over `epochs` full passes, the first batch (pipeline start-up) excluded."""
    it = iter(dataset)
    next(it)
    n, start = 0, time.perf_counter()
    for batch in it:
        n += int(batch.shape[0])
    for _ in range(epochs - 1):
        for batch in dataset:
            n += int(batch.shape[0])
    return n / (time.perf_counter() - start)


def generator_rate(feeder, num_images: int) -> float:
    next(feeder)
    n, start = 0, time.perf_counter()
    while n < num_images:
        x, _ = next(feeder)
        n += len(x)
    return n / (time.perf_counter() - start)


# ----------------------------------------------------------------------------- training

def keras_io_gan(latent_dim: int = 128):
    """The keras.io DCGAN example's 64 px nets (Keras 3 revision, CelebA), trained by our GAN
    class; the discriminator ends in a logit instead of a sigmoid (same cost, our loss)."""
    import keras
    from keras import layers

    from streamgan.train.gan import GAN
    discriminator = keras.Sequential([
        keras.Input((64, 64, 3)),
        layers.Conv2D(64, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2D(128, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2D(128, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Flatten(), layers.Dropout(0.2), layers.Dense(1)], name="discriminator")
    generator = keras.Sequential([
        keras.Input((latent_dim,)), layers.Dense(8 * 8 * 128), layers.Reshape((8, 8, 128)),
        layers.Conv2DTranspose(128, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2DTranspose(256, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2DTranspose(512, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
        layers.Conv2D(3, 5, padding="same", activation="sigmoid")], name="generator")
    from streamgan.train.losses import NON_SATURATING
    gan = GAN(generator, discriminator, latent_dim, loss=NON_SATURATING)
    gan.compile(keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4))
    gan.build_optimizers()
    return gan


def bench_config(image_size: int, latent_dim: int, base_filters: int):
    """The TrainConfig of the DCGAN this benchmark times (today's defaults otherwise)."""
    from streamgan.train.config import TrainConfig
    return TrainConfig(store="", workdir="", image_size=image_size, latent_dim=latent_dim,
                       base_filters=base_filters)


def fit_rate(gan, dataset, batch_size: int, steps: int, warmup: int) -> float:
    """Training images/s of plain fit() over `steps` batches after `warmup` batches."""
    import keras

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.marks = []

        def on_train_batch_end(self, batch, logs=None):
            self.marks.append(time.perf_counter())

    timer = Timer()
    batches = dataset.repeat().take(warmup + steps)  # full batches only: the store is larger
    gan.fit(batches, epochs=1, steps_per_epoch=warmup + steps, verbose=0, shuffle=False,
            callbacks=[timer])
    elapsed = timer.marks[-1] - timer.marks[warmup - 1]
    return steps * batch_size / elapsed


# ----------------------------------------------------------------------------- peak memory

def rss_child(kind: str, store_dir: str, batch_size: int, filters: int) -> dict:
    """Run in a fresh process: one full epoch of `kind`, then report this process's peak RSS."""
    from streamgan.train.data import bound_malloc_arenas
    bound_malloc_arenas()  # as train.loop.train() does
    start = time.perf_counter()
    if kind == "pipeline":
        dataset, _ = stream_pipeline(store_dir, batch_size)
        n = sum(int(b.shape[0]) for b in dataset)
    elif kind == "memory":
        dataset = memory_pipeline(load_all(store_dir), store_dir, batch_size)
        n = sum(int(b.shape[0]) for b in dataset)
    elif kind == "train":
        from streamgan.train.gan import build_gan
        dataset, reader = stream_pipeline(store_dir, batch_size)
        gan = build_gan(bench_config(reader.image_size, 32, filters))
        gan.fit(dataset, epochs=1, verbose=0, shuffle=False)
        n = reader.num_images
    else:
        raise ValueError(kind)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"kind": kind, "images": n, "peak_mib": peak_kib / 1024, "vmhwm_mib": _vmhwm_mib(),
            "seconds": time.perf_counter() - start}


def _vmhwm_mib() -> float:
    """This process's own peak resident set (Linux), a cross-check of ru_maxrss."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_child(args, kind: str, store_dir: str, *extra: str) -> dict:
    """Run `kind` in a fresh Python process; its last stdout line is a JSON result.

    Linux carries a process's peak RSS across fork and exec, so a child started by a parent
    that has grown (TensorFlow loaded, images in memory) reports the parent's peak. main()
    therefore starts every measuring child before it imports TensorFlow itself.
    """
    cmd = [sys.executable, "-m", "bench.train", "--child", kind, "--child-store", store_dir,
           "--batch-size", str(args.batch_size), "--rss-filters", str(args.rss_filters),
           "--images", str(args.images), "--size", str(args.size), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=CHECKOUT)
    if proc.returncode:
        sys.exit(f"bench child {kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report

def paired_ratio(runs: dict[str, list[float]], a: str, b: str) -> str:
    """Median of per-round ratios: a and b were measured back to back in each round, so
    background load that comes and goes cancels better than in a ratio of medians."""
    pairs = [x / y for x, y in zip(runs[a], runs[b]) if y]
    return f"{statistics.median(pairs):6.2f}x" if pairs else "   n/a"


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(OUT, "train"),
                        help="where the synthetic stores are cached")
    parser.add_argument("--size", type=int, default=64, help="image size (default 64)")
    parser.add_argument("--images", type=int, default=8192,
                        help="images in the 1x store (default 8192, 96 MiB at 64 px)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--pipeline-epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurement rounds")
    parser.add_argument("--train-steps", type=int, default=16,
                        help="timed fit() steps per round and source (default 16)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--base-filters", type=int, default=64, help="DCGAN width (default 64)")
    parser.add_argument("--keras-io-steps", type=int, default=4,
                        help="timed steps of the keras.io anchor (0 skips it)")
    parser.add_argument("--rss-factor", type=int, default=10, help="size of the big store, x")
    parser.add_argument("--rss-filters", type=int, default=8,
                        help="DCGAN width of the training-RSS runs (they train a full epoch)")
    parser.add_argument("--skip-gapcv", action="store_true")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-store", help=argparse.SUPPRESS)
    parser.add_argument("--child-transform-from", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        if args.child == "build":
            result = {"store": build_store(args.child_store, args.images, args.size,
                                           args.child_transform_from)}
        else:
            result = rss_child(args.child, args.child_store, args.batch_size, args.rss_filters)
        print(json.dumps(result), flush=True)
        # Skip interpreter teardown: with Beam and TF threads still alive it can crash (SIGSEGV)
        # after the work is done, which would read as a failed measurement.
        os._exit(0)

    # Phase 1, before this process loads TensorFlow (see run_child): stores and peak memory.
    t0 = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    small = os.path.join(args.out, f"store-{args.size}px-{args.images}")
    run_child(args, "build", small)
    rss = {}
    if not args.skip_rss:
        big_n = args.images * args.rss_factor
        big = os.path.join(args.out, f"store-{args.size}px-{big_n}")
        run_child(args, "build", big, "--images", str(big_n), "--child-transform-from", small)
        for kind in ("pipeline", "train", "memory"):
            rss[kind] = (run_child(args, kind, small), run_child(args, kind, big))

    # Phase 2: speed, in this process.
    import tensorflow as tf

    from streamgan.train.gan import build_gan

    print(f"bench.train: {args.images} images of {args.size} px, batch {args.batch_size}, "
          f"{os.cpu_count()} CPUs, TF {tf.__version__}; stores in {args.out}")
    print(f"load average at start of the speed runs: {load_average()}")
    images = load_all(small)

    # -- input pipeline only: raw bytes batches, and float batches through the TFT graph
    sources = {
        "stream_raw": stream_pipeline(small, args.batch_size, transform=False)[0],
        "memory_raw": memory_pipeline(images, small, args.batch_size, transform=False),
        "stream": stream_pipeline(small, args.batch_size)[0],
        "memory": memory_pipeline(images, small, args.batch_size),
    }
    rates: dict[str, list[float]] = {name: [] for name in (*sources, "gapcv")}
    gap_dir = tempfile.mkdtemp(prefix="gapcv-", dir=args.out)
    feeder = None if args.skip_gapcv else gapcv_feeder(images, gap_dir, args.batch_size)
    for _ in range(args.rounds):
        for name, dataset in sources.items():
            rates[name].append(dataset_rate(dataset, args.pipeline_epochs))
        if feeder is not None:
            rates["gapcv"].append(generator_rate(feeder, min(len(images), 8192)))
    del feeder
    shutil.rmtree(gap_dir, ignore_errors=True)
    pipe = {k: statistics.median(v) if v else 0.0 for k, v in rates.items()}
    stream, memory = sources["stream"], sources["memory"]

    # -- training, alternating sources so background load hits both alike
    gan = build_gan(bench_config(args.size, 100, args.base_filters))
    params = gan.generator.count_params() + gan.discriminator.count_params()
    train_rates: dict[str, list[float]] = {"stream": [], "memory": []}
    for _ in range(args.rounds):
        for source, dataset in (("stream", stream), ("memory", memory)):
            train_rates[source].append(
                fit_rate(gan, dataset, args.batch_size, args.train_steps, args.warmup))
    fit = {k: statistics.median(v) for k, v in train_rates.items()}
    keras_io = 0.0
    if args.keras_io_steps and args.size == 64:
        keras_io = fit_rate(keras_io_gan(), memory, args.batch_size, args.keras_io_steps, 1)

    print()
    def row(label, key):
        print(f"  {label:<40}{pipe[key]:10.0f}   " + " ".join(f"{r:.0f}" for r in rates[key]))

    print("input pipeline (no model)                     images/s   runs")
    row("stream: HDF5 -> raw bytes batches", "stream_raw")
    row("memory: from_tensor_slices, raw bytes", "memory_raw")
    row("stream + TFT transform -> float32", "stream")
    row("memory + TFT transform -> float32", "memory")
    if rates["gapcv"]:
        row("gapcv 1.0.0 stream minibatch (float32)", "gapcv")
    print("  ratios (median of per-round ratios)")
    print(f"  stream / memory, raw         {paired_ratio(rates, 'stream_raw', 'memory_raw')}"
          "   (target >= 0.8)")
    print(f"  stream / memory, transformed {paired_ratio(rates, 'stream', 'memory')}"
          "   (target >= 0.8)")
    if rates["gapcv"]:
        print(f"  stream / gapcv, raw          {paired_ratio(rates, 'stream_raw', 'gapcv')}"
              "   (target >= 8)")
        print(f"  stream / gapcv, transformed  {paired_ratio(rates, 'stream', 'gapcv')}"
              "   (target >= 8; gapcv also returns normalised float32)")
    print()
    print(f"training, DCGAN {args.size} px base {args.base_filters} ({params:,} params), "
          f"batch {args.batch_size}     images/s   runs")
    print(f"  fed by the HDF5 stream            {fit['stream']:10.1f}   "
          + " ".join(f"{r:.1f}" for r in train_rates["stream"]))
    print(f"  fed from memory                   {fit['memory']:10.1f}   "
          + " ".join(f"{r:.1f}" for r in train_rates["memory"]))
    print(f"  stream / memory  {paired_ratio(train_rates, 'stream', 'memory')}   (target >= 0.97)")
    print("anchors")
    print(f"  DCGAN paper layout, in memory     {fit['memory']:10.1f}   (expected ~50 here)")
    if keras_io:
        print(f"  keras.io DCGAN example, in memory {keras_io:10.1f}   (expected ~8 here)")
    if rss:
        print()
        print(f"peak RSS, fresh process, one epoch   1x ({args.images})  "
              f"{args.rss_factor}x ({args.images * args.rss_factor})   10x/1x")
        labels = {"pipeline": "stream pipeline", "train": f"training (base {args.rss_filters})",
                  "memory": "in-memory pipeline"}
        for kind, (one, many) in rss.items():
            note = "   (target <= 1.1)" if kind != "memory" else "   (for contrast)"
            print(f"  {labels[kind]:<27} {one['peak_mib']:9.0f} MiB {many['peak_mib']:9.0f} MiB"
                  f"   {many['peak_mib'] / one['peak_mib']:5.2f}{note}")
        print("  (ru_maxrss of each child; its own VmHWM agrees: "
              + ", ".join(f"{one['vmhwm_mib']:.0f}/{many['vmhwm_mib']:.0f}"
                          for one, many in rss.values()) + " MiB)")
    print(f"\nload average at the end: {load_average()}; total {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
