"""Conditional batch norm: the condition sets the scale and shift of each generator norm.

A condition fed only beside the noise reaches the image through the first dense layer alone, and
a small-data generator learns to lean on it there and forget the noise (bench/conditioning.py
measured one image per prompt). Modulating every norm (de Vries et al. 2017, as BigGAN and the
projection-discriminator paper do) lets the condition steer each resolution directly.

The modulation starts at zero and is linear in the condition with no bias, so a zero condition
(the condition strength at 0, or no condition at all) leaves the net exactly unconditional: the
ramp of "collapse by conditioning" (train/conditioning.py) holds layer by layer.
"""
from __future__ import annotations

import keras
from keras import layers

from streamgan.train.layers import Modulation


def generator_inputs(latent_dim: int, condition_dim: int):
    """(model inputs, the vector the first layer reads, the condition or None).

    A conditional generator takes [noise, condition] and reads both; an unconditional one takes
    the noise alone."""
    noise = keras.Input((latent_dim,), name="noise")
    if not condition_dim:
        return noise, noise, None
    condition = keras.Input((condition_dim,), name="condition")
    return [noise, condition], layers.Concatenate()([noise, condition]), condition


def modulate(x, condition):
    """x modulated by the condition (x itself when there is none)."""
    return x if condition is None else Modulation()([x, condition])
