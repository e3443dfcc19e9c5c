"""A new season's run starts from the previous run's weights: the nets it builds generate what
the parent generated, known categories keep their embeddings under new ids, new ones start
fresh, and a run that cannot use the parent says so and trains from scratch."""
import dataclasses
import json
import os

import keras
import numpy as np
import pytest

from streamgan.train import conditioning
from streamgan.train.build import build, resolve
from streamgan.train.config import TrainConfig
from streamgan.train.gan import build_gan
from tests.train.tiny_store import build_described_store

pytestmark = pytest.mark.slow  # real fit() epochs

SUMMER = ("dress", "shirt", "shoes")
AUTUMN = ("coat", "dress", "shoes")  # shirt gone, coat new; ids renumbered


def store_of(tmp_path_factory, name, categories):
    def describe(i):
        return [f"item {i}"], {"category": categories[i % 3]}
    path = os.path.join(str(tmp_path_factory.mktemp("stores")), name)
    return build_described_store(path, 48, 32, describe, fields=("category",), chunk_rows=8)


def config(store, workdir, **kw):
    return TrainConfig(store=store, workdir=str(workdir), epochs=1, batch_size=16, latent_dim=8,
                       base_filters=4, num_samples=3, eval_every=0, condition="category",
                       condition_start=0, condition_ramp=16, **kw)


def test_a_warm_started_run_begins_where_the_parent_ended(tmp_path_factory, tmp_path):
    from streamgan.train.loop import train
    summer = store_of(tmp_path_factory, "summer", SUMMER)
    autumn = store_of(tmp_path_factory, "autumn", AUTUMN)
    parent_dir = tmp_path / "summer-run"
    train(config(summer, parent_dir), verbose=0, log=lambda _: None)
    parent_generator = keras.models.load_model(parent_dir / "generator.keras")

    # the nets of a new run on the new store, loaded from the parent, through the builder
    # train() uses; float32, as the exported generator.keras is: the comparison below is then
    # exact, not within bfloat16's rounding of whatever the parent learned
    child = resolve(config(autumn, tmp_path / "built", warm_start=str(parent_dir),
                           precision="float32"))
    assert child.config.parent["epoch"] == 1 and child.config.parent["run"] == str(parent_dir)
    assert (child.config.condition_start, child.config.condition_ramp) == (0, 0)
    lines = []
    trainee = build(child, log=lines.append)
    gan, spec = trainee.gan, trainee.spec
    assert sorted(spec.vocabulary) == sorted(AUTUMN)  # most frequent first, as TFT counts
    assert trainee.vocabulary == (2, 1)  # dress and shoes known, coat new
    assert "warm-starting" in lines[0] and "2 known and 1 new category" in lines[0]
    fresh = build_gan(child.config, spec)  # the same nets from random weights
    fresh_coat = fresh.ema_generator.get_layer("condition_embedding").embedding.embeddings.numpy()

    noise = np.random.default_rng(0).normal(size=(2, 8)).astype(np.float32)
    parent_vocabulary = conditioning.ConditionSpec.load(parent_dir / "conditioning").vocabulary
    old_ids = {w: i + 1 for i, w in enumerate(parent_vocabulary)}
    new_ids = {w: i + 1 for i, w in enumerate(spec.vocabulary)}
    for word in ("dress", "shoes"):  # the same images for a known category, under its new id
        before = parent_generator([noise, np.array([[old_ids[word]] + [0] * 15] * 2, np.int32)])
        after = gan.ema_generator([noise, np.array([[new_ids[word]] + [0] * 15] * 2, np.int32)])
        np.testing.assert_allclose(keras.ops.convert_to_numpy(after),
                                   keras.ops.convert_to_numpy(before), atol=1e-5)
    rows = gan.ema_generator.get_layer("condition_embedding").embedding.embeddings.numpy()
    np.testing.assert_array_equal(rows[new_ids["coat"]], fresh_coat[new_ids["coat"]])

    # through train(): the run records its parent and starts at full condition strength
    run = train(dataclasses.replace(config(autumn, tmp_path / "autumn-run"),
                                    warm_start=str(parent_dir)), verbose=0, log=lambda _: None)
    saved = json.load(open(tmp_path / "autumn-run" / "config.json"))
    assert saved["parent"]["run"] == str(parent_dir) and saved["parent"]["epoch"] == 1
    assert run["metrics"]["condition"] == pytest.approx(1.0)

    # another architecture cannot take the weights: one line, and it trains from scratch
    lines = []
    other = train(dataclasses.replace(config(autumn, tmp_path / "dcgan-run"), arch="dcgan",
                                      warm_start=str(parent_dir)), verbose=0, log=lines.append)
    assert other["epoch"] == 1
    assert any("not warm-starting" in line and "arch" in line for line in lines)
    assert json.load(open(tmp_path / "dcgan-run" / "config.json"))["parent"] is None
