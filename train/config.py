"""The options of one training run: a typed, validated dataclass saved as `config.json`.

Each option is declared once, as a field (common/options.py): the command lines of `train` and
`run` are derived from it. `TrainConfig` is immutable: built once, resolved against its store
(train/build.py), written into the run directory and into every checkpoint, and read back by
`--resume`, like stylegan's `training_options.json`. Options marked `fixed` define the model
(its checkpoints only fit that architecture, and the sample grids keep the same noise for the
whole run): changing one on resume is an error. The others (`store`, `epochs`, learning
rates, ...) may change on resume, e.g. `--epochs 40` to train a finished 30-epoch run further.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from streamgan.common.errors import ConfigError
from streamgan.common.files import write_text
from streamgan.common.options import check_choice, flag_of, marked, option
from streamgan.store.contract import (
    DESCRIPTIONS_CONDITION,
    field_name_problem,
    image_size_problem,
    parse_image_size,
)
from streamgan.train.precision import CHOICES as PRECISIONS
from streamgan.train.registry import ARCHITECTURES, AUGMENTATIONS, LOSSES

SHUFFLE_WINDOW_MIB = 16  # default shuffle buffer: images permuted together, in whole chunks

MODEL = "model (fixed for the life of a run)"
OPTIMISATION = "optimisation and input"
WARM_START_FIXES = ("rows", "moments", "warmup")  # train/warmstart.py
WARM_BALANCE = 0.2  # a warm start's default --balance: its new categories are rare ones


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run.

    The defaults are the small-data recipe measured by bench/quality.py on a 3,000-photo
    catalogue on 2 CPU cores: the FastGAN-style nets at base width 32, DiffAugment on real and
    generated images, a lazy R1 penalty (gamma 0.02), an EMA of the generator's weights, batches
    of 32 and Adam 4e-4 (0, 0.99).
    `--arch dcgan --base-filters 64 --batch-size 64 --augment none --r1-gamma 0 --ema-decay 0
    --learning-rate 2e-4 --beta-1 0.5 --beta-2 0.999` is the DCGAN paper's recipe (batch 128
    in the paper).
    """
    store: str = option(help="store directory made by `streamgan preprocess` (with --resume: "
                             "default, the run's store)")
    workdir: str = option(help="run directory (created if missing)")
    epochs: int = option(30, help="train until this many epochs")
    batch_size: int = option(32, help="images per step")
    arch: str = option("fastgan", choices=tuple(ARCHITECTURES), fixed=True, shape=True, group=MODEL,
                       help="generator/discriminator architecture")
    image_size: int | None = option(None, parse=parse_image_size, fixed=True, shape=True, group=MODEL,
                                    default_text="the store's",
                                    help="expected image size (checked against the store)")
    latent_dim: int = option(100, fixed=True, shape=True, group=MODEL, help="noise dimensions")
    base_filters: int = option(32, fixed=True, shape=True, group=MODEL,
                               help="width of the nets, doubled towards the 4x4 core")
    num_samples: int = option(64, fixed=True, group=MODEL,
                              help="images in the per-epoch sample grid (fixed noise)")
    loss: str = option("nonsaturating", choices=tuple(LOSSES), group=OPTIMISATION,
                       help="adversarial loss")
    augment: str = option("diffaugment", choices=tuple(AUGMENTATIONS), group=OPTIMISATION,
                          help="augmentation of real and generated images before the "
                               "discriminator")
    learning_rate: float = option(4e-4, group=OPTIMISATION,
                                  help="Adam learning rate (measured better than DCGAN's 2e-4)")
    beta_1: float = option(0.0, group=OPTIMISATION,
                           help="Adam beta_1 (0, StyleGAN2's: measured better than DCGAN's 0.5)")
    beta_2: float = option(0.99, group=OPTIMISATION, help="Adam beta_2")
    r1_gamma: float = option(0.02, group=OPTIMISATION,
                             help="weight of the R1 gradient penalty on real images (0: off)")
    r1_every: int = option(16, group=OPTIMISATION,
                           help="apply the R1 penalty every k discriminator steps (lazy)")
    ema_decay: float = option(0.999, fixed=True, shape=True, group=MODEL,
                              help="decay of the generator's weight average, e.g. 0.999 "
                                   "(0: off); the average is what samples and generate use")
    condition: str = option("auto", fixed=True, group="conditioning", metavar="SOURCE",
                            help="what the images are conditioned on: descriptions, a "
                                 "categorical field the store analysed (e.g. category), none, "
                                 "or auto (the descriptions when they say something)")
    condition_dim: int = option(64, fixed=True, shape=True, group="conditioning",
                                help="size of the condition's embedding")
    condition_max_tokens: int = option(16, fixed=True, shape=True, group="conditioning",
                                       help="words of a description the model reads")
    mode_seeking: float = option(0.1, group="conditioning",
                                 help="weight of the mode-seeking term of a conditional run's "
                                      "generator: images of one condition must differ as their "
                                      "noise does (0: off)")
    condition_classify: float = option(0.3, group="conditioning",
                                       help="weight of the auxiliary classification term of a "
                                            "conditional run: D tells real images' conditions "
                                            "apart, G makes images D files under their own "
                                            "(0: off; over 80 minutes on clothing-small, "
                                            "0.3 reached 78.5%% class consistency, 0 57%%: "
                                            "docs/training.md)")
    condition_start: int = option(6000, group="conditioning",
                                  help="images trained on unconditionally before the "
                                       "condition comes in (Shahbazi et al. 2022)")
    condition_ramp: int = option(12000, group="conditioning",
                                 help="images over which the condition's strength ramps "
                                      "from 0 to 1")
    balance: float | None = option(None, group="conditioning",
                                   default_text=f"{WARM_BALANCE:g} for a warm-started "
                                                "conditional run, else 0",
                                   help="repeat-factor sampling of rare conditions (LVIS, Gupta "
                                        "et al. 2019): an image whose rarest word is on a share "
                                        "f < BALANCE of the images is drawn sqrt(BALANCE/f) "
                                        "times as often (at most 8x), epochs keep their length; "
                                        "0: off. After 5 minutes of a warm start a new "
                                        "season's new categories came out as asked 27-40%% "
                                        "of the time with it (3 runs), 0-24%% without (2), "
                                        "at the same KID "
                                        "(train/balance.py, docs/training.md)")
    precision: str = option("auto", choices=PRECISIONS, group=OPTIMISATION,
                            help="what the nets compute in: float32, mixed_bfloat16 (weights "
                                 "stay float32), or auto (mixed_bfloat16 where the CPU does "
                                 "bfloat16 natively, else float32)")
    seed: int = option(0, group=OPTIMISATION, help="seed of weights, noise and data order")
    split: str | None = option(None, group=OPTIMISATION,
                               default_text="train when the store has splits, else all",
                               help="the store's split to train on (train, validation, ...) "
                                    "or all")
    shuffle_buffer: int | None = option(None, group=OPTIMISATION,
                                        default_text=f"about {SHUFFLE_WINDOW_MIB} MiB of images",
                                        help="images shuffled together")
    readers: int = option(2, group=OPTIMISATION, help="HDF5 chunk reads in flight")
    keep_checkpoints: int = option(3, group=OPTIMISATION, help="newest checkpoints kept")
    eval_every: int = option(5, group="evaluation",
                             help="KID against held-out images every N epochs and after the "
                                  "last (0: off; needs pip install 'streamgan[eval]')")
    eval_num: int = option(500, group="evaluation",
                           help="generated images per KID evaluation")
    max_images: int | None = option(None, group="debugging", default_text="all",
                                    help="train on the first N images only")
    resume: bool = option(False, help="continue the run in --workdir from its last checkpoint")
    warm_start: str | None = option(None, metavar="RUN",
                                    help="start a new run from the weights of another run's last "
                                         "checkpoint (e.g. last season's; same architecture and "
                                         "image size, else it trains from scratch)")
    warm_start_fixes: str = option(
        "", cli=False,
        help="what a warm start carries over besides the weights, comma-separated (bench/"
             "warmstart.py compares them): rows (new condition rows start at the known rows' "
             "mean), moments (Adam's moments of every weight whose shape matches), warmup "
             "(the learning rate ramps up over the first steps); empty, the default until "
             "the bench's full run shows one helps: weights only")
    pixel_range: tuple[float, float] | None = option(
        None, cli=False, help="the store's pixel range (its manifest's image.pixel_range)")
    condition_source: str | None = option(
        None, cli=False, shape=True, help="what `condition` resolved to for this run's store "
                                          "(None: unconditional)")
    parent: dict | None = option(None, cli=False,
                                 help="the run this one warm-started from: run, epoch, checkpoint")

    def validate(self) -> "TrainConfig":
        """Raise ConfigError naming the first bad option; return self for chaining."""
        for name in ("epochs", "latent_dim", "base_filters", "num_samples", "readers",
                     "keep_checkpoints", "r1_every", "condition_dim", "condition_max_tokens"):
            _check_int(name, getattr(self, name), minimum=1)
        _check_int("batch_size", self.batch_size, minimum=2)
        _check_int("eval_every", self.eval_every, minimum=0)
        _check_int("eval_num", self.eval_num, minimum=2)
        _check_int("seed", self.seed, minimum=0)
        _check_int("condition_start", self.condition_start, minimum=0)
        _check_int("condition_ramp", self.condition_ramp, minimum=0)
        if self.condition not in ("auto", "none", DESCRIPTIONS_CONDITION):
            problem = field_name_problem(self.condition)
            if problem:
                raise ConfigError(f"--condition {problem}: use descriptions, none, auto or a "
                                  "categorical field such as category")
        for name in ("shuffle_buffer", "max_images"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum=1)
        for name in ("arch", "loss", "augment", "precision"):
            check_choice(TrainConfig, name, getattr(self, name), ConfigError)
        if self.image_size is not None:
            problem = image_size_problem(self.image_size)
            sizes = ARCHITECTURES[self.arch].sizes
            if problem or self.image_size not in sizes:
                raise ConfigError(f"--image-size {problem or f'{self.image_size}'}: --arch "
                                  f"{self.arch} supports {', '.join(map(str, sizes))} px")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        for name in ("beta_1", "beta_2", "ema_decay"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value < 1):
                raise ConfigError(f"{flag_of(TrainConfig, name)} must be in [0, 1), got {value!r}")
        if self.balance is not None and not (isinstance(self.balance, (int, float))
                                             and 0 <= self.balance <= 1):
            raise ConfigError(f"{flag_of(TrainConfig, 'balance')} must be in [0, 1], "
                              f"got {self.balance!r}")
        for name in ("r1_gamma", "mode_seeking", "condition_classify"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value >= 0):
                raise ConfigError(f"{flag_of(TrainConfig, name)} must be >= 0, got {value!r}")
        unknown = set(filter(None, self.warm_start_fixes.split(","))) - set(WARM_START_FIXES)
        if unknown:
            raise ConfigError(f"warm_start_fixes: unknown {', '.join(sorted(unknown))}; "
                              f"choose from {', '.join(WARM_START_FIXES)}")
        if not self.store:
            raise ConfigError("no store given: pass --store DIR "
                              "(the output of `streamgan preprocess`)")
        if not self.workdir:
            raise ConfigError("no workdir given: pass --workdir DIR for checkpoints and samples")
        return self

    def warm_start_fix(self, name: str) -> bool:
        """Whether this run is warm-started (its parent resolved) and applies fix `name` of
        warm_start_fixes (train/warmstart.py)."""
        return self.parent is not None and name in self.warm_start_fixes.split(",")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from a dict, rejecting unknown keys (a typo must not be silently ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown training option(s): {', '.join(unknown)}")
        data = dict(data)
        if data.get("pixel_range") is not None:
            data["pixel_range"] = tuple(data["pixel_range"])
        try:
            return cls(**data)
        except TypeError as e:  # a required option is missing
            raise ConfigError(f"incomplete training options: {e}") from None

    def save(self, path: str) -> str:
        """Write the config as JSON to path (the run's config.json), atomically."""
        return write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str) -> "TrainConfig":
        """The config saved at path (a run's config.json)."""
        try:
            with open(path) as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"{os.path.dirname(path)} holds no training run to resume "
                              f"({os.path.basename(path)} is missing): start it without "
                              "--resume") from None
        except (OSError, ValueError) as e:
            raise ConfigError(f"{path} is unreadable ({e}): "
                              "start a new run in a new --workdir") from None
        return cls.from_dict(data)

    def check_fixed(self, other: "TrainConfig | dict[str, Any]") -> None:
        """Raise ConfigError if other (a config or explicit options) changes a fixed option of
        this saved run; None in other means 'not given'."""
        values = other if isinstance(other, dict) else other.to_dict()
        for name in marked(TrainConfig, "fixed"):
            given = values.get(name)
            if given is not None and given != getattr(self, name):
                raise ConfigError(
                    f"{flag_of(TrainConfig, name)} {given} differs from the run being resumed "
                    f"({getattr(self, name)}): its checkpoints and sample noise only fit the saved "
                    "value; drop the option or start a new --workdir")

    def resumed_with(self, **overrides: Any) -> "TrainConfig":
        """This saved config with run options replaced; fixed options must not change.

        overrides holds only what the user gave explicitly (None values are ignored).
        """
        overrides = {k: v for k, v in overrides.items() if v is not None}
        self.check_fixed(overrides)
        return dataclasses.replace(self, **overrides, resume=True).validate()


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{flag_of(TrainConfig, name)} must be an integer >= {minimum}, "
                          f"got {value!r}")
