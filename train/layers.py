"""Every custom Keras layer of streamgan's nets, registered in one place.

An exported `.keras` file names its layers' classes ("streamgan>GLU"); a process that loads it
must know them. `CUSTOM_OBJECTS` is the one table of them, passed explicitly by every loader
(train/export.py), so loading never depends on which modules a process happens to have
imported. A new layer goes here, and nowhere else.
"""
from __future__ import annotations

import keras
from keras import layers, ops

PACKAGE = "streamgan"


def _register(cls):
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)


@_register
class GLU(layers.Layer):
    """Gated linear unit over channels: the first half times the sigmoid of the second
    (FastGAN's generator activation)."""

    def call(self, x):
        a, b = ops.split(x, 2, axis=-1)
        return a * ops.sigmoid(b)


@_register
class Modulation(layers.Layer):
    """[x (B, ..., C), condition (B, D)] -> x * (1 + condition @ Wg) + condition @ Wb:
    conditional batch norm's scale and shift (train/nets.py). Starts at zero and has no
    bias, so a zero condition leaves the net exactly unconditional."""

    def build(self, input_shape):
        channels, dim = input_shape[0][-1], input_shape[1][-1]
        self.scale = self.add_weight(shape=(dim, channels), initializer="zeros", name="scale")
        self.shift = self.add_weight(shape=(dim, channels), initializer="zeros", name="shift")

    def call(self, inputs):
        x, condition = inputs
        shape = [-1] + [1] * (len(x.shape) - 2) + [x.shape[-1]]
        scale = ops.reshape(ops.matmul(condition, self.scale), shape)
        shift = ops.reshape(ops.matmul(condition, self.shift), shape)
        return x * (1.0 + scale) + shift


@_register
class BagEmbedding(layers.Layer):
    """int ids (B, T), 0 = nothing -> the mean of their embeddings (B, dim); zeros for none."""

    def __init__(self, input_dim: int, dim: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.input_dim, self.dim, self.seed = int(input_dim), int(dim), seed
        self.embedding = layers.Embedding(
            self.input_dim, self.dim,
            embeddings_initializer=keras.initializers.RandomNormal(0.0, 1.0, seed=seed))

    def build(self, input_shape):
        self.embedding.build(input_shape)

    def call(self, ids, scores_of=None):
        """The bag's mean embedding; with scores_of (features (B, dim)), instead the features'
        inner product with every vocabulary entry's embedding (B, input_dim - 1): the class
        scores implied by a projection discriminator's embedding."""
        if scores_of is not None:
            table = ops.cast(self.embedding.embeddings[1:], scores_of.dtype)
            return ops.cast(ops.matmul(scores_of, ops.transpose(table)), "float32")
        vectors = self.embedding(ids)
        present = ops.cast(ops.expand_dims(ids > 0, -1), vectors.dtype)
        total = ops.sum(vectors * present, axis=1)
        return total / ops.maximum(ops.sum(present, axis=1), 1.0)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "dim": self.dim,
                "seed": self.seed}


@_register
class ConditionStrength(layers.Layer):
    """x * strength, a non-trainable scalar the GAN ramps from 0 to 1 during training."""

    def build(self, input_shape):
        self.strength = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                        name="strength")

    def call(self, x):
        return x * self.strength


CUSTOM_OBJECTS = {f"{PACKAGE}>{cls.__name__}": cls
                  for cls in (GLU, Modulation, BagEmbedding, ConditionStrength)}


def nested_layers(model: keras.Model):
    """Every layer of a model, those of the models nested in it included."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from nested_layers(layer)


def strength_layers(model: keras.Model) -> list[ConditionStrength]:
    """Every ConditionStrength in a model, nested models included."""
    return [layer for layer in nested_layers(model) if isinstance(layer, ConditionStrength)]
