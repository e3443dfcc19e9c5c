"""A FastGAN-style pair for small data on small hardware (after Liu et al., ICLR 2021,
"Towards Faster and Stabilized GAN Training for High-fidelity Few-shot Image Synthesis").

Generator: nearest-neighbour upsampling + 3x3 convolutions with gated linear units (GLU)
instead of transposed convolutions, which draws no checkerboard artefacts, and skip-layer
excitation (SLE): a coarse feature map gates the channels of one four times finer, a cheap
long-range path that lets shape information reach the fine layers early in training.

Discriminator: residual downsampling blocks (a strided 4x4 convolution beside an average-pooled
1x1 shortcut, summed and scaled by 1/sqrt(2)), LeakyReLU, no batch norm, so it pairs with the
R1 gradient penalty and scores every image on its own; He-initialised, since without
normalisation nothing else keeps its activations at scale. FastGAN's self-supervised reconstruction
decoders are left out: on 2 CPU cores they cost more time than DiffAugment + R1, which already
stop D memorising.

Widths follow DCGAN's convention (`base_filters` at the finest hidden layer, doubling towards
the 4x4 core), so the same options mean the same size of net.
"""
from __future__ import annotations

import math

import keras
from keras import layers

from streamgan.train.layers import GLU
from streamgan.train.nets import generator_inputs, modulate, num_doublings, seed_stream
from streamgan.train.nets import small_normal as _init


def _conv(filters: int, kernel: int, seeds, strides: int = 1, padding: str = "same",
          bias: bool = True, init=_init):
    return layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=bias,
                         kernel_initializer=init(next(seeds)))


def _he(seed: int | None):
    """Variance-preserving (He) initial weights, for the discriminator: it has no
    normalisation, and with DCGAN's N(0, 0.02) each layer shrank its input about threefold, so
    the untrained D scored every image ~0.001 and stayed at chance (D(x) = D(G(z)) = 0.5) for
    whole runs (bench/quality.py)."""
    return keras.initializers.HeNormal(seed=seed)


def _norm(x, condition):
    """Batch norm, modulated by the condition when there is one."""
    return modulate(layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(x), condition)


def _up_block(x, filters: int, seeds, condition=None):
    """2x nearest upsampling, 3x3 conv to 2*filters, (conditional) batch norm, GLU."""
    x = layers.UpSampling2D(interpolation="nearest")(x)
    x = _conv(2 * filters, 3, seeds, bias=False)(x)
    return GLU()(_norm(x, condition))


def _excite(coarse, fine, seeds):
    """Skip-layer excitation: channel gates for `fine`, computed from `coarse`."""
    channels = fine.shape[-1]
    pooled = layers.AveragePooling2D(coarse.shape[1] // 4)(coarse) if coarse.shape[1] > 4 \
        else coarse
    gate = _conv(channels, 4, seeds, padding="valid")(pooled)  # 4x4 -> 1x1
    gate = layers.LeakyReLU(0.1)(gate)
    gate = _conv(channels, 1, seeds)(gate)
    gate = layers.Activation("sigmoid")(gate)
    return layers.Multiply()([fine, gate])


def build_generator(image_size: int, latent_dim: int = 100, base_filters: int = 64,
                    seed: int | None = None, condition_dim: int = 0) -> keras.Model:
    """Noise (B, latent_dim) -> images (B, S, S, 3) in [-1, 1]; with condition_dim, [noise,
    condition (B, condition_dim)] -> images, the condition beside the noise and modulating
    every batch norm (train/nets.py).

    Hidden layers stop at S/2 (as in DCGAN): the last step upsamples and convolves straight to
    RGB, since 3x3 convolutions at full resolution cost most of a CPU's time.
    """
    steps = num_doublings(image_size)
    seeds = seed_stream(seed)
    filters = base_filters * 2 ** (steps - 1)
    inputs, x, condition = generator_inputs(latent_dim, condition_dim)
    x = layers.Dense(4 * 4 * 2 * filters, use_bias=False,
                     kernel_initializer=_init(next(seeds)))(x)
    x = layers.Reshape((4, 4, 2 * filters))(x)
    x = GLU()(_norm(x, condition))
    features = {4: x}
    for step in range(steps - 1):
        resolution = 8 << step
        filters //= 2
        x = _up_block(x, filters, seeds, condition)
        coarse = features.get(resolution // 4)
        if coarse is not None:
            x = _excite(coarse, x, seeds)
        features[resolution] = x
    x = layers.UpSampling2D(interpolation="nearest")(x)
    image = _conv(3, 3, seeds)(x)
    image = layers.Activation("tanh", name="image", dtype="float32")(image)
    return keras.Model(inputs, image, name="generator")


def build_discriminator(image_size: int, base_filters: int = 64,
                        seed: int | None = None) -> keras.Model:
    """Images (B, S, S, 3) in [-1, 1] -> real/fake logits (B, 1)."""
    steps = num_doublings(image_size)
    seeds = seed_stream(seed)
    image = keras.Input((image_size, image_size, 3), name="image")
    x = layers.LeakyReLU(0.2)(_conv(base_filters, 4, seeds, strides=2, init=_he)(image))
    filters = base_filters
    for _ in range(steps - 1):
        filters *= 2
        main = layers.LeakyReLU(0.2)(_conv(filters, 4, seeds, strides=2, init=_he)(x))
        skip = _conv(filters, 1, seeds, bias=False, init=_he)(layers.AveragePooling2D(2)(x))
        x = layers.Rescaling(1 / math.sqrt(2))(layers.Add()([main, skip]))
    x = layers.Identity(name="features")(x)  # what a projection discriminator pools
    logit = _conv(1, 4, seeds, padding="valid", init=_he)(x)
    logit = layers.Flatten(name="logit", dtype="float32")(logit)
    return keras.Model(image, logit, name="discriminator")
