"""`streamgan run`: one command from catalogue to generated images.

Preprocesses the catalogue into a store, trains the GAN on it, and writes a sample grid. Rerun
it and it picks up where it stopped: a store whose catalogue (by sha256) and preprocessing
options are unchanged is reused, and training resumes from its last checkpoint. A different
catalogue, or different options, gets a new store and a new training run beside the old ones.

examples:
  streamgan run --catalog catalog.json --workdir work/
  streamgan run --catalog catalog.json --workdir work/ --image-size 64 --epochs 30 --batch-size 64
  streamgan run --catalog new-season.json --workdir work/   # new store, new run, old ones kept

workdir layout:
  work/store-<key>/  the store of one catalogue + options (work/store points to the latest)
  work/train-<key>/  the training run on it: checkpoints, samples/, logs/, generator.keras
  work/samples.png   the latest generated grid
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os

# Preprocessing options that change what a store holds; the rest (timeouts, threads) do not.
STORE_OPTIONS = ("image_size", "fit", "background", "max_records", "max_pixels", "max_bytes",
                 "vocab_top_k", "vocab_min_frequency", "compression")


def register(subparsers) -> None:
    from preprocess.config import PreprocessConfig, parse_colour
    parser = subparsers.add_parser(
        "run", help="catalogue -> store -> trained GAN -> sample grid, resumable",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser, PreprocessConfig, parse_colour)
    parser.set_defaults(func=main, pass_through=True)


def add_run_arguments(parser: argparse.ArgumentParser, defaults, parse_colour) -> None:
    parser.add_argument("--catalog", required=True, help="catalogue JSON array or JSON Lines")
    parser.add_argument("--workdir", required=True, help="folder for stores, runs and samples")
    group = parser.add_argument_group("preprocessing")
    group.add_argument("--image-size", type=int, default=64, help="32, 64 or 128 (default 64)")
    group.add_argument("--fit", choices=("pad", "crop"), default=defaults.fit)
    group.add_argument("--background", type=parse_colour, default=defaults.background)
    group.add_argument("--max-records", type=int, default=None)
    group.add_argument("--timeout", type=float, default=defaults.timeout)
    group.add_argument("--retries", type=int, default=defaults.retries)
    group = parser.add_argument_group("training")
    group.add_argument("--epochs", type=int, default=30)
    group.add_argument("--batch-size", type=int, default=64)
    group.add_argument("--latent-dim", type=int, default=100)
    group.add_argument("--base-filters", type=int, default=64)
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--num-samples", type=int, default=64, help="images in the sample grids")


def store_key(catalog_sha256: str, cfg) -> str:
    """Names a store by what determines its content: the catalogue bytes and STORE_OPTIONS."""
    options = {name: getattr(cfg, name) for name in STORE_OPTIONS}
    text = json.dumps({"catalog": catalog_sha256, "options": options}, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def reusable(store_dir: str, catalog_sha256: str, cfg) -> bool:
    from preprocess.store_format import StoreError, open_store
    try:
        manifest = open_store(store_dir).manifest
    except StoreError:
        return False
    options = manifest.get("options", {})
    same = all(json.dumps(options.get(n), default=list) == json.dumps(getattr(cfg, n), default=list)
               for n in STORE_OPTIONS)
    return manifest["catalog"]["sha256"] == catalog_sha256 and same


def point_latest(link: str, target: str) -> None:
    """work/store -> the store this run used (a relative symlink, replaced atomically)."""
    tmp = f"{link}.tmp-{os.getpid()}"
    os.symlink(os.path.basename(target), tmp)
    os.replace(tmp, link)


def run_all(args: argparse.Namespace, beam_args: list[str]) -> dict:
    """preprocess (or reuse) -> train (or resume) -> sample grid; returns where things are."""
    from preprocess.catalog import file_sha256
    from preprocess.config import PreprocessConfig
    from preprocess.pipeline import run_job
    from train.config import TrainConfig
    from train.generate import generate
    from train.loop import train

    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    catalog_sha = file_sha256(args.catalog)
    pre = PreprocessConfig(
        catalog=args.catalog, output="", image_size=args.image_size, fit=args.fit,
        background=tuple(args.background), max_records=args.max_records, timeout=args.timeout,
        retries=args.retries)
    key = store_key(catalog_sha, pre)
    store = os.path.join(workdir, f"store-{key}")
    if reusable(store, catalog_sha, pre):
        print(f"[1/3] reusing store {store}: catalogue sha256 {catalog_sha[:12]} and "
              "preprocessing options unchanged")
    else:
        print(f"[1/3] preprocessing {args.catalog} (sha256 {catalog_sha[:12]}) into {store}")
        import dataclasses
        run_job(dataclasses.replace(pre, output=store, overwrite=True).validate(), beam_args)
    point_latest(os.path.join(workdir, "store"), store)

    run_dir = os.path.join(workdir, f"train-{key}")
    resume = os.path.exists(os.path.join(run_dir, "config.json"))
    print(f"[2/3] {'resuming' if resume else 'training'} in {run_dir}")
    config = TrainConfig(store=store, workdir=run_dir, epochs=args.epochs,
                         batch_size=args.batch_size, latent_dim=args.latent_dim,
                         base_filters=args.base_filters, seed=args.seed,
                         num_samples=args.num_samples, resume=resume).validate()
    summary = train(config)
    point_latest(os.path.join(workdir, "train"), run_dir)

    samples = os.path.join(workdir, "samples.png")
    print(f"[3/3] generating {args.num_samples} images")
    generate(run_dir, num=args.num_samples, out=samples, seed=args.seed)
    return {"store": store, "run": run_dir, "samples": samples, "train": summary}


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    result = run_all(args, beam_args)
    print(f"\nstore:        {result['store']}  (streamgan inspect {result['store']})")
    print(f"training run: {result['run']}  (samples/ per epoch, generator.keras)")
    print(f"TensorBoard:  tensorboard --logdir {os.path.join(result['run'], 'logs')}")
    print(f"samples:      {result['samples']}")
    return 0
