"""The preprocessing_fn on its own, analyzed and applied by real TFT on a few records."""
import tempfile

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from apache_beam.options.pipeline_options import PipelineOptions
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from streamgan.preprocess import runners, transform

SIZE = 4


@pytest.fixture(scope="module")
def transform_output(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("tft"))
    rows = [
        {"image": b"", transform.DESCRIPTION_TEXT: "Red cotton DRESS,long",
         transform.CHANNEL_MEAN: [10.0, 100.0, 0.0], transform.CHANNEL_SQ_MEAN: [100.0, 10000.0, 0.0]},
        {"image": b"", transform.DESCRIPTION_TEXT: "red skirt\nA red dress",
         transform.CHANNEL_MEAN: [30.0, 100.0, 0.0], transform.CHANNEL_SQ_MEAN: [900.0, 10000.0, 0.0]},
    ]
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(transform.feature_spec()))
    with runners.pipeline(PipelineOptions()) as p, tft_beam.Context(temp_dir=tempfile.mkdtemp()):
        fn = ((p | beam.Create(rows), metadata)
              | tft_beam.AnalyzeDataset(transform.make_preprocessing_fn(SIZE, vocab_top_k=100)))
        _ = fn | tft_beam.WriteTransformFn(out)
    return tft.TFTransformOutput(out)


def test_vocabulary_is_lower_cased_tokens_by_frequency(transform_output):
    vocab = [t.decode() for t in transform_output.vocabulary_by_name(transform.VOCABULARY_NAME)]
    assert vocab[:2] == ["red", "dress"]
    assert set(vocab) == {"red", "dress", "cotton", "long", "skirt", "a"}


def test_channel_statistics_are_the_catalogue_mean_and_std(transform_output):
    out = transform_output.transform_raw_features({
        "image": tf.constant([bytes(SIZE * SIZE * 3)]),
        transform.DESCRIPTION_TEXT: tf.constant(["red unknownword"]),
        transform.CHANNEL_MEAN: tf.zeros([1, 3]), transform.CHANNEL_SQ_MEAN: tf.zeros([1, 3])})
    np.testing.assert_allclose(out[transform.OUT_CHANNEL_MEAN][0], [20, 100, 0], atol=1e-4)
    np.testing.assert_allclose(out[transform.OUT_CHANNEL_STD][0], [10, 0, 0], atol=1e-3)
    ids = out[transform.OUT_DESCRIPTION_IDS]
    ids = ids.to_list()[0] if hasattr(ids, "to_list") else tf.sparse.to_dense(ids).numpy()[0].tolist()
    assert ids[0] == 0 and ids[1] == 6  # "red" is id 0; unknown words share the OOV bucket


def test_trainer_can_feed_pixels_alone_and_gets_minus_one_to_one(transform_output):
    pixels = np.zeros((2, SIZE, SIZE, 3), np.uint8)
    pixels[1] = 255
    layer = transform_output.transform_features_layer()
    images = layer({"image": tf.constant([p.tobytes() for p in pixels])})[transform.OUT_IMAGE]
    assert images.shape == (2, SIZE, SIZE, 3) and images.dtype == tf.float32
    np.testing.assert_allclose(images[0], -1.0)
    np.testing.assert_allclose(images[1], 1.0)
