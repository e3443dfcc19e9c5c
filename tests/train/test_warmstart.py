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
from streamgan.train.config import WARM_START_FIXES, TrainConfig
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


@pytest.fixture(scope="module")
def seasons(tmp_path_factory):
    """(autumn's store, the directory of a 1-epoch run on summer's store)."""
    from streamgan.train.loop import train
    summer = store_of(tmp_path_factory, "summer", SUMMER)
    autumn = store_of(tmp_path_factory, "autumn", AUTUMN)
    parent_dir = tmp_path_factory.mktemp("runs") / "summer-run"
    train(config(summer, parent_dir), verbose=0, log=lambda _: None)
    return autumn, parent_dir


def test_a_warm_started_run_begins_where_the_parent_ended(seasons, tmp_path):
    from streamgan.train.loop import train
    autumn, parent_dir = seasons
    parent_generator = keras.models.load_model(parent_dir / "generator.keras")

    # the nets of a new run on the new store, loaded from the parent, through the builder
    # train() uses; float32, as the exported generator.keras is: the comparison below is then
    # exact, not within bfloat16's rounding of whatever the parent learned
    child = resolve(config(autumn, tmp_path / "built", warm_start=str(parent_dir),
                           precision="float32", warm_start_fixes=ALL_FIXES))
    assert child.config.parent["epoch"] == 1 and child.config.parent["run"] == str(parent_dir)
    assert (child.config.condition_start, child.config.condition_ramp) == (0, 0)
    lines = []
    trainee = build(child, log=lines.append)
    gan, spec = trainee.gan, trainee.spec
    assert sorted(spec.vocabulary) == sorted(AUTUMN)  # most frequent first, as TFT counts
    assert trainee.vocabulary == (2, 1)  # dress and shoes known, coat new
    assert "warm-starting" in lines[0] and "2 known and 1 new category" in lines[0]
    fresh = build_gan(child.config, spec)  # the same nets from random weights

    noise = np.random.default_rng(0).normal(size=(2, 8)).astype(np.float32)
    parent_vocabulary = conditioning.ConditionSpec.load(parent_dir / "conditioning").vocabulary
    old_ids = {w: i + 1 for i, w in enumerate(parent_vocabulary)}
    new_ids = {w: i + 1 for i, w in enumerate(spec.vocabulary)}
    for word in ("dress", "shoes"):  # the same images for a known category, under its new id
        before = parent_generator([noise, np.array([[old_ids[word]] + [0] * 15] * 2, np.int32)])
        after = gan.ema_generator([noise, np.array([[new_ids[word]] + [0] * 15] * 2, np.int32)])
        np.testing.assert_allclose(keras.ops.convert_to_numpy(after),
                                   keras.ops.convert_to_numpy(before), atol=1e-5)
    # the new category starts at the known ones' mean (a tenth of its fresh row apart), in
    # the generator, its average and the discriminator
    for net, fresh_net in ((gan.ema_generator, fresh.ema_generator),
                           (gan.generator, fresh.generator),
                           (gan.discriminator, fresh.discriminator)):
        rows, fresh_rows = (embedding_of(n) for n in (net, fresh_net))
        known = (rows[new_ids["dress"]] + rows[new_ids["shoes"]]) / 2
        np.testing.assert_allclose(rows[new_ids["coat"]],
                                   known + 0.1 * fresh_rows[new_ids["coat"]], atol=1e-6)
    coat_before = embedding_of(gan.ema_generator)[new_ids["coat"]]

    # through train(): the run records its parent, starts at full condition strength, and
    # its new rows learn (without the learning-rate warm-up, whose 3 steps here would move
    # them by less than float32 resolves; the warm-up has its own test below)
    run = train(dataclasses.replace(config(autumn, tmp_path / "autumn-run"),
                                    warm_start=str(parent_dir), warm_start_fixes="rows,moments"),
                verbose=0, log=lambda _: None)
    saved = json.load(open(tmp_path / "autumn-run" / "config.json"))
    assert saved["parent"]["run"] == str(parent_dir) and saved["parent"]["epoch"] == 1
    assert run["metrics"]["condition"] == pytest.approx(1.0)
    trained = keras.models.load_model(tmp_path / "autumn-run" / "generator.keras")
    assert not np.allclose(embedding_of(trained)[new_ids["coat"]], coat_before)  # it learns

    # another architecture cannot take the weights: one line, and it trains from scratch
    lines = []
    other = train(dataclasses.replace(config(autumn, tmp_path / "dcgan-run"), arch="dcgan",
                                      warm_start=str(parent_dir)), verbose=0, log=lines.append)
    assert other["epoch"] == 1
    assert any("not warm-starting" in line and "arch" in line for line in lines)
    assert json.load(open(tmp_path / "dcgan-run" / "config.json"))["parent"] is None


ALL_FIXES = ",".join(WARM_START_FIXES)


def embedding_of(net) -> np.ndarray:
    """The condition embedding table of a conditional generator or discriminator."""
    from streamgan.train.layers import BagEmbedding, nested_layers
    bag, = [layer for layer in nested_layers(net) if isinstance(layer, BagEmbedding)]
    return bag.embedding.embeddings.numpy()


def test_a_warm_start_carries_adams_moments_and_warms_the_learning_rate_up(seasons, tmp_path):
    from streamgan.train.checkpoint import restore_checkpoint
    from streamgan.train.gan import WARMUP_IMAGES
    autumn, parent_dir = seasons
    child = resolve(config(autumn, tmp_path / "child", warm_start=str(parent_dir),
                           warm_start_fixes=ALL_FIXES))
    gan = build(child).gan
    parent_config = TrainConfig.load(parent_dir / "config.json")
    parent = build_gan(parent_config, conditioning.ConditionSpec.load(parent_dir / "conditioning"))
    restore_checkpoint(parent, child.config.parent["checkpoint"])

    for optimizer, old_optimizer, net, old_net in (
            (gan.g_optimizer, parent.g_optimizer, gan.generator, parent.generator),
            (gan.d_optimizer, parent.d_optimizer, gan.discriminator, parent.discriminator)):
        moved = 0
        for new_var, old_var in zip(net.trainable_variables, old_net.trainable_variables):
            i = optimizer._get_variable_index(new_var)
            j = old_optimizer._get_variable_index(old_var)
            old_v = old_optimizer._velocities[j].numpy()
            if tuple(new_var.shape) == tuple(old_var.shape):
                np.testing.assert_array_equal(optimizer._velocities[i].numpy(), old_v)
                np.testing.assert_array_equal(optimizer._momentums[i].numpy(),
                                              old_optimizer._momentums[j].numpy())
                moved += bool(np.any(old_v))
        assert moved > 0  # the parent's Adam had state to carry
        assert int(optimizer.iterations.numpy()) == 0  # a new run's step count
    # the first step takes a 1/steps share of the learning rate, then it ramps up
    steps = WARMUP_IMAGES // child.config.batch_size
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(
        child.config.learning_rate / steps)

    # none of it without the fixes, nor in a run from scratch
    bare = build(resolve(config(autumn, tmp_path / "bare", warm_start=str(parent_dir),
                                warm_start_fixes=""))).gan
    scratch = build(resolve(config(autumn, tmp_path / "scratch"))).gan
    for other in (bare, scratch):
        assert float(other.g_optimizer.learning_rate) == pytest.approx(
            child.config.learning_rate)
        assert not any(np.any(v.numpy()) for v in other.g_optimizer._velocities)


def test_a_warm_started_run_reports_its_kid_at_start_and_end_and_its_new_categories(
        seasons, tmp_path_factory, tmp_path):
    """What `streamgan run` prints after a warm start with evaluation on (pipeline/run_cmd.py)."""
    from streamgan.pipeline.run_cmd import report_warm_start
    from streamgan.train import quality
    from streamgan.train.loop import train
    if not quality.available():
        pytest.skip(f"the eval extra is not installed ({quality.INSTALL_HINT})")
    _, parent_dir = seasons

    def describe(i):
        return [AUTUMN[i % 3]], {"category": AUTUMN[i % 3]}
    autumn = build_described_store(str(tmp_path_factory.mktemp("stores") / "autumn-split"), 60,
                                   32, describe, fields=("category",), chunk_rows=8,
                                   validation_every=4)
    run_dir = tmp_path / "autumn-run"
    summary = train(dataclasses.replace(config(autumn, run_dir), warm_start=str(parent_dir),
                                        eval_every=1, eval_num=8), verbose=0,
                    log=lambda _: None)
    warm = summary["warm_start"]
    assert (warm["known"], warm["new"]) == (2, 1) and warm["parent"]["run"] == str(parent_dir)
    assert warm["kid_start"] is not None and warm["kid_end"] is not None
    assert warm["kid_start"] != warm["kid_end"]  # before and after training: two samples

    lines = []
    import builtins
    original = builtins.print
    builtins.print = lambda *a, **k: lines.append(" ".join(map(str, a)))
    try:
        warm = report_warm_start(str(run_dir), warm, 30)  # every held-out photo: 5 a category
    finally:
        builtins.print = original
    assert f"KID {warm['kid_start']:.4f} at the start, {warm['kid_end']:.4f} at the end" \
        in lines[0]
    assert list(warm["new_categories"]) == ["coat"]  # dress and shoes the parent knew
    assert any(line.startswith("      new category 'coat': ") for line in lines)
    assert os.path.exists(run_dir / "evaluation.json")


def test_a_warm_start_draws_its_rare_new_category_more_often_unless_told_not_to(
        seasons, tmp_path_factory, tmp_path):
    """A new season's new categories are its rare ones: a warm start balances by default
    (--balance 0.2, measured in docs/training.md); --balance 0 and a run from scratch do not."""
    _, parent_dir = seasons

    def describe(i):  # coat, new to the parent, on 3 of 48 images (6.25%)
        word = "coat" if i % 16 == 0 else ("dress", "shoes")[i % 2]
        return [f"item {i}"], {"category": word}
    winter = build_described_store(str(tmp_path_factory.mktemp("stores") / "winter"), 48, 32,
                                   describe, fields=("category",), chunk_rows=8)

    def coats_drawn(trainee, epochs=10):
        coat = trainee.spec.vocabulary.index("coat") + 1
        return sum(int(np.sum(ids.numpy()[:, 0] == coat))
                   for seed in range(epochs) for _, ids in trainee.stream(seed))

    lines = []
    warm = build(resolve(config(winter, tmp_path / "warm", warm_start=str(parent_dir))),
                 log=lines.append)
    assert warm.config.balance == 0.2
    assert json.load(open(tmp_path / "warm" / "config.json"))["balance"] == 0.2  # a resume's too
    assert any(line.startswith("  balance 0.2: ") and "'coat' 1.8x" in line for line in lines)
    off = build(resolve(config(winter, tmp_path / "off", warm_start=str(parent_dir),
                               balance=0.0)))
    scratch = build(resolve(config(winter, tmp_path / "scratch")))
    assert off.config.balance == scratch.config.balance == 0.0
    # unbalanced, each epoch draws the 3 coats once; balanced, sqrt(0.2 / 0.0625) = 1.8x as
    # often before the epoch is cut back to its length (about 1.7x): 1.4x is 3 sd below that
    assert coats_drawn(off) == coats_drawn(scratch) == 30
    assert coats_drawn(warm) >= 42
