"""bench.warmstart's Scorer judges each generated image against the category it was asked for.
It once drew its images' conditions at random and compared them with the prompts in order, so
every run's class consistency came out at chance, however well conditioned."""
from types import SimpleNamespace

import keras
import numpy as np

from bench.warmstart import NEW_CATEGORIES, Scorer

CATEGORIES = sorted(["dress", "pants", "t-shirt", *NEW_CATEGORIES])


class Words:
    """Condition ids of the descriptions: one id per category, its index + 1."""

    def encode(self, texts):
        return np.array([[CATEGORIES.index(t) + 1] for t in texts], np.int32)


class Judge:
    """Reads back the category the features carry (an exact judge)."""

    def predict(self, features):
        return np.argmax(features, axis=1)


def sampler():
    """A generator whose every pixel is its condition id / 10 - 1, whatever the noise."""
    noise, ids = keras.Input((4,)), keras.Input((1,), dtype="int32")
    image = keras.layers.Lambda(lambda t: keras.ops.zeros((keras.ops.shape(t[0])[0], 2, 2, 3))
                                + keras.ops.reshape(keras.ops.cast(t[1], "float32"),
                                                    (-1, 1, 1, 1)) / 10 - 1)([noise, ids])
    return keras.Model([noise, ids], image)


def features(images):
    """One-hot of the category an image was made for (stands in for Inception)."""
    index = np.rint(images[:, 0, 0, 0] / 127.5 * 10).astype(int) - 1
    return np.eye(len(CATEGORIES))[index]


def test_each_category_is_judged_on_the_images_asked_for_it():
    scorer = Scorer.__new__(Scorer)
    scorer.features, scorer.judge, scorer.categories = features, Judge(), CATEGORIES
    scorer.real = np.eye(len(CATEGORIES))[np.arange(60) % len(CATEGORIES)]
    scorer.prompts = [CATEGORIES[i % len(CATEGORIES)] for i in range(60)]
    scorer.per_category = 7
    config = SimpleNamespace(pixel_range=(-1.0, 1.0))
    result = scorer(SimpleNamespace(sampler=sampler()), Words(), config)
    assert result["consistency"] == {c: 1.0 for c in CATEGORIES}
    assert result["known"] == result["new"] == 1.0
    assert result["kid"] < 0.05  # generated like the real ones, category for category
