"""`streamgan evaluate`'s figures move the right way: image sources built to score known
ways (training photos, one photo per category, unseen real photos) against a store of
synthetic product photos in four categories. Cheap pixel features stand in for Inception
here (the figures are defined on any features); tests marked slow use the real network."""
import json
import os
import shutil

import numpy as np
import pytest

from streamgan.store.contract import open_store, read_rows
from streamgan.train.config import TrainConfig
from streamgan.train.evaluate import evaluate
from streamgan.train.paths import RunPaths
from tests.eval import category_store


@pytest.fixture(scope="module")
def categories(tmp_path_factory, store32):
    path = str(tmp_path_factory.mktemp("stores") / "categories")
    where = category_store.build(path, store32)
    return path, where


class PhotoSource:
    """A "generator" that returns stored photos of the category each text asks for: from
    `split`, drawn without replacement (one=True: always the category's first photo)."""
    conditional = True
    condition = "descriptions"

    def __init__(self, store, rows_by_category, one=False):
        self.info = open_store(store)
        self.rows, self.one = rows_by_category, one

    def __call__(self, count, texts, seed):
        rng = np.random.default_rng(seed)
        order = {c: list(rng.permutation(r)) for c, r in self.rows.items()}
        picks = [self.rows[t][0] if self.one else order[t].pop() for t in texts]
        return np.stack([read_rows(self.info, [p])[0] for p in picks])


def run(tmp_path, store, source):
    workdir = str(tmp_path / "run")
    RunPaths(workdir).makedirs()
    TrainConfig(store=store, workdir=workdir, split="train").save(RunPaths(workdir).config)
    lines = []
    result = evaluate(workdir, num=80, source=source, report=False, log=lines.append,
                      features=category_store.pixel_features)
    assert json.load(open(RunPaths(workdir).evaluation))["overall"] == json.loads(
        json.dumps(result["overall"]))
    return result, workdir


def value(row, key, real=False):
    return row["real" if real else "figures"][key]["value"]


def test_training_photos_score_near_zero_novelty_and_real_photos_do_not(categories, tmp_path):
    store, where = categories
    result, workdir = run(tmp_path, store, PhotoSource(store, where["train"]))
    assert result["grouped_by"] == "description"
    assert set(result["conditions"]) == set(category_store.CATEGORIES)  # "t-shirt" whole
    overall = result["overall"]
    assert value(overall, "novelty") == 0.0          # every image is a training photo
    assert value(overall, "novelty", real=True) > 0.8  # unseen photos are not near-copies
    assert result["novelty_threshold"]["quantile"] == 0.05
    assert result["novelty_threshold"]["distance"] > 0
    for row in result["conditions"].values():
        assert value(row, "novelty") == 0.0
    # the panel shows the copies first: a generated image beside its own training photo
    assert os.path.getsize(RunPaths(workdir).nearest_panel) > 1000
    # features of another network are never cached as the store's Inception features
    assert not os.path.exists(os.path.join(store, "features"))


def test_a_store_splits_features_are_computed_once_and_reused(categories):
    from streamgan.train import quality
    store, _ = categories
    info = open_store(store)
    calls = []

    class Counting:
        cache_key = "counting-test-network"

        def __call__(self, images):
            calls.append(len(images))
            return category_store.pixel_features(images)
    rows, first = quality.split_features(info, "validation", 50, Counting())
    again_rows, again = quality.split_features(info, "validation", 50, Counting())
    assert calls == [50] and np.array_equal(rows, again_rows) and np.array_equal(first, again)
    assert len(rows) == 50 and (np.diff(rows) > 0).all()
    quality.split_features(info, "train", None, Counting())  # another split: computed
    assert calls == [50, 240]
    shutil.rmtree(os.path.join(store, quality.FEATURE_DIR))


def test_one_photo_per_category_scores_low_recall(categories, tmp_path):
    store, where = categories
    result, _ = run(tmp_path, store, PhotoSource(store, where["train"], one=True))
    overall = result["overall"]
    assert value(overall, "recall") < 0.2 < 0.7 < value(overall, "recall", real=True)
    for name, row in result["conditions"].items():
        assert value(row, "recall") <= 0.15, name
        assert value(row, "recall", real=True) >= 0.6, name
    # precision does not see it: the one photo is a real one
    assert value(overall, "precision") > 0.8


def test_unseen_real_photos_score_near_the_ceiling_on_every_figure(categories, tmp_path):
    store, where = categories
    result, _ = run(tmp_path, store, PhotoSource(store, where["test"]))
    overall = result["overall"]
    for key in ("precision", "recall", "novelty"):
        assert abs(value(overall, key) - value(overall, key, real=True)) < 0.15, key
        figure = overall["figures"][key]
        assert figure["low"] <= figure["value"] <= figure["high"] and figure["n"] == 80
    assert result["judge"]["held_out_accuracy"]["value"] > 0.9
    assert value(overall, "consistency") > 0.9
    for name, row in result["conditions"].items():
        assert row["generated_images"] == 20 and row["real_images"] == 20, name
        assert value(row, "consistency") > 0.8, name
        assert np.isfinite(row["figures"]["kid"]["std"]) and row["figures"]["fid"]["std"] >= 0
    # KID of unseen real photos is about what training photos score, far below a mismatch
    mismatch, _ = run(tmp_path / "other", store, PhotoSource(store, {
        c: where["test"][category_store.CATEGORIES[(i + 1) % 4]]
        for i, c in enumerate(category_store.CATEGORIES)}))
    assert value(mismatch["overall"], "consistency") < 0.1
    for name in category_store.CATEGORIES:
        assert value(mismatch["conditions"][name], "precision") < 0.2
        assert (value(mismatch["conditions"][name], "kid")
                > 5 * value(result["conditions"][name], "kid", real=True))


def test_conditions_are_whole_descriptions_when_they_are_labels_else_their_words(
        categories, tmp_path):
    from streamgan.train import groups
    from streamgan.train.quality import split_rows
    assert groups.words("Red,cotton T-shirt") == ["red", "cotton", "t", "shirt"]
    store, _ = categories
    info = open_store(store)
    held, train = split_rows(info, "validation", None), split_rows(info, "train", None)
    labels = groups.find_groups(info, "descriptions", held, train)
    assert labels.source == "description" and set(labels.names) == {
        "dress", "hat", "shoes", "t-shirt"}
    described = str(tmp_path / "described")
    category_store.build(described, store, sentences=True)
    info = open_store(described)
    found = groups.find_groups(info, "descriptions", held, train)
    # "item" and the numbers are dropped: in every description, or too rare
    assert found.source == "description word"
    assert set(found.names) == {"bright", "plain", "dress", "hat", "shoes", "t", "shirt"}
    members = found.members(info, held[:1])[0]
    assert members == {"dress", "bright" if held[0] % 2 == 0 else "plain"}


def test_grouping_by_a_field_the_store_lacks_is_one_clear_error(categories):
    from streamgan.common.errors import ConfigError
    from streamgan.train import groups
    manifest = open_store(categories[0]).manifest
    with pytest.raises(ConfigError, match=r"--by colour: the store has no categorical field "
                                          r"'colour' \(analysed fields: none; or --by "
                                          r"descriptions\)"):
        groups.choose_source(manifest, None, by="colour")
    assert groups.choose_source(manifest, None) == "descriptions"
