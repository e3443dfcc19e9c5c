"""One training run: open the store, build the GAN, resume if asked, `fit()`, report.

`train(config)` is the whole of `streamgan train` without the command line; `streamgan run`
calls it too. The run directory it fills is described in train/checkpoint.py.

Resuming restores everything a run's future depends on: both nets, both optimizers (moments
and iteration counts), the epoch and step counters, the noise generator's state, and the fixed
noise of the sample grids. Data order is not replayed: a resumed run shuffles with a seed
derived from (seed, epoch), a different but reproducible order.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Callable

import numpy as np

from streamgan.common.errors import ConfigError, StoreError
from streamgan.common.locks import exclusive
from streamgan.store.contract import ALL_SPLITS, open_store
from streamgan.train.checkpoint import latest_checkpoint, restore_checkpoint
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
    config = dataclasses.replace(config).validate()
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    with exclusive(config.workdir):
        return _train(config, verbose=verbose, log=log, callbacks=callbacks)


def _train(config: TrainConfig, *, verbose, log, callbacks) -> dict[str, Any]:
    import keras

    from streamgan.train import callbacks as cb
    from streamgan.train import precision
    from streamgan.train.conditioning import GRID_ROWS, grid_conditions, prepare_conditioning
    from streamgan.train.data import (
        StoreReader,
        bound_malloc_arenas,
        load_transform,
        num_batches,
        stream_dataset,
    )
    from streamgan.train.export import ModelCard
    from streamgan.train.gan import build_gan

    bound_malloc_arenas()  # flat peak memory however long the run (see its docstring)

    config = dataclasses.replace(config).validate()
    paths = RunPaths(config.workdir)
    if config.resume:
        saved = TrainConfig.load(paths.config)
        saved.check_fixed(config)
        config.image_size = saved.image_size  # the model's, whatever the store holds
    elif paths.has_run():
        raise FileExistsError(f"{config.workdir} already holds a training run: add --resume to "
                              "continue it, or choose a new --workdir")

    info = open_store(config.store)
    if config.image_size is None:
        config.image_size = info.image_size
    elif config.image_size != info.image_size:
        raise StoreError(f"{config.store} holds {info.image_size} px images but the model "
                         f"{'being resumed ' if config.resume else ''}is {config.image_size} px: "
                         f"use a {config.image_size} px store, or start a new --workdir")
    config.pixel_range = info.manifest.pixel_range
    if config.split is None:
        config.split = info.default_split()
    config.validate()
    rows = info.split_mask(config.split)
    paths.makedirs()
    reader = StoreReader.from_info(info, rows, config.max_images)
    spec, encoder, why = prepare_conditioning(config, info, paths, reader)

    gan = build_gan(config, spec)
    if config.warm_start and not config.resume:
        from streamgan.train.warmstart import warm_start
        config.parent = warm_start(gan, config, spec, log)
    config.save(paths.config)
    initial_epoch, ckpt = 0, latest_checkpoint(paths.checkpoints) if config.resume else None
    if ckpt:
        try:
            initial_epoch = restore_checkpoint(gan, ckpt)["epoch"]
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise ConfigError(f"checkpoint {ckpt} is unreadable ({e}): move it away to resume "
                              "from the one before it") from None
    if config.resume:
        cb.trim_history(paths.history, initial_epoch)  # rows of a killed epoch are redone
    fixed_noise = _fixed_noise(paths, config)

    if spec is not None:
        reader = reader.with_condition(spec.source)
    dataset = stream_dataset(reader, load_transform(info.transform_dir), config.batch_size,
                             seed=config.seed * 100_003 + initial_epoch,
                             shuffle_buffer=config.shuffle_buffer, readers=config.readers,
                             encode_condition=encoder)
    steps = num_batches(reader.num_images, config.batch_size)

    split = "every image" if config.split == ALL_SPLITS else f"split {config.split!r}"
    log(f"streamgan train: {reader.num_images} images ({split}) of {info.image_size} px from "
        f"{config.store}, batch {config.batch_size} -> {steps} batches/epoch")
    log(f"  {config.arch}: generator {gan.generator.count_params():,} params, discriminator "
        f"{gan.discriminator.count_params():,} params, latent {config.latent_dim}, "
        f"base filters {config.base_filters}; loss {config.loss}, augment {config.augment}, "
        f"R1 {config.r1_gamma:g}, EMA {config.ema_decay:g}")
    log(f"  computing in {precision.resolve(config.precision)[1]}")
    log(f"  {why}" + (f"; strength 0 -> 1 from image {config.condition_start:,} over "
                      f"{config.condition_ramp:,} images; grid rows: "
                      f"{', '.join(repr(p) for p in spec.prompts[:GRID_ROWS])}" if spec else ""))
    if ckpt:
        log(f"  resuming {config.workdir} after epoch {initial_epoch} "
            f"(step {int(gan.g_optimizer.iterations.numpy())}) from {ckpt}")
    elif config.resume:
        log(f"  no checkpoint in {config.workdir} yet: starting it from epoch 1")

    checkpointer = cb.Checkpoint(paths, config.to_dict(), keep=config.keep_checkpoints)
    grid_noise, grid_ids, grid_cols, grid_labels = fixed_noise, None, None, None
    if spec is not None:
        grid_noise, grid_ids, grid_cols, grid_labels = grid_conditions(
            spec, encoder, config.num_samples, fixed_noise)
    card = ModelCard(pixel_range=tuple(config.pixel_range), image_size=config.image_size,
                     latent_dim=config.latent_dim, arch=config.arch, condition=spec,
                     conditioning_dir=paths.conditioning if spec else None)
    evaluation = _kid_callback(config, info, paths, log, reader, encoder, card)
    history = {}
    if initial_epoch >= config.epochs:
        log(f"  already trained for {initial_epoch} epochs: pass --epochs N with N > "
            f"{initial_epoch} to train further")
    else:
        history = gan.fit(
            dataset, epochs=config.epochs, initial_epoch=initial_epoch, verbose=verbose,
            shuffle=False,  # the dataset reshuffles itself every epoch
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
        "batches_per_epoch": steps,
        "initial_epoch": initial_epoch,
        "epoch": final_epoch,
        "step": int(gan.g_optimizer.iterations.numpy()),
        "metrics": {k: float(v[-1]) for k, v in history.items() if v},
        "generator": paths.generator,
        "samples": paths.samples,
        "last_sample_grid": paths.sample_grid(final_epoch) if final_epoch else None,
        "checkpoint": checkpointer.last_path or ckpt,
        "history": paths.history,
        "loss_curve": paths.loss_curve,
        "tensorboard": paths.logs,
        "report": _report(config.workdir, log) if final_epoch else None,
    }
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


def _kid_callback(config: TrainConfig, info, paths: RunPaths, log, reader, encoder, card):
    """The KID evaluation of this run, or None (off, or the feature network is missing)."""
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
                            conditions=conditions, card=card)


def _fixed_noise(paths: RunPaths, config: TrainConfig) -> np.ndarray:
    """The sample-grid noise: drawn once from the seed, then read back on every resume."""
    shape = (config.num_samples, config.latent_dim)
    if config.resume and os.path.exists(paths.fixed_noise):
        noise = np.load(paths.fixed_noise)
        if noise.shape != shape:
            raise ConfigError(f"{paths.fixed_noise} holds noise of shape {noise.shape}, the run "
                              f"needs {shape}: start a new --workdir")
        return noise
    noise = np.random.default_rng(config.seed).standard_normal(shape).astype(np.float32)
    np.save(paths.fixed_noise, noise)
    return noise
