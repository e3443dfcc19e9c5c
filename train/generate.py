"""Sample new images from a trained generator: a grid PNG and/or one PNG per image.

Loads the generator a run exports (`WORKDIR/generator.keras`, or any `.keras` file), so it needs
neither the store nor the checkpoints. With a seed the noise, and so the images, are the same
on every call. A conditional run's generator takes prompts, tokenised by the copy of the
store's TFT graph the run keeps (`conditioning/`): one grid row per prompt, the same noise
down each column, so the rows differ only by what was asked for.

`select` > 1 draws that many candidates per image and keeps the ones the run's discriminator
(`discriminator.keras`, exported beside the generator) scores highest: for a conditional run,
its conditional logit, how real an image looks *as that prompt*. Keeping the discriminator's
favourites is top-k discriminator rejection sampling (after Azadi et al., ICLR 2019, whose
acceptance test keeps images in proportion to the density ratio D estimates): the generator's
misses, images that do not look like their prompt or like a photo at all, are dropped
instead of shown. The columns then no longer share their noise.

`truncation` T draws the noise from a normal truncated at +-T (values beyond it drawn again),
the truncation trick of BigGAN (Brock et al., ICLR 2019): the smaller T, the nearer each image
is to what the generator makes most often for its prompt, trading variety for images that
look more like the prompt and like a photo. Measured by bench/conditioning.py.
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from streamgan.common.errors import ConfigError
from streamgan.train import conditioning, images
from streamgan.train.export import load_generator, load_model
from streamgan.train.paths import RunPaths


def find_generator(workdir: str | None = None, model: str | None = None) -> str:
    """Path of the generator to load: `model` if given, else the one exported into workdir."""
    path = model or RunPaths(workdir or ".").generator
    if not os.path.exists(path):
        where = f"{model} does not exist" if model else (
            f"{workdir} holds no trained generator ({os.path.basename(path)} is missing)")
        raise FileNotFoundError(f"{where}: train one first with "
                                "`streamgan train --store STORE --workdir WORKDIR`")
    return path


def draw_noise(count: int, latent_dim: int, seed: int | None = None,
               truncation: float | None = None) -> np.ndarray:
    """float32 (count, latent_dim) standard normal noise; with `truncation` T, every value
    outside [-T, T] drawn again until none is (a truncated normal)."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((count, latent_dim))
    if truncation is not None:
        outside = np.abs(noise) > truncation
        while outside.any():
            noise[outside] = rng.standard_normal(int(outside.sum()))
            outside = np.abs(noise) > truncation
    return noise.astype(np.float32)


def in_batches(net, x: np.ndarray, ids: np.ndarray | None = None,
               batch_size: int = 64) -> np.ndarray:
    """net's (first) output for x, with its condition ids for a conditional net, computed in
    batches so a large --num does not hold every activation at once."""
    import keras
    out = []
    for i in range(0, len(x), batch_size):
        y = net(x[i:i + batch_size] if ids is None else [x[i:i + batch_size],
                                                         ids[i:i + batch_size]], training=False)
        out.append(keras.ops.convert_to_numpy(y[0] if isinstance(y, (list, tuple)) else y))
    return np.concatenate(out)


def discriminator_scores(discriminator, images: np.ndarray, ids: np.ndarray | None = None,
                         batch_size: int = 64) -> np.ndarray:
    """D's logit (N,) for each image, with its condition ids for a conditional D."""
    return in_batches(discriminator, images, ids, batch_size).reshape(-1)


def picked(generator, discriminator, noise: np.ndarray, ids: np.ndarray | None, groups: int,
           select: int, batch_size: int = 64) -> np.ndarray:
    """Images from noise (and ids): of each of `groups` equal, consecutive groups of
    candidates, the 1/select the discriminator scores highest, in their drawing order."""
    fakes = in_batches(generator, noise, ids, batch_size)
    scores = discriminator_scores(discriminator, fakes, ids, batch_size)
    return fakes[best_of(scores, groups, len(fakes) // select // groups)]


def best_of(scores: np.ndarray, groups: int, keep: int) -> np.ndarray:
    """Indices of the `keep` best-scored candidates of each of `groups` equal, consecutive
    groups, in their original order."""
    per = len(scores) // groups
    return np.concatenate([g * per + np.sort(np.argsort(-scores[g * per:(g + 1) * per],
                                                        kind="stable")[:keep])
                           for g in range(groups)])


def generate(workdir: str | None = None, num: int = 64, out: str | None = None,
             out_dir: str | None = None, seed: int | None = None, cols: int | None = None,
             model: str | None = None, batch_size: int = 64,
             prompts: list[str] | None = None, select: int = 1,
             truncation: float | None = None) -> dict[str, Any]:
    """Generate `num` images (per prompt); write a grid to `out` and/or PNGs into `out_dir`.

    prompts: for a conditional generator, what to generate (one grid row each); without them
    a conditional generator's grid has a labelled row per frequent condition of its run (as
    its sample grids do), the `num` images shared out row by row.
    select: candidates drawn per image, the discriminator's favourites kept (1: no selection).
    truncation: draw the noise from a normal truncated at +-truncation (None: not truncated).
    Returns {"generator", "num", "seed", "grid", "files", "prompts"}.
    """
    if num < 1:
        raise ConfigError(f"--num must be >= 1, got {num}")
    if select < 1:
        raise ConfigError(f"--select must be >= 1, got {select}")
    if truncation is not None and not truncation > 0:
        raise ConfigError(f"--truncation must be > 0, got {truncation}")
    if not out and not out_dir:
        raise ConfigError("nothing to write: give --out GRID.png and/or --out-dir DIR")
    path = find_generator(workdir, model)
    loaded = load_generator(path)
    generator, spec = loaded.model, loaded.card.condition
    discriminator = None
    if select > 1:
        critic = RunPaths(os.path.dirname(os.path.abspath(path))).discriminator
        if not os.path.exists(critic):
            raise ConfigError(f"--select: {critic} is missing (a run exports it beside the "
                              "generator when training ends; resume an older run for one "
                              "epoch to write it)")
        discriminator = load_model(critic)
    noise = draw_noise(num * select, loaded.card.latent_dim, seed, truncation)
    if prompts and not loaded.conditional:
        raise ConfigError(f"--prompt: {path} is an unconditional generator (its run had no "
                          "usable descriptions, or --condition none): generate without --prompt")
    ids, groups, labels = None, 1, None  # groups: sets of candidates a selection keeps the best of
    if loaded.conditional:
        encoder = loaded.encoder
        if prompts:
            conditioning.check_prompts(encoder, prompts)
            noise = np.tile(noise, (len(prompts), 1))
            ids = np.repeat(encoder.encode(prompts), num * select, axis=0)
            cols, groups, labels = num, len(prompts), prompts
        else:
            frequent = conditioning.known_prompts(spec, encoder) or ("",)
            cols = cols or math.ceil(num / min(conditioning.GRID_ROWS, len(frequent), num))
            labels = [frequent[row % len(frequent)] for row in range(math.ceil(num / cols))]
            # image i sits in row i // cols; its `select` candidates share its condition
            ids = encoder.encode([labels[i // select // cols] for i in range(num * select)])
            prompts = list(dict.fromkeys(labels))
            groups = num
    fakes = (in_batches(generator, noise, ids, batch_size) if discriminator is None
             else picked(generator, discriminator, noise, ids, groups, select, batch_size))
    pixels = images.to_uint8(fakes, loaded.card.pixel_range)
    num = len(pixels)

    files = []
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        width = max(4, len(str(num - 1)))
        files = [images.save_png(image, os.path.join(out_dir, f"{i:0{width}d}.png"))
                 for i, image in enumerate(pixels)]
    # a conditional grid's rows are labelled with what they were asked to be
    labels = labels if labels and any(labels) else None
    grid = images.save_png(images.make_grid(pixels, cols, labels=labels), out) if out else None
    return {"generator": path, "num": num, "seed": seed, "grid": grid, "files": files,
            "prompts": [p for p in prompts or [] if p]}


class GeneratorSource:
    """uint8 images from an exported generator (train/export.py's Generator); a conditional
    one is given each image's condition text, tokenised by the graph that travels with it."""

    def __init__(self, loaded):
        self.loaded = loaded
        self.conditional = loaded.conditional
        self.condition = loaded.card.condition.source if loaded.conditional else None

    def __call__(self, count: int, texts: list[str] | None, seed: int) -> np.ndarray:
        model = self.loaded.model
        noise = draw_noise(count, int(model.inputs[0].shape[-1]), seed)
        ids = self.loaded.encoder.encode(list(texts)) if self.conditional else None
        return images.to_uint8(in_batches(model, noise, ids, batch_size=100),
                        self.loaded.card.pixel_range)


def load_source(workdir: str, model: str | None = None) -> tuple[GeneratorSource, str]:
    """(the run's generator, or `model`, as an image source; its path)."""
    path = find_generator(workdir, model)
    return GeneratorSource(load_generator(path)), path
