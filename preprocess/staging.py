"""Where a preprocessing run keeps its work until the store is published, and the atomic publish.

A run builds the store in `<output>.partial-<run id>/` beside the output and renames it into
place only when it is complete, so an interrupted run never leaves anything that looks
finished; the next run removes such leftovers. Scratch data the workers read or write (the
normalised catalogue, scratch units of images and lines, TFT's files, progress) lives in the
output's *staging area*: `<output>.staging/` beside the output on a local runner, or
`streamgan-<hash of the output path>/` under `--temp_location` with any other runner (cluster
workers share nothing else with the launcher). The staging area is named by the output, not
by the run, so that rerunning the same command after a kill finds the units the killed run
finished (preprocess/resume.py); it is removed once the store is published. Every path there
goes through Beam's FileSystems, so it may be a local folder that does not exist yet, gs://,
s3://, ...
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import shutil
import uuid
from typing import Iterable

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions

from streamgan.common.files import is_remote
from streamgan.preprocess.runners import is_local
from streamgan.store.contract import MANIFEST_FILE, STORE_FILE

# The catalogue goes to the workers as files of at least this many records, and at most this
# many files (so that a worker's share is a few files, and listing them stays cheap).
MIN_RECORDS_PER_FILE = 128
MAX_RECORD_FILES = 4096


@dataclasses.dataclass(frozen=True)
class Paths:
    """Where a run's scratch data lives. `staging` is what the workers read and write: inside
    the partial directory on a local runner, under --temp_location on a cluster runner (the
    only place workers and launcher share). `local` is the launcher's own scratch (sqlite
    indexes, duplicate lines), always on this machine."""
    staging: str
    local: str
    records_dir: str      # the normalised catalogue as several JSON Lines files (read in parallel)
    units: str            # the workers' finished units: images + lines (preprocess/steps.py)
    progress: str         # live progress files, one per worker
    transform: str        # TFT writes transform_fn/ and transformed_metadata/ here
    tft_temp: str
    resume: str           # what the units were made from (preprocess/resume.py)
    features: str         # the analysis input: one line per stored image, catalogue order
    url_index: str        # sqlite: first record of each URL
    content_index: str    # sqlite: first record of each content hash
    url_duplicates: str   # duplicates.jsonl lines, as found before and after the pipeline
    content_duplicates: str
    catalog_errors: str   # errors.jsonl lines of records refused while validating, if any

    @property
    def unit_lines(self) -> str:
        """The glob of the finished units' line files."""
        return FileSystems.join(self.units, "unit-*.jsonl")

    @property
    def records(self) -> str:
        """The glob the pipeline reads the catalogue from."""
        return FileSystems.join(self.records_dir, "records-*.jsonl")

    def records_file(self, number: int) -> str:
        return FileSystems.join(self.records_dir, f"records-{number:05d}.jsonl")

    @staticmethod
    def under(staging: str, local: str) -> "Paths":
        join = FileSystems.join
        return Paths(
            staging=staging, local=local, records_dir=join(staging, "records"),
            units=join(staging, "units"), progress=join(staging, "progress"),
            transform=join(staging, "transform"), tft_temp=join(staging, "tft-temp"),
            resume=join(staging, "resume.json"),
            features=join(staging, "features.jsonl"),
            url_index=os.path.join(local, "urls.sqlite"),
            content_index=os.path.join(local, "contents.sqlite"),
            url_duplicates=os.path.join(local, "duplicates-url.jsonl"),
            content_duplicates=os.path.join(local, "duplicates-content.jsonl"),
            catalog_errors=os.path.join(local, "errors-catalog.jsonl"))


def delete_tree(path: str) -> None:
    """Remove a folder on any Beam filesystem (on an object store, a trailing "/" deletes
    everything under the prefix); missing is fine."""
    path = path.rstrip("/")
    try:
        FileSystems.delete([path + "/" if is_remote(path) else path])
    except Exception:  # BeamIOError when nothing is there; leftovers are named as scratch
        pass


class Output:
    """One run's partial store directory and staging area."""

    def __init__(self, final: str, partial: str, paths: Paths, remote: bool):
        self.final = final
        self.partial = partial
        self.paths = paths
        self.remote = remote

    def write_records(self, records: Iterable[dict], count: int) -> tuple[int, int]:
        """The normalised catalogue for the pipeline, straight into staging (any filesystem;
        a local folder is created), as several files so that the runner can hand them to
        different workers: a file is the smallest unit of work the read is split into.
        Returns (files, records written)."""
        per_file = max(MIN_RECORDS_PER_FILE, -(-count // MAX_RECORD_FILES))
        files, fh, written = 0, None, 0
        for record in records:
            if written % per_file == 0:
                if fh is not None:
                    fh.close()
                fh = FileSystems.create(self.paths.records_file(files))
                files += 1
            fh.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
            written += 1
        if fh is None:  # every record was a duplicate of another: nothing for the workers
            fh = FileSystems.create(self.paths.records_file(0))
            files = 1
        fh.close()
        return files, written

    def remove_staging(self) -> None:
        """The store is published: the staging area (the units) is no longer needed."""
        if self.remote:
            delete_tree(self.paths.staging)
        else:
            shutil.rmtree(self.paths.staging, ignore_errors=True)

    def has_units(self) -> bool:
        """Whether the staging area holds work a rerun can resume from."""
        return FileSystems.exists(self.paths.resume)

    def abandon(self, keep_units: bool = True) -> None:
        """The run failed or was interrupted: remove the partial store, and keep the staging
        area's finished units for a rerun to resume from (unless not keep_units: a dry run)."""
        if not keep_units:
            if self.remote:
                delete_tree(self.paths.staging)
            else:
                shutil.rmtree(self.paths.staging, ignore_errors=True)
        shutil.rmtree(self.partial, ignore_errors=True)

    def commit(self) -> None:
        """Rename the finished store into place, replacing an old one (checked in prepare),
        without the launcher's own scratch folder inside the partial directory."""
        shutil.rmtree(self.paths.local, ignore_errors=True)
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
    temp_location = options.view_as(GoogleCloudOptions).temp_location
    remote = not is_local(options) and bool(temp_location)
    staging = staging_for(output, temp_location if remote else None)
    paths = Paths.under(staging, os.path.join(partial, "scratch"))
    os.makedirs(paths.local)
    if not is_remote(staging):  # a local or shared folder: made here, whoever writes first
        for d in (paths.staging, paths.records_dir, paths.units, paths.progress):
            os.makedirs(d, exist_ok=True)
    return Output(output, partial, paths, remote)


def staging_for(output: str, temp_location: str | None = None) -> str:
    """The staging area of an output: the same for every run that writes that output, so a
    rerun finds what a killed run finished."""
    if temp_location:
        digest = hashlib.sha256(output.encode("utf-8")).hexdigest()[:16]
        return FileSystems.join(temp_location, f"streamgan-{digest}")
    return f"{output}.staging"
