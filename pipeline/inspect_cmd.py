"""`streamgan inspect`: what is in a store: counts, image size, statistics, vocabulary, errors.

examples:
  streamgan inspect work/store
  streamgan inspect work/store --json > store.json
  streamgan inspect work/store --sheet contact.png --sheet-count 100
"""
from __future__ import annotations

import argparse
import json

from streamgan.store.summary import render, summarise


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect", help="summarise a store (and draw a contact sheet of its images)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store", help="store directory written by `streamgan preprocess`")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--sheet", metavar="PNG", help="write a contact sheet of stored images")
    parser.add_argument("--sheet-count", type=int, default=64,
                        help="images on the contact sheet, spread over the store (default 64)")
    parser.add_argument("--errors", type=int, default=5, metavar="N",
                        help="show the first N error lines (default 5)")
    parser.set_defaults(func=main)


def log_folder(args: argparse.Namespace) -> None:
    """None: inspect runs no framework (h5py and Pillow only), so it keeps no log."""
    return None


def contact_sheet(store_dir: str, out_png: str, count: int) -> int:
    """Write a grid of `count` stored images spread evenly over the store; returns how many."""
    import numpy as np

    from streamgan.store.contract import open_store, read_rows
    from streamgan.train.images import make_grid, save_png
    info = open_store(store_dir)
    picks = np.unique(np.linspace(0, info.num_images - 1, min(count, info.num_images)).astype(int))
    images = read_rows(info, picks)
    save_png(make_grid(images), out_png)
    return len(picks)


def main(args: argparse.Namespace, extra: list[str]) -> int:
    summary = summarise(args.store, args.errors)
    print(json.dumps(summary.to_json(), indent=2, ensure_ascii=False) if args.json
          else render(summary))
    if args.sheet and summary.info.num_images == 0:
        print("no contact sheet: the store holds no images (see the rejected records above)")
    elif args.sheet:
        n = contact_sheet(args.store, args.sheet, args.sheet_count)
        if not args.json:
            print(f"contact sheet of {n} images: {args.sheet}")
    return 0
