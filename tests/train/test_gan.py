"""The DCGAN nets and the GAN's train_step on their own (no store, no fit)."""
import keras
import numpy as np
import pytest

from streamgan.train.config import TrainConfig
from streamgan.train.dcgan import build_discriminator, build_generator, num_doublings
from streamgan.train.gan import build_gan


@pytest.mark.parametrize("size", [32, 64, 128])
def test_nets_fit_every_supported_size(size):
    generator = build_generator(size, latent_dim=8, base_filters=4)
    discriminator = build_discriminator(size, base_filters=4)
    images = generator(np.zeros((2, 8), np.float32))
    assert tuple(images.shape) == (2, size, size, 3)
    assert tuple(discriminator(images).shape) == (2, 1)
    # the last hidden generator layer has base_filters channels, the core 2^(k-1) times more
    assert generator.layers[0].units == 4 * 4 * 4 * 2 ** (num_doublings(size) - 1)


def test_image_size_must_be_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        build_generator(48)


def test_partial_batch_trains_with_finite_metrics():
    gan = build_gan(TrainConfig(store="s", workdir="w", image_size=32, latent_dim=8,
                                base_filters=4))
    before = [w.numpy().copy() for w in gan.generator.trainable_weights]
    for batch in (8, 5):  # 5: an odd, last batch of an epoch
        real = np.random.default_rng(batch).uniform(-1, 1, (batch, 32, 32, 3)).astype(np.float32)
        logs = gan.train_step(keras.ops.convert_to_tensor(real))
        metrics = {k: float(v) for k, v in logs.items()}
        assert set(metrics) == {"d_loss", "g_loss", "d_real", "d_fake", "r1"}
        assert all(np.isfinite(v) for v in metrics.values()), metrics
        assert 0 <= metrics["d_real"] <= 1 and 0 <= metrics["d_fake"] <= 1
    assert int(gan.d_optimizer.iterations.numpy()) == int(gan.g_optimizer.iterations.numpy()) == 2
    after = [w.numpy() for w in gan.generator.trainable_weights]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
