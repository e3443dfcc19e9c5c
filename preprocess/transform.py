"""The TensorFlow Transform step: what is learned from the whole catalogue, and how it is applied.

`preprocessing_fn` is analyzed once over the catalogue by the Beam job and saved into the store
(transform_fn/). The trainer applies the very same graph in its tf.data pipeline through
`tft.TFTransformOutput(store_dir).transform_features_layer()`, so training uses exactly the
statistics computed at preprocessing time.

Pixels never enter the analysis: each image is summarised by its per-channel mean and mean of
squares (computed while decoding), which is all `tft.mean` needs for the dataset's channel mean
and standard deviation. TFT prunes the `image` input out of the analysis graph, so the job feeds
it empty bytes there, and the trainer feeds the real pixels (raw uint8 bytes) at training time.
"""
from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from preprocess.store_format import FEATURE_IMAGE

DESCRIPTION_TEXT = "description_text"  # every description of a record, joined by newlines
CHANNEL_MEAN = "channel_mean"          # float32 [3]: mean of each channel of one image, 0..255
CHANNEL_SQ_MEAN = "channel_sq_mean"    # float32 [3]: mean of squares of each channel

# Outputs of the graph.
OUT_IMAGE = "image"                      # float32 (S, S, 3) in [-1, 1]: the GAN's range
OUT_DESCRIPTION_IDS = "description_ids"  # int64 ragged: vocabulary ids of the lower-cased tokens
OUT_CHANNEL_MEAN = "image_channel_mean"  # float32 [3]: the catalogue's mean of each channel
OUT_CHANNEL_STD = "image_channel_std"    # float32 [3]: the catalogue's std of each channel

VOCABULARY_NAME = "description"


def feature_spec() -> dict:
    """The raw features the transform graph takes."""
    return {
        FEATURE_IMAGE: tf.io.FixedLenFeature([], tf.string),
        DESCRIPTION_TEXT: tf.io.FixedLenFeature([], tf.string),
        CHANNEL_MEAN: tf.io.FixedLenFeature([3], tf.float32),
        CHANNEL_SQ_MEAN: tf.io.FixedLenFeature([3], tf.float32),
    }


def tokenize(text: tf.Tensor) -> tf.RaggedTensor:
    """Lower-cased word tokens; punctuation separates words ("Red,cotton" -> red, cotton)."""
    text = tf.strings.regex_replace(tf.strings.lower(text), r"[^\p{L}\p{N}]+", " ")
    return tf.strings.split(text)


def make_preprocessing_fn(image_size: int, vocab_top_k: int | None = 20000,
                          vocab_min_frequency: int = 1):
    """Returns the preprocessing_fn for a store of image_size pixels (a module-level closure
    factory, so the Beam job and the tests build the same function from plain options)."""

    def preprocessing_fn(inputs: dict) -> dict:
        """Raw record features -> model-ready features, with catalogue-wide analyzers."""
        tokens = tokenize(inputs[DESCRIPTION_TEXT])
        description_ids = tft.compute_and_apply_vocabulary(
            tokens, top_k=vocab_top_k, frequency_threshold=vocab_min_frequency,
            num_oov_buckets=1, vocab_filename=VOCABULARY_NAME)

        mean = tft.mean(inputs[CHANNEL_MEAN], reduce_instance_dims=False)
        sq_mean = tft.mean(inputs[CHANNEL_SQ_MEAN], reduce_instance_dims=False)
        std = tf.sqrt(tf.maximum(sq_mean - tf.square(mean), 0.0))

        pixels = tf.io.decode_raw(inputs[FEATURE_IMAGE], tf.uint8)
        pixels = tf.reshape(pixels, [-1, image_size, image_size, 3])
        image = tf.cast(pixels, tf.float32) / 127.5 - 1.0

        batch = tf.shape(inputs[FEATURE_IMAGE])[0]
        return {
            OUT_IMAGE: image,
            OUT_DESCRIPTION_IDS: description_ids,
            OUT_CHANNEL_MEAN: tf.tile(mean[tf.newaxis], [batch, 1]),
            OUT_CHANNEL_STD: tf.tile(std[tf.newaxis], [batch, 1]),
        }

    return preprocessing_fn
