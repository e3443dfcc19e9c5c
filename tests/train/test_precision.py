"""--precision: mixed bfloat16 computes the same nets as float32, keeps float32 weights, and
its checkpoints and exported generators are interchangeable with float32 ones."""
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from streamgan.common.errors import ConfigError
from streamgan.train import precision
from streamgan.train.checkpoint import restore_checkpoint, save_checkpoint
from streamgan.train.config import TrainConfig
from streamgan.train.gan import build_gan
from streamgan.train.registry import ARCHITECTURES


def tiny(**kw):
    options = dict(store="s", workdir="w", image_size=32, latent_dim=8, base_filters=8,
                   ema_decay=0.99)
    return TrainConfig(**{**options, **kw})


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_bfloat16_computes_in_bfloat16_and_keeps_float32_weights_and_outputs(arch):
    gan = build_gan(tiny(arch=arch, precision="mixed_bfloat16"))
    convs = [layer for net in (gan.generator, gan.discriminator) for layer in net.layers
             if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.compute_dtype == "bfloat16" for layer in convs)
    assert all(w.dtype == "float32" for w in gan.generator.weights + gan.discriminator.weights
               + gan.ema_generator.weights)
    images = gan.sampler(np.zeros((2, 8), np.float32))
    assert images.dtype == "float32" and gan.discriminator(images).dtype == "float32"
    # the global policy is back to what it was: other models built later are float32
    assert keras.config.dtype_policy().name == "float32"


def test_bfloat16_and_float32_nets_with_the_same_weights_draw_the_same_images():
    half = build_gan(tiny(precision="mixed_bfloat16"))
    full = build_gan(tiny(precision="float32", seed=1))  # other weights, until copied
    noise = np.random.default_rng(0).normal(size=(16, 8)).astype(np.float32)
    # training=True: batch statistics, so the untrained nets draw images of some contrast
    a = half.generator(noise, training=True).numpy()
    other = full.generator(noise, training=True).numpy()
    full.generator.set_weights(half.generator.get_weights())
    full.discriminator.set_weights(half.discriminator.get_weights())
    b = full.generator(noise, training=True).numpy()
    # bfloat16 keeps 8 bits of mantissa: the same net to within ~1% of the images' spread,
    # where another net's images differ by about their whole spread
    assert np.abs(a - other).mean() > 0.5 * a.std()
    assert np.abs(a - b).mean() < 0.05 * a.std()
    half_logits, full_logits = half.discriminator(b).numpy(), full.discriminator(b).numpy()
    assert np.abs(half_logits - full_logits).mean() < 0.05 * full_logits.std()


def test_a_bfloat16_checkpoint_resumes_exactly_in_float32(tmp_path):
    config = tiny(precision="mixed_bfloat16", r1_gamma=0.1, r1_every=2)
    gan = build_gan(config)
    for _ in range(3):
        logs = gan.train_step(tf.random.uniform((4, 32, 32, 3), -1, 1))
    assert all(np.isfinite(float(v)) for v in logs.values()), logs
    path = save_checkpoint(gan, str(tmp_path), 1, config.to_dict())
    restored = build_gan(dataclasses.replace(config, precision="float32"))
    restore_checkpoint(restored, path)
    for a, b in zip(gan.generator.weights + gan.ema_generator.weights,
                    restored.generator.weights + restored.ema_generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(restored.g_optimizer.iterations.numpy()) == 3


def test_auto_picks_bfloat16_only_where_the_cpu_has_a_native_unit(monkeypatch):
    monkeypatch.setattr(precision, "native_bfloat16", lambda: "amx_bf16")
    assert precision.resolve("auto")[0] == "mixed_bfloat16"
    assert "amx_bf16" in precision.resolve("auto")[1]
    monkeypatch.setattr(precision, "native_bfloat16", lambda: None)
    assert precision.resolve("auto")[0] == "float32"
    assert precision.resolve("mixed_bfloat16")[0] == "mixed_bfloat16"  # asked for: obeyed


def test_an_unknown_precision_is_a_clear_error():
    with pytest.raises(ConfigError, match="precision"):
        tiny(precision="float16").validate()


@pytest.mark.parametrize("conditional", [False, True])
def test_an_exported_bfloat16_generator_is_a_float32_model_of_the_same_images(tmp_path,
                                                                               conditional):
    from streamgan.train.conditioning import ConditionSpec
    from streamgan.train.export import export_model
    from streamgan.train.layers import nested_layers
    spec = ConditionSpec(source="descriptions", vocabulary=("red", "dress", "shoes"),
                         max_tokens=4, dim=8, prompts=("red dress",)) if conditional else None
    gan = build_gan(tiny(precision="mixed_bfloat16"), spec)
    for layer in nested_layers(gan.sampler):  # a non-zero condition path, so it is compared
        if hasattr(layer, "strength"):
            layer.strength.assign(1.0)
    path = export_model(gan.sampler, str(tmp_path / "generator.keras"))
    loaded = keras.models.load_model(path)
    assert {layer.dtype_policy.name for layer in nested_layers(loaded)} == {"float32"}
    noise = np.random.default_rng(1).normal(size=(8, 8)).astype(np.float32)
    inputs = [noise, np.array([[1, 2, 0, 0], [3, 0, 0, 0]] * 4, np.int32)] if conditional \
        else noise
    a = gan.sampler(inputs, training=True).numpy()
    b = loaded(inputs, training=True).numpy()
    assert np.abs(a - b).mean() < 0.05 * a.std()
    if conditional:  # the condition is still read: other ids, other images
        other = [noise, np.zeros((8, 4), np.int32)]
        assert np.abs(loaded(other, training=True).numpy() - b).mean() > 0.05 * a.std()
