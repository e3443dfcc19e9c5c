"""Conditioning on descriptions and catalogue fields: the stream pairs each image with its own
condition, the transition from unconditional is real, a conditional run trains and resumes,
and `generate --prompt` asks for what it gets (without the store)."""
import json
import os
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

from streamgan.common.errors import ConfigError
from streamgan.store.contract import CatalogSection, Counts, ImageSection, Manifest, Vocabulary, open_store
from streamgan.train import conditioning
from streamgan.train import layers as net_layers
from streamgan.train.config import TrainConfig
from streamgan.train.data import StoreReader, stream_dataset
from streamgan.train.gan import condition_strength
from streamgan.train.images import label_margin
from streamgan.train.losses import classification_loss
from tests.helpers import one_line
from tests.train.tiny_store import build_described_store, decode_index

NUM = 60
COLOURS = ("red", "blue")
CATEGORIES = ("dress", "shirt", "shoes")


def describe(i):
    """Image i: two descriptions naming it (n<i>) and a colour each; a category of its own."""
    return [f"n{i} {COLOURS[0]}", f"N{i}, {COLOURS[1]}!"], {"category": CATEGORIES[i % 3]}


@pytest.fixture(scope="module")
def described_store(tmp_path_factory):
    path = os.path.join(str(tmp_path_factory.mktemp("stores")), "described")
    return build_described_store(path, NUM, 32, describe, fields=("category",), chunk_rows=8)


def batches(store, condition, epochs=1, batch_size=16):
    from streamgan.train.data import load_transform
    info = open_store(store)
    reader = StoreReader.from_info(info).with_condition(condition)
    spec_dir = info.store_dir
    encoder = conditioning.ConditionEncoder(spec_dir, condition, max_tokens=4)
    dataset = stream_dataset(reader, load_transform(store), batch_size, seed=5,
                             encode_condition=encoder)
    out = []
    for _ in range(epochs):
        out.append([(decode_index(x.numpy()), ids.numpy()) for x, ids in dataset])
    return out, encoder.vocabulary()


@pytest.mark.slow  # described_store is analysed by a real Beam job
def test_each_image_arrives_with_one_of_its_own_descriptions(described_store):
    epochs, vocabulary = batches(described_store, "descriptions", epochs=3)
    seen_colours = {i: set() for i in range(NUM)}
    for epoch in epochs:
        indices = np.concatenate([i for i, _ in epoch])
        assert sorted(indices) == list(range(NUM))  # every image once per epoch
        for index, ids in epoch:
            for i, row in zip(index, ids):
                words = [vocabulary[t - 1] for t in row if t > 0]
                assert words[0] == f"n{i}", (i, words)  # the image's own description
                assert len(words) == 2 and words[1] in COLOURS
                seen_colours[i].add(words[1])
    # one description drawn per image and epoch: over 3 epochs most images showed both
    assert sum(len(c) == 2 for c in seen_colours.values()) > NUM / 2


@pytest.mark.slow  # described_store is analysed by a real Beam job
def test_each_image_arrives_with_its_category(described_store):
    (epoch,), vocabulary = batches(described_store, "category")
    for index, ids in epoch:
        for i, row in zip(index, ids):
            assert [vocabulary[t - 1] for t in row if t > 0] == [CATEGORIES[i % 3]]


def manifest_with(vocabulary):
    """A manifest whose vocabulary section is the given JSON object."""
    return Manifest(catalog=CatalogSection(), counts=Counts(0, 0, 0, 0),
                    image=ImageSection(size=32, pixel_range=(-1, 1)),
                    vocabulary=Vocabulary.load(vocabulary))


def test_auto_is_unconditional_without_usable_descriptions_and_says_why():
    source, why = conditioning.choose_source("auto", manifest_with({"size": 0, "top": []}))
    assert source is None and "every description is empty" in why
    source, why = conditioning.choose_source("auto", manifest_with({"size": 1, "top": ["shoe"]}))
    assert source is None and "'shoe'" in why
    source, _ = conditioning.choose_source("auto", manifest_with({"size": 40, "top": ["a"]}))
    assert source == "descriptions"
    with pytest.raises(ConfigError, match="no vocabulary for field 'colour'.*category"):
        conditioning.choose_source("colour", manifest_with(
            {"size": 3, "fields": {"category": {"size": 3}}}))
    with pytest.raises(ConfigError, match="--condition descriptions: every description is empty"):
        conditioning.choose_source("descriptions", manifest_with({}))


@pytest.mark.slow  # described_store is analysed by a real Beam job
def test_the_condition_has_no_effect_at_strength_zero_and_steers_at_one(described_store):
    from streamgan.train.gan import build_gan
    spec = conditioning.ConditionSpec("category", CATEGORIES, 4, 8, CATEGORIES)
    config = TrainConfig(store="s", workdir="w", image_size=32, latent_dim=8, base_filters=4,
                         ema_decay=0.0, condition_start=100, condition_ramp=200)
    gan = build_gan(config, spec)
    noise = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    ids = np.array([[1, 0, 0, 0], [2, 0, 0, 0], [3, 0, 0, 0]], np.int32)
    same_noise = np.repeat(noise[:1], 3, axis=0)
    at_zero = keras.ops.convert_to_numpy(gan.generator([same_noise, ids]))
    np.testing.assert_array_equal(at_zero[0], at_zero[1])  # the condition is ignored
    for layer in net_layers.strength_layers(gan.generator):
        layer.strength.assign(1.0)
    at_one = keras.ops.convert_to_numpy(gan.generator([same_noise, ids]))
    # (an untrained net's images are all near 0: compare with what other noise changes)
    other_noise = keras.ops.convert_to_numpy(gan.generator([noise[1:2], ids[:1]]))
    assert np.abs(at_one[0] - at_one[1]).max() > 0.1 * np.abs(at_one[0] - other_noise[0]).max()
    # the schedule: 0 before the start, linear, then 1
    values = [float(condition_strength(np.float32(n), 100, 200)) for n in (0, 100, 200, 300, 900)]
    assert values == pytest.approx([0, 0, 0.5, 1, 1])


@pytest.mark.parametrize("arch", ["dcgan", "fastgan"])
def test_the_condition_modulates_every_batch_norm_of_the_generator(arch):
    """Besides entering with the noise, the condition scales and shifts each norm: with the
    input path cut, a condition alone still changes the image, at every norm."""
    from streamgan.train.gan import build_gan
    from streamgan.train.layers import Modulation
    spec = conditioning.ConditionSpec("category", CATEGORIES, 4, 8, CATEGORIES)
    config = TrainConfig(store="s", workdir="w", image_size=32, latent_dim=8, base_filters=4,
                         ema_decay=0.0, arch=arch)
    gan = build_gan(config, spec)
    layers = list(net_layers.nested_layers(gan.generator))
    norms = [la for la in layers if isinstance(la, keras.layers.BatchNormalization)]
    modulations = [la for la in layers if isinstance(la, Modulation)]
    assert len(norms) == len(modulations) >= 3
    first_dense = next(la for la in layers if isinstance(la, keras.layers.Dense))
    kernel = first_dense.kernel.numpy()
    kernel[8:] = 0.0  # the condition's rows of the input layer: cut
    first_dense.kernel.assign(kernel)
    for layer in net_layers.strength_layers(gan.generator):
        layer.strength.assign(1.0)
    noise = np.repeat(np.random.default_rng(0).normal(size=(1, 8)).astype(np.float32), 2, 0)
    ids = np.array([[1, 0, 0, 0], [2, 0, 0, 0]], np.int32)
    before = keras.ops.convert_to_numpy(gan.generator([noise, ids]))
    np.testing.assert_allclose(before[0], before[1], atol=1e-6)  # modulation starts at zero
    rng = np.random.default_rng(1)
    for layer in modulations:
        layer.scale.assign(rng.normal(0, 0.5, layer.scale.shape))
        layer.shift.assign(rng.normal(0, 0.5, layer.shift.shape))
    after = keras.ops.convert_to_numpy(gan.generator([noise, ids]))
    # (an untrained net's images are all near 0: compare with what other noise changes)
    other_noise = np.random.default_rng(2).normal(size=(1, 8)).astype(np.float32)
    other = keras.ops.convert_to_numpy(gan.generator([other_noise, ids[:1]]))
    assert np.abs(after[0] - after[1]).max() > 0.1 * np.abs(after[0] - other[0]).max()


def test_mode_seeking_pairs_share_a_condition_and_punish_ignoring_the_noise():
    from streamgan.train.gan import build_gan
    spec = conditioning.ConditionSpec("category", CATEGORIES, 4, 8, CATEGORIES)
    config = TrainConfig(store="s", workdir="w", image_size=32, latent_dim=8, base_filters=4,
                         ema_decay=0.0)
    gan = build_gan(config, spec)
    for layer in net_layers.strength_layers(gan.generator):
        layer.strength.assign(1.0)
    ids = np.array([[1, 0, 0, 0], [2, 0, 0, 0], [3, 0, 0, 0], [1, 2, 0, 0], [3, 0, 0, 0]],
                   np.int32)
    paired, images, uses_noise = gan._g_for_step(5, ids)
    paired = keras.ops.convert_to_numpy(paired)
    np.testing.assert_array_equal(paired[3:], ids[:2])  # the last two repeat the first two
    assert images.shape[0] == 5
    first_dense = next(la for la in net_layers.nested_layers(gan.generator)
                       if isinstance(la, keras.layers.Dense))
    kernel = first_dense.kernel.numpy()
    kernel[:8] = 0.0  # the noise's rows: now a condition makes one image, whatever the noise
    first_dense.kernel.assign(kernel)
    _, _, ignores_noise = gan._g_for_step(5, ids)
    assert float(ignores_noise) > 100 * float(uses_noise)


def test_the_classification_loss_reads_every_word_of_a_bag_and_skips_empty_bags():
    ids = np.array([[2, 0, 0], [1, 3, 0], [0, 0, 0]], np.int32)  # model ids: word + 1
    right = np.array([[0, 9, 0], [9, 0, 9], [9, 9, 9]], np.float32)  # row 2 has no words
    loss = float(classification_loss(right, ids))
    # row 0: one word, certain; row 1: two words in equal shares, so log 2 at best
    assert loss == pytest.approx((0.0 + np.log(2.0)) / 2, abs=1e-3)
    wrong = np.array([[9, 0, 0], [0, 9, 0], [0, 0, 0]], np.float32)
    assert float(classification_loss(wrong, ids)) > 4.0
    assert float(classification_loss(wrong[2:], ids[2:])) == 0.0


@pytest.mark.slow  # real fit() epochs
def test_the_classification_term_teaches_the_discriminator_the_conditions():
    """Three conditions drawn in three colours: with the term on (and the condition at full
    strength), D's condition scores come to file each real image under its own condition."""
    from streamgan.train.gan import build_gan
    spec = conditioning.ConditionSpec("category", CATEGORIES, 4, 8, CATEGORIES)
    config = TrainConfig(store="s", workdir="w", image_size=32, latent_dim=8, base_filters=8,
                         batch_size=24, augment="none", ema_decay=0.0, condition_start=0,
                         condition_ramp=0, condition_classify=1.0)
    gan = build_gan(config, spec)
    rng = np.random.default_rng(0)
    labels = np.arange(96) % 3
    images = np.full((96, 32, 32, 3), -0.8, np.float32)
    images[np.arange(96), :, :, labels] = 0.8  # red, green, blue
    images += rng.normal(0, 0.1, images.shape).astype(np.float32)
    ids = np.zeros((96, 4), np.int32)
    ids[:, 0] = labels + 1
    history = gan.fit(images, ids, batch_size=24, epochs=8, verbose=0, shuffle=True).history
    assert history["classify_real"][-1] < 0.5 * history["classify_real"][0]
    _, scores = gan.discriminator([images, ids], training=False)
    assert (np.argmax(keras.ops.convert_to_numpy(scores), axis=1) == labels).mean() >= 0.9


@pytest.mark.slow  # real fit() epochs
def test_a_conditional_run_trains_resumes_and_generates_what_is_asked(described_store, tmp_path,
                                                                      capsys):
    from streamgan.pipeline.cli import main
    from streamgan.train.loop import train
    run = str(tmp_path / "run")
    config = TrainConfig(store=described_store, workdir=run, epochs=1, batch_size=16,
                         latent_dim=8, base_filters=4, num_samples=6, eval_every=0,
                         condition="category", condition_start=0, condition_ramp=64,
                         condition_classify=1.0)
    summary = train(config, verbose=0, log=lambda _: None)
    assert summary["epoch"] == 1 and np.isfinite(summary["metrics"]["d_loss"])
    assert np.isfinite(summary["metrics"]["classify_fake"])
    assert summary["metrics"]["condition"] > 0  # the strength ramped up during the epoch
    spec = conditioning.ConditionSpec.load(os.path.join(run, "conditioning"))
    assert spec.source == "category" and set(spec.vocabulary) == set(CATEGORIES)
    assert set(spec.prompts) == set(CATEGORIES)
    # the sample grid: one row per category (3 rows of 2 from 6 samples, 32 px, 2 px padding),
    # each row labelled with its category, left of the cells
    grid = np.asarray(Image.open(os.path.join(run, "samples", "epoch0001.png")))
    labels = label_margin(list(spec.prompts[:3]), 32)
    assert grid.shape[0] == 3 * 34 + 2 and grid.shape[1] == labels.shape[1] + 2 * 34 + 2
    assert (grid[:, :labels.shape[1]] == labels).all() and (labels < 128).any()

    resumed = train(TrainConfig.load(os.path.join(run, "config.json")).resumed_with(epochs=2),
                    verbose=0, log=lambda _: None)
    assert resumed["initial_epoch"] == 1 and resumed["epoch"] == 2
    assert TrainConfig.load(os.path.join(run, "config.json")).condition_source == "category"

    # the run generates without its store
    moved = str(tmp_path / "elsewhere")
    shutil.move(described_store, moved)
    try:
        out = str(tmp_path / "grid.png")
        assert main(["generate", "--workdir", run, "--prompt", "dress", "--prompt", "Shoes",
                     "--num", "4", "--seed", "1", "--out", out]) == 0
        grid = np.asarray(Image.open(out))
        labels = label_margin(["dress", "Shoes"], 32)  # a row per prompt, --num each, labelled
        assert grid.shape[:2] == (2 * 34 + 2, labels.shape[1] + 4 * 34 + 2)
        assert (grid[:, :labels.shape[1]] == labels).all()
        # without --prompt: a labelled row per frequent condition, 7 images shared out 3, 3, 1
        assert main(["generate", "--workdir", run, "--num", "7", "--seed", "1", "--out", out,
                     "--out-dir", str(tmp_path / "seven")]) == 0
        assert len(os.listdir(tmp_path / "seven")) == 7
        grid = np.asarray(Image.open(out))
        labels = label_margin(list(spec.prompts[:3]), 32)
        assert grid.shape[:2] == (3 * 34 + 2, labels.shape[1] + 3 * 34 + 2)
        assert (grid[:, :labels.shape[1]] == labels).all()
        # the exported generator answers the prompt (two epochs: compare before rounding)
        generator = keras.models.load_model(os.path.join(run, "generator.keras"))
        encoder = conditioning.ConditionEncoder(os.path.join(run, "conditioning"), "category",
                                                spec.max_tokens)
        noise = np.zeros((2, 8), np.float32)
        images = keras.ops.convert_to_numpy(generator([noise, encoder.encode(["dress", "shoes"])]))
        assert np.abs(images[0] - images[1]).max() > 1e-6

        # --select: per prompt, the run's exported discriminator's favourite 4 of 12 candidates
        from streamgan.train.generate import discriminator_scores
        critic = keras.models.load_model(os.path.join(run, "discriminator.keras"))
        ids = np.repeat(encoder.encode(["shoes"]), 12, axis=0)
        noise = np.random.default_rng(1).standard_normal((12, 8)).astype(np.float32)
        scores = discriminator_scores(critic, keras.ops.convert_to_numpy(
            generator([noise, ids])), ids)
        assert main(["generate", "--workdir", run, "--prompt", "shoes", "--num", "4",
                     "--select", "3", "--seed", "1", "--out-dir", str(tmp_path / "picked")]) == 0
        picked = [np.asarray(Image.open(tmp_path / "picked" / f"{i:04d}.png")) for i in range(4)]
        best = keras.ops.convert_to_numpy(generator([noise[np.sort(np.argsort(-scores)[:4])],
                                                     ids[:4]]))
        from streamgan.train.images import to_uint8
        pixel_range = TrainConfig.load(os.path.join(run, "config.json")).pixel_range
        np.testing.assert_allclose(np.stack(picked).astype(int),
                                   to_uint8(best, pixel_range).astype(int), atol=1)

        capsys.readouterr()
        assert main(["generate", "--workdir", run, "--prompt", "dres", "--out", out]) == 2
        one_line(capsys, "'dres' is not in the vocabulary (closest: dress")
    finally:
        shutil.move(moved, described_store)


@pytest.mark.slow
def test_prompts_are_tokenised_by_the_store_graph_and_unknown_words_named(described_store,
                                                                          tmp_path, capsys):
    from streamgan.pipeline.cli import main
    from streamgan.train.loop import train
    run = str(tmp_path / "run")
    train(TrainConfig(store=described_store, workdir=run, epochs=1, batch_size=32,
                      latent_dim=8, base_filters=4, num_samples=4, eval_every=0,
                      condition="descriptions"), verbose=0, log=lambda _: None)
    graph = os.path.join(run, "conditioning")
    encoder = conditioning.ConditionEncoder(graph, "descriptions", 4)
    vocabulary = encoder.vocabulary()
    # "N7, RED!" is tokenised as at preprocessing: lower-cased, punctuation splits words
    ids = encoder.encode(["N7, RED!", "blue"])
    assert [vocabulary[t - 1] for t in ids[0] if t] == ["n7", "red"]
    assert [vocabulary[t - 1] for t in ids[1] if t] == ["blue"]
    with open(os.path.join(graph, "condition.json")) as fh:
        assert json.load(fh)["source"] == "descriptions"
    out = str(tmp_path / "one.png")
    assert main(["generate", "--workdir", run, "--prompt", "n3 red", "--num", "2",
                 "--out", out]) == 0
    capsys.readouterr()
    assert main(["generate", "--workdir", run, "--prompt", "n3 redd blu", "--out", out]) == 2
    one_line(capsys, "'redd' is not in the vocabulary (closest: red",
                   "'blu' is not in the vocabulary (closest: blue")
