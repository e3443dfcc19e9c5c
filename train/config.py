"""The options of one training run: a typed, validated dataclass saved as `config.json`.

`TrainConfig` is built once (from the command line or by `streamgan run`), validated, written
into the run directory and into every checkpoint, and read back by `--resume`, like stylegan's
`training_options.json`. Options fall into two groups:

- the *fixed* ones (`image_size`, `latent_dim`, `base_filters`, `num_samples`): the checkpoints
  only fit that architecture, and the sample grids keep the same noise for the whole run, so
  changing one on resume is an error;
- the *run* (`store`, `epochs`, `batch_size`, learning rates, ...): may change on resume, e.g.
  `--epochs 40` to train a finished 30-epoch run further.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

CONFIG_FILE = "config.json"

# Fixed for the life of a run: a checkpoint only fits the architecture it was saved from, and
# the fixed sample noise is (num_samples, latent_dim).
FIXED_FIELDS = ("image_size", "latent_dim", "base_filters", "num_samples")

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 512


class ConfigError(ValueError):
    """An option, or a combination of options, that cannot work; the message says which."""


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run. Defaults follow the DCGAN paper (Radford et al.)."""
    store: str
    workdir: str
    epochs: int = 30
    batch_size: int = 64
    image_size: int | None = None  # None: the store's; checked against it when set
    latent_dim: int = 100
    base_filters: int = 64         # filters of the discriminator's first / generator's last layer
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    seed: int = 0
    num_samples: int = 64          # images in the per-epoch sample grid (fixed noise)
    shuffle_buffer: int | None = None  # images; None: about 64 MiB of them
    readers: int = 2               # chunk reads in flight
    max_images: int | None = None  # train on the first N images of the store (debugging)
    keep_checkpoints: int = 3
    resume: bool = False

    def validate(self) -> "TrainConfig":
        """Raise ConfigError naming the first bad option; return self for chaining."""
        for name in ("epochs", "latent_dim", "base_filters", "num_samples", "readers",
                     "keep_checkpoints"):
            _check_int(name, getattr(self, name), minimum=1)
        _check_int("batch_size", self.batch_size, minimum=2)
        _check_int("seed", self.seed, minimum=0)
        for name in ("shuffle_buffer", "max_images"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum=1)
        if self.image_size is not None:
            _check_int("image_size", self.image_size, minimum=1)
            size = self.image_size
            if size & (size - 1) or not MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE:
                raise ConfigError(f"image_size {size} is not supported: the DCGAN nets need a "
                                  f"power of two from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE} "
                                  "(preprocess the catalogue with --image-size 32, 64 or 128)")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not (isinstance(self.beta_1, (int, float)) and 0 <= self.beta_1 < 1):
            raise ConfigError(f"beta_1 must be in [0, 1), got {self.beta_1!r}")
        if not self.store:
            raise ConfigError("no store given: pass --store DIR "
                              "(the output of `streamgan preprocess`)")
        if not self.workdir:
            raise ConfigError("no workdir given: pass --workdir DIR for checkpoints and samples")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from a dict, rejecting unknown keys (a typo must not be silently ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown training option(s): {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as e:  # a required option is missing
            raise ConfigError(f"incomplete training options: {e}") from None

    def save(self, workdir: str | None = None) -> str:
        """Write config.json into workdir (default: self.workdir) atomically; return its path."""
        path = os.path.join(workdir or self.workdir, CONFIG_FILE)
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(self.to_dict(), fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, workdir: str) -> "TrainConfig":
        """The config.json of the run in workdir."""
        path = os.path.join(workdir, CONFIG_FILE)
        try:
            with open(path) as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"{workdir} holds no training run to resume ({CONFIG_FILE} is "
                              "missing): start it without --resume") from None
        except (OSError, ValueError) as e:
            raise ConfigError(f"{path} is unreadable ({e}): "
                              "start a new run in a new --workdir") from None
        return cls.from_dict(data)

    def check_fixed(self, other: "TrainConfig | dict[str, Any]") -> None:
        """Raise ConfigError if other (a config or explicit options) changes a FIXED_FIELDS value
        of this saved run; None in other means 'not given'."""
        values = other if isinstance(other, dict) else other.to_dict()
        for name in FIXED_FIELDS:
            given = values.get(name)
            if given is not None and given != getattr(self, name):
                raise ConfigError(
                    f"--{name.replace('_', '-')} {given} differs from the run being resumed "
                    f"({getattr(self, name)}): its checkpoints and sample noise only fit the saved "
                    "value; drop the option or start a new --workdir")

    def resumed_with(self, **overrides: Any) -> "TrainConfig":
        """This saved config with run options replaced; FIXED_FIELDS must not change.

        overrides holds only what the user gave explicitly (None values are ignored).
        """
        overrides = {k: v for k, v in overrides.items() if v is not None}
        self.check_fixed(overrides)
        merged = dataclasses.replace(self, **overrides)
        merged.resume = True
        return merged.validate()


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
