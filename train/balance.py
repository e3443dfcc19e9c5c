"""Repeat-factor sampling: images of rare conditions are drawn more often, so a category with
20 photos among thousands still comes out as itself (issue 26's few-shot categories).

After Gupta, Dollár and Girshick, "LVIS: A Dataset for Large Vocabulary Instance
Segmentation" (CVPR 2019), section 4: each vocabulary entry w (a word of the descriptions, or a
field's value) has f(w), the share of images whose condition holds it, and the repeat factor
r(w) = max(1, sqrt(t / f(w))) for a threshold t; an image's factor is its rarest entry's. At
t = 0.1, a category on 1% of the images is drawn 3.2x as often, one on 10% or more as before.

train/data.py applies it per shuffle window: each image is repeated by its factor
(stochastically rounded, so the expected count is the factor) and the window keeps as many
images as it had. An epoch keeps its length and its bounded memory; frequent conditions give
up the draws rare ones gain. f is counted over a bounded sample of the run's rows
(conditioning.PROMPT_SCAN_ROWS), so set-up costs the same whatever the store's size; an entry
the sample misses counts as seen once. MAX_REPEAT caps the factor, so a word one record uses
does not fill the windows it appears in.
"""
from __future__ import annotations

import numpy as np

MAX_REPEAT = 8.0
ENCODE_ROWS = 4096  # texts encoded at once while counting


class RepeatFactors:
    """tf string (n,) condition texts -> float32 (n,) repeat factors (>= 1)."""

    def __init__(self, encoder, texts: list[str], threshold: float):
        self.encoder, self.threshold = encoder, float(threshold)
        self.vocabulary = encoder.vocabulary()
        counts = np.zeros(len(self.vocabulary) + 1, np.int64)  # model ids: 0 = nothing
        for start in range(0, len(texts), ENCODE_ROWS):
            ids = np.sort(encoder.encode(texts[start:start + ENCODE_ROWS]), axis=1)
            first = np.ones(ids.shape, bool)  # each entry once per image
            first[:, 1:] = ids[:, 1:] != ids[:, :-1]
            counts += np.bincount(ids[first & (ids > 0)], minlength=len(counts))
        share = np.maximum(counts, 1) / max(len(texts), 1)
        factors = np.clip(np.sqrt(self.threshold / share), 1.0, MAX_REPEAT)
        factors[0] = 1.0
        self.factors = factors.astype(np.float32)

    def __call__(self, texts):
        import tensorflow as tf
        ids = self.encoder(texts)
        return tf.reduce_max(tf.gather(tf.constant(self.factors), ids), axis=1)

    def describe(self, top: int = 4) -> str:
        """One line: the entries drawn more often than their share, rarest first."""
        boosted = np.flatnonzero(self.factors > 1.0)
        boosted = boosted[np.argsort(-self.factors[boosted], kind="stable")]
        if len(boosted) == 0:
            return f"balance {self.threshold:g}: no condition is rare enough to repeat"
        shown = ", ".join(f"{self.vocabulary[i - 1]!r} {self.factors[i]:.1f}x"
                          for i in boosted[:top])
        more = f" and {len(boosted) - top} more" if len(boosted) > top else ""
        return (f"balance {self.threshold:g}: rare conditions drawn more often ({shown}{more}; "
                "an image goes by its rarest word)")


def resample(order, factors, seed):
    """A shuffle window's image order with each image repeated by its factor (stochastically
    rounded), reshuffled, cut back to the window's length. seed: int64 (2,) stateless seed."""
    import tensorflow as tf
    n = tf.shape(order)[0]
    seed = tf.cast(seed, tf.int64)
    draws = tf.random.stateless_uniform(tf.shape(factors), seed=seed + [0, 1])
    counts = tf.cast(tf.floor(factors + draws), tf.int64)
    picked = tf.repeat(order, counts)
    return tf.random.experimental.stateless_shuffle(picked, seed + [0, 2])[:n]
