"""The GAN as one Keras Model, trained with plain `fit()` by overriding `train_step`.

Modelled on keras.io `examples/generative/dcgan_overriding_train_step.py` (Keras 3 revision),
with what a long run on real data needs on top:
- targets are built from the size of each batch, so the last, partial batch of an epoch trains
  like any other;
- the discriminator sees real and generated images in separate batches, as in the DCGAN paper:
  with batch normalisation, one mixed batch would let it tell them apart by batch statistics;
- noise comes from a `keras.random.SeedGenerator`, whose state is saved in checkpoints, so a
  resumed run continues the same random stream instead of restarting it;
- besides both losses it tracks D(x) and D(G(z)), the discriminator's mean belief that real and
  generated images are real (logged as `d_real` and `d_fake`).
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops


class GAN(keras.Model):
    """A generator and a discriminator trained against each other (non-saturating GAN loss)."""

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int,
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")  # D(x)
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")  # D(G(z))
        # Both nets are built (they start from keras.Input); so is the GAN that holds them.
        self.built = True

    def compile(self, d_optimizer: keras.optimizers.Optimizer,
                g_optimizer: keras.optimizers.Optimizer, loss_fn: keras.losses.Loss) -> None:
        # No Model-level optimizer: each net has its own, and Keras would otherwise create
        # (and build, over every weight) a default RMSprop that nothing uses.
        super().compile(optimizer=None)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def build_optimizers(self) -> None:
        """Create both optimizers' slots now (needed before loading a checkpoint into them)."""
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        # Listed here so fit() resets them at the start of every epoch.
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker,
                self.d_fake_tracker]

    def call(self, noise, training: bool = False):
        return self.generator(noise, training=training)

    def sample_noise(self, batch_size):
        return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)

    def train_step(self, real_images):
        batch_size = ops.shape(real_images)[0]  # the last batch of an epoch may be smaller
        real_targets = ops.ones((batch_size, 1))
        fake_targets = ops.zeros((batch_size, 1))

        # Train the discriminator: real images are real, generated images are fake.
        fake_images = self.generator(self.sample_noise(batch_size), training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real_images, training=True)
            fake_logits = self.discriminator(fake_images, training=True)
            d_loss = (self.loss_fn(real_targets, real_logits)
                      + self.loss_fn(fake_targets, fake_logits))
        self._descend(self.d_optimizer, tape, d_loss, self.discriminator)

        # Train the generator: make the discriminator call fresh generated images real.
        with tf.GradientTape() as tape:
            fake_images = self.generator(self.sample_noise(batch_size), training=True)
            g_loss = self.loss_fn(real_targets, self.discriminator(fake_images, training=True))
        self._descend(self.g_optimizer, tape, g_loss, self.generator)

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(ops.mean(ops.sigmoid(real_logits)))
        self.d_fake_tracker.update_state(ops.mean(ops.sigmoid(fake_logits)))
        return {m.name: m.result() for m in self.metrics}

    @staticmethod
    def _descend(optimizer, tape, loss, net: keras.Model) -> None:
        weights = net.trainable_weights
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))


def build_gan(image_size: int, latent_dim: int, base_filters: int, learning_rate: float,
              beta_1: float, seed: int = 0) -> GAN:
    """The DCGAN of train/models.py, compiled with the paper's Adam settings and built."""
    from train.models import build_discriminator, build_generator

    gan = GAN(build_generator(image_size, latent_dim, base_filters, seed=seed),
              build_discriminator(image_size, base_filters, seed=seed + 1),
              latent_dim, seed=seed)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1, name="d_optimizer"),
        g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1, name="g_optimizer"),
        loss_fn=keras.losses.BinaryCrossentropy(from_logits=True))
    gan.build_optimizers()
    return gan
