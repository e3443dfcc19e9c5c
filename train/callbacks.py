"""Keras callbacks that turn a `fit()` into a run directory (layout in train/paths.py).

Each callback does one thing at the end of every epoch (the loss curve at most every 15 s).
`fit` passes 0-based epoch indices; every output counts finished epochs (1-based, as the
progress bar counts): `samples/epoch0001.png`, `checkpoints/epoch0001/` and history.csv's row
with epoch 1 are all of the first epoch.
"""
from __future__ import annotations

import csv
import os
import time

import keras
import numpy as np
import tensorflow as tf

from streamgan.common.files import atomic_path
from streamgan.train import checkpoint, images, quality
from streamgan.train.export import ModelCard, export_model
from streamgan.train.paths import RunPaths
from streamgan.train.precision import float32_copy


class SampleGrid(keras.callbacks.Callback):
    """A grid of generated images from fixed noise: PNG per epoch and a TensorBoard image.

    The noise never changes during a run (and is reloaded on resume), so the grids show how
    the same latent points evolve. A conditional run's grid has one row per condition, and
    `labels` (its prompts) written left of the rows.
    """

    def __init__(self, fixed_noise: np.ndarray, paths: RunPaths,
                 pixel_range: tuple[float, float], conditions: np.ndarray | None = None,
                 cols: int | None = None, labels: list[str] | None = None):
        super().__init__()
        self.fixed_noise = np.asarray(fixed_noise, np.float32)
        self.paths = paths
        self.pixel_range = pixel_range
        self.conditions = conditions  # a conditional run: ids per image, one row per condition
        self.cols = cols
        self.labels = labels if labels and any(labels) else None
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        inputs = (self.fixed_noise if self.conditions is None
                  else [self.fixed_noise, self.conditions])
        fakes = keras.ops.convert_to_numpy(self.model.sampler(inputs, training=False))
        grid = images.make_grid(images.to_uint8(fakes, self.pixel_range), self.cols,
                                labels=self.labels)
        images.save_png(grid, self.paths.sample_grid(epoch + 1))
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.paths.sample_logs)
        with self._writer.as_default():
            tf.summary.image("samples", grid[np.newaxis], step=epoch + 1)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class KIDEvaluation(keras.callbacks.Callback):
    """Every `every` epochs (and after the last): KID of `num` images of the run's sampling
    generator against precomputed features of held-out real images.

    Writes `kid`/`kid_std` into the epoch's logs (NaN on epochs without an evaluation, so
    history.csv keeps one column; place it before History), a TensorBoard scalar, and
    keeps the best generator so far at `best_path`. `best` starts from the run's history, so
    a resumed run only replaces the best with a better one.
    """

    def __init__(self, reference: np.ndarray, features, pixel_range, paths: RunPaths, *,
                 every: int, num: int, epochs: int, seed: int = 0, best: float = float("inf"),
                 log=print, conditions: np.ndarray | None = None,
                 card: ModelCard | None = None, at_start: bool = False):
        super().__init__()
        self.at_start = at_start  # also score the weights training starts from (a warm start)
        self.start: tuple[float, float] | None = None
        self.card = card  # exported with generator_best.keras
        self.reference = reference
        self.features = features
        self.pixel_range = pixel_range
        self.paths = paths
        self.every, self.num, self.epochs, self.seed = every, num, epochs, seed
        self.best = best
        self.log = log
        self.conditions = conditions
        self._writer = None

    def _kid(self, seed: int) -> tuple[float, float]:
        fakes = quality.generated_images(self.model.sampler, self.num, self.pixel_range,
                                         seed=seed, conditions=self.conditions)
        return quality.kid(self.features(fakes), self.reference, seed=self.seed)

    def on_train_begin(self, logs=None):
        if self.at_start:
            self.start = self._kid(self.seed)
            self.log(f"  before training (the parent's weights): KID {self.start[0]:.4f} "
                     f"+- {self.start[1]:.4f}")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        finished = epoch + 1
        if finished % self.every and finished != self.epochs:
            logs["kid"] = logs["kid_std"] = float("nan")
            return
        kid, kid_std = self._kid(self.seed + finished)
        logs["kid"], logs["kid_std"] = kid, kid_std
        better = kid < self.best
        if better:
            self.best = kid
            export_model(self.model.sampler, self.paths.best_generator, self.card)
        self.log(f"  epoch {finished}: KID {kid:.4f} +- {kid_std:.4f}"
                 + ("  (best so far: generator_best.keras)" if better else ""))
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.paths.quality_logs)
        with self._writer.as_default():
            tf.summary.scalar("kid", kid, step=finished)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class Checkpoint(keras.callbacks.Callback):
    """Saves both nets, both optimizers, epoch, step and RNG state after every epoch."""

    def __init__(self, paths: RunPaths, config: dict, keep: int = 3):
        super().__init__()
        self.paths = paths
        self.config = config
        self.keep = keep
        self.last_path: str | None = None

    def on_epoch_end(self, epoch, logs=None):
        self.last_path = checkpoint.save_checkpoint(self.model, self.paths.checkpoints, epoch + 1,
                                                    self.config, logs, keep=self.keep)


class ExportGenerator(keras.callbacks.Callback):
    """Keeps `generator.keras` (what `streamgan generate` loads) at the latest epoch: the
    weight-averaged generator when the run keeps one; and, when `fit()` ends, beside it
    `discriminator.keras`, which `generate --select` ranks candidates with (once per `fit()`,
    not per epoch: one more clone and save per epoch is a cost short epochs feel)."""

    def __init__(self, path: str, discriminator_path: str | None = None,
                 card: ModelCard | None = None):
        super().__init__()
        self.path = path
        self.discriminator_path = discriminator_path
        self.card = card  # travels inside each exported file (train/export.py)
        self._float32 = None  # the float32 copy, built once and refreshed every epoch

    def on_epoch_end(self, epoch, logs=None):
        sampler = self.model.sampler
        if self._float32 is None:
            self._float32 = float32_copy(sampler)
        elif self._float32 is not sampler:
            self._float32.set_weights(sampler.get_weights())
        export_model(self._float32, self.path, self.card)

    def on_train_end(self, logs=None):
        if self.discriminator_path:
            export_model(self.model.discriminator, self.discriminator_path, self.card)


class History(keras.callbacks.CSVLogger):
    """Keras' CSVLogger (appending), its `epoch` column counting finished epochs like every
    other output of the run (1-based; CSVLogger writes fit's 0-based index)."""

    def __init__(self, csv_path: str):
        super().__init__(csv_path, append=True)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


class LossCurve(keras.callbacks.Callback):
    """Plots history.csv (all epochs, across resumes) to a PNG: losses and D's outputs.

    At most once every `every_seconds` and when `fit()` ends: a plot costs ~0.2 s, as much as
    a checkpoint, which short epochs (the demo's take 2.5 s) feel. Must run after History
    in the callback list, which writes the epoch's row.
    """

    def __init__(self, csv_path: str, png_path: str, every_seconds: float = 15.0):
        super().__init__()
        self.csv_path = csv_path
        self.png_path = png_path
        self.every_seconds = every_seconds
        self._last = -float("inf")  # perf_counter() of the last plot
        self._pending = False  # epochs finished since the last plot

    def on_epoch_end(self, epoch, logs=None):
        self._pending = True
        if time.perf_counter() - self._last >= self.every_seconds:
            self._plot()

    def on_train_end(self, logs=None):
        if self._pending:
            self._plot()

    def _plot(self):
        plot_history(read_history(self.csv_path), self.png_path)
        self._last, self._pending = time.perf_counter(), False


def read_history(csv_path: str) -> dict[str, list[float]]:
    """history.csv as columns of floats (empty when the file does not exist yet).

    CSVLogger adds `val_*` columns filled with "NA" even without validation: those are dropped.
    """
    if not os.path.exists(csv_path):
        return {}
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    columns = {}
    for key in rows[0].keys() if rows else ():
        values = [row[key] for row in rows]
        if all(v not in (None, "", "NA") for v in values):
            columns[key] = [float(v) for v in values]  # "nan": an epoch without evaluation
    return columns


def trim_history(csv_path: str, keep_epochs: int) -> None:
    """Drop rows of epochs after the checkpoint a run resumes from (their training is redone):
    keep those of epochs 1..keep_epochs."""
    if not os.path.exists(csv_path):
        return
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, [r for r in reader if int(r["epoch"]) <= keep_epochs]
    if not fields:
        return
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def plot_history(history: dict[str, list[float]], png_path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    import matplotlib.pyplot as plt

    if not history.get("epoch"):
        return
    epochs = history["epoch"]
    fig, (losses, scores, kid_axis) = plt.subplots(1, 3, figsize=(15, 4))
    for key, label in (("d_loss", "discriminator loss"), ("g_loss", "generator loss")):
        if key in history:
            losses.plot(epochs, history[key], marker=".", label=label)
    for key, label in (("d_real", "D(x)"), ("d_fake", "D(G(z))")):
        if key in history:
            scores.plot(epochs, history[key], marker=".", label=label)
    losses.set(xlabel="epoch", ylabel="loss", title="Losses")
    scores.set(xlabel="epoch", ylabel="mean sigmoid output", title="Discriminator", ylim=(0, 1))
    measured = [(e, k) for e, k in zip(epochs, history.get("kid", [])) if np.isfinite(k)]
    if measured:
        axes = (losses, scores, kid_axis)
        kid_axis.plot(*zip(*measured), marker="o", color="tab:green", label="KID (held out)")
        kid_axis.set(xlabel="epoch", ylabel="KID (lower is better)", title="Image quality")
    else:
        axes = (losses, scores)
        kid_axis.set_visible(False)
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(png_path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
