"""DCGAN generator and discriminator (Radford et al., 2015) for square images of 2^k pixels.

The nets follow the paper's recipe: strided (transposed) convolutions instead of pooling,
batch normalisation everywhere except the generator's output and the discriminator's input,
ReLU in the generator with tanh output (images in [-1, 1], the range of the store's TFT
transform), LeakyReLU(0.2) in the discriminator, weights drawn from N(0, 0.02).

Both nets are sized by two options. `base_filters` (the paper's 64 px net has 128; the common
PyTorch reference 64) is the width of the discriminator's first layer and of the generator's
last hidden layer; each step towards the 4x4 core doubles it. `latent_dim` is the noise size.

    size  generator (base_filters=64)                        discriminator
    32    z -> 4x4x256 -> 8x8x128 -> 16x16x64 -> 32x32x3       mirror image, ending in one logit
    64    z -> 4x4x512 -> ... -> 32x32x64 -> 64x64x3
    128   z -> 4x4x1024 -> ... -> 64x64x64 -> 128x128x3

The discriminator returns a logit (no sigmoid), so the loss uses from_logits=True, which is
numerically safer than a sigmoid followed by a log.
"""
from __future__ import annotations

import keras
from keras import layers

from streamgan.train.nets import generator_inputs, modulate, num_doublings, seed_stream
from streamgan.train.nets import small_normal as _init


def _batch_norm(seed: int | None):
    return layers.BatchNormalization(
        momentum=0.9, epsilon=1e-5,  # the paper's reference code (PyTorch defaults)
        gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02, seed=seed))


def build_generator(image_size: int, latent_dim: int = 100, base_filters: int = 64,
                    seed: int | None = None, condition_dim: int = 0) -> keras.Model:
    """Noise (B, latent_dim) -> images (B, S, S, 3) in [-1, 1]; with condition_dim, [noise,
    condition (B, condition_dim)] -> images, the condition beside the noise and modulating
    every batch norm (train/nets.py)."""
    steps = num_doublings(image_size)
    seeds = seed_stream(seed)
    filters = base_filters * 2 ** (steps - 1)
    net = [layers.Dense(4 * 4 * filters, use_bias=False, kernel_initializer=_init(next(seeds))),
           _batch_norm(next(seeds)), layers.ReLU(), layers.Reshape((4, 4, filters))]
    for _ in range(steps - 1):
        filters //= 2
        net += [layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False,
                                       kernel_initializer=_init(next(seeds))),
                _batch_norm(next(seeds)), layers.ReLU()]
    net += [layers.Conv2DTranspose(3, 4, strides=2, padding="same",
                                   kernel_initializer=_init(next(seeds))),
            layers.Activation("tanh", name="image", dtype="float32")]
    if not condition_dim:
        return keras.Sequential([keras.Input((latent_dim,), name="noise")] + net,
                                name="generator")
    inputs, x, condition = generator_inputs(latent_dim, condition_dim)
    for layer in net:
        x = layer(x)
        if isinstance(layer, layers.BatchNormalization):
            x = modulate(x, condition)
    return keras.Model(inputs, x, name="generator")


def build_discriminator(image_size: int, base_filters: int = 64,
                        seed: int | None = None) -> keras.Model:
    """Images (B, S, S, 3) in [-1, 1] -> real/fake logits (B, 1)."""
    steps = num_doublings(image_size)
    seeds = seed_stream(seed)
    net = [keras.Input((image_size, image_size, 3), name="image"),
           layers.Conv2D(base_filters, 4, strides=2, padding="same",
                         kernel_initializer=_init(next(seeds))),
           layers.LeakyReLU(0.2)]
    filters = base_filters
    for _ in range(steps - 1):
        filters *= 2
        net += [layers.Conv2D(filters, 4, strides=2, padding="same", use_bias=False,
                              kernel_initializer=_init(next(seeds))),
                _batch_norm(next(seeds)), layers.LeakyReLU(0.2)]
    # The 4x4 map -> one logit: a 4x4 "valid" convolution, as in the paper.
    net += [layers.Identity(name="features"),  # what a projection discriminator pools
            layers.Conv2D(1, 4, padding="valid", kernel_initializer=_init(next(seeds))),
            layers.Flatten(name="logit", dtype="float32")]
    return keras.Sequential(net, name="discriminator")
