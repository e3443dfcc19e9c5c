"""The layout of a training run's directory: the one place that names its files.

    workdir/
      config.json                    the TrainConfig of the run
      fixed_noise.npy                noise behind every sample grid (drawn once, reused on resume)
      checkpoints/epoch0007/         one directory per finished epoch (train/checkpoint.py)
      generator.keras                the latest generator, with its card (train/export.py):
                                     streamgan.load_generator(path) loads it anywhere
      generator_best.keras           the generator of the epoch with the best KID (when evaluated)
      samples/epoch0007.png          sample grid after each epoch, from the fixed noise
      history.csv                    metrics per epoch, epoch 1 = the first (callbacks.History)
      loss_curve.png                 history.csv as a plot
      evaluation.json                the last `streamgan evaluate` of the run
      nearest.png                    its generated images nearest to training photos, and those
      report.html                    everything above on one self-contained page
      logs/                          TensorBoard: logs/train (scalars), logs/samples (grids),
                                     logs/quality (KID)
      conditioning/                  a conditional run's condition.json and a copy of the
                                     store's TFT graph (generate --prompt needs no store)
      streamgan.log                  framework output of the commands on this run (train, generate,
                                     evaluate), one section each
"""
from __future__ import annotations

import dataclasses
import os
import re

EPOCH_DIR = re.compile(r"^epoch(\d{4,})$")


def epoch_name(epoch: int) -> str:
    """Zero-padded name of a finished epoch (1-based, as fit's progress bar counts)."""
    return f"epoch{epoch:04d}"


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """Where everything of one run lives (see the module docstring)."""
    workdir: str

    def _join(self, *parts: str) -> str:
        return os.path.join(self.workdir, *parts)

    @property
    def config(self) -> str:
        return self._join("config.json")

    @property
    def fixed_noise(self) -> str:
        return self._join("fixed_noise.npy")

    @property
    def checkpoints(self) -> str:
        return self._join("checkpoints")

    @property
    def conditioning(self) -> str:
        return self._join("conditioning")

    @property
    def generator(self) -> str:
        return self._join("generator.keras")

    @property
    def discriminator(self) -> str:
        return self._join("discriminator.keras")

    @property
    def best_generator(self) -> str:
        return self._join("generator_best.keras")

    @property
    def samples(self) -> str:
        return self._join("samples")

    @property
    def history(self) -> str:
        return self._join("history.csv")

    @property
    def loss_curve(self) -> str:
        return self._join("loss_curve.png")

    @property
    def evaluation(self) -> str:
        return self._join("evaluation.json")

    @property
    def logs(self) -> str:
        return self._join("logs")

    @property
    def sample_logs(self) -> str:
        return self._join("logs", "samples")

    @property
    def quality_logs(self) -> str:
        return self._join("logs", "quality")

    @property
    def nearest_panel(self) -> str:
        return self._join("nearest.png")

    @property
    def report(self) -> str:
        return self._join("report.html")

    @property
    def log_file(self) -> str:
        from streamgan.common.logs import LOG_FILE
        return self._join(LOG_FILE)

    def sample_grid(self, epoch: int) -> str:
        return os.path.join(self.samples, epoch_name(epoch) + ".png")

    def has_run(self) -> bool:
        """True when the workdir already holds (part of) a training run."""
        return os.path.exists(self.config) or (
            os.path.isdir(self.checkpoints)
            and any(EPOCH_DIR.match(name) for name in os.listdir(self.checkpoints)))

    def makedirs(self) -> None:
        for path in (self.workdir, self.checkpoints, self.samples, self.logs):
            os.makedirs(path, exist_ok=True)
