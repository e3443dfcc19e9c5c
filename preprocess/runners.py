"""Which Beam runner a run uses, in the two senses the job cares about; defined once here.

- local: the workers run on this machine and share its files (Beam's own list,
  StandardOptions.LOCAL_RUNNERS: the direct runners, FnApiRunner, PrismRunner). The job then
  stages in the partial store directory and the workers read the previous store.h5 where it
  is; any other runner stages under --temp_location (preprocess/staging.py).
- direct: the DirectRunner (also what no --runner means), the only one DirectOptions
  (--direct_num_workers, --direct_running_mode) apply to (preprocess/pipeline.py).

Names are matched as Beam matches them (runners/runner.py create_runner): in any case, with
or without the "Runner" suffix.

And which runner runs a DirectRunner job: Beam's FnApiRunner, never a download. Since Beam 2.68
the Python DirectRunner first tries the Prism runner, a Go binary it downloads from GitHub on
first use ("Downloading prism from https://github.com/..."); only when that fails does it fall
back to the FnApiRunner, its engine for batch pipelines (apache_beam/runners/direct/
direct_runner.py, SwitchingDirectRunner.run_pipeline). So on a machine with internet a
different, untested runner would run the job, after a network call besides the catalogue's own
images; naming `runner="DirectRunner"` changes nothing, and Beam has no option to skip the
attempt. Beam's own advice to those who need the local runner is to pin the FnApiRunner
(apache/beam#34612). `local_runner(options)` builds it exactly as the DirectRunner's fallback
does (the pipeline options handed to its worker processes through the provision info), so
`--direct_num_workers` and `--direct_running_mode` work as they always did. `--runner
PrismRunner` still runs Prism, and any cluster runner runs as named.
"""
from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

DIRECT_RUNNER = "DirectRunner"

_LOGGER = logging.getLogger(__name__)


def runner_name(options: PipelineOptions) -> str:
    """The runner's class name, normalised ("directrunner", "dataflowrunner", ...);
    DirectRunner when none was given."""
    runner = options.view_as(StandardOptions).runner or DIRECT_RUNNER
    if not isinstance(runner, str):  # a runner object or class passed in code
        runner = runner.__name__ if isinstance(runner, type) else type(runner).__name__
    name = runner.rsplit(".", 1)[-1].lower()
    return name if name.endswith("runner") else name + "runner"


def is_local(options: PipelineOptions) -> bool:
    """Whether the workers run on this machine, sharing its files."""
    return runner_name(options) in {r.lower() for r in StandardOptions.LOCAL_RUNNERS}


def is_direct(options: PipelineOptions) -> bool:
    """Whether the run uses the DirectRunner, where DirectOptions apply."""
    return runner_name(options) == DIRECT_RUNNER.lower()


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
