"""What a merchandiser asks of generated images, as numbers on feature vectors.

All take (N, D) float feature arrays (the FID Inception features of train/quality.py) and
measure in Euclidean distance between them.

- Precision and recall of a generated distribution (Kynkaanniemi et al., NeurIPS 2019,
  "Improved Precision and Recall Metric for Assessing Generative Models"): each sample set
  stands for a manifold, the union of balls around its points reaching each point's k-th
  nearest neighbour in its own set. Precision is the share of generated points inside the
  real manifold (do they look real?), recall the share of real points inside the generated
  manifold (is the real variety covered? one image per category covers almost nothing).
  Written here (about 30 lines): torchmetrics and scipy have no generative precision/recall,
  and the reference code is TensorFlow 1. Tested on a worked example computed by hand.
- Novelty: the share of generated images NOT closer to their nearest training image than
  training images are to each other (the memorisation test of Alaa et al., ICML 2022,
  "How Faithful is your Synthetic Data?", authenticity, with a stated threshold): an image
  is a near-copy when its distance to the nearest training image is below the `quantile`
  (5%) of the training images' distances to their own nearest other training image. A real
  new photo scores about 1 - quantile; a generator that returns training photos scores 0.
- Intervals: a share of n independent judgements gets the 95% Wilson interval
  (scipy.stats.binomtest); it counts the sampling of the judged side only, not of the set
  that defines the manifold or threshold.
"""
from __future__ import annotations

import numpy as np

DEFAULT_K = 3             # Kynkaanniemi et al.'s choice
NOVELTY_QUANTILE = 0.05   # the near-copy threshold: this quantile of train-train NN distances
_BLOCK = 1024             # rows per block of distances (bounded memory for large sets)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (len(a), len(b)) by the matrix-product expansion (as BLAS-backed
    libraries compute them; scipy's cdist is exact but loops in C without BLAS, ~20x slower
    at 2048 dimensions)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(squared, 0.0))


def nearest(a: np.ndarray, b: np.ndarray, count: int = 1,
            exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(distances, indices), each (len(a), count): each row of a's `count` nearest rows of b,
    nearest first, computed in blocks. exclude_self: a is b, and a point is not its own
    neighbour."""
    count = min(count, len(b) - int(exclude_self))
    out_d = np.empty((len(a), count))
    out_i = np.empty((len(a), count), np.int64)
    for start in range(0, len(a), _BLOCK):
        block = distances(a[start:start + _BLOCK], b)
        if exclude_self:
            rows = np.arange(len(block))
            block[rows, start + rows] = np.inf
        idx = np.argpartition(block, count - 1, axis=1)[:, :count]
        d = np.take_along_axis(block, idx, 1)
        order = np.argsort(d, axis=1, kind="stable")
        out_d[start:start + len(block)] = np.take_along_axis(d, order, 1)
        out_i[start:start + len(block)] = np.take_along_axis(idx, order, 1)
    return out_d, out_i


def knn_radii(features: np.ndarray, k: int = DEFAULT_K) -> np.ndarray:
    """Distance of each point to its k-th nearest other point of the same set."""
    if len(features) <= k:
        raise ValueError(f"a k-NN manifold with k={k} needs more than {k} points, "
                         f"got {len(features)}")
    d, _ = nearest(features, features, k, exclude_self=True)
    return d[:, k - 1]


def inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Boolean (len(points),): inside at least one ball (centre, radius), border included."""
    out = np.zeros(len(points), bool)
    for start in range(0, len(points), _BLOCK):
        d = distances(points[start:start + _BLOCK], centres)
        out[start:start + len(d)] = (d <= radii[None, :]).any(1)
    return out


def precision_recall(real: np.ndarray, fake: np.ndarray,
                     k: int = DEFAULT_K) -> tuple[np.ndarray, np.ndarray]:
    """(fake point inside the real manifold, real point inside the fake manifold) as boolean
    arrays: their means are precision and recall."""
    return (inside(fake, real, knn_radii(real, k)), inside(real, fake, knn_radii(fake, k)))


def novelty_threshold(train: np.ndarray, quantile: float = NOVELTY_QUANTILE) -> float:
    """The near-copy distance: `quantile` of the training points' distances to their nearest
    other training point."""
    d, _ = nearest(train, train, 1, exclude_self=True)
    return float(np.quantile(d[:, 0], quantile))


def share(flags) -> dict:
    """{value, low, high, n}: the share of true flags with its 95% Wilson interval."""
    from scipy.stats import binomtest
    flags = np.asarray(flags, bool)
    n, hits = len(flags), int(np.sum(flags))
    if n == 0:
        return {"value": None, "low": None, "high": None, "n": 0}
    ci = binomtest(hits, n).proportion_ci(confidence_level=0.95, method="wilson")
    return {"value": hits / n, "low": float(ci.low), "high": float(ci.high), "n": n}
