"""One training run: resolve its options, build it (train/build.py), `fit()`, report.

`train(config)` is the whole of `streamgan train` without the command line; `streamgan run`
calls it too; `fit(build(resolve(config)))` is the same in three steps, for benchmarks and
tests that need the built GAN in between. The run directory it fills is described in
train/paths.py.

Resuming restores everything a run's future depends on: both nets, both optimizers (moments
and iteration counts), the epoch and step counters, the noise generator's state, and the fixed
noise of the sample grids. Data order is not replayed: a resumed run shuffles with a seed
derived from (seed, epoch), a different but reproducible order.
"""
from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np

from streamgan.common.locks import exclusive
from streamgan.train.build import Trainee, build, resolve, split_name
from streamgan.train.config import TrainConfig
from streamgan.train.paths import RunPaths


def resume_config(workdir: str, **overrides: Any) -> TrainConfig:
    """The config of the run in workdir, with the run options the user gave (None: keep)."""
    return TrainConfig.load(RunPaths(workdir).config).resumed_with(workdir=workdir, **overrides)


def train(config: TrainConfig, *, verbose: int | str = "auto",
          log: Callable[[str], None] = print, callbacks: list | None = None) -> dict[str, Any]:
    """Train (or resume) the run described by config; return a summary of what was written.

    verbose: fit's progress output ("auto": a live progress bar on a terminal, one line per
    epoch when the output goes to a file or a pipe, where Keras would write every step's bar);
    log: where the start and end reports go; callbacks: extra Keras callbacks, run after the
    run's own (so after each epoch's checkpoint).

    Raises ConfigError / StoreError / FileExistsError with one-line messages for user mistakes,
    and InUseError when another process is training in the same workdir (a lock file).
    """
    config = config.validate()
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    with exclusive(config.workdir):
        return fit(build(resolve(config), log=log), verbose=verbose, log=log,
                   callbacks=callbacks)


def fit(trainee: Trainee, *, verbose: int | str = 2, log: Callable[[str], None] = print,
        callbacks: list | None = None) -> dict[str, Any]:
    """`fit()` a built run with the run folder's callbacks; report and return a summary."""
    import keras

    from streamgan.train import callbacks as cb
    from streamgan.train import precision
    from streamgan.train.conditioning import GRID_ROWS, grid_conditions

    config, paths, gan, spec = trainee.config, trainee.paths, trainee.gan, trainee.spec
    info, reader, initial_epoch = trainee.resolved.info, trainee.reader, trainee.initial_epoch
    if config.resume:
        cb.trim_history(paths.history, initial_epoch)  # rows of a killed epoch are redone
    log(f"streamgan train: {reader.num_images} images ({split_name(config)}) of "
        f"{info.image_size} px from {config.store}, batch {config.batch_size} -> "
        f"{trainee.steps} batches/epoch")
    log(f"  {config.arch}: generator {gan.generator.count_params():,} params, discriminator "
        f"{gan.discriminator.count_params():,} params, latent {config.latent_dim}, "
        f"base filters {config.base_filters}; loss {config.loss}, augment {config.augment}, "
        f"R1 {config.r1_gamma:g}, EMA {config.ema_decay:g}")
    log(f"  computing in {precision.resolve(config.precision)[1]}")
    log(f"  {trainee.resolved.conditioning}"
        + (f"; strength 0 -> 1 from image {config.condition_start:,} over "
           f"{config.condition_ramp:,} images; grid rows: "
           f"{', '.join(repr(p) for p in spec.prompts[:GRID_ROWS])}" if spec else ""))
    if trainee.checkpoint:
        log(f"  resuming {config.workdir} after epoch {initial_epoch} "
            f"(step {int(gan.g_optimizer.iterations.numpy())}) from {trainee.checkpoint}")
    elif config.resume:
        log(f"  no checkpoint in {config.workdir} yet: starting it from epoch 1")

    checkpointer = cb.Checkpoint(paths, config.to_dict(), keep=config.keep_checkpoints)
    grid_noise, grid_ids, grid_cols, grid_labels = trainee.fixed_noise, None, None, None
    if spec is not None:
        grid_noise, grid_ids, grid_cols, grid_labels = grid_conditions(
            spec, trainee.encoder, config.num_samples, trainee.fixed_noise)
    card = trainee.card()
    evaluation = _kid_callback(config, info, paths, log, reader, trainee.encoder, card,
                               at_start=trainee.warm_started)
    history = {}
    if initial_epoch >= config.epochs:
        log(f"  already trained for {initial_epoch} epochs: pass --epochs N with N > "
            f"{initial_epoch} to train further")
    else:
        history = gan.fit(
            trainee.dataset, epochs=config.epochs, initial_epoch=initial_epoch,
            verbose=verbose, shuffle=False,  # the dataset reshuffles itself every epoch
            callbacks=[
                *([evaluation] if evaluation else []),  # before History: logs its KID
                cb.History(paths.history),
                cb.LossCurve(paths.history, paths.loss_curve),  # after History
                cb.SampleGrid(grid_noise, paths, config.pixel_range, grid_ids, grid_cols,
                              labels=grid_labels),
                cb.ExportGenerator(paths.generator, paths.discriminator, card),
                keras.callbacks.TensorBoard(paths.logs, write_graph=False),
                checkpointer,  # a checkpoint means the epoch's other outputs exist
                *(callbacks or []),
            ]).history
    reader.close()

    final_epoch = max(initial_epoch, len(history.get("d_loss", [])) + initial_epoch)
    summary = {
        "workdir": config.workdir,
        "store": config.store,
        "images": reader.num_images,
        "image_size": config.image_size,
        "batches_per_epoch": trainee.steps,
        "initial_epoch": initial_epoch,
        "epoch": final_epoch,
        "step": int(gan.g_optimizer.iterations.numpy()),
        "metrics": {k: float(v[-1]) for k, v in history.items() if v},
        "generator": paths.generator,
        "samples": paths.samples,
        "last_sample_grid": paths.sample_grid(final_epoch) if final_epoch else None,
        "checkpoint": checkpointer.last_path or trainee.checkpoint,
        "history": paths.history,
        "loss_curve": paths.loss_curve,
        "tensorboard": paths.logs,
        "report": _report(config.workdir, log) if final_epoch else None,
    }
    if trainee.warm_started:
        kids = [k for k in history.get("kid", []) if np.isfinite(k)]
        summary["warm_start"] = {
            "parent": config.parent, "known": trainee.vocabulary[0],
            "new": trainee.vocabulary[1],
            "kid_start": evaluation.start[0] if evaluation and evaluation.start else None,
            "kid_end": kids[-1] if kids else None}
    log(f"streamgan train: {final_epoch} epochs done, outputs in {config.workdir}/:")
    log(f"  generator   {paths.generator}   (streamgan generate --workdir {config.workdir} "
        f"--num 64 --out samples.png)")
    log(f"  samples     {paths.samples}/    checkpoints {paths.checkpoints}/")
    log(f"  metrics     {paths.history}, {paths.loss_curve}   "
        f"(tensorboard --logdir {paths.logs})")
    if summary["report"]:
        log(f"  report      {summary['report']}   (streamgan evaluate --workdir "
            f"{config.workdir} adds the evaluation)")
    return summary


def _report(workdir: str, log) -> str | None:
    """Write the run's report.html; a failure is one logged line, never a failed run (the
    run's outputs are all saved by then)."""
    from streamgan.train.report import write_report
    try:
        return write_report(workdir)
    except Exception as e:  # noqa: BLE001 - the report is a view of what is saved
        log(f"  report.html not written: {type(e).__name__}: {e}")
        return None


def _kid_callback(config: TrainConfig, info, paths: RunPaths, log, reader, encoder, card,
                 at_start: bool = False):
    """The KID evaluation of this run, or None (off, or the feature network is missing);
    at_start: also before the first step (a warm start's starting point)."""
    from streamgan.train import callbacks as cb
    from streamgan.train import quality

    if not config.eval_every:
        return None
    if not quality.available():
        log(f"  KID evaluation off: the feature network is not installed ({quality.INSTALL_HINT})")
        return None
    split = quality.held_out_split(info, config.split)
    if split is None:
        log(f"  KID evaluation off: {quality.NO_HELD_OUT}")
        return None
    features = quality.InceptionFeatures()
    _, reference = quality.split_features(info, split, 2000, features, log=log)
    past = [k for k in cb.read_history(paths.history).get("kid", []) if np.isfinite(k)]
    log(f"  KID every {config.eval_every} epochs: {config.eval_num} generated vs "
        f"{len(reference)} real images (held-out split {split!r})")
    conditions = None
    if encoder is not None:  # generated images get the conditions of real training images
        conditions = encoder.encode(reader.condition_texts(2000, seed=config.seed))
    return cb.KIDEvaluation(reference, features, config.pixel_range, paths,
                            every=config.eval_every, num=config.eval_num, epochs=config.epochs,
                            seed=config.seed, best=min(past, default=float("inf")), log=log,
                            conditions=conditions, card=card, at_start=at_start)
