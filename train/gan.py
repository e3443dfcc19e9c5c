"""The GAN as one Keras Model, trained with plain `fit()` by overriding `train_step`.

Modelled on keras.io `examples/generative/dcgan_overriding_train_step.py` (Keras 3 revision),
with what a long run on small, real data needs on top. Each part is a seam, chosen by name in
train/registry.py, so the step itself never changes when one is added:
- `loss`: an AdversarialLoss (train/losses.py), a pair of functions of D's logits; losses with
  targets build them from each batch's size, so a partial last batch trains like any other;
- `augment` (or None): a differentiable augmentation applied to real and generated images alike before
  D sees them (train/augment.py), so D cannot overfit a small catalogue by memorising it;
- `r1_gamma`, `r1_every`: a zero-centred gradient penalty on real images (Mescheder et al.
  2018), lazily every k steps and scaled by k (StyleGAN2);
- `ema_decay`: an exponential moving average of the generator's weights, with warm-up; the
  averaged generator is what samples, evaluation, export and `generate` use;
- `condition_schedule` (start, length), in images: a conditional GAN (train/conditional_nets.py) is
  fed (images, condition ids) batches; both nets take the ids as a second input, generated
  images get the real batch's conditions, and the condition's strength ramps from 0 to 1;
- `condition_classify`: the weight of an auxiliary classification term of a conditional GAN
  (after AC-GAN, Odena et al. 2017, on the projection's own embedding): D learns to tell the
  conditions of real images apart, and G to make images D files under their own condition.

The discriminator sees real and generated images in separate batches, as in the DCGAN paper:
with batch normalisation, one mixed batch would let it tell them apart by batch statistics.
Noise comes from a `keras.random.SeedGenerator` whose state is checkpointed, so a resumed run
continues the same random stream. Besides both losses it tracks D(x) and D(G(z)), the mean
sigmoid of D's logits on real and generated images (`d_real`, `d_fake`).
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from streamgan.train import precision
from streamgan.train.layers import strength_layers
from streamgan.train.losses import AdversarialLoss, classification_loss
from streamgan.train.nets import conditional_discriminator, conditional_generator
from streamgan.train.registry import ARCHITECTURES, AUGMENTATIONS, LOSSES, resolve


def condition_strength(images_seen, start: float, length: float):
    """The condition's strength after `images_seen` images: 0 until start, then linear to 1."""
    from keras import ops
    if length <= 0:
        return ops.cast(images_seen >= start, "float32")
    return ops.clip((ops.cast(images_seen, "float32") - start) / length, 0.0, 1.0)


class GAN(keras.Model):
    """A generator and a discriminator trained against each other."""

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int, *,
                 loss: AdversarialLoss, augment=None, r1_gamma: float = 0.0, r1_every: int = 16,
                 ema_decay: float = 0.0, seed: int = 0,
                 condition_schedule: tuple[float, float] | None = None, images_per_step: int = 1,
                 mode_seeking: float = 0.0, condition_classify: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.loss_pair = loss
        self.augment = augment
        self.r1_gamma = float(r1_gamma)
        self.r1_every = int(r1_every)
        self.ema_decay = float(ema_decay)
        self.ema_generator = None
        self.conditional = len(generator.inputs) > 1
        self.condition_schedule = condition_schedule or (0.0, 0.0)
        self.images_per_step = images_per_step
        self.mode_seeking = float(mode_seeking) if self.conditional else 0.0
        self.condition_classify = float(condition_classify) if self.conditional else 0.0
        if self.ema_decay > 0:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
        self.seed_generator = keras.random.SeedGenerator(seed)
        names = (("d_loss", "g_loss", "d_real", "d_fake") + (("r1",) if self.r1_gamma > 0 else ())
                 + (("condition",) if self.conditional else ())
                 + (("mode_seeking",) if self.mode_seeking > 0 else ())
                 + (("classify_real", "classify_fake") if self.condition_classify > 0 else ()))
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        # Both nets are built (they start from keras.Input); so is the GAN that holds them.
        self.built = True

    @property
    def sampler(self) -> keras.Model:
        """The generator to draw images from: the weight average when there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def compile(self, d_optimizer: keras.optimizers.Optimizer,
                g_optimizer: keras.optimizers.Optimizer) -> None:
        # No Model-level optimizer: each net has its own, and Keras would otherwise create
        # (and build, over every weight) a default RMSprop that nothing uses.
        super().compile(optimizer=None)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    def build_optimizers(self) -> None:
        """Create both optimizers' slots now (needed before loading a checkpoint into them)."""
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        # Listed here so fit() resets them at the start of every epoch.
        return list(self.trackers.values())

    def call(self, inputs, training: bool = False):
        return self.sampler(inputs, training=training)

    def sample_noise(self, batch_size):
        return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)

    def _g(self, batch_size, condition):
        noise = self.sample_noise(batch_size)
        return self.generator(noise if condition is None else [noise, condition], training=True)

    def _g_for_step(self, batch_size, condition):
        """(conditions, images, mode-seeking term) of the generator's step.

        With the mode-seeking term (Mao et al., CVPR 2019, "Mode seeking GANs"), the second
        half of the batch repeats the first half's conditions with other noise, and the term is
        the mean of 1 / (image distance / noise distance) over those pairs: it grows without
        bound as a condition's images stop depending on the noise, which is how small
        conditional GANs were measured to collapse (bench/conditioning.py).
        """
        if self.mode_seeking <= 0:
            return condition, self._g(batch_size, condition), ops.convert_to_tensor(0.0)
        half = batch_size // 2
        condition = ops.concatenate([condition[:batch_size - half], condition[:half]], axis=0)
        noise = self.sample_noise(batch_size)
        images = self.generator([noise, condition], training=True)
        first, second = slice(0, half), slice(batch_size - half, batch_size)
        image_distance = ops.mean(ops.abs(images[first] - images[second]), axis=[1, 2, 3])
        noise_distance = ops.mean(ops.abs(noise[first] - noise[second]), axis=1)
        return condition, images, ops.mean(1.0 / (image_distance / noise_distance + 1e-5))

    def _d(self, images, condition=None):
        """(D's logits, its condition scores or None) for images, augmented (the augmentation
        draws from the run's seeds)."""
        if self.augment is not None:
            images = self.augment(images, self.seed_generator)
        if condition is None:
            return self.discriminator(images, training=True), None
        return tuple(self.discriminator([images, condition], training=True))

    def _classify(self, scores, condition, strength):
        """The auxiliary classification term, at the condition's current strength."""
        if self.condition_classify <= 0:
            return ops.convert_to_tensor(0.0), ops.convert_to_tensor(0.0)
        loss = classification_loss(scores, condition)
        return loss, self.condition_classify * strength * loss

    def train_step(self, data):
        real_images, condition = data if isinstance(data, tuple) else (data, None)
        batch_size = ops.shape(real_images)[0]  # the last batch of an epoch may be smaller
        step = self.d_optimizer.iterations
        strength = self._ramp_condition()

        # Discriminator: real images are real, generated ones fake; plus the lazy R1 penalty.
        fake_images = self._g(batch_size, condition)
        with tf.GradientTape() as tape:
            real_logits, real_scores = self._d(real_images, condition)
            fake_logits, _ = self._d(fake_images, condition)
            d_loss = self.loss_pair.discriminator(real_logits, fake_logits)
            r1 = self._lazy_r1(real_images, condition, step)
            classify_real, classify_term = self._classify(real_scores, condition, strength)
            d_total = d_loss + r1 + classify_term
        self._descend(self.d_optimizer, tape, d_total, self.discriminator)

        # Generator: make the discriminator call fresh generated images real (and, conditional,
        # make images of one condition differ as their noise does).
        with tf.GradientTape() as tape:
            g_condition, fake_images, seeking = self._g_for_step(batch_size, condition)
            real_for_g = (self._d(real_images, condition)[0]
                          if self.loss_pair.uses_real_for_generator else None)
            fake_logits_g, fake_scores = self._d(fake_images, g_condition)
            g_loss = self.loss_pair.generator(fake_logits_g, real_for_g)
            classify_fake, classify_term = self._classify(fake_scores, g_condition, strength)
            g_total = g_loss + self.mode_seeking * seeking + classify_term
        self._descend(self.g_optimizer, tape, g_total, self.generator)
        if self.ema_generator is not None:
            self._update_ema()

        for name, value in (("d_loss", d_loss), ("g_loss", g_loss), ("r1", r1),
                            ("d_real", ops.mean(ops.sigmoid(real_logits))),
                            ("d_fake", ops.mean(ops.sigmoid(fake_logits))),
                            ("condition", strength), ("mode_seeking", seeking),
                            ("classify_real", classify_real), ("classify_fake", classify_fake)):
            if name in self.trackers:
                self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def r1_penalty(self, real_images, condition=None):
        """Mean squared norm of D's gradient with respect to (augmented) real images."""
        with tf.GradientTape() as tape:
            tape.watch(real_images)
            total = ops.sum(self._d(real_images, condition)[0])
        grads = tape.gradient(total, real_images)
        return ops.mean(ops.sum(ops.square(grads), axis=[1, 2, 3]))

    def _lazy_r1(self, real_images, condition, step):
        if self.r1_gamma <= 0:
            return ops.convert_to_tensor(0.0)
        weight = 0.5 * self.r1_gamma * self.r1_every
        return tf.cond(step % self.r1_every == 0,
                       lambda: weight * self.r1_penalty(real_images, condition),
                       lambda: tf.constant(0.0))

    def _ramp_condition(self):
        """Set both nets' condition strength for this step (0 for an unconditional GAN)."""
        if not self.conditional:
            return ops.convert_to_tensor(0.0)
        seen = ops.cast(self.g_optimizer.iterations, "float32") * self.images_per_step
        strength = condition_strength(seen, *self.condition_schedule)
        for layer in strength_layers(self.generator) + strength_layers(self.discriminator):
            layer.strength.assign(strength)
        return strength

    def _update_ema(self):
        """ema = beta * ema + (1 - beta) * online, beta warming up as (1 + t) / (10 + t).

        Batch-norm statistics are averaged the same way: the online net's statistics belong to
        the online weights, and paired with averaged weights they shift every activation (a
        colour cast in the samples, measured by bench/quality.py). The condition strength is
        a setting, not a statistic: copied.
        """
        t = ops.cast(self.g_optimizer.iterations, "float32")
        beta = ops.minimum(self.ema_decay, (1.0 + t) / (10.0 + t))
        for ema, online in zip(self.ema_generator.trainable_weights,
                               self.generator.trainable_weights):
            ema.assign(beta * ema + (1.0 - beta) * online)
        for ema, online in zip(self.ema_generator.non_trainable_weights,
                               self.generator.non_trainable_weights):
            if ema.name == "strength":
                ema.assign(online)
            else:
                ema.assign(beta * ema + (1.0 - beta) * online)

    @staticmethod
    def _descend(optimizer, tape, loss, net: keras.Model) -> None:
        weights = net.trainable_weights
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))


# A warm-started run's learning rate ramps linearly from 0 over its first this many images
# (with TrainConfig.warm_start_fixes' "warmup", train/warmstart.py): its first steps are on a
# new catalogue the parent's weights fit only partly, where full-size Adam steps undo what the
# parent learned.
WARMUP_IMAGES = 6000


def WarmUp(learning_rate: float, steps: int):
    """A Keras LearningRateSchedule: learning_rate * min(1, (step + 1) / steps)."""
    import keras

    class _WarmUp(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            ramp = keras.ops.minimum(1.0, (keras.ops.cast(step, "float32") + 1.0) / steps)
            return learning_rate * ramp

        def get_config(self):
            return {"learning_rate": learning_rate, "steps": steps}
    return _WarmUp()



def build_gan(config, condition=None) -> GAN:
    """The GAN a TrainConfig describes, compiled with Adam and built.

    condition: a conditioning.ConditionSpec for a conditional GAN, None for an unconditional one.
    """

    with precision.policy(precision.resolve(config.precision)[0]):
        generator, discriminator = ARCHITECTURES[config.arch].build(
            config.image_size, config.latent_dim, config.base_filters, seed=config.seed,
            condition_dim=condition.dim if condition is not None else 0)
        if condition is not None:
            generator = conditional_generator(generator, config.latent_dim, condition,
                                              seed=config.seed + 7)
            discriminator = conditional_discriminator(discriminator, condition,
                                                      seed=config.seed + 8)
    augment = None if config.augment == "none" else resolve(AUGMENTATIONS[config.augment])
    gan = GAN(generator, discriminator, config.latent_dim, loss=resolve(LOSSES[config.loss]),
              augment=augment, r1_gamma=config.r1_gamma,
              r1_every=config.r1_every, ema_decay=config.ema_decay, seed=config.seed,
              condition_schedule=(config.condition_start, config.condition_ramp),
              images_per_step=config.batch_size, mode_seeking=config.mode_seeking,
              condition_classify=config.condition_classify)
    learning_rate = config.learning_rate
    if config.warm_start_fix("warmup"):
        learning_rate = WarmUp(learning_rate, max(1, WARMUP_IMAGES // config.batch_size))
    adam = dict(learning_rate=learning_rate, beta_1=config.beta_1, beta_2=config.beta_2)
    gan.compile(d_optimizer=keras.optimizers.Adam(name="d_optimizer", **adam),
                g_optimizer=keras.optimizers.Adam(name="g_optimizer", **adam))
    gan.build_optimizers()
    return gan
