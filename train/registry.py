"""The named parts a training run is assembled from: architectures, adversarial losses and
augmentations. Each entry names the function that builds it, imported only when a run is built,
so the command line can list the choices without loading Keras.

To add one, write it in its module (train/dcgan.py-like for an architecture, train/losses.py,
train/augment.py) and register its name here; `--arch`, `--loss` and `--augment` pick it up.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any

POWERS_OF_TWO = (16, 32, 64, 128, 256, 512)


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A generator/discriminator pair: `module` defines build_generator(image_size, latent_dim,
    base_filters, seed, condition_dim) and build_discriminator(image_size, base_filters, seed).
    A generator built with condition_dim > 0 takes [noise, condition]."""
    module: str
    sizes: tuple[int, ...]  # the image sizes it can be built for
    summary: str

    def build(self, image_size: int, latent_dim: int, base_filters: int, seed: int,
              condition_dim: int = 0):
        nets = importlib.import_module(self.module)
        return (nets.build_generator(image_size, latent_dim, base_filters, seed=seed,
                                     condition_dim=condition_dim),
                nets.build_discriminator(image_size, base_filters, seed=seed + 1))


ARCHITECTURES: dict[str, Architecture] = {
    "dcgan": Architecture("streamgan.train.dcgan", POWERS_OF_TWO,
                          "Radford et al. 2015: strided convolutions and batch norm"),
    "fastgan": Architecture("streamgan.train.fastgan", POWERS_OF_TWO,
                            "FastGAN-style: upsample+conv with GLU and skip-layer excitation; "
                            "residual discriminator without batch norm (pair with R1)"),
}

# name -> "module:attribute" of an AdversarialLoss (train/losses.py)
LOSSES: dict[str, str] = {
    "nonsaturating": "streamgan.train.losses:NON_SATURATING",
    "hinge": "streamgan.train.losses:HINGE",
    "relativistic": "streamgan.train.losses:RELATIVISTIC",
}

# name -> "module:attribute" of a function (images, seed_generator) -> images, differentiable
AUGMENTATIONS: dict[str, str | None] = {
    "none": None,
    "diffaugment": "streamgan.train.augment:diffaugment",
    "colour": "streamgan.train.augment:colour",
    "translation": "streamgan.train.augment:translation",
    "cutout": "streamgan.train.augment:cutout",
}


def resolve(reference: str) -> Any:
    """"module:attribute" -> the object."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)
