"""Augmentations applied inside `GAN.train_step` to real and generated images alike, before the
discriminator sees them. They must be differentiable (the generator learns through them) and
keep shapes. Each is a function (images, seed_generator) -> images that draws its randomness
from the run's `keras.random.SeedGenerator` (checkpointed, so a resumed run continues the same
stream); register it in train/registry.py ("none" needs no function: the step skips it)."""
from __future__ import annotations

