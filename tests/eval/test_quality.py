"""KID and FID: the statistics against an independent implementation, the offline Inception
network on images, and KID during training and in `streamgan evaluate`."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from streamgan.train import quality

needs_network = pytest.mark.skipif(not quality.available(),
                                   reason="the FID Inception network is not installed "
                                          "(pip install 'streamgan[eval]')")


def gaussian(n, shift=0.0, seed=0, dim=64):
    return np.random.default_rng(seed).normal(shift, 1.0, (n, dim))


def test_kid_is_about_zero_for_one_distribution_and_clearly_larger_for_another():
    same, _ = quality.kid(gaussian(300, seed=1), gaussian(300, seed=2), subsets=20,
                          subset_size=200)
    other, _ = quality.kid(gaussian(300, seed=1), gaussian(300, shift=0.5, seed=2),
                           subsets=20, subset_size=200)
    assert abs(same) < 0.01 and other > 0.1 and other > 20 * abs(same)


def test_kid_agrees_with_torchmetrics_on_the_same_features():
    torch = pytest.importorskip("torch")
    kid_module = pytest.importorskip("torchmetrics.image.kid")
    a, b = gaussian(60, seed=3), gaussian(60, shift=0.2, seed=4)
    # one subset of every sample: the estimate no longer depends on how subsets are drawn
    ours, _ = quality.kid(a, b, subsets=1, subset_size=60)
    metric = kid_module.KernelInceptionDistance(feature=torch.nn.Identity(), subsets=1,
                                                subset_size=60)
    metric.update(torch.from_numpy(b), real=True)
    metric.update(torch.from_numpy(a), real=False)
    theirs = float(metric.compute()[0])
    assert ours == pytest.approx(theirs, rel=1e-6)


def test_fid_is_zero_for_identical_sets_and_the_squared_mean_shift_for_a_shifted_one():
    a = gaussian(500, seed=5, dim=8)
    assert quality.fid(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = a + 0.5  # same covariance, mean moved by 0.5 in 8 dimensions
    assert quality.fid(a, shifted) == pytest.approx(8 * 0.25, rel=1e-3)


@needs_network
@pytest.mark.slow  # the real Inception network on 80 images
def test_the_offline_network_separates_smooth_photos_from_noise():
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 32).astype(np.uint8)
    smooth = np.stack([np.broadcast_to(np.roll(ramp, k)[None, :, None], (32, 32, 3))
                       for k in range(40)]).astype(np.uint8)
    noise = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    features = quality.InceptionFeatures()
    f_smooth, f_noise = features(smooth), features(noise)
    assert f_noise.shape == (40, quality.FEATURE_DIM) and np.isfinite(f_noise).all()
    within, _ = quality.kid(f_noise[:20], f_noise[20:], subsets=5)
    between, _ = quality.kid(f_noise, f_smooth, subsets=5)
    assert between > 0.5 and between > 10 * abs(within)


@needs_network
@pytest.mark.slow  # a real fit() with KID, then `streamgan evaluate`
def test_training_logs_kid_keeps_the_best_generator_and_evaluate_reports(store32, tmp_path):
    from streamgan.train.callbacks import read_history
    from streamgan.train.config import TrainConfig
    from streamgan.train.loop import train
    from streamgan.train.paths import RunPaths
    from tests.train.tiny_store import build_store

    store = build_store(str(tmp_path / "split-store"), 60, 32, transform_from=store32,
                        validation_every=5)  # 48 train, 12 validation
    workdir = str(tmp_path / "run")
    config = TrainConfig(store=store, workdir=workdir, epochs=2, batch_size=32, latent_dim=8,
                         base_filters=4, num_samples=4, eval_every=1, eval_num=8)
    lines = []
    train(config, verbose=0, log=lines.append)
    paths = RunPaths(workdir)
    history = read_history(paths.history)
    assert len(history["kid"]) == 2 and all(np.isfinite(history["kid"]))
    assert any("KID every 1 epochs: 8 generated vs 12 real images (held-out split "
               "'validation')" in line for line in lines), lines
    assert os.path.exists(paths.best_generator)
    cached = os.listdir(os.path.join(store, quality.FEATURE_DIR))
    assert len(cached) == 1  # the validation features, in the store for every run to reuse

    # as a user runs it: the installed command, a new process
    streamgan = os.path.join(os.path.dirname(sys.executable), "streamgan")
    done = subprocess.run([streamgan, "evaluate", "--workdir", workdir, "--num", "8"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    result = json.load(open(paths.evaluation))
    assert result["split"] == "validation" and result["real_images"] == 8
    assert result["held_out"] and result["training_images"] == 48
    assert result["generated_images"] == 8 and np.isfinite(result["fid"])
    assert f"KID {result['kid']:.4f}" in out
    assert "precision" in out and "novelty" in out
    assert os.path.exists(paths.report) and os.path.exists(paths.nearest_panel)
    assert result["overall"]["figures"]["novelty"]["n"] == 8


def test_fid_in_the_images_space_equals_the_matrix_square_root_form():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    a, b = gaussian(30, seed=6, dim=50), gaussian(40, shift=0.3, seed=7, dim=50) * 1.5
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy_linalg.sqrtm(cov_a @ cov_b).real
    direct = (((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b)
              - 2 * np.trace(root))
    assert quality.fid(a, b) == pytest.approx(direct, rel=1e-6)
    assert quality.fid_spread(a, b, subsets=5) > 0


def test_kid_during_training_is_off_with_one_line_when_the_store_has_no_held_out_split(
        store32, tmp_path):
    from streamgan.train.callbacks import read_history
    from streamgan.train.config import TrainConfig
    from streamgan.train.loop import train
    from streamgan.train.paths import RunPaths

    workdir = str(tmp_path / "run")
    config = TrainConfig(store=store32, workdir=workdir, epochs=1, batch_size=32, latent_dim=8,
                         base_filters=4, num_samples=4, eval_every=1, eval_num=16,
                         arch="dcgan")
    lines = []
    train(config, verbose=0, log=lines.append)
    off = [line for line in lines if "KID" in line]
    assert off == ["  KID evaluation off: the store has no held-out split: add a `split` field "
                   "to the catalogue (\"train\" for most records, \"validation\" for a tenth, "
                   "say) and preprocess it again"]
    assert "kid" not in read_history(RunPaths(workdir).history)
