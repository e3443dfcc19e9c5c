"""Resuming a killed preprocessing job from the units it finished.

The workers save their work in units (preprocess/steps.py: a batch of records' images and
lines, each unit renamed into place complete) in the output's staging area, which is named by
the output (preprocess/staging.py), so rerunning the same command finds them. Before the
workers start, the launcher compares what the staging area was made from (`resume.json`: the
catalogue's sha256 and record count, and every option marked `store`) with this run:

- the same: the records the finished units hold are not given to the workers again (one line
  says how many are done), and publishing reads the old units beside the new ones, so the
  store is the one an uninterrupted run would have published;
- different (another catalogue, or a store option changed): one line says why, and the old
  units are deleted before anything starts.

A kill costs at most the units in progress (--fetch-batch records per worker process) and the
launcher steps after the Beam job (content dedup, TFT analysis, publish), which a rerun does
again; docs/reliability.md.
"""
from __future__ import annotations

import json
import os

import numpy as np
from apache_beam.io.filesystems import FileSystems

from streamgan.common.files import is_remote
from streamgan.preprocess.publish import LineIndex
from streamgan.preprocess.staging import Paths, delete_tree
from streamgan.preprocess.steps import SHARD_SUFFIX, TEMP_PREFIX, UNIT_SUFFIX, write_atomically


def made_from(summary, cfg) -> dict:
    """What a run's units depend on: the catalogue and the options that change a store."""
    from streamgan.common.options import marked
    options = cfg.to_json()
    return {"catalog_sha256": summary.sha256, "records": summary.records,
            "options": {name: options[name] for name in marked(type(cfg), "store")}}


def difference(old: dict, new: dict, cfg) -> str | None:
    """Why units made from `old` cannot serve a run made from `new`, or None."""
    from streamgan.common.options import flag_of
    if old.get("catalog_sha256") != new["catalog_sha256"] or old.get("records") != new["records"]:
        return (f"the catalogue changed since the interrupted run (sha256 "
                f"{str(old.get('catalog_sha256'))[:12]} -> {new['catalog_sha256'][:12]})")
    from streamgan.store.reuse import canonical  # the one comparison of recorded options
    for name, value in new["options"].items():
        then = old.get("options", {}).get(name)
        if canonical(then) != canonical(value):
            return (f"{flag_of(type(cfg), name)} changed since the interrupted run ({then} -> "
                    f"{value})")
    return None


def _exists(path: str) -> bool:
    return FileSystems.exists(path)


def _read(path: str) -> bytes:
    with FileSystems.open(path) as fh:
        return fh.read()


def _files(pattern: str) -> list[str]:
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception:  # BeamIOError: no such folder yet
        return []


def begin(paths: Paths, summary, cfg) -> np.ndarray:
    """Check the staging area against this run (one line when it resumes or starts clean) and
    clear what every run rewrites. Returns, per catalogue position, whether a finished unit
    already holds that record."""
    done = np.zeros(summary.records, bool)
    made = made_from(summary, cfg)
    old = None
    if _exists(paths.resume):
        try:
            old = json.loads(_read(paths.resume))
        except (OSError, ValueError):
            old = {}
    units = _files(paths.unit_lines)
    why = difference(old, made, cfg) if old is not None else (
        "the staging area has no record of what its units were made from" if units else None)
    if why:
        print(f"starting clean, {len(units)} finished units of an interrupted run deleted: {why}")
        delete_tree(paths.units)
        units = []
    else:
        if units:  # the catalogue positions the finished units' lines hold
            done = LineIndex(units, summary.records).file >= 0
        _remove_unfinished(paths, units)
        if units:
            print(f"resuming an interrupted run: {int(done.sum())} of {summary.records} records "
                  f"already done ({len(units)} units in {paths.units})")
    for folder in (paths.records_dir, paths.progress, paths.transform, paths.tft_temp):
        delete_tree(folder)
    delete_tree(paths.features)
    if not is_remote(paths.staging):  # local folders the workers write into
        for folder in (paths.records_dir, paths.units, paths.progress):
            os.makedirs(folder, exist_ok=True)
    write_atomically(*FileSystems.split(paths.resume), json.dumps(made, sort_keys=True).encode())
    return done


def _remove_unfinished(paths: Paths, finished: list[str]) -> None:
    """Files of units a kill interrupted: a temporary name, or images without their lines."""
    names = {p.rsplit("/", 1)[-1][:-len(UNIT_SUFFIX)] for p in finished}
    stale = [p for p in _files(FileSystems.join(paths.units, "*"))
             if p.rsplit("/", 1)[-1].startswith(TEMP_PREFIX)
             or (p.endswith(SHARD_SUFFIX) and p.rsplit("/", 1)[-1][:-len(SHARD_SUFFIX)]
                 not in names)]
    if stale:
        FileSystems.delete(stale)
