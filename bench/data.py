"""Where the benchmarks find the shared data set: clothing-small (3,409 CC0 product photos
in category folders, a catalog.json with train and validation splits; see its README)."""
from __future__ import annotations

import argparse
import os

# Beside the checkout, as on the project machine (/work/shared/data/clothing-small).
CLOTHING = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                         "shared", "data", "clothing-small"))
CLOTHING_CATALOG = os.path.join(CLOTHING, "catalog.json")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")  # results and caches


def require_clothing(bench: str) -> str | None:
    """None when the data set is there, else the one line saying it is missing."""
    if os.path.exists(CLOTHING_CATALOG):
        return None
    return f"bench.{bench}: {CLOTHING_CATALOG} not found (the shared clothing-small photos)"


def parse_args(parser: argparse.ArgumentParser, bench: str,
               store_cache: bool = True) -> argparse.Namespace | None:
    """The bench's arguments, with the --out (and --store-cache) every bench takes and --out
    created; None, after the one line saying so, when the data set is missing."""
    parser.add_argument("--out", default=os.path.join(OUT, bench))
    if store_cache:
        parser.add_argument("--store-cache", default=os.path.join(OUT, bench),
                            help="where the preprocessed store is cached")
    args = parser.parse_args()
    missing = require_clothing(bench)
    if missing:
        print(missing)
        return None
    os.makedirs(args.out, exist_ok=True)
    return args
