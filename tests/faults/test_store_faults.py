"""Damaged stores fail at start with one line naming the file; a disk that fills up while a
store is published leaves the previous store as it was."""
import hashlib
import json
import os
import shutil

import pytest

from streamgan.pipeline.cli import main
from streamgan.store.contract import MANIFEST_FILE, STORE_FILE, TRANSFORM_DIR, open_store
from tests.helpers import encode, numbered, one_line

TRAIN = ["--epochs", "1", "--batch-size", "16", "--latent-dim", "8", "--base-filters", "4",
         "--num-samples", "4", "--eval-every", "0"]


def truncate_h5(store):
    path = os.path.join(store, STORE_FILE)
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) // 2)


def disagree(store):
    path = os.path.join(store, MANIFEST_FILE)
    manifest = json.load(open(path))
    manifest["counts"]["written"] += 7
    json.dump(manifest, open(path, "w"))


def drop_transform(store):
    shutil.rmtree(os.path.join(store, TRANSFORM_DIR))


def damage_transform(store):
    path = os.path.join(store, TRANSFORM_DIR, "saved_model.pb")
    with open(path, "r+b") as fh:
        fh.truncate(100)


def garble_manifest(store):
    with open(os.path.join(store, MANIFEST_FILE), "w") as fh:
        fh.write('{"schema_version": 2, "counts": ')


@pytest.mark.slow  # fault_store's TFT graph is analysed by a real Beam job
@pytest.mark.parametrize("damage, names, says", [
    (truncate_h5, STORE_FILE, "is corrupt or not a streamgan store"),
    (disagree, MANIFEST_FILE, f"disagrees with {{store}}/{STORE_FILE} (107 images of 32 px vs "
                              "100 of 32 px)"),
    (drop_transform, None, f"is not a complete store: {TRANSFORM_DIR} is missing"),
    (damage_transform, TRANSFORM_DIR, "transform"),
    (garble_manifest, MANIFEST_FILE, "is unreadable or incomplete"),
])
def test_a_damaged_store_fails_at_start_in_one_line_naming_the_file(
        fault_store, tmp_path, capsys, damage, names, says):
    store = str(tmp_path / "store")
    shutil.copytree(fault_store, store)
    damage(store)
    workdir = str(tmp_path / "run")
    assert main(["train", "--store", store, "--workdir", workdir, *TRAIN]) == 2
    line = one_line(capsys, "streamgan train: error: ", says.format(store=store))
    assert os.path.join(store, names) in line if names else store in line
    assert not os.path.exists(os.path.join(workdir, "checkpoints", "epoch0001"))


def tree_digest(folder):
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(folder)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, folder).encode() + open(path, "rb").read())
    return digest.hexdigest()


def folder_size(folder):
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(folder)
               for f in files)


@pytest.mark.slow
def test_disk_full_while_publishing_keeps_the_previous_store(fault_store, small_disk, tmp_path,
                                                              capsys):
    images = tmp_path / "images"
    images.mkdir()
    count = 128  # 64 px: 1.5 MiB of scratch shards, and store.h5 needs as much again
    for i in range(count):
        (images / f"{i}.png").write_bytes(encode(numbered(i, (64, 64)), "PNG"))
    catalog = images / "catalog.json"
    catalog.write_text(json.dumps([{"url": f"{i}.png", "description": f"item {i}"}
                                   for i in range(count)]))
    disk = small_disk(folder_size(fault_store) + 3 * 1024 * 1024)
    store = os.path.join(disk, "store")
    shutil.copytree(fault_store, store)
    before = tree_digest(store)

    code = main(["preprocess", "--catalog", str(catalog), "--output", store, "--overwrite",
                 "--image-size", "64", "--direct_num_workers", "1"])
    line = one_line(capsys, "streamgan preprocess: error: the disk is full (No space left on "
                            f"device ({STORE_FILE} needs about 2.6 MiB, ")
    assert code == 2 and ".partial-" in line
    assert tree_digest(store) == before  # the previous store, byte for byte
    assert open_store(store).num_images == 100
    # the partial store is removed; the staging area's fetched units stay, so that rerunning
    # the command once there is room fetches nothing again (preprocess/resume.py)
    assert sorted(n for n in os.listdir(disk) if n != "streamgan.log") == ["store",
                                                                           "store.staging"]
