"""k-NN precision and recall, novelty and the intervals, on examples worked out by hand."""
import numpy as np
import pytest
from scipy.spatial.distance import cdist

from streamgan.train import metrics


def line(*xs):
    """Points on the x axis of a 3-d space (the metrics are dimension-free)."""
    return np.array([[x, 0.0, 0.0] for x in xs])


def test_precision_and_recall_match_the_worked_example():
    # real 0 1 2 10 11, k=1: each real point's radius is 1 (its nearest other real point).
    # fake 0.5 2.5 5 5.5, k=1: radii 2 (0.5<->2.5), 2, 0.5 (5<->5.5), 0.5.
    # precision: 0.5 (real 0 is 0.5 away) and 2.5 (real 2 is 0.5 away) lie in a real ball;
    #   5 and 5.5 are 3+ from every real point -> 2/4.
    # recall: reals 0, 1, 2 are within 2 of fake 0.5 or 2.5; 10 and 11 are 4.5+ from fake
    #   5.5, whose radius is 0.5 -> 3/5.
    real, fake = line(0, 1, 2, 10, 11), line(0.5, 2.5, 5, 5.5)
    in_real, in_fake = metrics.precision_recall(real, fake, k=1)
    assert in_real.tolist() == [True, True, False, False]
    assert in_fake.tolist() == [True, True, True, False, False]
    # k=2, the 2nd nearest other real point: 0 -> 2 (at 2), 1 -> 1 (0 and 2), 2 -> 2 (0),
    # 10 -> 8 (2), 11 -> 9 (2); fakes 5 and 5.5 are 5 and 4.5 from real 10 (radius 8): inside.
    in_real2, _ = metrics.precision_recall(real, fake, k=2)
    assert np.allclose(metrics.knn_radii(real, 2), [2, 1, 2, 8, 9])
    assert in_real2.tolist() == [True, True, True, True]


def test_distances_and_neighbours_agree_with_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 16)) * 10, rng.normal(size=(1500, 16)) * 10
    assert np.allclose(metrics.distances(a, b), cdist(a, b), atol=1e-8)
    d, i = metrics.nearest(a, b, 3)
    exact = np.sort(cdist(a, b), axis=1)[:, :3]
    assert np.allclose(d, exact) and np.allclose(cdist(a, b)[np.arange(40)[:, None], i], exact)
    d_self, i_self = metrics.nearest(b, b, 1, exclude_self=True)  # across blocks of 1024
    full = cdist(b, b) + np.diag(np.full(len(b), np.inf))
    assert np.allclose(d_self[:, 0], full.min(1)) and (i_self[:, 0] != np.arange(len(b))).all()


def test_novelty_threshold_is_the_stated_quantile_of_train_nearest_distances():
    train = line(0, 1, 3, 6, 10)  # nearest other: 1 1 2 3 4
    assert metrics.novelty_threshold(train, quantile=0.5) == pytest.approx(2.0)
    assert metrics.novelty_threshold(train, quantile=0.0) == pytest.approx(1.0)


def test_share_gives_the_wilson_interval():
    s = metrics.share([True] * 8 + [False] * 2)
    # Wilson 95% for 8/10: centre (8 + 1.92)/13.84, half-width 1.96/13.84*sqrt(1.6 + 0.96)
    z = 1.959964
    centre = (8 + z * z / 2) / (10 + z * z)
    half = z / (10 + z * z) * np.sqrt(10 * 0.8 * 0.2 + z * z / 4)
    assert s["value"] == 0.8 and s["n"] == 10
    assert s["low"] == pytest.approx(centre - half, abs=1e-5)
    assert s["high"] == pytest.approx(centre + half, abs=1e-5)
    assert metrics.share([])["value"] is None


def test_a_manifold_needs_more_points_than_k():
    with pytest.raises(ValueError, match="more than 3 points"):
        metrics.knn_radii(line(0, 1, 2), 3)
