"""`streamgan run` and `streamgan demo` end to end: real Beam job, real fit(), real HTTP."""
import glob
import json
import os

import numpy as np
import pytest
from PIL import Image

from streamgan.pipeline.cli import main
from streamgan.pipeline.run_cmd import grid_rows
from streamgan.train.conditioning import GRID_ROWS, ConditionSpec
from streamgan.train.images import label_margin
from streamgan.train.paths import RunPaths

pytestmark = pytest.mark.slow
SIZE = 16
SMALL = ["--image-size", str(SIZE), "--batch-size", "16", "--base-filters", "8", "--num-samples", "16",
         "--eval-every", "0"]


def assert_one_labelled_row_per_prompt(png, run_dir, num_samples, size=32):
    """The workdir's samples.png: one row per frequent condition of the run (those its
    per-epoch grids show), each labelled with its prompt; not the prompts cycling cell by cell."""
    spec = ConditionSpec.load(RunPaths(run_dir).conditioning)
    prompts, per_prompt = grid_rows(run_dir, num_samples)
    assert len(prompts) > 1 and set(prompts) <= set(spec.prompts[:GRID_ROWS])
    assert per_prompt == num_samples // len(prompts)
    grid = np.asarray(Image.open(png))
    labels = label_margin(prompts, size)
    assert grid.shape[:2] == (len(prompts) * (size + 2) + 2,
                              labels.shape[1] + per_prompt * (size + 2) + 2)
    assert (grid[:, :labels.shape[1]] == labels).all()


def test_run_builds_trains_reuses_and_rebuilds_for_a_new_catalogue(served_catalog, tmp_path, capsys):
    catalog, records = served_catalog
    work = tmp_path / "work"
    assert main(["run", "--catalog", catalog, "--workdir", str(work), "--epochs", "1", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "[1/3] preprocessing" in out
    stores = glob.glob(str(work / "store-*"))
    assert len(stores) == 1 and os.path.realpath(work / "store") == os.path.realpath(stores[0])
    run_dir = glob.glob(str(work / "train-*"))[0]
    assert glob.glob(os.path.join(run_dir, "samples", "*.png"))
    assert glob.glob(os.path.join(run_dir, "**", "*.keras"), recursive=True)
    assert_one_labelled_row_per_prompt(work / "samples.png", run_dir, 16, SIZE)

    # Same catalogue, same options, more epochs: the store is reused and training resumes.
    assert main(["run", "--catalog", catalog, "--workdir", str(work), "--epochs", "2", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "reusing store" in out and "resuming" in out
    assert glob.glob(str(work / "store-*")) == stores
    log = open(glob.glob(os.path.join(run_dir, "**", "*.csv"), recursive=True)[0]).read().splitlines()
    assert [row.split(",")[0] for row in log] == ["epoch", "1", "2"]  # the second run: one more

    # A new season's catalogue gets a new store and a new run; the old ones stay.
    new_catalog = tmp_path / "new.json"
    new_catalog.write_text(json.dumps(records[:10]))
    assert main(["run", "--catalog", str(new_catalog), "--workdir", str(work), "--epochs", "1", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "[1/3] preprocessing" in out and "starting from the previous run" in out
    assert len(glob.glob(str(work / "store-*"))) == 2 and len(glob.glob(str(work / "train-*"))) == 2
    manifest = json.load(open(work / "store" / "manifest.json"))
    assert manifest["counts"]["records"] == 10
    # its images were all in the first store, unchanged (the server answered 304): none fetched
    assert f"taking unchanged images from {os.path.realpath(stores[0])}" in out
    assert manifest["counts"]["reused"] == manifest["counts"]["written"] > 0
    assert manifest["previous"]["records_gone"] == 24 - 10  # the first store had 24 images
    # it warm-started from the first run's last checkpoint (epoch 2), and says so in its config
    parent = json.load(open(work / "train" / "config.json"))["parent"]
    assert parent["run"] == os.path.realpath(run_dir) and parent["epoch"] == 2


def test_demo_runs_the_whole_pipeline_in_reduced_size(tmp_path, capsys):
    work = tmp_path / "demo"
    assert main(["demo", "--workdir", str(work), "--images", "24", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "demo finished" in out and "TensorBoard" in out and "sample grids" in out
    manifest = json.load(open(work / "store" / "manifest.json"))
    assert manifest["counts"]["written"] == 24 and manifest["counts"]["rejected"] == 1
    assert manifest["counts"]["duplicates"] == 1
    assert_one_labelled_row_per_prompt(work / "samples.png", work / "train", 64)
    assert glob.glob(str(work / "train" / "logs" / "**" / "events.out.tfevents.*"), recursive=True)
