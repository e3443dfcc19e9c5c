"""What users type, the way they type it: every command a new process of the installed
`streamgan` script, started in a folder of its own, as a shell would (nothing of the suite's
process, no checkout on sys.path, no module imported in advance).

preprocess (real Beam + TFT job over 127.0.0.1) -> train (16 px, 1 epoch) for both
architectures, conditional and unconditional -> generate by workdir, by prompt, and from a
copied `.keras` file alone -> evaluate -> inspect, and the one-line Python loader.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from streamgan.pipeline.serve import StaticServer
from streamgan.pipeline.synthetic import make_catalog
from streamgan.train import quality

STREAMGAN = os.path.join(os.path.dirname(sys.executable), "streamgan")
SIZE = 16
# name -> train options: both architectures, conditional and not, both precisions. The
# conditional layers are shared by the two architectures (train/nets.py), so the fourth
# combination (dcgan unconditional) would load no layer these three do not.
RUNS = {
    "fastgan-conditional": ["--arch", "fastgan", "--eval-every", "1", "--eval-num", "8"],
    "fastgan-unconditional": ["--arch", "fastgan", "--condition", "none"],
    "dcgan-conditional": ["--arch", "dcgan", "--precision", "float32"],
}


def shell(*args: str, cwd: str, expect: int = 0, exe: str = STREAMGAN) -> str:
    """Run one command as a new process in cwd; its combined output (asserting its exit)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_CURRENT_TEST")}
    done = subprocess.run([exe, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    out = done.stdout + done.stderr
    assert done.returncode == expect, f"{' '.join(args)} exited {done.returncode}:\n{out[-3000:]}"
    return out


def pngs(folder: str) -> list[np.ndarray]:
    return [np.asarray(Image.open(os.path.join(folder, n)).convert("RGB"))
            for n in sorted(os.listdir(folder)) if n.endswith(".png")]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> str:
    """The user's folder: a 16 px store preprocessed from garments served on 127.0.0.1."""
    if not os.path.exists(STREAMGAN):
        pytest.fail(f"the installed console script is missing: {STREAMGAN} (pip install -e .)")
    root = str(tmp_path_factory.mktemp("user"))
    site = os.path.join(root, "site")
    os.makedirs(site)
    with StaticServer(site) as server:
        catalog = make_catalog(site, 40, seed=11, url_prefix=server.base_url)
        shutil.copy(catalog, os.path.join(root, "catalog.json"))
        shell("preprocess", "--catalog", "catalog.json", "--output", "store",
              "--image-size", str(SIZE), "--condition-fields", "category", cwd=root)
    return root


@pytest.fixture(scope="module")
def runs(home) -> dict[str, str]:
    """Each RUNS entry trained for one epoch by its own `streamgan train` process."""
    for name, options in RUNS.items():
        evaluation = [] if "--eval-every" in options else ["--eval-every", "0"]
        shell("train", "--store", "store", "--workdir", name, "--epochs", "1",
              "--batch-size", "16", *evaluation, *options, cwd=home)
    return {name: os.path.join(home, name) for name in RUNS}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_generate_by_workdir_and_from_the_keras_file_alone(runs, home, tmp_path, name):
    """By workdir, then from a copy of generator.keras in an empty folder: everything
    generation needs (pixel range, image size, a conditional generator's vocabulary and
    prompt tokenizer) travels inside the file."""
    out = shell("generate", "--workdir", name, "--num", "5", "--seed", "3", "--out-dir",
                f"gen-{name}", "--out", f"grid-{name}.png", cwd=home)
    assert "streamgan generate: 5 images" in out
    if "unconditional" not in name:  # a labelled row per category, as the sample grids have
        assert "(the run's frequent conditions, a row each)" in out
    images = pngs(os.path.join(home, f"gen-{name}"))
    assert len(images) == 5 and all(im.shape == (SIZE, SIZE, 3) for im in images)
    assert np.std(np.stack(images)) > 0  # not one flat colour
    assert Image.open(os.path.join(home, f"grid-{name}.png")).size[0] >= 2 * SIZE

    alone = tmp_path / "empty"
    alone.mkdir()
    shutil.copy(os.path.join(runs[name], "generator.keras"), alone / "g.keras")
    prompts = ["--prompt", "dress", "--prompt", "shoe"] if "unconditional" not in name else []
    out = shell("generate", "--model", "g.keras", "--num", "3", "--seed", "3", "--out-dir",
                "imgs", *prompts, cwd=str(alone))
    made = pngs(str(alone / "imgs"))
    assert len(made) == (6 if prompts else 3) and made[0].shape == (SIZE, SIZE, 3)
    assert sorted(os.listdir(alone)) == ["g.keras", "imgs"]  # nothing else was needed
    if not prompts:  # same seed, same images, whichever process and whichever way it was named
        for a, b in zip(images, made):
            np.testing.assert_array_equal(a, b)


def test_an_unknown_prompt_word_is_one_line_with_the_closest(runs, home):
    out = shell("generate", "--workdir", "dcgan-conditional", "--prompt", "drss", "--num", "2",
                "--out", "x.png", cwd=home, expect=2)
    assert "'drss' is not in the vocabulary (closest: dress" in out
    assert "Traceback" not in out


def test_every_exported_file_loads_in_plain_python(runs, tmp_path):
    """The documented one line, in a fresh interpreter away from the checkout."""
    files = [os.path.join(runs[n], f) for n in RUNS
             for f in ("generator.keras", "discriminator.keras", "generator_best.keras")
             if os.path.exists(os.path.join(runs[n], f))]
    if quality.available():  # the run that evaluated KID kept its best generator
        assert os.path.join(runs["fastgan-conditional"], "generator_best.keras") in files
    code = ("import sys, streamgan, numpy as np\n"
            "for path in sys.argv[1:]:\n"
            "    g = streamgan.load_generator(path)\n"
            "    n = np.zeros((2, g.card.latent_dim), 'float32')\n"
            "    x = [n, np.ones((2, g.card.condition.max_tokens), 'int32')] "
            "if len(g.model.inputs) > 1 and 'discriminator' not in path else n\n"
            "    if 'discriminator' not in path:\n"
            "        y = np.asarray(g.model(x))\n"
            "        assert y.shape == (2, g.card.image_size, g.card.image_size, 3), y.shape\n"
            "    print(path, g.card.pixel_range, g.conditional)\n")
    out = shell("-c", code, *files, cwd=str(tmp_path), exe=sys.executable)
    for name in RUNS:
        assert f"{name}/generator.keras (-1.0, 1.0) {'unconditional' not in name}" in out


def test_select_loads_the_discriminator_in_a_new_shell(runs, home):
    out = shell("generate", "--workdir", "fastgan-conditional", "--prompt", "shirt", "--num",
                "2", "--select", "3", "--out-dir", "picked", cwd=home)
    assert "the discriminator's pick of 3" in out
    assert len(pngs(os.path.join(home, "picked"))) == 2


def test_evaluate_and_inspect_from_a_new_shell(runs, home):
    if not quality.available():
        pytest.skip(f"the eval extra is not installed ({quality.INSTALL_HINT})")
    for name in ("fastgan-conditional", "fastgan-unconditional"):
        out = shell("evaluate", "--workdir", name, "--num", "8", cwd=home)
        assert "streamgan evaluate: 8 generated" in out
        with open(os.path.join(home, name, "evaluation.json")) as fh:
            result = json.load(fh)
        assert result["generated_images"] == 8 and np.isfinite(result["kid"])
    out = shell("inspect", "store", "--json", cwd=home)
    summary = json.loads(out[out.index("{"):])
    with open(os.path.join(home, "catalog.json")) as fh:
        assert summary["counts"]["records"] == len(json.load(fh))
    assert summary["counts"]["written"] > 30
