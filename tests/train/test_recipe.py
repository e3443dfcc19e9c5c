"""The parts of the small-data recipe, each on what it must do: losses, R1, DiffAugment, EMA,
and a short real fit() for every architecture and loss."""
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from streamgan.train import augment, losses
from streamgan.train.checkpoint import restore_checkpoint, save_checkpoint
from streamgan.train.config import TrainConfig
from streamgan.train.gan import build_gan
from streamgan.train.registry import ARCHITECTURES, LOSSES

REAL = np.linspace(-3, 3, 8).astype(np.float32)[:, None]
FAKE = np.linspace(-2, 4, 8).astype(np.float32)[:, None]


def softplus(x):
    return np.log1p(np.exp(x))


@pytest.mark.parametrize("name, d_expected, g_expected", [
    ("nonsaturating", softplus(-REAL).mean() + softplus(FAKE).mean(), softplus(-FAKE).mean()),
    ("hinge", np.maximum(0, 1 - REAL).mean() + np.maximum(0, 1 + FAKE).mean(), -FAKE.mean()),
    ("relativistic", softplus(FAKE - REAL).mean(), softplus(REAL - FAKE).mean()),
])
def test_each_loss_is_its_formula(name, d_expected, g_expected):
    from streamgan.train.registry import resolve
    loss = resolve(LOSSES[name])
    assert float(loss.discriminator(REAL, FAKE)) == pytest.approx(d_expected, rel=1e-5)
    real_for_g = REAL if loss.uses_real_for_generator else None
    assert float(loss.generator(FAKE, real_for_g)) == pytest.approx(g_expected, rel=1e-5)


def test_losses_with_targets_take_any_batch_size():
    for n in (1, 5, 64):
        logits = np.zeros((n, 1), np.float32)
        assert float(losses.NON_SATURATING.discriminator(logits, logits)) == pytest.approx(
            2 * np.log(2), rel=1e-6)


def tiny(**kw):
    options = dict(store="s", workdir="w", image_size=32, latent_dim=8, base_filters=4)
    return TrainConfig(**{**options, **kw})


def test_r1_is_zero_for_a_constant_discriminator_and_the_weight_norm_for_a_linear_one():
    gan = build_gan(tiny(r1_gamma=1.0, augment="none"))  # D itself, not D after augmentation
    images = tf.random.uniform((4, 32, 32, 3), -1, 1)
    w = np.random.default_rng(0).normal(size=(32 * 32 * 3, 1)).astype(np.float32)
    for kernel, expected in ((np.zeros_like(w), 0.0), (w, float((w ** 2).sum()))):
        gan.discriminator = keras.Sequential([
            keras.Input((32, 32, 3)), keras.layers.Flatten(),
            keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(kernel),
                               bias_initializer="ones")])
        assert float(gan.r1_penalty(images)) == pytest.approx(expected, rel=1e-5, abs=1e-8)


def test_diffaugment_keeps_shapes_changes_images_and_passes_gradients():
    seeds = keras.random.SeedGenerator(1)
    images = tf.random.uniform((6, 32, 32, 3), -1, 1)
    with tf.GradientTape() as tape:
        tape.watch(images)
        out = augment.diffaugment(images, seeds)
        total = tf.reduce_sum(out)
    grads = tape.gradient(total, images)
    assert out.shape == images.shape and grads is not None and float(tf.reduce_sum(tf.abs(grads))) > 0
    assert not np.allclose(out.numpy(), images.numpy())
    # cutout: a square of zeros half the side; translation: at most 1/8 of the side
    cut = augment.cutout(tf.ones((8, 32, 32, 3)), seeds).numpy()
    zeros = (cut[..., 0] == 0).sum(axis=(1, 2))
    assert ((zeros > 0) & (zeros <= 16 * 16)).all()
    ramp = tf.tile(tf.range(32, dtype=tf.float32)[None, None, :, None], [8, 32, 1, 3])
    moved = augment.translation(ramp, seeds).numpy()[:, 16, 16, 0]
    assert (np.abs(moved - 16) <= 4).all()


def test_ema_moves_toward_the_online_weights_by_the_warmed_up_factor():
    gan = build_gan(tiny(ema_decay=0.9))
    before = [w.numpy().copy() for w in gan.ema_generator.weights]
    gan.train_step(tf.random.uniform((4, 32, 32, 3), -1, 1))
    t = int(gan.g_optimizer.iterations.numpy())
    beta = min(0.9, (1 + t) / (10 + t))
    # weights and batch-norm statistics alike (statistics of other weights would cast colours)
    assert any("moving" in w.name for w in gan.ema_generator.weights)
    for old, ema, online in zip(before, gan.ema_generator.weights, gan.generator.weights):
        np.testing.assert_allclose(ema.numpy(), beta * old + (1 - beta) * online.numpy(),
                                   rtol=1e-5, atol=1e-7)
    assert gan.sampler is gan.ema_generator


def test_a_checkpoint_restores_ema_weights_and_the_augmentation_stream(tmp_path):
    config = tiny(ema_decay=0.99, augment="diffaugment", r1_gamma=0.1, r1_every=2)
    gan = build_gan(config)
    for _ in range(3):
        gan.train_step(tf.random.uniform((4, 32, 32, 3), -1, 1))
    path = save_checkpoint(gan, str(tmp_path), 1, config.to_dict())
    restored = build_gan(dataclasses.replace(config, seed=7))
    restore_checkpoint(restored, path)
    for a, b in zip(gan.ema_generator.weights, restored.ema_generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(gan.seed_generator.state.numpy(),
                                  restored.seed_generator.state.numpy())
    # the same stream of augmentations from here on
    x = tf.ones((2, 32, 32, 3))
    np.testing.assert_array_equal(augment.diffaugment(x, gan.seed_generator).numpy(),
                                  augment.diffaugment(x, restored.seed_generator).numpy())


@pytest.mark.slow  # a real fit() per architecture and loss
@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_fit_trains_every_architecture_with_every_loss(store32, tmp_path, arch, loss):
    from streamgan.train.loop import train
    config = TrainConfig(store=store32, workdir=str(tmp_path / "run"), epochs=1, batch_size=32,
                         arch=arch, loss=loss, augment="diffaugment", r1_gamma=0.1,
                         r1_every=2, ema_decay=0.99, latent_dim=8, base_filters=4,
                         num_samples=4, eval_every=0)
    summary = train(config, verbose=0, log=lambda _: None)
    assert summary["epoch"] == 1 and summary["step"] == 4  # 100 images, batch 32
    assert all(np.isfinite(v) for v in summary["metrics"].values()), summary["metrics"]
    generator = keras.models.load_model(summary["generator"])
    assert generator(np.zeros((2, 8), np.float32)).shape == (2, 32, 32, 3)


def test_the_untrained_fastgan_discriminator_keeps_its_signal_at_scale():
    """Without normalisation, its initial weights alone decide whether images reach the logit:
    layer by layer the activations keep their size, so D can tell images apart from step one
    (with DCGAN's N(0, 0.02) they shrank to logits of ~0.001 and D sat at chance)."""
    from streamgan.train import fastgan
    d = fastgan.build_discriminator(64, 32, seed=1)
    taps = [layer.output for layer in d.layers if isinstance(layer, keras.layers.Rescaling)]
    probe = keras.Model(d.inputs, taps + [d.output])
    images = keras.random.uniform((32, 64, 64, 3), -1.0, 1.0, seed=3)
    scales = [float(np.std(keras.ops.convert_to_numpy(a))) for a in probe(images)]
    assert min(scales) > 0.1, scales
    assert max(scales) / min(scales) < 5, scales
