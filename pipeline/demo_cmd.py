"""`streamgan demo`: the whole pipeline on a catalogue it makes itself, in a few minutes on a CPU.

It draws a few hundred clothing-like images (garment silhouettes in several shapes, colours and
patterns, with descriptions), serves them from an HTTP server on 127.0.0.1 so that the real
fetch path runs, adds two broken records (a missing image and a repeated one) to show the error
report, and then does what `streamgan run` does: preprocess, train, generate. No network and
no files from outside the project are needed.

examples:
  streamgan demo                                   # into ./streamgan-demo
  streamgan demo --workdir /tmp/demo --epochs 120  # train longer
  streamgan demo --images 40 --epochs 1            # a smoke test in well under a minute
"""
from __future__ import annotations

import argparse
import json
import os


def _at_least(minimum: int):
    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"{text!r}: give a whole number >= {minimum}")
        return int(text)
    return parse


def register(subparsers) -> None:
    from streamgan.store.contract import parse_image_size
    parser = subparsers.add_parser(
        "demo", help="the whole pipeline on synthetic clothing served from 127.0.0.1",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="streamgan-demo", help="default ./%(default)s")
    parser.add_argument("--images", type=_at_least(2), default=640,
                        help="catalogue size (default %(default)s)")
    parser.add_argument("--image-size", type=parse_image_size, default=32,
                        help="default %(default)s")
    parser.add_argument("--epochs", type=_at_least(1), default=60,
                        help="default %(default)s (about 1,200 steps: recognisable garments)")
    parser.add_argument("--batch-size", type=_at_least(2), default=32, help="default %(default)s")
    parser.add_argument("--seed", type=int, default=0, help="default %(default)s")
    parser.set_defaults(func=main, pass_through=True)


def log_folder(args: argparse.Namespace) -> str:
    return args.workdir


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from streamgan.pipeline import run_cmd
    from streamgan.pipeline.serve import StaticServer
    from streamgan.pipeline.synthetic import make_catalog
    from streamgan.preprocess.config import PreprocessConfig
    from streamgan.train.config import TrainConfig

    workdir = os.path.abspath(args.workdir)
    site = os.path.join(workdir, "site")
    os.makedirs(site, exist_ok=True)
    with StaticServer(site) as server:
        print(f"demo: drawing {args.images} synthetic garments, served at {server.base_url}")
        catalog = make_catalog(site, args.images, seed=args.seed,
                               url_prefix=server.base_url.rstrip("/") + "/")
        with open(catalog) as fh:
            records = json.load(fh)
        records.append({"url": server.url_for("images/lost-in-the-warehouse.jpg"),
                        "description": "a record whose image is missing (404)"})
        records.append(dict(records[0], description="the first garment, listed twice"))
        with open(catalog, "w") as fh:
            json.dump(records, fh, indent=1)
        pre = PreprocessConfig(catalog=catalog, output="", image_size=args.image_size,
                               timeout=10.0, retries=2)
        # KID evaluation costs more than the demo's whole training on a CPU: off here
        config = TrainConfig(store="", workdir="", epochs=args.epochs,
                             batch_size=args.batch_size, seed=args.seed, eval_every=0)
        result = run_cmd.run_all(workdir, pre, config, beam_args)
    print(f"\ndemo finished in {workdir}")
    print(f"  catalogue:    {catalog}")
    print(f"  store:        {result['store']}  (try: streamgan inspect {result['store']} --sheet sheet.png)")
    print(f"  sample grids: {result['train']['samples']}/ (one per epoch)")
    print(f"  TensorBoard:  tensorboard --logdir {result['tensorboard']}")
    print(f"  generated:    {result['samples']}")
    if result["train"].get("report"):
        print(f"  report:       {result['train']['report']}  (open it in a browser)")
    return 0
