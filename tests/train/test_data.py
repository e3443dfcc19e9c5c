"""The streaming input pipeline: every image once per epoch, new order each epoch, bounded reads."""
import multiprocessing
import pickle

import numpy as np
import pytest

from streamgan.store.contract import StoreError, open_store
from streamgan.train import data
from tests.train.conftest import CHUNK_ROWS, NUM_IMAGES
from tests.train.tiny_store import decode_index, index_images


class CountingReader(data.StoreReader):
    """A real reader that remembers the rows of every chunk it reads."""

    def __post_init__(self):
        super().__post_init__()
        self.reads = []

    def read_chunks(self, chunks):
        self.reads += [b - a for a, b in map(self.chunk_bounds, chunks)]
        return super().read_chunks(chunks)


def epoch_indices(dataset):
    batches = [decode_index(batch.numpy()) for batch in dataset]
    return np.concatenate(batches), [len(b) for b in batches]


@pytest.mark.slow  # stores whose TFT graph a real Beam job analysed
@pytest.mark.parametrize("shuffle_buffer", [None, 20])  # the whole store / 2-chunk windows
def test_every_image_once_per_epoch_in_a_new_order(store32, shuffle_buffer):
    info = open_store(store32)
    reader = data.StoreReader.from_info(info)
    dataset = data.stream_dataset(reader, data.load_transform(store32), batch_size=32, seed=1,
                                  shuffle_buffer=shuffle_buffer)
    first, sizes = epoch_indices(dataset)
    second, _ = epoch_indices(dataset)
    assert sorted(first.tolist()) == list(range(NUM_IMAGES))
    assert sorted(second.tolist()) == list(range(NUM_IMAGES))
    assert first.tolist() != second.tolist()
    assert first.tolist() != list(range(NUM_IMAGES))  # actually shuffled
    assert sizes == [32, 32, 32, 4]  # the partial last batch is kept
    assert int(dataset.cardinality()) == 4


@pytest.mark.slow  # stores whose TFT graph a real Beam job analysed
def test_same_seed_same_order_and_transform_range(store32):
    info = open_store(store32)
    make = lambda: data.stream_dataset(data.StoreReader.from_info(info),  # noqa: E731
                                       data.load_transform(store32), batch_size=25, seed=7)
    assert epoch_indices(make())[0].tolist() == epoch_indices(make())[0].tolist()
    batch = next(iter(make())).numpy()
    assert batch.dtype == np.float32 and batch.shape == (25, 32, 32, 3)
    assert batch.min() >= -1.0 and batch.max() <= 1.0


@pytest.mark.slow  # stores whose TFT graph a real Beam job analysed
def test_reads_whole_chunks_only(store32):
    reader = CountingReader.from_info(open_store(store32))
    dataset = data.stream_dataset(reader, None, batch_size=10, seed=0, shuffle_buffer=40)
    raw = np.concatenate([batch.numpy() for batch in dataset])
    assert len(raw) == NUM_IMAGES
    # one read per chunk, never the whole store: memory does not grow with the store
    assert sorted(reader.reads) == sorted([CHUNK_ROWS] * (NUM_IMAGES // CHUNK_ROWS)
                                          + [NUM_IMAGES % CHUNK_ROWS])
    pixels = np.stack([np.frombuffer(b, np.uint8).reshape(32, 32, 3) for b in raw])
    order = pixels[:, 0, 0, 0].astype(int) + 256 * pixels[:, 0, 0, 1].astype(int)
    np.testing.assert_array_equal(pixels[np.argsort(order)], index_images(0, NUM_IMAGES, 32))


@pytest.mark.slow  # stores whose TFT graph a real Beam job analysed
def test_max_images_limits_the_epoch(store32):
    reader = data.StoreReader.from_info(open_store(store32), max_images=40)
    indices, sizes = epoch_indices(
        data.stream_dataset(reader, data.load_transform(store32), batch_size=16, seed=0))
    assert sorted(indices.tolist()) == list(range(40)) and sizes == [16, 16, 8]


def _read_in_child(reader, queue):
    queue.put(reader.read_chunk(1)[:, 0, 0, 0].tolist())


@pytest.mark.slow  # stores whose TFT graph a real Beam job analysed
def test_reader_survives_pickle_and_fork(store32):
    reader = data.StoreReader.from_info(open_store(store32))
    expected = reader.read_chunk(1)[:, 0, 0, 0].tolist()  # the parent's file is open now
    clone = pickle.loads(pickle.dumps(reader))
    assert clone.read_chunk(1)[:, 0, 0, 0].tolist() == expected
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_read_in_child, args=(reader, queue))
    child.start()
    try:
        assert queue.get(timeout=60) == expected
    finally:
        child.join(timeout=60)
    assert child.exitcode == 0
    reader.close()


def test_window_to_strings_cuts_exact_images():
    import tensorflow as tf
    images = index_images(0, 5, 4)
    images[:, -1, -1, :] = 0  # trailing zero bytes must survive
    raw = data.window_to_strings(tf.constant(images)).numpy()
    assert [np.frombuffer(b, np.uint8).reshape(4, 4, 3).tolist() for b in raw] == images.tolist()
    shuffled = data.window_to_strings(tf.constant(images), tf.constant([3, 4], tf.int64)).numpy()
    assert sorted(shuffled) == sorted(raw) and list(shuffled) != list(raw)


@pytest.mark.slow  # stores whose TFT graph a real Beam job analysed
def test_huge_shuffle_buffer_is_a_config_error(store32):
    from streamgan.train.config import ConfigError
    reader = data.StoreReader(open_store(store32).h5_path, 10**7, 128, 21)
    with pytest.raises(ConfigError, match="--shuffle-buffer"):
        data.window_chunks(reader, shuffle_buffer=10**6)


@pytest.mark.slow  # stores whose TFT graph a real Beam job analysed
def test_damaged_transform_is_a_store_error(store32, tmp_path):
    import shutil
    broken = tmp_path / "store"
    shutil.copytree(store32, broken)
    (broken / "transform_fn" / "saved_model.pb").write_bytes(b"not a graph")
    with pytest.raises(StoreError, match="transform_fn is unreadable"):
        data.load_transform(str(broken))


@pytest.mark.slow  # stores whose TFT graph a real Beam job analysed
def test_pixels_round_trip_through_the_transform_and_its_inverse(store32):
    """stored uint8 -> the store's TFT graph -> to_uint8 with the store's pixel range: the
    same pixels, whatever range preprocessing chose."""
    from streamgan.train.images import to_uint8
    info = open_store(store32)
    reader = data.StoreReader.from_info(info)
    stored = reader.read(0, 40)
    transformed = data.load_transform(store32)(data.window_to_strings(stored)).numpy()
    low, high = info.manifest.pixel_range
    assert transformed.min() >= low and transformed.max() <= high
    np.testing.assert_array_equal(to_uint8(transformed, info.manifest.pixel_range), stored)


@pytest.mark.slow  # stores whose TFT graph a real Beam job analysed
def test_a_split_streams_only_its_images(tmp_path, store32):
    """Every 4th image is "validation": the train split sees each of the others once an epoch."""
    from tests.train.tiny_store import build_store
    path = build_store(str(tmp_path / "split"), 50, 32, chunk_rows=8, transform_from=store32,
                       validation_every=4)
    info = open_store(path)
    assert info.default_split() == "train"
    for split, expected in (("train", [i for i in range(50) if i % 4]),
                            ("validation", list(range(0, 50, 4))), ("all", list(range(50)))):
        reader = data.StoreReader.from_info(info, info.split_mask(split))
        batches = data.stream_dataset(reader, data.load_transform(path), 7, seed=1)
        seen = np.concatenate([decode_index(b.numpy()) for b in batches])
        assert sorted(seen.tolist()) == expected, split
    with pytest.raises(StoreError, match="no split 'test'"):
        info.split_mask("test")
