"""`streamgan preprocess`: catalogue -> HDF5 image store (Apache Beam + TensorFlow Transform).

examples:
  # on this machine, all cores (Beam DirectRunner, multi-processing)
  streamgan preprocess --catalog catalog.json --output store/ --image-size 64

  # a quick look at the first 200 records, cropped instead of padded
  streamgan preprocess --catalog catalog.json --output try/ --max-records 200 --fit crop

  # a new season's catalogue: images last season's store holds (unchanged) are not fetched
  streamgan preprocess --catalog autumn.json --output autumn/ --previous summer/

  # any Beam pipeline option passes through, e.g. two worker processes, or a cluster runner
  streamgan preprocess --catalog catalog.json --output store/ --direct_num_workers 2
  streamgan preprocess --catalog gs://bucket/catalog.json --output store/ \\
      --runner DataflowRunner --project my-project --region europe-west1 \\
      --temp_location gs://bucket/tmp --setup_file ./setup.py
"""
from __future__ import annotations

import argparse
import os


def register(subparsers) -> None:
    from streamgan.preprocess.config import add_arguments
    parser = subparsers.add_parser(
        "preprocess", help="catalogue JSON -> HDF5 image store (Beam + TFT)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.set_defaults(func=main, pass_through=True)


def log_folder(args: argparse.Namespace) -> str:
    """The folder that receives the store (the store itself appears only when complete)."""
    return os.path.dirname(os.path.abspath(args.output))


def summary_table(manifest) -> str:
    """The end-of-run summary of a store's Manifest: where the records went, why rejects
    failed, how long it took."""
    c, t = manifest.counts, manifest.timings
    lines = [f"{'records read':<22}{c.records:>10}",
             f"{'written':<22}{c.written:>10}",
             f"  {'reused':<20}{c.reused:>10}",
             f"  {'fetched':<20}{c.fetched:>10}",
             f"{'rejected':<22}{c.rejected:>10}"]
    lines += [f"  {reason:<20}{n:>10}" for reason, n in manifest.rejected_by_reason.items()]
    lines.append(f"{'duplicates':<22}{c.duplicates:>10}")
    lines += [f"  {kind:<20}{n:>10}" for kind, n in c.duplicates_by_kind.items()]
    lines.append(f"accounting: {c.written} written + {c.rejected} rejected + "
                 f"{c.duplicates} duplicates = {c.accounted} of {c.records} records "
                 f"({'closes' if c.closes else 'DOES NOT CLOSE'})")
    rate = c.records / t.total_s if t.total_s else 0.0
    lines.append(f"time: {t.total_s:.1f}s ({rate:.0f} records/s; validate {t.validate_s:.1f}s, "
                 f"pipeline {t.pipeline_s:.1f}s, dedup {t.dedup_s:.1f}s, "
                 f"analyse {t.analyse_s:.1f}s, publish {t.publish_s:.1f}s)")
    return "\n".join(lines)


def execute(args: argparse.Namespace, beam_args: list[str]):
    """The job for parsed arguments: the store's Manifest (None for --dry-run). User mistakes
    raise (UserError, FileExistsError): `main` turns them into one line."""
    from streamgan.preprocess.config import config_from_args
    from streamgan.preprocess.pipeline import run_job
    return run_job(config_from_args(args), beam_args, dry_run=args.dry_run)


def run(argv: list[str]):
    """`streamgan preprocess ARGV` as a function, through the command's own parser and path
    (tests and benchmarks call it): returns the store's Manifest (None for --dry-run) and
    raises user mistakes instead of printing them. Options it does not know must be Beam's
    (the same one-line refusal of a typo as the command's)."""
    from streamgan.pipeline.cli import build_parser, reject_unknown
    args, beam_args = build_parser().parse_known_args(["preprocess", *argv])
    reject_unknown(args, beam_args)
    return execute(args, beam_args)


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from streamgan.store.contract import ERRORS_FILE
    manifest = execute(args, beam_args)
    if manifest:
        print(summary_table(manifest))
        print(f"store: {os.path.abspath(args.output)}  (errors: "
              f"{os.path.join(os.path.abspath(args.output), ERRORS_FILE)})")
    return 0
