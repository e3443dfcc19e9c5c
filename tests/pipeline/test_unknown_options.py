"""A misspelt option never vanishes: each command, run as the installed `streamgan` script in a
new process (as a shell runs it), fails in one line naming the option meant, before any work;
a real Beam pipeline option still reaches Beam."""
import json
import os
import subprocess
import sys

import pytest

from streamgan.common.options import closest_flag

STREAMGAN = os.path.join(os.path.dirname(sys.executable), "streamgan")


def streamgan(*args, cwd):
    return subprocess.run([STREAMGAN, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def catalog(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps([{"url": f"http://127.0.0.1:9/{i}.jpg", "description": "d"}
                                for i in range(3)]))
    return str(path)


@pytest.mark.parametrize("command, typo, meant", [
    ("run", ["--learning_rate", "0.1"], "--learning-rate"),    # passes the rest to Beam
    ("preprocess", ["--image_size=32"], "--image-size"),       # passes the rest to Beam
    ("demo", ["--batch_size", "4"], "--batch-size"),           # passes the rest to Beam
    ("preprocess", ["--fetch-treads", "4"], "--fetch-threads"),
    ("train", ["--learning_rate", "0.1"], "--learning-rate"),
    ("generate", ["--out_dir", "x"], "--out-dir"),
    ("evaluate", ["--nmu", "9"], "--num"),
    ("demo", ["--epoch", "3"], "--epochs"),                    # no silent abbreviation
    ("train", ["--learning", "0.1"], "--learning-rate"),       # no silent abbreviation
])
def test_a_misspelt_option_fails_in_one_line_naming_the_option_meant(command, typo, meant,
                                                                      catalog, tmp_path):
    base = {"run": ["--catalog", catalog, "--workdir", "work"],
            "preprocess": ["--catalog", catalog, "--output", "store"],
            "demo": ["--workdir", "work", "--images", "4", "--epochs", "1"],
            "train": ["--store", "store", "--workdir", "work"],
            "generate": ["--workdir", "work"],
            "evaluate": ["--workdir", "work"]}[command]
    result = streamgan(command, *base, *typo, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"streamgan {command}: error: {typo[0].split('=')[0]} ")
    assert f"did you mean {meant}?" in lines[0]
    assert result.stdout == ""
    assert sorted(os.listdir(tmp_path)) == ["catalog.json"]  # no work started, no log written


def test_a_stray_word_and_an_unknown_option_are_named_too(catalog, tmp_path):
    result = streamgan("run", "--catalog", catalog, "--workdir", "w", "--frobnicate", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "streamgan run: error: --frobnicate is neither a streamgan option nor a Beam pipeline "
        "option (see `streamgan run --help`)")
    result = streamgan("inspect", "store", "extra", cwd=tmp_path)
    assert result.returncode == 2 and "unexpected argument 'extra'" in result.stderr


def test_beam_options_pass_through_and_a_bad_value_of_one_is_one_line(catalog, tmp_path):
    """Options of Beam's own option classes (standard, direct, Google Cloud, setup, debug,
    Flink), with and without `=`, reach Beam's PipelineOptions (the dry run prints them)."""
    result = streamgan(
        "preprocess", "--catalog", catalog, "--output", "store", "--dry-run",
        "--runner", "DirectRunner", "--direct_num_workers", "2", "--temp_location", "/tmp/sg",
        "--setup_file", "./setup.py", "--experiments=use_a", "--experiments", "use_b",
        "--project", "my-project", "--flink_master=localhost:8081", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    options = json.loads(result.stdout[result.stdout.index("{"):])["pipeline_options"]
    assert options["direct_num_workers"] == 2 and options["temp_location"] == "/tmp/sg"
    assert options["setup_file"] == "./setup.py" and options["project"] == "my-project"
    assert options["experiments"] == ["use_a", "use_b"]
    assert options["flink_master"] == "localhost:8081"

    result = streamgan("preprocess", "--catalog", catalog, "--output", "store",
                       "--direct_num_workers", "two", cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--direct_num_workers: invalid int value: 'two'" in result.stderr


def test_closest_flag_prefers_the_same_words_then_a_near_spelling():
    flags = ["--learning-rate", "--latent-dim", "--direct_num_workers", "--num"]
    assert closest_flag("--learning_rate", flags) == "--learning-rate"
    assert closest_flag("--Learning-Rate=0.1", flags) == "--learning-rate"
    assert closest_flag("--direct-num-workers", flags) == "--direct_num_workers"
    assert closest_flag("--latnet-dim", flags) == "--latent-dim"
    assert closest_flag("--colour", flags) is None
    # a flag with words added names the flag it starts with (the longest)
    assert closest_flag("--num-images", ["--num", "--num-samples", "--seed"]) == "--num"
    assert closest_flag("--latent-dim-size", flags) == "--latent-dim"
