"""The preprocessing job: catalogue -> HDF5 image store, as one Apache Beam pipeline with TFT inside.

    streamgan preprocess --catalog catalog.json --output store/ --image-size 64
    python -m preprocess --catalog catalog.json --output store/ --runner DataflowRunner \\
        --project P --region R --temp_location gs://B/tmp --setup_file ./setup.py

Any option the job does not know is a Beam pipeline option. Without --runner it runs on this
machine with the DirectRunner on all cores (multi-processing).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import apache_beam as beam
import tensorflow_transform.beam as tft_beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from preprocess import catalog, publish, staging, transform
from preprocess.config import PreprocessConfig, add_arguments, config_from_args
from preprocess.fetch import options_for
from preprocess.progress import ProgressMonitor
from preprocess.steps import DUPLICATES, ERRORS, DropDuplicates, FetchAndDecodeFn, WriteShardFn
from store.contract import FEATURE_IMAGE, Manifest, field_feature, field_value

FETCH_BATCH = 64  # records per thread-pool batch inside a worker


def to_tft_features(record: dict, fields: tuple[str, ...] = ()) -> dict:
    """A kept record's analysis features; pixels stay out (TFT prunes `image` from analysis)."""
    return {FEATURE_IMAGE: b"", transform.DESCRIPTION_TEXT: "\n".join(record["descriptions"]),
            transform.CHANNEL_MEAN: record["channel_mean"],
            transform.CHANNEL_SQ_MEAN: record["channel_sq_mean"],
            **{field_feature(f): field_value(record["extra"], f) for f in fields}}


def decode_threads(cfg: PreprocessConfig, options: PipelineOptions) -> int:
    """Decoders per worker: the cores this worker can have to itself, and at least two, so one
    thread reads a file while another decodes (measured: 2 per worker beats 1 on 2 cores)."""
    if cfg.decode_threads:
        return cfg.decode_threads
    cores = os.cpu_count() or 1
    direct = options.view_as(DirectOptions)
    runner = options.view_as(StandardOptions).runner
    if runner in (None, "DirectRunner", "direct") and direct.direct_running_mode != "in_memory":
        return max(2, cores // (direct.direct_num_workers or cores))
    return cores


def build_pipeline(p: beam.Pipeline, cfg: PreprocessConfig, paths: staging.Paths) -> None:
    fetch = options_for(cfg)
    records = (p
               | "ReadCatalog" >> beam.io.ReadFromText(paths.records)
               | "ParseRecords" >> beam.Map(json.loads))
    by_url = records | "DedupUrls" >> DropDuplicates("source", "url", paths.progress)
    decoded = (by_url.kept
               | "BatchForFetch" >> beam.BatchElements(min_batch_size=8, max_batch_size=FETCH_BATCH)
               | "FetchAndDecode" >> beam.ParDo(FetchAndDecodeFn(
                   fetch, cfg.image_size, cfg.fit, cfg.background, cfg.max_pixels,
                   cfg.fetch_threads, paths.progress, decode_threads(cfg, p.options),
                   max_aspect=cfg.max_aspect))
                   .with_outputs(ERRORS, main="images"))
    written = decoded.images | "WriteShards" >> beam.ParDo(WriteShardFn(paths.shards))
    by_content = written | "DedupContent" >> DropDuplicates("sha256", "content")

    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(transform.feature_spec(cfg.condition_fields)))
    transform_fn = ((by_content.kept
                     | "ToTftFeatures" >> beam.Map(to_tft_features, cfg.condition_fields), metadata)
                    | "AnalyzeCatalog" >> tft_beam.AnalyzeDataset(transform.make_preprocessing_fn(
                        cfg.image_size, cfg.vocab_top_k, cfg.vocab_min_frequency,
                        cfg.condition_fields)))
    _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(paths.transform)

    _ = (by_content.kept | "KeptToJson" >> beam.Map(json.dumps)
         | "WriteKept" >> beam.io.WriteToText(paths.kept_prefix))
    _ = ((by_url[DUPLICATES], by_content[DUPLICATES]) | "AllDuplicates" >> beam.Flatten()
         | "DuplicatesToJson" >> beam.Map(json.dumps)
         | "WriteDuplicates" >> beam.io.WriteToText(paths.duplicates_prefix))
    _ = (decoded[ERRORS] | "ErrorsToJson" >> beam.Map(json.dumps)
         | "WriteErrors" >> beam.io.WriteToText(paths.errors_prefix))


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    """Beam options from the command line; on the DirectRunner default to all cores."""
    options = PipelineOptions(beam_args)
    runner = options.view_as(StandardOptions).runner
    if runner in (None, "DirectRunner", "direct"):
        direct = options.view_as(DirectOptions)
        if not any(a.startswith("--direct_num_workers") for a in beam_args):
            direct.direct_num_workers = 0  # 0 = one worker per core
        if not any(a.startswith("--direct_running_mode") for a in beam_args):
            direct.direct_running_mode = "multi_processing"
    return options


def catalog_errors_paths(out: staging.Output) -> tuple[str, str]:
    """(where validation writes the records it skipped, where publish finds them): beside
    the pipeline's own error shards, so publish counts them with the others."""
    staged = out.paths.errors_prefix + "-catalog.jsonl"
    return (os.path.join(out.partial, "catalog-errors.jsonl") if out.remote else staged), staged


def run_job(cfg: PreprocessConfig, beam_args: list[str], dry_run: bool = False) -> Manifest | None:
    """Validate the catalogue, run the pipeline and publish the store atomically.

    Returns the store's manifest (None for a dry run). Raises CatalogError / FileExistsError
    for user mistakes.
    """
    started = time.time()
    options = pipeline_options(beam_args)
    out = staging.prepare(cfg.output, cfg.overwrite, options)
    try:
        errors_local, errors_staged = catalog_errors_paths(out)
        summary = catalog.write_normalised(
            cfg.catalog, out.paths.records_local, cfg.max_records, skip_bad=cfg.skip_bad_records,
            errors_path=errors_local, allow_local=cfg.allow_local())
        out.upload_records()
        if errors_staged != errors_local:
            FileSystems.copy([errors_local], [errors_staged])
        validated = time.time()
        print(f"catalogue {cfg.catalog}: {summary.records} records ({summary.format}), "
              f"sha256 {summary.sha256[:12]}"
              + (f"; {summary.bad} bad records skipped (errors.jsonl, stage catalog)"
                 if summary.bad else ""))
        if dry_run:
            print(json.dumps({"options": cfg.to_json(),
                              "pipeline_options": options.get_all_options(drop_default=True)},
                             indent=2, default=str))
            out.abandon()
            return None
        with ProgressMonitor(out.paths.progress, summary.records - summary.bad):
            with beam.Pipeline(options=options) as p:
                with tft_beam.Context(temp_dir=out.paths.tft_temp):
                    build_pipeline(p, cfg, out.paths)
        ran = time.time()
        manifest = publish.publish(out, cfg, summary, beam_args, timings={
            "validate_s": validated - started, "pipeline_s": ran - validated})
    except BaseException:
        out.abandon()
        raise
    return manifest


def run(argv: list[str] | None = None) -> Manifest | None:
    """Beam's conventional entry point: parse our options, pass the rest to Beam."""
    parser = argparse.ArgumentParser(prog="python -m preprocess", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    known, beam_args = parser.parse_known_args(argv)
    return run_job(config_from_args(known), beam_args, dry_run=known.dry_run)
