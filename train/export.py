"""Exported models: the `.keras` files a run writes, and how any process loads them.

A run exports `generator.keras` (and `generator_best.keras`, `discriminator.keras`) as plain
float32 Keras files. Each carries, inside the same zip, what generating from it needs besides
the weights, so the file alone is enough (`generate --model FILE` in an empty folder):

    streamgan/card.json          ModelCard: pixel range, image size, latent size, architecture,
                                 and for a conditional generator its ConditionSpec (vocabulary,
                                 prompts, tokens per condition)
    streamgan/conditioning/...   a conditional generator's copy of the store's TFT graph, which
                                 tokenises prompts exactly as preprocessing did

Keras reads only its own members of the zip (config.json, metadata.json, model.weights.h5), so
the file still loads with `keras.models.load_model(path, custom_objects=CUSTOM_OBJECTS)`.
From Python, one line loads a generator with all of it:

    import streamgan; g = streamgan.load_generator("runs/exp1/generator.keras")

A generator exported before the card existed is read with its run folder's config.json and
conditioning/ instead, as it was then.
"""
from __future__ import annotations

import atexit
import dataclasses
import json
import os
import shutil
import tempfile
import zipfile
from typing import Any

import keras

from streamgan.common.errors import ConfigError
from streamgan.common.files import atomic_path
from streamgan.train.conditioning import ConditionEncoder, ConditionSpec
from streamgan.train.config import TrainConfig
from streamgan.train.layers import CUSTOM_OBJECTS
from streamgan.train.paths import RunPaths
from streamgan.train.precision import float32_copy

CARD_MEMBER = "streamgan/card.json"
CONDITIONING_MEMBER = "streamgan/conditioning/"
CARD_VERSION = 1


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """What a generator's images mean and how to prompt it; travels inside its .keras file."""
    pixel_range: tuple[float, float]
    image_size: int
    latent_dim: int
    arch: str
    condition: ConditionSpec | None = None
    # the TFT graph of a conditional generator: shipped at export, unpacked at load
    conditioning_dir: str | None = dataclasses.field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"version": CARD_VERSION, "pixel_range": list(self.pixel_range),
                "image_size": self.image_size, "latent_dim": self.latent_dim,
                "arch": self.arch,
                "condition": dataclasses.asdict(self.condition) if self.condition else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any], conditioning_dir: str | None) -> ModelCard:
        condition = data.get("condition")
        return cls(pixel_range=tuple(float(v) for v in data["pixel_range"]),
                   image_size=int(data["image_size"]), latent_dim=int(data["latent_dim"]),
                   arch=str(data["arch"]),
                   condition=ConditionSpec.from_dict(condition) if condition else None,
                   conditioning_dir=conditioning_dir if condition else None)

    def write_into(self, keras_file: str) -> None:
        """Add the card (and a conditional card's TFT graph) to a saved .keras zip."""
        with zipfile.ZipFile(keras_file, "a", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(CARD_MEMBER, json.dumps(self.to_dict(), indent=1, ensure_ascii=False))
            if self.condition is None:
                return
            if not self.conditioning_dir or not os.path.isdir(self.conditioning_dir):
                raise ConfigError(f"cannot export a conditional generator without its TFT "
                                  f"graph ({self.conditioning_dir} is missing)")
            for folder, _, files in os.walk(self.conditioning_dir):
                for name in sorted(files):
                    full = os.path.join(folder, name)
                    relative = os.path.relpath(full, self.conditioning_dir)
                    zf.write(full, CONDITIONING_MEMBER + relative.replace(os.sep, "/"))


def export_model(net: keras.Model, path: str, card: ModelCard | None = None) -> str:
    """Save a net as a float32 .keras file with its card, atomically: nothing ever loads half a
    model, and a model trained in mixed bfloat16 runs anywhere (train/precision.py)."""
    with atomic_path(path, suffix=".keras") as tmp:  # Keras insists on the suffix
        float32_copy(net).save(tmp)
        if card is not None:
            card.write_into(tmp)
    return path


def load_model(path: str) -> keras.Model:
    """Any .keras file streamgan exported, in any process: its custom layers are passed
    explicitly, not looked up among whatever modules happen to be imported."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist")
    try:
        return keras.models.load_model(path, custom_objects=CUSTOM_OBJECTS, compile=False)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ConfigError(f"{path} is not a Keras model streamgan can load ({e})") from None


@dataclasses.dataclass
class Generator:
    """A loaded generator and its card: noise (and prompts) -> images."""
    model: keras.Model
    card: ModelCard
    path: str
    _encoder: ConditionEncoder | None = dataclasses.field(default=None, repr=False)

    @property
    def conditional(self) -> bool:
        return self.card.condition is not None

    @property
    def encoder(self) -> ConditionEncoder:
        """Prompt text -> condition ids, through the TFT graph the generator carries."""
        if not self.conditional:
            raise ConfigError(f"{self.path} is an unconditional generator: it takes no prompt")
        if self._encoder is None:
            spec = self.card.condition
            self._encoder = ConditionEncoder(self.card.conditioning_dir, spec.source,
                                             spec.max_tokens)
        return self._encoder


def read_card(path: str) -> ModelCard | None:
    """The card inside an exported .keras file (its TFT graph unpacked to a temporary folder
    that lives as long as the process), or None for a file exported before cards existed."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if CARD_MEMBER not in names:
                return None
            data = json.loads(zf.read(CARD_MEMBER).decode("utf-8"))
            conditioning_dir = None
            members = [n for n in names if n.startswith(CONDITIONING_MEMBER) and n[-1] != "/"]
            if members:
                conditioning_dir = tempfile.mkdtemp(prefix="streamgan-conditioning-")
                atexit.register(shutil.rmtree, conditioning_dir, ignore_errors=True)
                for name in members:
                    target = os.path.join(conditioning_dir, *name[len(CONDITIONING_MEMBER):]
                                          .split("/"))
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with zf.open(name) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as e:
        raise ConfigError(f"{path} is not a Keras model streamgan can load ({e})") from None
    return ModelCard.from_dict(data, conditioning_dir)


def legacy_card(path: str, model: keras.Model) -> ModelCard:
    """The card of a generator exported before cards existed, from its run folder."""
    paths = RunPaths(os.path.dirname(os.path.abspath(path)))
    if not os.path.exists(paths.config):
        raise ConfigError(f"{path} carries no streamgan card and has no run folder beside it "
                          f"({paths.config} is missing): export it again with this streamgan")
    config = TrainConfig.load(paths.config)
    if config.pixel_range is None:
        raise ConfigError(f"the run of {path} does not record its pixel range: "
                          "train it again with this streamgan")
    conditional = len(model.inputs) > 1
    return ModelCard(pixel_range=tuple(config.pixel_range),
                     image_size=int(model.outputs[0].shape[1]),
                     latent_dim=int(model.inputs[0].shape[-1]), arch=config.arch,
                     condition=ConditionSpec.load(paths.conditioning) if conditional else None,
                     conditioning_dir=paths.conditioning if conditional else None)


def load_generator(path: str) -> Generator:
    """An exported generator with its card, loadable in any process from the file alone."""
    model = load_model(path)
    card = read_card(path) or legacy_card(path, model)
    return Generator(model=model, card=card, path=path)
