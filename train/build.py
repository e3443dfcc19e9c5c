"""From the options a user gave to what `fit()` needs, in two steps anyone can call.

    resolved = resolve(config)          # a frozen TrainConfig with every derived field final
    trainee = build(resolved)           # GAN, dataset, encoder, callbacks' inputs, run paths
    trainee.gan.fit(trainee.dataset, ...)

`resolve` reads the store and the run folder and decides everything a run's options leave
open: the image size (the store's, or a resumed model's), the pixel range (the store's
manifest), the split, what the run conditions on, and a warm start's parent (and so the
condition's schedule and the --balance default). Nothing after it changes the config: `build`
and `fit` only read it, and it is what config.json and every checkpoint record. `build` then
makes the run folder's contents that the nets depend on (the TFT graph copy, the fixed
noise), the nets (from the parent's weights, or a checkpoint's on resume) and the streamed
dataset.

`train()` (train/loop.py) is resolve + build + fit; bench/ and the tests call the same two.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import numpy as np

from streamgan.common.errors import ConfigError, StoreError
from streamgan.store.contract import ALL_SPLITS, StoreInfo, open_store
from streamgan.train.config import WARM_BALANCE, TrainConfig
from streamgan.train.paths import RunPaths


@dataclasses.dataclass(frozen=True)
class Resolved:
    """A run's final config, its store and folder, and one line each on how it was decided."""
    config: TrainConfig
    info: StoreInfo
    paths: RunPaths
    conditioning: str                # what the run conditions on, and why
    parent_note: str | None = None   # what a warm start found (None: no warm start asked)


def resolve(config: TrainConfig) -> Resolved:
    """The run `config` describes, resolved against its store and folder (see the module)."""
    from streamgan.train.conditioning import choose_source

    config = config.validate()
    paths = RunPaths(config.workdir)
    saved = None
    if config.resume:
        saved = TrainConfig.load(paths.config)
        saved.check_fixed(config)
        config = dataclasses.replace(config, image_size=saved.image_size)
    elif paths.has_run():
        raise FileExistsError(f"{config.workdir} already holds a training run: add --resume to "
                              "continue it, or choose a new --workdir")
    info = open_store(config.store)
    if config.image_size is not None and config.image_size != info.image_size:
        raise StoreError(f"{config.store} holds {info.image_size} px images but the model "
                         f"{'being resumed ' if config.resume else ''}is {config.image_size} px: "
                         f"use a {config.image_size} px store, or start a new --workdir")
    if saved is not None:
        source = saved.condition_source
        why = f"conditioned on {source!r} (resumed)" if source else "unconditional (resumed)"
    else:
        source, why = choose_source(config.condition, info.manifest)
    config = dataclasses.replace(
        config, image_size=info.image_size, pixel_range=tuple(info.manifest.pixel_range),
        split=config.split or info.default_split(), condition_source=source).validate()

    note = None
    if config.warm_start and not config.resume:
        from streamgan.train.warmstart import parent_of
        parent, note = parent_of(config)
        if parent is not None:
            full_strength = dict(condition_start=0, condition_ramp=0) if source else {}
            config = dataclasses.replace(config, parent=parent, **full_strength)
    if config.balance is None:  # not given: a warm start's categories new to it are rare
        warm = config.parent is not None and source is not None
        config = dataclasses.replace(config, balance=WARM_BALANCE if warm else 0.0)
    return Resolved(config=config, info=info, paths=paths, conditioning=why, parent_note=note)


@dataclasses.dataclass
class Trainee:
    """What `fit()` needs for one resolved run, and what its callbacks read."""
    resolved: Resolved
    gan: Any                          # train.gan.GAN, compiled and built
    dataset: Any                      # tf.data.Dataset of one epoch's batches
    steps: int                        # batches per epoch
    reader: Any                       # train.data.StoreReader of the run's images
    spec: Any                         # ConditionSpec, or None for an unconditional run
    encoder: Any                      # ConditionEncoder, or None
    fixed_noise: np.ndarray           # the sample grids' noise
    initial_epoch: int                # epochs already done (a resume's checkpoint)
    checkpoint: str | None            # the checkpoint resumed from
    vocabulary: tuple[int, int] = (0, 0)  # a warm start's (known, new) condition entries
    transform: Any = None             # the store's TFT pixel transform (data.load_transform)
    repeat_factors: Any = None        # balance.RepeatFactors of a balanced run, or None

    def stream(self, seed: int):
        """One epoch of the run's batches, in the order `seed` draws (what `dataset` is for
        the run's own seed; bench/ trains slices of a run on further seeds)."""
        from streamgan.train.data import stream_dataset
        c = self.config
        return stream_dataset(self.reader, self.transform, c.batch_size, seed=seed,
                              shuffle_buffer=c.shuffle_buffer, readers=c.readers,
                              encode_condition=self.encoder,
                              repeat_factors=self.repeat_factors)

    @property
    def config(self) -> TrainConfig:
        return self.resolved.config

    @property
    def warm_started(self) -> bool:
        """Whether this run starts from a parent's weights now (not a resume of one)."""
        return self.config.parent is not None and not self.config.resume

    @property
    def paths(self) -> RunPaths:
        return self.resolved.paths

    def card(self):
        """The ModelCard every exported file of this run carries (train/export.py)."""
        from streamgan.train.export import ModelCard
        c = self.config
        return ModelCard(pixel_range=c.pixel_range, image_size=c.image_size,
                         latent_dim=c.latent_dim, arch=c.arch, condition=self.spec,
                         conditioning_dir=self.paths.conditioning if self.spec else None)


def build(resolved: Resolved, *,
          log: Callable[[str], None] = lambda _: None) -> Trainee:
    """The nets, data and run-folder state of a resolved run (see the module).

    A new run writes config.json; a resumed run restores its newest checkpoint; a warm
    start loads the parent's weights. log: where the warm start's line goes.
    """
    # TensorFlow's modules load here, on first use, not when train/loop.py is imported:
    # `streamgan train --dry-run` and `--resume`'s option checks then start in a fraction of
    # a second
    from streamgan.train.checkpoint import latest_checkpoint, restore_checkpoint
    from streamgan.train.conditioning import prepare_run
    from streamgan.train.data import (
        StoreReader,
        bound_malloc_arenas,
        load_transform,
        num_batches,
    )
    from streamgan.train.gan import build_gan

    bound_malloc_arenas()  # flat peak memory however long the run (see its docstring)
    config, info, paths = resolved.config, resolved.info, resolved.paths
    paths.makedirs()
    reader = StoreReader.from_info(info, info.split_mask(config.split), config.max_images)
    spec, encoder = prepare_run(config, info, paths, reader)
    gan = build_gan(config, spec)
    vocabulary = (0, 0)
    if config.parent is not None and not config.resume:
        from streamgan.train.warmstart import load_parent
        vocabulary = load_parent(gan, config, spec)
        log(f"  {resolved.parent_note}"
            + (f" ({vocabulary[0]} known and {vocabulary[1]} new {spec.source} entries)"
               if spec is not None else ""))
    elif resolved.parent_note:
        log(f"  {resolved.parent_note}")
    config.save(paths.config)

    initial_epoch = 0
    ckpt = latest_checkpoint(paths.checkpoints) if config.resume else None
    if ckpt:
        try:
            initial_epoch = restore_checkpoint(gan, ckpt)["epoch"]
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise ConfigError(f"checkpoint {ckpt} is unreadable ({e}): move it away to resume "
                              "from the one before it") from None
    repeat_factors = None
    if spec is not None:
        reader = reader.with_condition(spec.source)
        if config.balance > 0:
            from streamgan.train.balance import RepeatFactors
            from streamgan.train.conditioning import PROMPT_SCAN_ROWS
            repeat_factors = RepeatFactors(
                encoder, reader.condition_texts(PROMPT_SCAN_ROWS, seed=config.seed),
                config.balance)
            log(f"  {repeat_factors.describe()}")
    trainee = Trainee(resolved=resolved, gan=gan, dataset=None,
                      steps=num_batches(reader.num_images, config.batch_size), reader=reader,
                      spec=spec, encoder=encoder, fixed_noise=fixed_noise(paths, config),
                      initial_epoch=initial_epoch, checkpoint=ckpt, vocabulary=vocabulary,
                      transform=load_transform(info.transform_dir),
                      repeat_factors=repeat_factors)
    trainee.dataset = trainee.stream(config.seed * 100_003 + initial_epoch)
    return trainee


def split_name(config: TrainConfig) -> str:
    return "every image" if config.split == ALL_SPLITS else f"split {config.split!r}"


def fixed_noise(paths: RunPaths, config: TrainConfig) -> np.ndarray:
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
