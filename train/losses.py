"""Adversarial losses: each is a pair of functions of the discriminator's logits.

    discriminator(real_logits, fake_logits) -> scalar   what D minimises
    generator(fake_logits, real_logits)     -> scalar   what G minimises (real_logits is None
                                                         unless the loss `uses_real_for_generator`)

`GAN.train_step` calls them and knows nothing else about the loss. Losses written with
targets build them from the shape of the logits, so the last, partial batch of an epoch is
scored like any other. Register a new loss by name in train/registry.py.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import keras
from keras import ops


@dataclasses.dataclass(frozen=True)
class AdversarialLoss:
    discriminator: Callable
    generator: Callable
    uses_real_for_generator: bool = False


def _bce(logits, target: float):
    """Mean binary cross-entropy of logits against a constant target shaped like the batch."""
    targets = ops.full(ops.shape(logits), target)
    return ops.mean(keras.losses.binary_crossentropy(targets, logits, from_logits=True))


# Goodfellow et al. 2014, with the generator's non-saturating form (DCGAN's loss).
NON_SATURATING = AdversarialLoss(
    discriminator=lambda real, fake: _bce(real, 1.0) + _bce(fake, 0.0),
    generator=lambda fake, real=None: _bce(fake, 1.0))


# Lim & Ye 2017 / SAGAN, BigGAN: D is pushed to margins +-1; G raises D's score on fakes.
HINGE = AdversarialLoss(
    discriminator=lambda real, fake: (ops.mean(ops.relu(1.0 - real))
                                      + ops.mean(ops.relu(1.0 + fake))),
    generator=lambda fake, real=None: -ops.mean(fake))

# Relativistic pairing (Jolicoeur-Martineau 2018; R3GAN, Huang et al. 2024): D scores each real
# image against a generated one; the loss is symmetric for G. With R1 (and R2) it is the
# principled baseline of R3GAN, which avoids the mode dropping of the plain loss.
RELATIVISTIC = AdversarialLoss(
    discriminator=lambda real, fake: ops.mean(ops.softplus(fake - real)),
    generator=lambda fake, real: ops.mean(ops.softplus(real - fake)),
    uses_real_for_generator=True)


def classification_loss(scores, ids):
    """Mean cross-entropy of condition scores (B, V) against each bag's words (ids (B, T),
    0 = nothing, as the model reads them): one class for a field, the bag's words in equal
    shares for a description. Rows with no known word do not count."""
    from keras import ops
    vocabulary = ops.shape(scores)[-1]
    counts = ops.sum(ops.one_hot(ids - 1, vocabulary), axis=1)  # id 0 -> a row of zeros
    words = ops.sum(counts, axis=-1)
    targets = counts / ops.maximum(ops.expand_dims(words, -1), 1.0)
    per_row = -ops.sum(targets * ops.log_softmax(scores, axis=-1), axis=-1)
    known = ops.cast(words > 0, "float32")
    return ops.sum(per_row * known) / ops.maximum(ops.sum(known), 1.0)
