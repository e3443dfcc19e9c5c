"""Which Beam runner a run uses, in the two senses the job cares about; defined once here.

- local: the workers run on this machine and share its files (Beam's own list,
  StandardOptions.LOCAL_RUNNERS: the direct runners, FnApiRunner, PrismRunner). The job then
  stages in the partial store directory and the workers read the previous store.h5 where it
  is; any other runner stages under --temp_location (preprocess/staging.py).
- direct: the DirectRunner (also what no --runner means), the only one DirectOptions
  (--direct_num_workers, --direct_running_mode) apply to (preprocess/pipeline.py).

Names are matched as Beam matches them (runners/runner.py create_runner): in any case, with
or without the "Runner" suffix.
"""
from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

DIRECT_RUNNER = "DirectRunner"


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
