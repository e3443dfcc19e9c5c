"""Repeat-factor sampling (`--balance`, train/balance.py): a rare category is drawn more often,
each image still arrives with its own condition, and an epoch keeps its length."""
import collections
import os

import numpy as np
import pytest

from streamgan.common.errors import ConfigError
from streamgan.store.contract import open_store
from streamgan.train.balance import RepeatFactors
from streamgan.train.conditioning import ConditionEncoder
from streamgan.train.config import TrainConfig
from streamgan.train.data import StoreReader, load_transform, stream_dataset
from tests.train.tiny_store import build_described_store, decode_index

NUM = 96
RARE_EVERY = 16  # 6 of the 96 images are "rare" (6.25%), the rest "common"
EPOCHS = 6


def category(i: int) -> str:
    return "rare" if i % RARE_EVERY == 0 else "common"


@pytest.fixture(scope="module")
def skewed_store(tmp_path_factory):
    path = os.path.join(str(tmp_path_factory.mktemp("stores")), "skewed")
    return build_described_store(path, NUM, 16, lambda i: ([category(i)], {}), chunk_rows=8)


def epochs_drawn(store: str, balance: float) -> list[list[tuple[int, str]]]:
    """(image index, condition word) of every image drawn, epoch by epoch."""
    info = open_store(store)
    reader = StoreReader.from_info(info).with_condition("descriptions")
    encoder = ConditionEncoder(info.store_dir, "descriptions", max_tokens=4)
    vocabulary = encoder.vocabulary()
    factors = (RepeatFactors(encoder, reader.condition_texts(NUM), balance) if balance
               else None)
    dataset = stream_dataset(reader, load_transform(store), 16, seed=3,
                             encode_condition=encoder, repeat_factors=factors)
    drawn = []
    for _ in range(EPOCHS):
        epoch = []
        for images, ids in dataset:
            words = [" ".join(vocabulary[t - 1] for t in row if t > 0) for row in ids.numpy()]
            epoch.extend(zip(decode_index(images.numpy()).tolist(), words))
        drawn.append(epoch)
    return drawn


@pytest.mark.slow  # the store is analysed by TFT
def test_a_rare_category_is_drawn_more_often_and_epochs_keep_their_length(skewed_store):
    plain = epochs_drawn(skewed_store, 0.0)
    balanced = epochs_drawn(skewed_store, 0.5)
    rare = NUM // RARE_EVERY
    for epoch in plain:
        assert sorted(i for i, _ in epoch) == list(range(NUM))  # every image once, as before
    for epoch in balanced:
        assert len(epoch) == NUM  # the same number of images per epoch
        for i, word in epoch:
            assert word == category(i), (i, word)  # each image with its own condition
    rare_plain = sum(category(i) == "rare" for epoch in plain for i, _ in epoch)
    rare_balanced = sum(category(i) == "rare" for epoch in balanced for i, _ in epoch)
    assert rare_plain == rare * EPOCHS
    # share 6.25% at threshold 0.5: factor sqrt(0.5 / 0.0625) = 2.8, so about 2.6x the draws
    # once the common images make room; 2x is far outside the chance of 6 epochs
    assert rare_balanced >= 2 * rare_plain, (rare_balanced, rare_plain)
    # and every rare image takes part, not one of them repeated
    assert set(i for epoch in balanced for i, _ in epoch if category(i) == "rare") == \
        set(range(0, NUM, RARE_EVERY))
    counts = collections.Counter(i for epoch in balanced for i, _ in epoch)
    assert len(counts) > NUM * 0.9  # the common images still come, a few skip an epoch


@pytest.mark.slow  # the store is analysed by TFT
def test_the_factors_follow_each_words_share(skewed_store):
    info = open_store(skewed_store)
    encoder = ConditionEncoder(info.store_dir, "descriptions", max_tokens=4)
    texts = StoreReader.from_info(info).with_condition("descriptions").condition_texts(NUM)
    factors = RepeatFactors(encoder, texts, 0.5)
    got = factors(np.array(["rare", "common", "rare common", "unheard"], dtype=object))
    rare_factor = np.sqrt(0.5 / (6 / 96))
    np.testing.assert_allclose(got.numpy()[:3], [rare_factor, 1.0, rare_factor], rtol=1e-5)
    assert got.numpy()[3] == 1.0  # a word outside the vocabulary is no reason to repeat
    assert "'rare' 2.8x" in factors.describe()


@pytest.mark.parametrize("value", [-0.1, 1.5, "a"])
def test_balance_outside_0_to_1_is_refused(value):
    with pytest.raises(ConfigError, match=r"--balance must be in \[0, 1\]"):
        TrainConfig(store="s", workdir="w", balance=value).validate()
