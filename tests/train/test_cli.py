"""`streamgan train` and `streamgan generate` through the real command line."""
import json
import os

import pytest

from streamgan.pipeline.cli import main
from tests.helpers import one_line
from tests.train.tiny_store import build_store

TINY = ["--epochs", "1", "--batch-size", "32", "--latent-dim", "8", "--base-filters", "4",
        "--num-samples", "4", "--eval-every", "0"]


@pytest.fixture(scope="module")
def cli_run(store32, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("cli") / "run")
    assert main(["train", "--store", store32, "--workdir", workdir, *TINY]) == 0
    return workdir


@pytest.mark.slow  # real fit() runs
def test_train_then_generate(cli_run, tmp_path, capsys):
    assert os.path.exists(os.path.join(cli_run, "generator.keras"))
    assert os.path.exists(os.path.join(cli_run, "samples", "epoch0001.png"))
    grid, each = str(tmp_path / "grid.png"), str(tmp_path / "each")
    capsys.readouterr()
    assert main(["generate", "--workdir", cli_run, "--num", "5", "--seed", "3",
                 "--out", grid, "--out-dir", each]) == 0
    assert os.path.exists(grid) and len(os.listdir(each)) == 5
    assert grid in capsys.readouterr().out


@pytest.mark.slow  # real fit() runs
def test_resume_from_the_command_line(cli_run, tmp_path, capsys):
    assert main(["train", "--workdir", cli_run, "--resume", "--epochs", "2",
                 "--batch-size", "64"]) == 0
    out = capsys.readouterr().out
    assert "resuming" in out and "after epoch 1" in out and "2 batches/epoch" in out
    assert os.path.exists(os.path.join(cli_run, "samples", "epoch0002.png"))


@pytest.mark.slow  # real fit() runs
def test_dry_run_prints_the_resolved_options(store32, tmp_path, capsys):
    workdir = str(tmp_path / "dry")
    assert main(["train", "--store", store32, "--workdir", workdir, "--dry-run", *TINY]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["latent_dim"] == 8 and config["learning_rate"] == 4e-4
    assert not os.path.exists(workdir)


def test_missing_store_is_one_line(tmp_path, capsys):
    missing = str(tmp_path / "no-store")
    assert main(["train", "--store", missing, "--workdir", str(tmp_path / "w"), *TINY]) == 2
    one_line(capsys, "streamgan train: error: no store at", "streamgan preprocess")


@pytest.mark.slow  # real fit() runs
def test_corrupt_and_empty_stores_are_one_line(store32, tmp_path, capsys):
    import shutil

    from streamgan.store import contract as store_format
    corrupt, empty = str(tmp_path / "corrupt"), str(tmp_path / "empty")
    shutil.copytree(store32, corrupt)
    with open(os.path.join(corrupt, store_format.STORE_FILE), "wb") as fh:
        fh.write(b"this is not HDF5")
    assert main(["train", "--store", corrupt, "--workdir", str(tmp_path / "w1"), *TINY]) == 2
    one_line(capsys, "is corrupt or not a streamgan store")
    build_store(empty, 0, 32, transform_from=store32)  # every record rejected: zero rows
    assert main(["train", "--store", empty, "--workdir", str(tmp_path / "w2"), *TINY]) == 2
    one_line(capsys, "holds no images")


@pytest.mark.slow  # real fit() runs
def test_image_size_mismatch_is_one_line(cli_run, store16, tmp_path, capsys):
    assert main(["train", "--workdir", cli_run, "--resume", "--store", store16]) == 2
    one_line(capsys, "holds 16 px images", "32 px")
    assert main(["train", "--store", store16, "--workdir", str(tmp_path / "w"),
                 "--image-size", "32", *TINY]) == 2
    one_line(capsys, "holds 16 px images but the model is 32 px")


@pytest.mark.slow  # real fit() runs
def test_user_mistakes_are_one_line(cli_run, store32, tmp_path, capsys):
    assert main(["train", "--store", store32, "--workdir", cli_run, *TINY]) == 2
    one_line(capsys, "already holds a training run", "--resume")
    assert main(["train", "--workdir", cli_run, "--resume", "--latent-dim", "9"]) == 2
    one_line(capsys, "--latent-dim 9 differs")
    assert main(["train", "--store", store32, "--workdir", str(tmp_path / "w"),
                 "--batch-size", "0"]) == 2
    one_line(capsys, "--batch-size must be an integer >= 2")
    assert main(["generate", "--workdir", str(tmp_path), "--out", str(tmp_path / "g.png")]) == 2
    one_line(capsys, "holds no trained generator")
    assert main(["train", "--workdir", str(tmp_path / "w")]) == 2
    one_line(capsys, "--store is required")
