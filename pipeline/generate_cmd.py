"""`streamgan generate`: new images from a trained generator, as a grid and/or single PNGs.

examples:
  # a grid of 64 images from the run's latest generator
  streamgan generate --workdir runs/exp1 --num 64 --out samples.png

  # the same images every time, also saved one PNG each (0000.png, 0001.png, ...)
  streamgan generate --workdir runs/exp1 --num 16 --seed 7 --out grid.png --out-dir samples/

  # any exported generator, 8 images per row
  streamgan generate --model runs/exp1/generator.keras --num 32 --cols 8 --out grid.png

  # a conditional run (streamgan train --condition descriptions): what you ask for,
  # one row of 8 per prompt
  streamgan generate --workdir runs/c1 --prompt "red dress" --prompt "shoes" --num 8 --out grid.png

  # each image the discriminator's favourite of 4 candidates (drops the generator's misses)
  streamgan generate --workdir runs/c1 --prompt "shoes" --num 8 --select 4 --out shoes.png

  # less variety, more typical images: noise truncated at +-0.5 (BigGAN's truncation trick)
  streamgan generate --workdir runs/c1 --prompt "shoes" --num 8 --truncation 0.5 --out shoes.png
"""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate", help="sample images from a trained generator",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--workdir", help="training run directory (uses its generator.keras)")
    source.add_argument("--model", help="path of an exported generator (.keras)")
    parser.add_argument("--num", type=int, default=64, help="images to generate (default 64)")
    parser.add_argument("--out", help="grid PNG to write (default samples.png without --out-dir)")
    parser.add_argument("--out-dir", help="directory for one PNG per image")
    parser.add_argument("--cols", type=int, help="images per grid row (default: near-square)")
    parser.add_argument("--seed", type=int, help="noise seed: same seed, same images")
    parser.add_argument("--prompt", action="append", dest="prompts", metavar="TEXT",
                        help="what to generate, for a conditional run (repeat it: one grid row "
                             "per prompt, --num images each)")
    parser.add_argument("--select", type=int, default=1, metavar="K",
                        help="draw K candidates per image and keep those the run's "
                             "discriminator scores as most real (for a prompt: most like it); "
                             "default 1, no selection")
    parser.add_argument("--truncation", type=float, metavar="T",
                        help="draw the noise from a normal truncated at +-T: smaller T, images "
                             "nearer the generator's typical one for the prompt, less variety "
                             "(default: not truncated)")
    parser.set_defaults(func=main)


def log_folder(args: argparse.Namespace) -> str:
    """The run's workdir; with --model alone, the folder the grid (or the PNGs) go into."""
    import os
    if args.workdir:
        return args.workdir
    return os.path.dirname(os.path.abspath(args.out)) if args.out else (args.out_dir or ".")


def main(args: argparse.Namespace, extra: list[str]) -> int:
    from streamgan.train.generate import generate

    out = args.out or (None if args.out_dir else "samples.png")
    result = generate(args.workdir, num=args.num, out=out, out_dir=args.out_dir,
                      seed=args.seed, cols=args.cols, model=args.model, prompts=args.prompts,
                      select=args.select, truncation=args.truncation)
    print(f"streamgan generate: {result['num']} images from {result['generator']}"
          + (f" (seed {result['seed']})" if result["seed"] is not None else "")
          + (f", each the discriminator's pick of {args.select}" if args.select > 1 else "")
          + (f", noise truncated at +-{args.truncation:g}" if args.truncation else ""))
    if result["prompts"]:
        print(f"  prompts {', '.join(repr(p) for p in result['prompts'][:8])}"
              + (" (one row each)" if args.prompts else " (the run's frequent conditions, a row each)"))
    if result["grid"]:
        print(f"  grid   {result['grid']}")
    if result["files"]:
        print(f"  images {args.out_dir}/ ({len(result['files'])} PNGs)")
    return 0
