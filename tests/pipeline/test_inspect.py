"""`streamgan inspect` on a store made by the real job."""
import json

import numpy as np
from PIL import Image

from pipeline.cli import main
from tests.conftest import SERVED_IMAGES


def test_inspect_prints_counts_reasons_stats_and_vocabulary(served_store, capsys):
    assert main(["inspect", served_store]) == 0
    out = capsys.readouterr().out
    assert f"records     {SERVED_IMAGES + 2}: {SERVED_IMAGES} written, 1 rejected, 1 duplicates" in out
    assert "fetch/http_status 1" in out and "not-there.jpg" in out and "HTTP 404" in out
    assert "32x32x3 uint8" in out and "mean R G B" in out and "vocabulary" in out


def test_inspect_json_matches_the_manifest(served_store, capsys):
    assert main(["inspect", served_store, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    manifest = json.load(open(f"{served_store}/manifest.json"))
    assert summary["counts"] == manifest["counts"]
    assert summary["rejected_by_reason"] == {"fetch/http_status": 1}
    assert summary["image"]["stored"] == SERVED_IMAGES and summary["image"]["size"] == 32
    assert summary["vocabulary"]["size"] == manifest["vocabulary"]["size"] > 5
    assert len(summary["statistics"]["channel_mean"]) == 3


def test_contact_sheet_shows_stored_images(served_store, tmp_path, capsys):
    sheet = tmp_path / "sheet.png"
    assert main(["inspect", served_store, "--sheet", str(sheet), "--sheet-count", "16"]) == 0
    assert "contact sheet of 16 images" in capsys.readouterr().out
    img = np.asarray(Image.open(sheet).convert("RGB"))
    assert img.shape[0] >= 4 * 32 and img.shape[1] >= 4 * 32
    assert img.std() > 20  # garments on white, not a blank page


def test_inspect_of_a_missing_store_is_one_line(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no store at" in err and "streamgan preprocess" in err
