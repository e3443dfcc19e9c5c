"""One meaning of "remote" (common/files.py) and of "local runner" (preprocess/runners.py)
for every option and record: file:// is a local path written as a URL."""
import json
import os

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from streamgan.common.files import absolute, is_remote, is_url
from streamgan.pipeline.cli import build_parser
from streamgan.preprocess.catalog import read_catalog
from streamgan.preprocess.config import config_from_args
from streamgan.preprocess.fetch import Fetcher, FetchOptions
from streamgan.preprocess.runners import is_direct, is_local


def test_remote_means_a_scheme_other_than_file(tmp_path):
    for remote in ("http://h/a.jpg", "https://h/a", "gs://bucket/store", "s3://b/k"):
        assert is_remote(remote) and is_url(remote) and absolute(remote) == remote
    for local in ("a/b.jpg", "/abs/b.jpg", f"file://{tmp_path}/b.jpg"):
        assert not is_remote(local)
    assert is_url("file:///x") and not is_url("/x")
    assert absolute(f"file://{tmp_path}/x") == f"{tmp_path}/x"
    assert absolute("rel/x") == os.path.abspath("rel/x")


def test_a_file_url_catalogue_resolves_relative_images_to_local_files(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.jpg").write_bytes(b"image bytes")
    (tmp_path / "c.json").write_text(json.dumps([{"url": "img/a.jpg", "description": "x"}]))
    (record,) = read_catalog(f"file://{tmp_path}/c.json")
    assert record["source"] == str(tmp_path / "img" / "a.jpg")
    assert Fetcher(FetchOptions()).fetch(record["source"]) == b"image bytes"


def test_previous_given_as_a_file_url_is_the_local_store(tmp_path):
    args, _ = build_parser().parse_known_args(
        ["preprocess", "--catalog", "c.json", "--output", str(tmp_path / "out"),
         "--previous", f"file://{tmp_path}/last"])
    assert config_from_args(args).previous == str(tmp_path / "last")
    args, _ = build_parser().parse_known_args(
        ["preprocess", "--catalog", "c.json", "--output", "o", "--previous", "gs://b/last"])
    assert config_from_args(args).previous == "gs://b/last"


@pytest.mark.parametrize("runner, local, direct", [
    (None, True, True), ("direct", True, True), ("DirectRunner", True, True),
    ("directrunner", True, True), ("SwitchingDirectRunner", True, False),
    ("prism", True, False), ("PrismRunner", True, False), ("FnApiRunner", True, False),
    ("DataflowRunner", False, False), ("dataflow", False, False), ("FlinkRunner", False, False),
])
def test_which_runners_run_on_this_machine(runner, local, direct):
    options = PipelineOptions([] if runner is None else [f"--runner={runner}"])
    assert (is_local(options), is_direct(options)) == (local, direct)
