"""`streamgan inspect`: what is in a store: counts, image size, statistics, vocabulary, errors.

examples:
  streamgan inspect work/store
  streamgan inspect work/store --json > store.json
  streamgan inspect work/store --sheet contact.png --sheet-count 100
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
from typing import Any


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


@dataclasses.dataclass(frozen=True)
class Summary:
    """A store boiled down to what a person asks first: its manifest and first errors."""
    store: str
    info: Any                  # store.contract.StoreInfo
    first_errors: list[dict]

    def to_json(self) -> dict:
        """The --json output."""
        from streamgan.store.contract import as_json
        m = self.info.manifest
        return {
            "store": self.store,
            "catalog": as_json(m.catalog),
            "counts": as_json(m.counts),
            "image": dict(as_json(m.image), stored=self.info.num_images,
                          chunk_rows=self.info.chunk_rows),
            "statistics": as_json(m.statistics),
            "vocabulary": as_json(m.vocabulary),
            "rejected_by_reason": m.rejected_by_reason,  # counted once, when it was written
            "first_errors": self.first_errors,
            "created": m.created,
            "timings": as_json(m.timings),
            "previous": as_json(m.previous) or {},
        }


def summarise(store_dir: str, show_errors: int = 5) -> Summary:
    from streamgan.store.contract import open_store, read_jsonl
    return Summary(store_dir, open_store(store_dir, allow_empty=True),
                   list(itertools.islice(read_jsonl(store_dir), show_errors)))


def render(s: Summary) -> str:
    m = s.info.manifest
    c, img, st, vocab = m.counts, m.image, m.statistics, m.vocabulary
    fmt = lambda values: "  ".join(f"{v:6.1f}" for v in values)  # noqa: E731
    lines = [
        f"store       {s.store}  (created {m.created})",
        f"catalogue   {m.catalog.path}  sha256 {m.catalog.sha256[:16]}",
        f"records     {c.records}: {c.written} written"
        + (f" ({c.reused} reused from the previous store)" if c.reused else "")
        + f", {c.rejected} rejected, "
        f"{c.duplicates} duplicates "
        f"({', '.join(f'{k} {v}' for k, v in c.duplicates_by_kind.items()) or 'none'})",
        f"splits      {', '.join(f'{k} {v}' for k, v in c.splits.items()) or '-'}",
        f"images      {s.info.num_images} x {img.size}x{img.size}x3 uint8, fit {img.fit}, "
        f"chunks of {s.info.chunk_rows}",
        f"channels    mean R G B {fmt(st.channel_mean)}",
        f"            std  R G B {fmt(st.channel_std)}",
        f"vocabulary  {vocab.size} tokens; top: {' '.join(vocab.top[:15])}",
    ]
    for field, values in vocab.fields.items():
        if not values.size:
            lines.append(f"field       {field}: no record has it")
            continue
        lines.append(f"field       {field}: {values.size} values; top: "
                     f"{', '.join(values.top[:10])}  (streamgan train --condition {field})")
    if m.previous:
        from streamgan.preprocess.previous import summary_line
        lines.append("previous    " + summary_line(m.previous))
    if m.rejected_by_reason:
        lines.append("rejected    " + ", ".join(f"{k} {v}" for k, v in m.rejected_by_reason.items()))
        for e in s.first_errors:
            lines.append(f"  #{e['index']} {e['stage']}/{e['reason']}: {e['message']}  {e['url']}")
    return "\n".join(lines)


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
