"""Which Beam runner runs a job on this machine: Beam's FnApiRunner, and never a download.

Since Beam 2.68 the Python DirectRunner (the default runner) first tries the Prism runner, a Go
binary it downloads from GitHub on first use ("Downloading prism from https://github.com/...");
only when that fails does it fall back to the FnApiRunner, its engine for batch pipelines
(apache_beam/runners/direct/direct_runner.py, SwitchingDirectRunner.run_pipeline). So on a
machine with internet a different, untested runner would run the job, after a network call
besides the catalogue's own images; naming `runner="DirectRunner"` changes nothing, and Beam
has no option to skip the attempt. Beam's own advice to those who need the local runner is to
pin the FnApiRunner (apache/beam#34612). `local_runner(options)` builds it exactly as the
DirectRunner's fallback does (the pipeline options handed to its worker processes through the
provision info), so `--direct_num_workers` and `--direct_running_mode` work as they always did.

`--runner PrismRunner` still runs Prism, and any cluster runner runs as named.
"""
from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

# --runner values that mean "the DirectRunner on this machine" (Beam matches names without
# case and with or without "Runner"): they run on the FnApiRunner.
DIRECT_RUNNERS = (None, "direct", "directrunner", "fnapi", "fnapirunner")
LOCAL_RUNNERS = (*DIRECT_RUNNERS, "prism", "prismrunner")  # runners of this machine

_LOGGER = logging.getLogger(__name__)


def _name(options: PipelineOptions) -> str | None:
    runner = options.view_as(StandardOptions).runner
    return runner.lower() if isinstance(runner, str) else runner


def is_direct(options: PipelineOptions) -> bool:
    """True when the options ask for the DirectRunner (or give no runner): streamgan's local
    runner runs the job."""
    return _name(options) in DIRECT_RUNNERS


def is_local(options: PipelineOptions) -> bool:
    """True when the job runs on this machine (the DirectRunner, or Prism), so its workers
    share the launcher's disk."""
    return _name(options) in LOCAL_RUNNERS


def local_runner(options: PipelineOptions):
    """Beam's FnApiRunner, given `options` for its worker processes as the DirectRunner's
    fallback gives them."""
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))


def pipeline(options: PipelineOptions) -> beam.Pipeline:
    """A Beam pipeline on the runner the options name, the local runner for the DirectRunner;
    the log file says which runs (as Beam's DirectRunner says it)."""
    if not is_direct(options):
        return beam.Pipeline(options=options)
    _LOGGER.info("Running pipeline with FnApiRunner (streamgan's local runner)")
    return beam.Pipeline(runner=local_runner(options), options=options)
