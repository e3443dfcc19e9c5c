"""`streamgan inspect` on a store made by the real job."""
import json
import re

import numpy as np
import pytest
from PIL import Image

from streamgan.pipeline.cli import main
from tests.conftest import SERVED_IMAGES


@pytest.mark.slow  # a store made by the real Beam job
def test_inspect_prints_counts_reasons_stats_and_vocabulary(served_store, capsys):
    assert main(["inspect", served_store]) == 0
    out = capsys.readouterr().out
    assert f"records     {SERVED_IMAGES + 2}: {SERVED_IMAGES} written, 1 rejected, 1 duplicates" in out
    assert "fetch/http_status 1" in out and "not-there.jpg" in out and "HTTP 404" in out
    assert "32x32x3 uint8" in out and "mean R G B" in out and "vocabulary" in out


@pytest.mark.slow  # a store made by the real Beam job
def test_inspect_json_reports_what_the_job_was_given(served_store, served_catalog, capsys):
    """Counts against the served catalogue: SERVED_IMAGES garments, a 404 and a repeat."""
    assert main(["inspect", served_store, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    _, records = served_catalog
    assert summary["counts"]["records"] == len(records) == SERVED_IMAGES + 2
    assert (summary["counts"]["written"], summary["counts"]["rejected"],
            summary["counts"]["duplicates"]) == (SERVED_IMAGES, 1, 1)
    assert summary["counts"]["splits"] == {
        split: sum(r.get("split") == split for r in records[:SERVED_IMAGES])
        for split in {r["split"] for r in records[:SERVED_IMAGES]}}
    assert summary["rejected_by_reason"] == {"fetch/http_status": 1}
    assert summary["image"]["stored"] == SERVED_IMAGES and summary["image"]["size"] == 32
    words = {w for r in records for w in re.findall(r"[^\W_]+", r["description"].lower())}
    assert set(summary["vocabulary"]["top"]) <= words and summary["vocabulary"]["size"] > 5
    assert len(summary["statistics"]["channel_mean"]) == 3


@pytest.mark.slow  # a store made by the real Beam job
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
