"""The manifest's typed sections against a manifest.json the preprocessing job wrote before
they existed (tests/store/manifest-v4.json: a season-2 store with a previous-store summary),
and the two reuse rules of store/reuse.py."""
import dataclasses
import json
import os
import shutil

import pytest

from streamgan.common.errors import StoreError
from streamgan.preprocess.config import PreprocessConfig
from streamgan.store import contract as sf
from streamgan.store.reuse import changed_option, pixel_option_problem, store_key

GOLDEN = os.path.join(os.path.dirname(__file__), "manifest-v4.json")


@pytest.fixture
def golden(tmp_path):
    shutil.copy(GOLDEN, tmp_path / sf.MANIFEST_FILE)
    return tmp_path


def test_a_job_written_manifest_reads_into_sections_and_writes_back_byte_for_byte(golden):
    manifest = sf.Manifest.read(str(golden))
    c = manifest.counts
    assert (c.records, c.written, c.rejected, c.reused, c.fetched) == (6, 5, 1, 3, 2)
    assert c.closes and c.splits == {"train": 4, "validation": 1}
    assert manifest.image == sf.ImageSection(size=16, fit="pad", background=(255, 255, 255),
                                             pixel_range=(-1.0, 1.0))
    assert manifest.vocabulary.fields["category"].top == ("dress", "coat")
    assert manifest.previous.new_categories["category"].examples == ("coat",)
    assert manifest.timings.total_s > 0 and manifest.catalog.format == "json-array"
    out = golden / "again"
    out.mkdir()
    manifest.write(str(out))
    assert (out / sf.MANIFEST_FILE).read_bytes() == open(GOLDEN, "rb").read()


def test_a_manifest_without_a_previous_store_keeps_its_empty_object(golden):
    data = json.load(open(GOLDEN))
    manifest = sf.Manifest.from_dict(dict(data, previous={}))
    assert manifest.previous is None and manifest.to_dict()["previous"] == {}


@pytest.mark.parametrize("damage, named", [
    (lambda d: d["counts"].pop("written"), "counts.written"),
    (lambda d: d["image"].pop("pixel_range"), "image.pixel_range"),
    (lambda d: d.update(vocabulary=[]), "vocabulary is list, not an object"),
    (lambda d: d["counts"].update(records="many"), "invalid literal"),
])
def test_a_manifest_missing_a_required_part_is_one_line_naming_it(golden, damage, named):
    data = json.load(open(GOLDEN))
    damage(data)
    (golden / sf.MANIFEST_FILE).write_text(json.dumps(data))
    with pytest.raises(StoreError) as error:
        sf.Manifest.read(str(golden))
    message = str(error.value)
    assert named in message and "--overwrite" in message and "\n" not in message


def test_keys_a_section_does_not_know_are_ignored(golden):
    data = json.load(open(GOLDEN))
    data["counts"]["later_count"] = 3
    assert sf.Manifest.from_dict(data).counts == sf.Manifest.read(str(golden)).counts


def config_of(manifest: sf.Manifest, **change) -> PreprocessConfig:
    """The config a manifest's store was made with (options as recorded), then changed."""
    names = {f.name for f in dataclasses.fields(PreprocessConfig)}
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in manifest.options.items()
               if k in names}
    return dataclasses.replace(PreprocessConfig(**options), **change)


def test_the_reuse_rules_compare_recorded_options_with_the_config(golden):
    manifest = sf.Manifest.read(str(golden))
    same = config_of(manifest)
    assert changed_option(manifest, same, "store") is None
    assert pixel_option_problem(manifest, same) is None
    # a store option that does not decide pixels: another store, same pixels
    more = config_of(manifest, max_records=3)
    assert changed_option(manifest, more, "store") == "max_records"
    assert pixel_option_problem(manifest, more) is None
    assert store_key("abc", more) != store_key("abc", same)
    crop = config_of(manifest, fit="crop")
    assert changed_option(manifest, crop, "store") == "fit"
    assert pixel_option_problem(manifest, crop) == "it was made with --fit pad, this run uses crop"
    black = config_of(manifest, background=(0, 0, 0))
    assert "--background 255,255,255, this run uses 0,0,0" in pixel_option_problem(manifest, black)
    # options that never change a store's content
    assert changed_option(manifest, config_of(manifest, retries=0, previous=None), "store") is None
