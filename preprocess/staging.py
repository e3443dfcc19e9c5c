"""Where a preprocessing run keeps its work until the store is published, and the atomic publish.

A run builds the store in `<output>.partial-<run id>/` beside the output and renames it into
place only when it is complete, so an interrupted run never leaves anything that looks
finished; the next run removes such leftovers. Scratch data (the normalised catalogue, image
shards, TFT's temp files, metadata) lives in `staging/` inside it, or under `--temp_location`
when a cluster runner's workers cannot see the local disk.
"""
from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import uuid

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions

from store.contract import MANIFEST_FILE, STORE_FILE

LOCAL_RUNNERS = (None, "DirectRunner", "direct", "PrismRunner", "prism")


@dataclasses.dataclass(frozen=True)
class Paths:
    staging: str
    records: str          # normalised catalogue, read by the pipeline
    records_local: str    # where the launcher writes it first
    shards: str
    progress: str | None  # live progress files (local runs only)
    transform: str        # TFT writes transform_fn/ and transformed_metadata/ here
    tft_temp: str
    kept_prefix: str
    duplicates_prefix: str
    errors_prefix: str

    @staticmethod
    def under(staging: str, local_dir: str, remote: bool) -> "Paths":
        join = FileSystems.join
        return Paths(
            staging=staging, records=join(staging, "records.jsonl"),
            records_local=(os.path.join(local_dir, "records.jsonl") if remote
                           else join(staging, "records.jsonl")),
            shards=join(staging, "shards"), progress=None if remote else join(staging, "progress"),
            transform=join(staging, "transform"), tft_temp=join(staging, "tft-temp"),
            kept_prefix=join(staging, "meta", "kept"),
            duplicates_prefix=join(staging, "meta", "duplicates"),
            errors_prefix=join(staging, "meta", "errors"))


class Output:
    """One run's partial store directory and staging area."""

    def __init__(self, final: str, partial: str, paths: Paths, remote: bool):
        self.final = final
        self.partial = partial
        self.paths = paths
        self.remote = remote

    def upload_records(self) -> None:
        if self.remote:
            FileSystems.copy([self.paths.records_local], [self.paths.records])

    def remove_staging(self) -> None:
        if self.remote:
            FileSystems.delete([self.paths.staging])
            if os.path.exists(self.paths.records_local):
                os.remove(self.paths.records_local)
        else:
            shutil.rmtree(self.paths.staging, ignore_errors=True)

    def abandon(self) -> None:
        """The run failed, was interrupted or was a dry run: leave nothing behind."""
        try:
            if self.remote:
                FileSystems.delete([self.paths.staging])
        except Exception:  # best effort: the leftovers' names say they are not a store
            pass
        shutil.rmtree(self.partial, ignore_errors=True)

    def commit(self) -> None:
        """Rename the finished store into place, replacing an old one (checked in prepare)."""
        old = None
        if os.path.exists(self.final):
            old = f"{self.final}.old-{uuid.uuid4().hex[:8]}"
            os.rename(self.final, old)
        os.rename(self.partial, self.final)
        if old:
            shutil.rmtree(old, ignore_errors=True)


def is_store(path: str) -> bool:
    return any(os.path.exists(os.path.join(path, f)) for f in (STORE_FILE, MANIFEST_FILE))


def prepare(output: str, overwrite: bool, options: PipelineOptions) -> Output:
    """Check the output can be written and create this run's partial directory."""
    output = os.path.abspath(output)
    if os.path.exists(output):
        if not overwrite:
            raise FileExistsError(f"{output} already exists: pass --overwrite to replace it, "
                                  "or choose another --output")
        if not os.path.isdir(output) or (os.listdir(output) and not is_store(output)):
            raise FileExistsError(f"{output} exists and is not a streamgan store: "
                                  "refusing to replace it; choose another --output")
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    for stale in glob.glob(f"{glob.escape(output)}.partial-*") + glob.glob(f"{glob.escape(output)}.old-*"):
        print(f"removing {stale} left by an interrupted run")
        shutil.rmtree(stale, ignore_errors=True)
    run_id = uuid.uuid4().hex[:12]
    partial = f"{output}.partial-{run_id}"
    os.makedirs(partial)
    runner = options.view_as(StandardOptions).runner
    temp_location = options.view_as(GoogleCloudOptions).temp_location
    remote = runner not in LOCAL_RUNNERS and bool(temp_location)
    staging = (FileSystems.join(temp_location, f"streamgan-{run_id}") if remote
               else os.path.join(partial, "staging"))
    paths = Paths.under(staging, partial, remote)
    if not remote:
        for d in (paths.staging, paths.shards, paths.progress, os.path.dirname(paths.kept_prefix)):
            os.makedirs(d, exist_ok=True)
    return Output(output, partial, paths, remote)
