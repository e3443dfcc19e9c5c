"""What every architecture's nets share: their size steps, initialisers and seeds, and the
conditional parts, how a condition enters a generator and a discriminator.

- Conditional batch norm (de Vries et al. 2017, as BigGAN and the projection-discriminator
  paper do): the condition sets the scale and shift of each generator norm (`modulate`). A
  condition fed only beside the noise reaches the image through the first dense layer alone,
  and a small-data generator learns to lean on it there and forget the noise
  (bench/conditioning.py measured one image per prompt); modulating every norm lets the
  condition steer each resolution directly. The modulation starts at zero and has no bias,
  so a zero condition leaves the net exactly unconditional.
- `conditional_generator` / `conditional_discriminator` wrap an architecture's nets: the
  generator gets the mean embedding of the condition's bag of ids beside its noise and in
  every norm; the discriminator is a projection discriminator (Miyato & Koyama 2018), whose
  embedding also gives the class scores of the auxiliary classification term. Both condition
  paths are scaled by a strength the GAN ramps from 0 to 1 (train/gan.py).

The custom layers themselves are in train/layers.py; the architectures in train/dcgan.py and
train/fastgan.py.
"""
from __future__ import annotations

import math

import keras
from keras import layers

from streamgan.train.conditioning import ConditionSpec
from streamgan.train.layers import BagEmbedding, ConditionStrength, Modulation


def num_doublings(image_size: int) -> int:
    """Upsampling steps from the 4x4 core to image_size (3 for 32 px, 4 for 64, 5 for 128)."""
    steps = int(round(math.log2(image_size))) - 2
    if image_size < 8 or 4 << steps != image_size:
        raise ValueError(f"image size must be a power of two >= 8, got {image_size}")
    return steps


def small_normal(seed: int | None):
    """DCGAN's initial weights, N(0, 0.02)."""
    return keras.initializers.RandomNormal(0.0, 0.02, seed=seed)


def seed_stream(seed: int | None):
    """A distinct seed for each layer built from one run seed (None: unseeded)."""
    i = 0
    while True:
        yield None if seed is None else seed * 1000 + i
        i += 1


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


def conditional_generator(base: keras.Model, latent_dim: int, spec: ConditionSpec,
                          seed: int | None = None) -> keras.Model:
    """(noise, ids) -> images: the condition's embedding, scaled by the condition strength,
    into base (the architecture's generator built with condition_dim = spec.dim, which reads
    it beside the noise and in every batch norm)."""
    noise = keras.Input((latent_dim,), name="noise")
    ids = keras.Input((spec.max_tokens,), dtype="int32", name="condition")
    condition = BagEmbedding(spec.input_dim, spec.dim, seed=seed, name="condition_embedding")(ids)
    condition = ConditionStrength(name="condition_strength")(condition)
    image = base([noise, condition])
    return keras.Model([noise, ids], image, name="conditional_generator")


def conditional_discriminator(base: keras.Model, spec: ConditionSpec,
                              seed: int | None = None) -> keras.Model:
    """(images, ids) -> [logits (B, 1), condition scores (B, V)].

    The logit is base's logit + strength * <embed(ids), pooled features> (the projection);
    the scores are the pooled features' inner products with every vocabulary entry's
    embedding, what the GAN's auxiliary classification term (`condition_classify`) trains:
    the same embedding, so telling conditions apart and judging an image against its own
    condition are one skill. base names its last feature map "features" (every registered
    architecture does).
    """
    image = keras.Input(base.inputs[0].shape[1:], name="image")
    if isinstance(base, keras.Sequential):  # no symbolic outputs to tap: chain its layers
        x, features = image, None
        for layer in base.layers:
            x = layer(x)
            features = x if layer.name == "features" else features
        logit = x
    else:
        trunk = keras.Model(base.inputs, [base.output, base.get_layer("features").output])
        logit, features = trunk(image)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    ids = keras.Input((spec.max_tokens,), dtype="int32", name="condition")
    # Unit-variance embeddings: a projection scaled down to the logit's size (1/sqrt(channels))
    # was tried and made the generator follow its prompts visibly less (the demo's rows).
    table = BagEmbedding(spec.input_dim, int(pooled.shape[-1]), seed=seed,
                         name="projection_embedding")
    projection = keras.layers.Dot(axes=1)([pooled, table(ids)])
    projection = ConditionStrength(name="condition_strength")(projection)
    logit = keras.layers.Add(name="conditional_logit", dtype="float32")([logit, projection])
    return keras.Model([image, ids], [logit, table(ids, scores_of=pooled)],
                       name="conditional_discriminator")
