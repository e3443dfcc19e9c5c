"""`generate` on an exported generator, and the grid helper it shares with inspect."""
import os

import numpy as np
import pytest
from PIL import Image

from streamgan.common.errors import ConfigError
from streamgan.train.config import TrainConfig
from streamgan.train.dcgan import build_generator
from streamgan.train.generate import draw_noise, generate
from streamgan.train.images import label_margin, make_grid, save_png, to_uint8
from streamgan.train.paths import RunPaths


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A run directory holding only an exported (untrained) 32 px generator."""
    path = tmp_path_factory.mktemp("gen-run")
    build_generator(32, latent_dim=8, base_filters=4, seed=0).save(str(path / "generator.keras"))
    TrainConfig(store="s", workdir=str(path), pixel_range=(-1.0, 1.0)).save(
        RunPaths(str(path)).config)
    return str(path)


def read_pngs(folder):
    names = sorted(os.listdir(folder))
    return names, [np.asarray(Image.open(os.path.join(folder, n))) for n in names]


def test_writes_the_requested_images_and_grid(workdir, tmp_path):
    result = generate(workdir, num=7, out=str(tmp_path / "grid.png"),
                      out_dir=str(tmp_path / "each"), seed=1, cols=4)
    names, images = read_pngs(tmp_path / "each")
    assert names == [f"{i:04d}.png" for i in range(7)] and len(result["files"]) == 7
    assert all(im.shape == (32, 32, 3) and im.dtype == np.uint8 for im in images)
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (2 * 34 + 2, 4 * 34 + 2, 3)  # 4 columns, 2 rows, 2 px borders


def test_same_seed_same_images_other_seed_other_images(workdir, tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate(workdir, num=3, out_dir=str(tmp_path / name), seed=seed)
    a, b, c = (read_pngs(tmp_path / name)[1] for name in "abc")
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_missing_generator_and_nothing_to_write(tmp_path, workdir):
    with pytest.raises(FileNotFoundError, match="holds no trained generator"):
        generate(str(tmp_path), num=4, out=str(tmp_path / "g.png"))
    with pytest.raises(ConfigError, match="nothing to write"):
        generate(workdir, num=4)


def test_grid_layout_and_range_conversion(tmp_path):
    assert to_uint8(np.array([-1.0, 0.0, 1.0, 3.0]), (-1.0, 1.0)).tolist() == [0, 128, 255, 255]
    images = np.stack([np.full((4, 5, 3), i, np.uint8) for i in range(5)])
    grid = make_grid(images, pad=1)  # 5 images -> 3 columns, 2 rows
    assert grid.shape == (2 * 5 + 1, 3 * 6 + 1, 3)
    assert grid[1, 1].tolist() == [0, 0, 0] and grid[6, 1 + 6].tolist() == [4, 4, 4]
    assert grid[6, 1 + 12].tolist() == [255, 255, 255]  # the empty sixth cell
    save_png(make_grid(images[..., 0], cols=5), str(tmp_path / "gray.png"))
    assert Image.open(tmp_path / "gray.png").mode == "L"
    with pytest.raises(ValueError, match="uint8"):
        make_grid(images.astype(np.float32))


def brightness_critic(size: int):
    """A discriminator that calls an image more real the brighter it is."""
    import keras
    image = keras.Input((size, size, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(image)
    logit = keras.layers.Dense(1, kernel_initializer="ones", bias_initializer="zeros")(pooled)
    return keras.Model(image, logit)


def test_select_keeps_the_discriminators_favourites_of_the_same_candidates(workdir, tmp_path):
    with pytest.raises(ConfigError, match="discriminator.keras is missing"):
        generate(workdir, num=2, select=3, out=str(tmp_path / "g.png"))
    brightness_critic(32).save(RunPaths(workdir).discriminator)
    try:
        # the candidates: 7 x 4 images from the same seed's noise, without selection
        generate(workdir, num=28, seed=3, out_dir=str(tmp_path / "all"))
        result = generate(workdir, num=7, seed=3, select=4, out_dir=str(tmp_path / "picked"))
    finally:
        os.remove(RunPaths(workdir).discriminator)
    _, candidates = read_pngs(tmp_path / "all")
    _, picked = read_pngs(tmp_path / "picked")
    assert result["num"] == 7 and len(picked) == 7
    brightness = np.array([im.mean() for im in candidates])
    brightest = sorted(np.argsort(-brightness)[:7])  # in their drawing order
    for im, i in zip(picked, brightest):
        np.testing.assert_allclose(im.astype(int), candidates[i].astype(int), atol=1)
    assert np.mean([im.mean() for im in picked]) > brightness.mean()
    with pytest.raises(ConfigError, match="--select must be >= 1"):
        generate(workdir, num=2, select=0, out=str(tmp_path / "g.png"))


def test_truncated_noise_is_a_truncated_normal():
    noise = draw_noise(20000, 10, seed=4, truncation=0.5)
    assert noise.shape == (20000, 10) and noise.dtype == np.float32
    assert np.abs(noise).max() <= 0.5
    # a normal truncated at +-0.5 has std 0.284 (clipping would pile values at +-0.5: 0.45)
    assert abs(noise.std() - 0.284) < 0.01
    assert np.array_equal(noise, draw_noise(20000, 10, seed=4, truncation=0.5))
    assert abs(draw_noise(20000, 10, seed=4).std() - 1.0) < 0.02


def test_truncation_trades_variety_for_typical_images(tmp_path):
    import keras
    noise = keras.Input((8,))
    pixels = keras.layers.Dense(16 * 16 * 3, activation="tanh",
                                kernel_initializer=keras.initializers.RandomNormal(0.0, 0.3,
                                                                                   seed=1))(noise)
    keras.Model(noise, keras.layers.Reshape((16, 16, 3))(pixels)).save(
        str(tmp_path / "generator.keras"))
    TrainConfig(store="s", workdir=str(tmp_path), pixel_range=(-1.0, 1.0)).save(
        RunPaths(str(tmp_path)).config)

    def spread(truncation):  # mean distance of the images from their mean image
        out = tmp_path / f"t{truncation}"
        generate(str(tmp_path), num=32, seed=2, truncation=truncation, out_dir=str(out))
        images = np.stack(read_pngs(out)[1]).astype(float)
        return np.abs(images - images.mean(0)).mean()
    assert spread(0.2) < 0.4 * spread(None)
    with pytest.raises(ConfigError, match="--truncation must be > 0"):
        generate(str(tmp_path), num=2, truncation=0.0, out=str(tmp_path / "g.png"))


@pytest.mark.parametrize("size", [32, 64])
def test_grid_rows_carry_their_prompt_as_a_label(size):
    """A labelled grid is the plain grid with a margin of one legible label per row."""
    images = np.random.default_rng(0).integers(0, 256, (6, size, size, 3), dtype=np.uint8)
    labels = ["red dress", "sky blue low-top shoe with a white sole and laces", "navy skirt"]
    plain = make_grid(images, cols=2)
    labelled = make_grid(images, cols=2, labels=labels)
    margin = labelled.shape[1] - plain.shape[1]
    assert labelled.shape[0] == plain.shape[0] == len(labels) * (size + 2) + 2  # a row a label
    assert margin > 40 and (labelled[:, margin:] == plain).all()  # the cells are untouched
    ink = (labelled[:, :margin] < 128).any(axis=(1, 2))  # pixel lines holding text
    lines = [ink[2 + r * (size + 2):2 + r * (size + 2) + size].sum() for r in range(3)]
    assert min(lines) >= 8  # glyphs of 8+ px in every row, not specks
    assert lines[1] > lines[0] + 8  # the long prompt wraps onto a second line, inside its row
    assert not ink[:2].any() and not ink[-2:].any()
    # the label is the text: another prompt in the same row, other pixels
    dress, shoes = label_margin(["red dress"], size), label_margin(["red shoes"], size)
    width = min(dress.shape[1], shoes.shape[1])
    assert (dress[:, :width] != shoes[:, :width]).any()
    gray = make_grid(images[..., 0], cols=2, labels=labels)
    assert gray.shape == (*labelled.shape[:2], 1)
    with pytest.raises(ValueError, match="2 labels for a grid of 3 rows"):
        make_grid(images, cols=2, labels=labels[:2])
