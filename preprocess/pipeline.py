"""The preprocessing job: catalogue -> HDF5 image store, as one Apache Beam pipeline with TFT inside.

    streamgan preprocess --catalog catalog.json --output store/ --image-size 64
    python -m streamgan.preprocess --catalog catalog.json --output store/ --runner DataflowRunner \\
        --project P --region R --temp_location gs://B/tmp --setup_file ./setup.py

Any option the job does not know is a Beam pipeline option. Without --runner (or with the
DirectRunner) it runs on this machine on Beam's FnApiRunner, on all cores (multi-processing),
never trying to download the Prism runner first (preprocess/runners.py).

A run is two Beam jobs between launcher steps, so that no runner holds per-record state:

    launcher   validate the catalogue, resume from the finished units of a killed run with the
               same output (preprocess/resume.py), drop repeated URLs (on-disk index), find
               each record in the previous store if any (on-disk index, preprocess/previous.py)
               and decide reuse / revalidate / fetch, write the rest for the workers
    Beam job   fetch (or reuse the previous store's row) -> decode -> scratch unit: images +
               lines, renamed into place complete (one fused stage, no shuffle)
    launcher   drop repeated contents (on-disk index), write the analysis input
    Beam job   TFT analysis (vocabulary, channel statistics) -> transform_fn
    launcher   publish store.h5 in catalogue order, errors, duplicates, manifest
"""
from __future__ import annotations

import json
import os
import threading
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

from streamgan.preprocess import catalog, publish, resume, runners, staging
from streamgan.preprocess.config import PreprocessConfig
from streamgan.preprocess.dedup import FirstSeen
from streamgan.preprocess.fetch import options_for
from streamgan.preprocess.previous import PreviousStore
from streamgan.preprocess.progress import ProgressMonitor
from streamgan.preprocess.steps import FetchAndDecodeFn
from streamgan.store.contract import FEATURE_IMAGE, Manifest


def to_tft_features(line: str) -> dict:
    """A line of the analysis input -> TFT features; pixels stay out (TFT prunes `image`
    from analysis)."""
    return dict(json.loads(line), **{FEATURE_IMAGE: b""})


def decode_threads(cfg: PreprocessConfig, options: PipelineOptions) -> int:
    """Decoders per worker: the cores this worker can have to itself, and at least two, so one
    thread reads a file while another decodes (measured: 2 per worker beats 1 on 2 cores)."""
    if cfg.decode_threads:
        return cfg.decode_threads
    cores = os.cpu_count() or 1
    direct = options.view_as(DirectOptions)
    if runners.is_direct(options) and direct.direct_running_mode != "in_memory":
        return max(2, cores // (direct.direct_num_workers or cores))
    return cores


def build_pipeline(p: beam.Pipeline, cfg: PreprocessConfig, paths: staging.Paths,
                   previous_h5: str | None = None) -> None:
    """Catalogue records -> scratch units (images + one line per record, kept or rejected):
    one fused stage, no shuffle (see preprocess/steps.py). previous_h5: the previous store's
    images, which records found there are taken from."""
    fetch = options_for(cfg)
    _ = (p
         | "ReadCatalog" >> beam.io.ReadFromText(paths.records)
         | "ParseRecords" >> beam.Map(json.loads)
         | "BatchForFetch" >> beam.BatchElements(min_batch_size=min(8, cfg.fetch_batch),
                                                 max_batch_size=cfg.fetch_batch)
         | "FetchDecodeWriteUnit" >> beam.ParDo(FetchAndDecodeFn(
             fetch, cfg.image_size, cfg.fit, cfg.background, cfg.max_pixels,
             cfg.fetch_threads, paths.progress, paths.units, decode_threads(cfg, p.options),
             max_aspect=cfg.max_aspect, previous_h5=previous_h5,
             revalidate_threads=cfg.revalidate_threads)))


def build_analysis(p: beam.Pipeline, cfg: PreprocessConfig, paths: staging.Paths) -> None:
    """TFT over the records to store (duplicates gone, descriptions merged) -> transform_fn."""
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    from streamgan.preprocess import transform
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(transform.feature_spec(cfg.condition_fields)))
    features = (p | "ReadFeatures" >> beam.io.ReadFromText(paths.features)
                | "ToTftFeatures" >> beam.Map(to_tft_features))
    transform_fn = ((features, metadata)
                    | "AnalyzeCatalog" >> tft_beam.AnalyzeDataset(transform.make_preprocessing_fn(
                        cfg.image_size, cfg.vocab_top_k, cfg.vocab_min_frequency,
                        cfg.condition_fields)))
    _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(paths.transform)


def analysis_options(options: PipelineOptions) -> PipelineOptions:
    """The analysis job's options: the user's runner on a cluster; on this machine the
    DirectRunner in this process (its input is small, and worker processes would each have
    to import TensorFlow first)."""
    if runners.is_local(options):
        return PipelineOptions([], runner="DirectRunner", direct_running_mode="in_memory",
                               direct_num_workers=1)
    return options


def stage_catalog(cfg: PreprocessConfig, out: staging.Output,
                  previous: PreviousStore | None = None) -> tuple[catalog.CatalogSummary,
                                                                  int, int, int, int]:
    """Validate the catalogue, find what a killed run with this output already did, drop
    records whose URL an earlier one had (merging their descriptions in), mark those the
    previous store holds, and write the rest for the workers. Returns (summary, URL
    duplicates, records already done, records written for the workers, files)."""
    normalised = os.path.join(out.paths.local, "catalog.jsonl")
    summary = catalog.write_normalised(
        cfg.catalog, normalised, cfg.max_records, skip_bad=cfg.skip_bad_records,
        errors_path=out.paths.catalog_errors, allow_local=cfg.allow_local())
    done = resume.begin(out.paths, summary, cfg)
    urls = FirstSeen(out.paths.url_index, "url")
    with open(normalised, encoding="utf-8") as fh, \
            open(out.paths.url_duplicates, "w", encoding="utf-8") as duplicates:
        for line in fh:
            duplicate = urls.add((record := json.loads(line))["source"], record)
            if duplicate is not None:
                duplicates.write(json.dumps(duplicate) + "\n")

    def firsts():
        with open(normalised, encoding="utf-8") as fh, open(out.paths.url_duplicates) as dups:
            skip = (json.loads(d)["index"] for d in dups)
            next_skip = next(skip, None)
            for line in fh:
                record = json.loads(line)
                if record["index"] == next_skip:
                    next_skip = next(skip, None)
                    continue
                yield record

    records = (r for r in urls.merged(firsts()) if not done[r["index"]])
    if previous is not None:
        records = previous.attach(records, reuse=not cfg.refetch, revalidate=cfg.revalidate)
    files, written = out.write_records(records, summary.records - summary.bad - urls.duplicates)
    urls.close()
    os.remove(normalised)
    return summary, urls.duplicates, int(done.sum()), written, files


def pipeline_options(beam_args: list[str], record_files: int = 2) -> PipelineOptions:
    """Beam options from the command line; on the DirectRunner default to all cores, with one
    worker process per core, unless the catalogue is a single file of work: a file is not
    split between workers, so a second process would only cost its start-up."""
    options = PipelineOptions(beam_args)
    if runners.is_direct(options):
        direct = options.view_as(DirectOptions)
        if not any(a.startswith("--direct_num_workers") for a in beam_args):
            direct.direct_num_workers = 0  # 0 = one worker per core
        if not any(a.startswith("--direct_running_mode") for a in beam_args):
            direct.direct_running_mode = "multi_processing" if record_files > 1 else "in_memory"
    return options


def preload_analysis() -> threading.Thread:
    """Import TensorFlow and TFT in a background thread while the launcher validates the
    catalogue and the Beam job fetches: the launcher needs them only afterwards (content dedup
    writes the analysis input, then TFT analyses it), and importing them takes 4-10 s that a
    small season would otherwise wait for after its Beam job (docs/scaling.md). The first
    `import` of either in the main thread waits for this one to finish."""
    def load():
        try:
            import tensorflow_transform.beam  # noqa: F401

            from streamgan.preprocess import transform  # noqa: F401
        except Exception:  # the main thread's own import then raises it where it matters
            pass
    thread = threading.Thread(target=load, name="preload-tensorflow", daemon=True)
    thread.start()
    return thread


def run_job(cfg: PreprocessConfig, beam_args: list[str], dry_run: bool = False) -> Manifest | None:
    """Validate the catalogue, run the pipeline and publish the store atomically.

    Returns the store's manifest (None for a dry run). Raises CatalogError / FileExistsError
    for user mistakes.
    """
    started = time.time()
    if not dry_run:
        preload_analysis()
    options = pipeline_options(beam_args)
    out = staging.prepare(cfg.output, cfg.overwrite, options)
    previous = None
    try:
        if dry_run:
            summary = catalog.write_normalised(cfg.catalog, os.devnull, cfg.max_records)
            print(f"catalogue {cfg.catalog}: {summary.records} records ({summary.format}), "
                  f"sha256 {summary.sha256[:12]}")
            print(json.dumps({"options": cfg.to_json(),
                              "pipeline_options": options.get_all_options(drop_default=True)},
                             indent=2, default=str))
            out.abandon(keep_units=out.has_units())
            return None
        cluster = not runners.is_local(options)
        previous = PreviousStore.open(cfg, out.paths, cluster)
        summary, url_duplicates, done, remaining, files = stage_catalog(cfg, out, previous)
        options = pipeline_options(beam_args, files)
        validated = time.time()
        print(f"catalogue {cfg.catalog}: {summary.records} records ({summary.format}), "
              f"sha256 {summary.sha256[:12]}"
              + (f"; {summary.bad} bad records skipped (errors.jsonl, stage catalog)"
                 if summary.bad else ""))
        if previous is not None and previous.matched:
            print(previous.plan_line(cfg.revalidate))
        if remaining:  # nothing left when a killed run had finished every unit
            with ProgressMonitor(out.paths.progress, summary.records - summary.bad,
                                 done_before=url_duplicates + done):
                with runners.pipeline(options) as p:
                    build_pipeline(p, cfg, out.paths, previous.worker_h5 if previous else None)
        ran = time.time()
        staged = publish.deduplicate(out, summary.records, cfg.condition_fields)
        deduplicated = time.time()
        import tensorflow_transform.beam as tft_beam
        with runners.pipeline(analysis_options(options)) as p:
            with tft_beam.Context(temp_dir=out.paths.tft_temp):
                build_analysis(p, cfg, out.paths)
        analysed = time.time()
        manifest = publish.publish(out, cfg, summary, staged, beam_args, timings={
            "validate_s": validated - started, "pipeline_s": ran - validated,
            "dedup_s": deduplicated - ran, "analyse_s": analysed - deduplicated},
            previous=previous)
    except BaseException:
        if previous is not None:
            previous.close()
        out.abandon(keep_units=out.has_units())
        raise
    if manifest.previous:
        print(manifest.previous.line())
    return manifest
