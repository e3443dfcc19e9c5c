"""`streamgan run`: one command from catalogue to generated images.

Preprocesses the catalogue into a store, trains the GAN on it, and writes a sample grid. Rerun
it and it picks up where it stopped: a store whose catalogue (by sha256) and store-changing
options are unchanged is reused, and training resumes from its last checkpoint. A different
catalogue, or different options, gets a new store and a new training run beside the old ones.
Every preprocessing and training option of `streamgan preprocess` and `streamgan train` is
accepted; anything else is a Beam pipeline option.

examples:
  streamgan run --catalog catalog.json --workdir work/
  streamgan run --catalog catalog.json --workdir work/ --image-size 64 --epochs 30 --batch-size 64
  streamgan run --catalog new-season.json --workdir work/   # new store, new run, old ones kept;
                                                            # unchanged images are taken from
                                                            # the last store, and training
                                                            # warm-starts from the last run
  streamgan run --catalog new-season.json --workdir work/ --from-scratch

workdir layout:
  work/store-<key>/  the store of one catalogue + options (work/store points to the latest)
  work/train-<key>/  the training run on it: checkpoints, samples/, logs/, generator.keras
  work/samples.png   the latest generated grid (a conditional run: one labelled row per
                     frequent condition)
  work/streamgan.log framework output (TensorFlow, Beam workers) of every command on the
                     workdir; -v shows it instead
"""
from __future__ import annotations

import argparse
import dataclasses
import os

# Options of `preprocess` and `train` that `run` sets itself.
PREPROCESS_OWN = ("catalog", "output", "overwrite")
TRAIN_OWN = ("store", "workdir", "resume", "image_size", "warm_start")


@dataclasses.dataclass(frozen=True)
class Workdir:
    """The layout of a `run` workdir (see the module docstring)."""
    root: str

    def store(self, key: str) -> str:
        return os.path.join(self.root, f"store-{key}")

    def run(self, key: str) -> str:
        return os.path.join(self.root, f"train-{key}")

    @property
    def latest_store(self) -> str:
        return os.path.join(self.root, "store")

    @property
    def latest_run(self) -> str:
        return os.path.join(self.root, "train")

    @property
    def samples(self) -> str:
        return os.path.join(self.root, "samples.png")

    @property
    def log_file(self) -> str:
        from streamgan.common.logs import LOG_FILE
        return os.path.join(self.root, LOG_FILE)


def register(subparsers) -> None:
    from streamgan.common.options import add_options
    from streamgan.preprocess.config import PreprocessConfig
    from streamgan.train.config import TrainConfig
    parser = subparsers.add_parser(
        "run", help="catalogue -> store -> trained GAN -> sample grid, resumable",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", required=True, help="catalogue JSON array or JSON Lines")
    parser.add_argument("--workdir", required=True, help="folder for stores, runs and samples")
    add_options(parser, PreprocessConfig, exclude=PREPROCESS_OWN)
    add_options(parser, TrainConfig, exclude=TRAIN_OWN)
    parser.add_argument("--from-scratch", action="store_true",
                        help="a new catalogue's run starts from random weights instead of the "
                             "workdir's previous run")
    parser.set_defaults(func=main, pass_through=True)


def log_folder(args: argparse.Namespace) -> str:
    return args.workdir


def previous_store(layout: Workdir, pre) -> str | None:
    """The store a new store takes unchanged images from: --previous, else the workdir's
    latest store (the last season's). With --refetch it is still compared against, for the
    change summary, but nothing is taken from it."""
    if pre.previous:
        from streamgan.common.files import absolute
        return absolute(pre.previous)
    if os.path.islink(layout.latest_store) and os.path.isdir(layout.latest_store):
        return os.path.realpath(layout.latest_store)
    return None


def point_latest(link: str, target: str) -> None:
    """work/store -> the store this run used (a relative symlink, replaced atomically)."""
    tmp = f"{link}.tmp-{os.getpid()}"
    os.symlink(os.path.basename(target), tmp)
    os.replace(tmp, link)


def grid_rows(run_dir: str, num_samples: int) -> tuple[list[str] | None, int]:
    """(prompts, images per prompt) of the workdir's sample grid: for a conditional run the
    rows of its per-epoch grids (its frequent conditions; those with a word the model has no
    embedding for left out, as `generate --prompt` refuses them), one labelled row each;
    (None, num_samples) for an unconditional run."""
    from streamgan.train import conditioning
    from streamgan.train.paths import RunPaths
    graph = RunPaths(run_dir).conditioning
    if not os.path.exists(os.path.join(graph, conditioning.SPEC_FILE)):
        return None, num_samples
    spec = conditioning.ConditionSpec.load(graph)
    known = conditioning.known_prompts(
        spec, conditioning.ConditionEncoder(graph, spec.source, spec.max_tokens))
    if not known:
        return None, num_samples
    return conditioning.grid_prompts(dataclasses.replace(spec, prompts=known), num_samples)


def run_all(workdir: str, pre, train_config, beam_args: list[str],
            from_scratch: bool = False) -> dict:
    """preprocess (or reuse) -> train (or resume) -> sample grid; returns where things are.

    pre: a PreprocessConfig and train_config a TrainConfig, whose output, store and workdir
    this fills in. Both are validated before any work starts. A new run in a workdir that
    already trained one (another catalogue, or other options) warm-starts from it unless
    from_scratch. One `run` at a time per workdir: a second one fails at once with
    InUseError (a lock file).
    """
    from streamgan.common.locks import exclusive
    layout = Workdir(os.path.abspath(workdir))
    with exclusive(layout.root):
        return _run_all(layout, pre, train_config, beam_args, from_scratch)


def _run_all(layout: Workdir, pre, train_config, beam_args: list[str],
             from_scratch: bool) -> dict:
    from streamgan.preprocess.catalog import file_sha256
    from streamgan.preprocess.pipeline import run_job
    from streamgan.store.reuse import reusable, store_key
    from streamgan.train.generate import generate
    from streamgan.train.loop import train
    from streamgan.train.paths import RunPaths

    pre = pre.validate()
    catalog_sha = file_sha256(pre.catalog)
    key = store_key(catalog_sha, pre)
    store, run_dir = layout.store(key), layout.run(key)
    resume = RunPaths(run_dir).has_run()
    previous = os.path.realpath(layout.latest_run) if os.path.islink(layout.latest_run) else None
    parent = (previous if previous and not resume and not from_scratch
              and previous != os.path.realpath(run_dir) else None)
    config = dataclasses.replace(train_config, store=store, workdir=run_dir, resume=resume,
                                 image_size=pre.image_size, warm_start=parent).validate()

    if reusable(store, catalog_sha, pre):
        print(f"[1/3] reusing store {store}: catalogue sha256 {catalog_sha[:12]} and "
              "preprocessing options unchanged")
    else:
        last = previous_store(layout, pre)
        print(f"[1/3] preprocessing {pre.catalog} (sha256 {catalog_sha[:12]}) into {store}"
              + (f", taking unchanged images from {last}" if last and not pre.refetch else ""))
        run_job(dataclasses.replace(pre, output=store, overwrite=True, previous=last),
                beam_args)
    point_latest(layout.latest_store, store)

    print(f"[2/3] {'resuming' if resume else 'training'} in {run_dir}"
          + (f", starting from the previous run {parent}" if parent else ""))
    summary = train(config)
    point_latest(layout.latest_run, run_dir)
    if summary.get("warm_start") and config.eval_every:
        summary["warm_start"] = report_warm_start(run_dir, summary["warm_start"],
                                                  config.eval_num)

    prompts, per_prompt = grid_rows(run_dir, config.num_samples)
    print(f"[3/3] generating {config.num_samples} images" if prompts is None else
          f"[3/3] generating {per_prompt} images for each of {len(prompts)} frequent "
          "conditions, one row each")
    generate(run_dir, num=per_prompt, out=layout.samples, seed=config.seed, prompts=prompts)
    return {"store": store, "run": run_dir, "samples": layout.samples, "train": summary,
            "tensorboard": RunPaths(run_dir).logs}


def report_warm_start(run_dir: str, warm: dict, num: int) -> dict:
    """Print what the warm start achieved: KID at the start and the end of training and, when
    the catalogue brought new categories, how consistently the run draws them (a full
    evaluation of the run: evaluation.json). An evaluation that cannot run is one line."""
    from streamgan.train import quality
    from streamgan.train.warmstart import achieved

    def kid(value):
        return "not measured" if value is None else f"{value:.4f}"
    print(f"      warm start from {warm['parent']['run']}: KID {kid(warm['kid_start'])} at the "
          f"start, {kid(warm['kid_end'])} at the end")
    if not warm["new"] or not quality.available():
        return warm
    try:
        warm = achieved(run_dir, warm, num, log=lambda _: None)
    except Exception as e:  # noqa: BLE001 - the run itself is saved; this is a view of it
        print(f"      new categories' consistency not measured: {type(e).__name__}: {e}")
        return warm
    for name, (value, ceiling) in warm["new_categories"].items():
        print(f"      new category {name!r}: {value:.0%} of its images judged as it "
              f"(real photos: {ceiling:.0%}; evaluation.json)")
    return warm


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from streamgan.common.options import from_args
    from streamgan.preprocess.config import PreprocessConfig
    from streamgan.train.config import TrainConfig
    pre = from_args(PreprocessConfig, args, output="")
    config = from_args(TrainConfig, args, store="", workdir="")
    result = run_all(args.workdir, pre, config, beam_args, from_scratch=args.from_scratch)
    print(f"\nstore:        {result['store']}  (streamgan inspect {result['store']})")
    print(f"training run: {result['run']}  (samples/ per epoch, generator.keras)")
    print(f"TensorBoard:  tensorboard --logdir {result['tensorboard']}")
    print(f"samples:      {result['samples']}")
    if result["train"].get("report"):
        print(f"report:       {result['train']['report']}")
    return 0
