"""`streamgan preprocess` as a user meets it: one-line errors, no clobbering, atomic output."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from streamgan.pipeline.cli import main
from streamgan.pipeline.serve import StaticServer
from tests.helpers import encode, numbered
from tests.http_faults import slow


def test_malformed_catalogue_is_one_line_and_nothing_is_created(tmp_path, capsys):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps([{"url": "a.jpg", "description": "ok"}, {"description": "no url"}]))
    out = tmp_path / "store"
    assert main(["preprocess", "--catalog", str(catalog), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("streamgan preprocess: error: catalog.json: record 2: no `url` field "
                   "(fields: description)")
    assert not out.exists()
    assert not glob.glob(str(tmp_path / "store.partial-*"))


def test_existing_output_needs_overwrite_and_non_stores_are_never_replaced(tmp_path, capsys):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps([{"url": "a.jpg", "description": "x"}]))
    mine = tmp_path / "my-photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    assert main(["preprocess", "--catalog", str(catalog), "--output", str(mine)]) == 2
    assert "already exists: pass --overwrite" in capsys.readouterr().err
    assert main(["preprocess", "--catalog", str(catalog), "--output", str(mine), "--overwrite"]) == 2
    assert "is not a streamgan store: refusing to replace it" in capsys.readouterr().err
    assert (mine / "holiday.jpg").read_bytes() == b"precious"


@pytest.mark.parametrize("command", ["preprocess", "run", "train"])
def test_an_illegal_image_size_fails_where_it_is_typed(command, tmp_path, capsys):
    """One rule for image sizes, checked by the parser: nothing starts, nothing is written."""
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps([{"url": "a.jpg"}]))
    where = {"preprocess": ["--catalog", str(catalog), "--output", str(tmp_path / "s")],
             "run": ["--catalog", str(catalog), "--workdir", str(tmp_path / "w")],
             "train": ["--store", str(tmp_path / "s"), "--workdir", str(tmp_path / "w")]}
    with pytest.raises(SystemExit) as info:
        main([command, *where[command], "--image-size", "48"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--image-size" in err and "48 px is not supported" in err
    assert sorted(os.listdir(tmp_path)) == ["catalog.json"]


def test_help_has_copy_pasteable_examples(capsys):
    with pytest.raises(SystemExit) as info:
        main(["preprocess", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "streamgan preprocess --catalog catalog.json --output store/" in text
    assert "--runner DataflowRunner" in text and "--overwrite" in text


def test_dry_run_validates_and_prints_options_without_a_store(tmp_path, capsys):
    catalog = tmp_path / "catalog.json"
    catalog.write_text("\n".join(json.dumps({"url": f"{i}.jpg", "description": "d"}) for i in range(3)))
    out = tmp_path / "store"
    assert main(["preprocess", "--catalog", str(catalog), "--output", str(out), "--dry-run",
                 "--direct_num_workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "3 records (jsonl)" in printed and '"image_size": 64' in printed
    assert not out.exists() and not glob.glob(f"{out}.partial-*")


@pytest.mark.slow
def test_killed_run_leaves_nothing_that_looks_finished_and_rerun_works(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "ok.jpg").write_bytes(encode(numbered(1), "JPEG"))
    # never answers while the first run lives (an answer would finish its unit, and the rerun
    # would resume it instead of asking again)
    with StaticServer(str(site), routes={"/slow.jpg": slow(600.0, b"never")}) as server:
        records = [{"url": server.url_for("ok.jpg"), "description": "fine"}]
        records += [{"url": server.url_for("slow.jpg") + f"?n={i}", "description": "slow"}
                    for i in range(20)]
        catalog = tmp_path / "catalog.json"
        catalog.write_text(json.dumps(records))
        out = tmp_path / "store"
        cmd = [sys.executable, "-m", "streamgan.preprocess", "--catalog", str(catalog), "--output", str(out),
               "--image-size", "16", "--timeout", "60"]
        proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 120
            while time.time() < deadline:  # wait until the job is fetching
                progress = glob.glob(f"{out}.staging/progress/*.json")
                if progress:
                    break
                time.sleep(0.5)
            assert progress, "the job never started fetching"
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert not out.exists()
        assert glob.glob(f"{out}.partial-*")  # named as unfinished

        rerun = subprocess.run(cmd[:-2] + ["--timeout", "0.3", "--retries", "0"],
                               capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "left by an interrupted run" in rerun.stdout
    assert not glob.glob(f"{out}.partial-*") and not os.path.exists(f"{out}.staging")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["written"] == 1 and manifest["counts"]["rejected"] == 20
    assert manifest["rejected_by_reason"] == {"fetch/timeout": 20}


@pytest.mark.slow
def test_catalogue_of_only_bad_records_gives_an_empty_store_that_explains_itself(tmp_path, capsys):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps([{"url": "gone/a.jpg", "description": "a"},
                                   {"url": "gone/b.jpg", "description": "b"}]))
    out = tmp_path / "store"
    assert main(["preprocess", "--catalog", str(catalog), "--output", str(out)]) == 0
    assert "0 written + 2 rejected + 0 duplicates = 2 of 2 records (closes)" in capsys.readouterr().out
    assert main(["inspect", str(out), "--sheet", str(tmp_path / "sheet.png")]) == 0
    shown = capsys.readouterr().out
    assert "fetch/not_found 2" in shown and "no contact sheet" in shown
    assert main(["train", "--store", str(out), "--workdir", str(tmp_path / "run")]) == 2
    assert "holds no images (every record was rejected" in capsys.readouterr().err
