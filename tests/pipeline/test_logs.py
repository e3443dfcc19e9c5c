"""One rule for where a command's framework output goes: `streamgan.log` in its workdir, or
for a command without one the folder its output goes into; each command's section starts with
a header line naming it."""
import os
import subprocess
import sys

import pytest

from streamgan.pipeline.cli import COMMANDS, build_parser, log_file

STREAMGAN = os.path.join(os.path.dirname(sys.executable), "streamgan")


@pytest.mark.parametrize("argv, folder", [
    (["preprocess", "--catalog", "c.json", "--output", "stores/autumn"], "stores"),
    (["train", "--store", "s", "--workdir", "runs/a"], "runs/a"),
    (["train", "--store", "s", "--workdir", "runs/a", "--dry-run"], None),  # creates nothing
    (["generate", "--workdir", "runs/a", "--out", "elsewhere/grid.png"], "runs/a"),
    (["generate", "--model", "m.keras", "--out", "out/grid.png"], "out"),
    (["generate", "--model", "m.keras", "--out-dir", "pngs"], "pngs"),
    (["generate", "--model", "m.keras"], "."),  # the default grid, samples.png, goes here
    (["evaluate", "--workdir", "runs/a"], "runs/a"),
    (["run", "--catalog", "c.json", "--workdir", "work"], "work"),
    (["demo", "--workdir", "work"], "work"),
    (["demo"], "streamgan-demo"),
    (["inspect", "stores/autumn"], None),  # no framework runs: no log
])
def test_every_command_logs_to_streamgan_log_where_it_works(argv, folder, tmp_path,
                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(argv)
    expected = None if folder is None else str(tmp_path / folder / "streamgan.log")
    assert log_file(args) == (os.path.normpath(expected) if expected else None)


def test_the_rule_covers_every_command():
    covered = {"preprocess", "train", "generate", "evaluate", "run", "demo", "inspect"}
    assert set(COMMANDS) == covered


def test_each_command_appends_its_own_section_to_one_log(tmp_path):
    """Two commands on one folder, each a new process: one log, two sections, in order."""
    (tmp_path / "bad.json").write_text('[{"description": "no url"}]')
    first = subprocess.run([STREAMGAN, "preprocess", "--catalog", "bad.json",
                            "--output", "stores/s1"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=120)
    second = subprocess.run([STREAMGAN, "preprocess", "--catalog", "bad.json",
                             "--output", "stores/s2", "--image-size", "32"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert first.returncode == second.returncode == 2
    assert "no `url` field" in first.stderr
    assert sorted(os.listdir(tmp_path / "stores")) == ["streamgan.log"]  # no store, one log
    log = (tmp_path / "stores" / "streamgan.log").read_text().splitlines()
    headers = [line for line in log if line.startswith("==== ")]
    assert len(headers) == 2
    assert headers[0].endswith(f"streamgan preprocess --catalog bad.json --output stores/s1 "
                               f"(pid {headers[0].rsplit('pid ', 1)[1]}")
    assert "--output stores/s2 --image-size 32" in headers[1]
