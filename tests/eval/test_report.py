"""report.html: written by `train` and by `evaluate`, self-contained, and rendered by a real
browser (headless Chromium, from the OS packages: .ci/run installs it) without console
errors into a screenshot that is not blank."""
import base64
import io
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from streamgan.train.config import TrainConfig
from streamgan.train.evaluate import evaluate
from streamgan.train.loop import train
from streamgan.train.paths import RunPaths
from tests.eval import category_store
from tests.eval.test_evaluate import PhotoSource, categories  # noqa: F401  (fixture)

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
WIDTH, HEIGHT = 1200, 2400


def render(page: str, tmp_path) -> tuple[np.ndarray, list[str]]:
    """(screenshot as an RGB array, the page's console messages) of a file in Chromium."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run does)")
    shot = str(tmp_path / "shot.png")
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}",
         "file://" + os.path.abspath(page)],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return np.asarray(Image.open(shot).convert("RGB")), console


def test_the_browser_check_sees_a_console_error(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p><script>nosuch();</script></body></html>")
    _, console = render(str(page), tmp_path)
    assert any("nosuch is not defined" in line for line in console)


def test_train_and_evaluate_write_a_report_a_browser_renders(categories, tmp_path):  # noqa: F811
    store, where = categories
    workdir = str(tmp_path / "run")
    summary = train(TrainConfig(store=store, workdir=workdir, epochs=1, batch_size=32,
                                latent_dim=8, base_filters=4, num_samples=4, eval_every=0,
                                arch="dcgan", condition="none"), verbose=0, log=lambda s: None)
    paths = RunPaths(workdir)
    assert summary["report"] == paths.report
    first = open(paths.report, encoding="utf-8").read()
    assert "not evaluated yet" in first and "(no prompt)" in first

    evaluate(workdir, num=80, source=PhotoSource(store, where["test"]), log=lambda s: None,
             features=category_store.pixel_features)
    page = open(paths.report, encoding="utf-8").read()
    # self-contained: every image inline and a real PNG; nothing fetched from anywhere
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(uris) >= 3  # curves, the prompt row, the nearest-neighbour panel
    for uri in uris:
        assert Image.open(io.BytesIO(base64.b64decode(uri))).size[0] > 16
    for text in ("Store", "records", "losses and KID", "Evaluation", "precision", "recall",
                 "novelty", "consistency", "t-shirt", "Nearest training photos",
                 "Run options", "learning_rate"):
        assert text in page, text

    shot, console = render(paths.report, tmp_path)
    assert console == []
    assert shot.shape == (HEIGHT, WIDTH, 3)
    ink = (shot < 200).any(axis=2)  # not white: text, table lines, images
    assert 0.03 < ink.mean() < 0.9
    assert len(np.unique(shot.reshape(-1, 3)[::7], axis=0)) > 200  # photos, not just text
