"""Keras callbacks that turn a `fit()` into a run directory (layout in train/paths.py).

Each callback does one thing at the end of every epoch. `fit` passes 0-based epoch indices;
files are named by the number of finished epochs (1-based, as the progress bar counts), so
`samples/epoch0001.png` is the grid after the first epoch.
"""
from __future__ import annotations

import csv
import os

import keras
import numpy as np

from common.files import atomic_path
from train import checkpoint, images
from train.paths import RunPaths


class SampleGrid(keras.callbacks.Callback):
    """A grid of generated images from fixed noise: PNG per epoch and a TensorBoard image.

    The noise never changes during a run (and is reloaded on resume), so the grids show how
    the same latent points evolve.
    """

    def __init__(self, fixed_noise: np.ndarray, paths: RunPaths,
                 pixel_range: tuple[float, float]):
        super().__init__()
        self.fixed_noise = np.asarray(fixed_noise, np.float32)
        self.paths = paths
        self.pixel_range = pixel_range
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        fakes = keras.ops.convert_to_numpy(self.model.sampler(self.fixed_noise, training=False))
        grid = images.make_grid(images.to_uint8(fakes, self.pixel_range))
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


def export_generator(generator: keras.Model, path: str) -> str:
    """Save a generator as a .keras file atomically: generate never loads half a model."""
    with atomic_path(path, suffix=".keras") as tmp:  # Keras insists on the suffix
        generator.save(tmp)
    return path


class ExportGenerator(keras.callbacks.Callback):
    """Keeps `generator.keras` (what `streamgan generate` loads) at the latest epoch: the
    weight-averaged generator when the run keeps one."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        export_generator(self.model.sampler, self.path)


class LossCurve(keras.callbacks.Callback):
    """Plots history.csv (all epochs, across resumes) to a PNG: losses and D's outputs.

    Must run after the CSVLogger in the callback list, which writes the epoch's row.
    """

    def __init__(self, csv_path: str, png_path: str):
        super().__init__()
        self.csv_path = csv_path
        self.png_path = png_path

    def on_epoch_end(self, epoch, logs=None):
        plot_history(read_history(self.csv_path), self.png_path)


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
            columns[key] = [float(v) for v in values]
    return columns


def trim_history(csv_path: str, keep_epochs: int) -> None:
    """Drop rows of epochs after the checkpoint a run resumes from (their training is redone)."""
    if not os.path.exists(csv_path):
        return
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, [r for r in reader if int(r["epoch"]) < keep_epochs]
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
    epochs = [e + 1 for e in history["epoch"]]
    fig, (losses, scores) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("d_loss", "discriminator loss"), ("g_loss", "generator loss")):
        if key in history:
            losses.plot(epochs, history[key], marker=".", label=label)
    for key, label in (("d_real", "D(x)"), ("d_fake", "D(G(z))")):
        if key in history:
            scores.plot(epochs, history[key], marker=".", label=label)
    losses.set(xlabel="epoch", ylabel="loss", title="Losses")
    scores.set(xlabel="epoch", ylabel="mean sigmoid output", title="Discriminator", ylim=(0, 1))
    for ax in (losses, scores):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(png_path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
