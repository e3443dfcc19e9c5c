"""Real fit() runs on a tiny store: the run directory, resume, and a run killed mid-epoch."""
import csv
import dataclasses
import glob
import json
import os
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

from streamgan.common.errors import ConfigError, StoreError
from streamgan.train.build import build, resolve
from streamgan.train.checkpoint import list_checkpoints, restore_checkpoint
from streamgan.train.config import TrainConfig
from streamgan.train.gan import build_gan
from streamgan.train.loop import resume_config, train
from streamgan.train.paths import RunPaths

# 100 images, batch 16: 7 steps per epoch, the last one of 4 images.
STEPS_PER_EPOCH = 7


def tiny_config(store, workdir, **kw):
    # the plain DCGAN: these tests are about the run's mechanics (two noise draws per step)
    options = dict(epochs=2, batch_size=16, latent_dim=8, base_filters=4, num_samples=6,
                   arch="dcgan", augment="none", r1_gamma=0.0, ema_decay=0.0, eval_every=0)
    return TrainConfig(store=store, workdir=str(workdir), **{**options, **kw})


def history_epochs(workdir):
    with open(os.path.join(workdir, "history.csv")) as fh:
        return [int(row["epoch"]) for row in csv.DictReader(fh)]


def event_tags(logdir):
    """Tags of every summary written under logdir (TensorBoard's own reader)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    tags = set()
    for run in glob.glob(os.path.join(logdir, "*")):
        acc = EventAccumulator(run, size_guidance={"tensors": 0})
        acc.Reload()
        tags |= set(acc.Tags()["tensors"]) | set(acc.Tags()["images"])
    return tags


@pytest.fixture(scope="module")
def two_epochs(store32, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("runs") / "two"
    summary = train(tiny_config(store32, workdir), verbose=0, log=lambda _: None)
    return str(workdir), summary


@pytest.mark.slow  # real fit() runs
def test_two_epochs_write_the_whole_run_directory(two_epochs):
    workdir, summary = two_epochs
    assert summary["epoch"] == 2 and summary["step"] == 2 * STEPS_PER_EPOCH
    assert summary["batches_per_epoch"] == STEPS_PER_EPOCH and summary["images"] == 100
    assert all(np.isfinite(v) for v in summary["metrics"].values())
    assert set(summary["metrics"]) == {"d_loss", "g_loss", "d_real", "d_fake"}

    assert [e for e, _ in list_checkpoints(os.path.join(workdir, "checkpoints"))] == [1, 2]
    for epoch in (1, 2):
        with Image.open(os.path.join(workdir, "samples", f"epoch{epoch:04d}.png")) as grid:
            assert grid.mode == "RGB" and grid.size[0] > 3 * 32  # 6 samples -> 3 columns
    # history.csv counts epochs as the sample files and checkpoints do: 1-based
    assert history_epochs(workdir) == [1, 2]
    assert os.path.getsize(os.path.join(workdir, "loss_curve.png")) > 0
    tags = event_tags(os.path.join(workdir, "logs"))
    assert {"epoch_d_loss", "epoch_g_loss", "epoch_d_real", "epoch_d_fake", "samples"} <= tags

    config = TrainConfig.load(RunPaths(workdir).config)
    assert config.image_size == 32 and config.latent_dim == 8 and config.epochs == 2

    generator = keras.models.load_model(os.path.join(workdir, "generator.keras"))
    fakes = keras.ops.convert_to_numpy(generator(np.zeros((3, 8), np.float32)))
    assert fakes.shape == (3, 32, 32, 3) and np.abs(fakes).max() <= 1.0


@pytest.mark.slow  # real fit() runs
def test_checkpoint_holds_nets_optimizers_and_rng(two_epochs):
    workdir, _ = two_epochs
    ckpt = os.path.join(workdir, "checkpoints", "epoch0002")
    # another seed: everything must come from disk
    gan = build_gan(tiny_config("s", workdir, image_size=32, seed=123))
    state = restore_checkpoint(gan, ckpt)
    assert state["epoch"] == 2 and state["step"] == 2 * STEPS_PER_EPOCH
    assert int(gan.g_optimizer.iterations.numpy()) == 2 * STEPS_PER_EPOCH
    assert list(gan.seed_generator.state.numpy()) == state["seed_generator_state"]
    assert state["seed_generator_state"] != [123, 0]
    # Adam's moments came back, not fresh zeros
    assert any(np.abs(keras.ops.convert_to_numpy(v)).max() > 0
               for v in gan.d_optimizer.variables[2:])
    exported = keras.models.load_model(os.path.join(workdir, "generator.keras"))
    for a, b in zip(gan.generator.weights, exported.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


@pytest.mark.slow  # real fit() runs
def test_resume_continues_epochs_steps_rng_and_fixed_noise(two_epochs, tmp_path):
    workdir = str(tmp_path / "resumed")
    shutil.copytree(two_epochs[0], workdir)
    noise = np.load(os.path.join(workdir, "fixed_noise.npy"))
    with open(os.path.join(workdir, "checkpoints", "epoch0002", "state.json")) as fh:
        before = json.load(fh)

    lines = []
    summary = train(resume_config(workdir, epochs=3), verbose=0, log=lines.append)

    assert any("resuming" in line and "after epoch 2" in line for line in lines)
    assert summary["initial_epoch"] == 2 and summary["epoch"] == 3
    assert summary["step"] == 3 * STEPS_PER_EPOCH
    with open(os.path.join(workdir, "checkpoints", "epoch0003", "state.json")) as fh:
        after = json.load(fh)
    assert after["step"] == before["step"] + STEPS_PER_EPOCH
    # the noise stream went on from where it stopped (two draws per step), not from its seed
    draws = 2 * STEPS_PER_EPOCH
    assert after["seed_generator_state"][1] == before["seed_generator_state"][1] + draws
    np.testing.assert_array_equal(np.load(os.path.join(workdir, "fixed_noise.npy")), noise)
    assert history_epochs(workdir) == [1, 2, 3]
    assert os.path.exists(os.path.join(workdir, "samples", "epoch0003.png"))
    assert TrainConfig.load(RunPaths(workdir).config).epochs == 3


class InterruptAt(keras.callbacks.Callback):
    """Stops the process the way Ctrl-C does, in the middle of an epoch."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise KeyboardInterrupt


@pytest.mark.slow  # real fit() runs
def test_run_killed_mid_epoch_resumes_from_its_last_checkpoint(store32, tmp_path):
    workdir = str(tmp_path / "killed")
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(store32, workdir, epochs=3), verbose=0, log=lambda _: None,
              callbacks=[InterruptAt(epoch=1, batch=3)])
    checkpoints = os.path.join(workdir, "checkpoints")
    assert [e for e, _ in list_checkpoints(checkpoints)] == [1]
    os.makedirs(os.path.join(checkpoints, ".epoch0002.tmp999"))  # a checkpoint killed mid-write

    with pytest.raises(FileExistsError, match="--resume"):
        train(tiny_config(store32, workdir), verbose=0, log=lambda _: None)

    summary = train(resume_config(workdir), verbose=0, log=lambda _: None)
    assert summary["initial_epoch"] == 1 and summary["epoch"] == 3
    assert summary["step"] == 3 * STEPS_PER_EPOCH  # the interrupted steps were not counted
    assert [e for e, _ in list_checkpoints(checkpoints)] == [1, 2, 3]
    assert not [n for n in os.listdir(checkpoints) if n.startswith(".")]
    assert history_epochs(workdir) == [1, 2, 3]


@pytest.mark.slow  # real fit() runs
def test_resume_refuses_another_model_or_image_size(two_epochs, store16):
    workdir, _ = two_epochs
    with pytest.raises(ConfigError, match="latent-dim 99 differs"):
        resume_config(workdir, latent_dim=99)
    with pytest.raises(StoreError, match="holds 16 px images but the model being resumed is 32 px"):
        train(resume_config(workdir, store=store16), verbose=0, log=lambda _: None)
    with pytest.raises(ConfigError, match="nothing to resume|no training run to resume"):
        resume_config(os.path.dirname(workdir) + "/never-trained")


def test_config_validation_names_the_option(tmp_path):
    good = TrainConfig(store="s", workdir="w")
    for change, message in [({"batch_size": 1}, "batch-size"), ({"epochs": 0}, "epochs"),
                            ({"image_size": 48}, "power of two"),
                            ({"learning_rate": -1.0}, "learning_rate")]:
        with pytest.raises(ConfigError, match=message):
            dataclasses.replace(good, **change).validate()
    with pytest.raises(dataclasses.FrozenInstanceError):  # resolved means final
        good.epochs = 3
    good = dataclasses.replace(good, workdir=str(tmp_path))
    good.save(RunPaths(good.workdir).config)
    assert TrainConfig.load(RunPaths(good.workdir).config) == good
    with pytest.raises(ConfigError, match="unknown training option"):
        TrainConfig.from_dict({**good.to_dict(), "epoch": 3})


@pytest.mark.slow  # real fit() runs
def test_unreadable_checkpoint_is_a_clear_error(two_epochs, tmp_path):
    workdir = str(tmp_path / "damaged")
    shutil.copytree(two_epochs[0], workdir)
    with open(os.path.join(workdir, "checkpoints", "epoch0002", "gan.weights.h5"), "wb") as fh:
        fh.write(b"truncated")
    with pytest.raises(ConfigError, match="epoch0002 is unreadable"):
        train(resume_config(workdir, epochs=3), verbose=0, log=lambda _: None)


def test_loss_curve_is_plotted_at_most_every_n_seconds_and_when_fit_ends(tmp_path):
    from streamgan.train.callbacks import LossCurve
    history, png = tmp_path / "history.csv", tmp_path / "loss_curve.png"

    def finish_epoch(curve, epoch):  # as History before it leaves history.csv (1-based)
        rows = "".join(f"{e + 1},{1.0 + e},{2.0 - e / 10},0.6,0.4\n" for e in range(epoch + 1))
        history.write_text("epoch,d_loss,g_loss,d_real,d_fake\n" + rows)
        curve.on_epoch_end(epoch)
        return png.read_bytes()

    curve = LossCurve(str(history), str(png), every_seconds=3600)
    first = finish_epoch(curve, 0)  # the first epoch is plotted at once
    assert finish_epoch(curve, 1) == first and finish_epoch(curve, 2) == first
    curve.on_train_end()  # the end plots what the interval held back
    assert png.read_bytes() != first
    curve = LossCurve(str(history), str(png), every_seconds=0)
    plots = [finish_epoch(curve, epoch) for epoch in range(3)]
    assert len(set(plots)) == 3


@pytest.mark.slow  # real fit() runs
def test_progress_to_a_file_is_one_line_per_epoch(store32, tmp_path, capsys):
    """Written to a file or a pipe (CI logs, `streamgan run > log`), progress is one line per
    epoch, not Keras' bar redrawn after every step."""
    train(tiny_config(store32, tmp_path / "run"), log=lambda _: None)
    out = capsys.readouterr().out
    assert "━" not in out and "\r" not in out
    assert [line for line in out.splitlines() if line.startswith("Epoch ")] == [
        "Epoch 1/2", "Epoch 2/2"]
    assert len([line for line in out.splitlines() if "d_loss" in line]) == 2


def test_resolve_decides_every_derived_option_and_changes_nothing_it_was_given(store32, tmp_path):
    """What train(), bench and the tests build from: image size, pixel range, split and
    condition source come from the store; the config passed in is left as it was; building
    writes the resolved config, not the given one."""
    given = tiny_config(store32, tmp_path / "run")
    resolved = resolve(given)
    assert (given.image_size, given.pixel_range, given.split, given.condition_source) == (
        None, None, None, None)
    config = resolved.config
    assert config.image_size == 32 and config.pixel_range == (-1.0, 1.0)
    assert config.split == "all"  # tiny stores have no splits
    assert config.condition_source is None and "unconditional" in resolved.conditioning
    trainee = build(resolved)
    assert trainee.steps == STEPS_PER_EPOCH and trainee.initial_epoch == 0
    assert TrainConfig.load(RunPaths(config.workdir).config) == config
    with pytest.raises(StoreError, match="holds 32 px images but the model is 64 px"):
        resolve(tiny_config(store32, tmp_path / "other", image_size=64))
