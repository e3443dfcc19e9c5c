"""The TensorFlow Transform step: what is learned from the whole catalogue, and how it is applied.

`preprocessing_fn` is analyzed once over the catalogue by the Beam job and saved into the store
(transform_fn/). The trainer applies the very same graph in its tf.data pipeline through
`tft.TFTransformOutput(store_dir).transform_features_layer()`, so the scaling of the pixels and
the token ids of the descriptions are defined in one place, whatever reads the store.

What TFT contributes, plainly:
- the image output: uint8 pixels scaled linearly onto PIXEL_RANGE, a fixed range and not a
  standardisation, because the generator ends in tanh and its images must map back to pixels
  exactly (`train.images.to_uint8` inverts it, taking the range from the store's manifest);
- the vocabularies a conditional GAN uses, computed over the whole catalogue: the description
  tokens (lower-cased words) and each categorical field named by `--condition-fields` (e.g.
  `category`). The trainer feeds the same graph a description (or a field's value) and gets
  the ids; `streamgan generate --prompt` tokenises a prompt through it too (train/conditioning.py),
  so preprocessing, training and generation cannot disagree on a word;
- the catalogue's per-channel mean and standard deviation, recorded in the manifest for
  `streamgan inspect` (a quick check of a catalogue: a white-background catalogue has means
  near 255). They are reported, not applied to the pixels, for the reason above.

Pixels never enter the analysis: each image is summarised by its per-channel mean and mean of
squares (computed while decoding), which is all `tft.mean` needs for the channel statistics.
TFT prunes the `image` input out of the analysis graph, so the job feeds it empty bytes there,
and the trainer feeds the real pixels (raw uint8 bytes) at training time.
"""
from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from streamgan.store.contract import (
    DESCRIPTION_VOCABULARY,
    FEATURE_DESCRIPTION_TEXT,
    FEATURE_IMAGE,
    OUT_DESCRIPTION_IDS,
    OUT_DESCRIPTION_TOKENS,
    OUT_IMAGE,
    field_feature,
    field_ids,
    field_vocabulary,
)

DESCRIPTION_TEXT = FEATURE_DESCRIPTION_TEXT  # every description of a record, joined by newlines
CHANNEL_MEAN = "channel_mean"          # float32 [3]: mean of each channel of one image, 0..255
CHANNEL_SQ_MEAN = "channel_sq_mean"    # float32 [3]: mean of squares of each channel

# The range of the image output: the generator's tanh range. Written into every store's
# manifest (image.pixel_range), from which the inverse takes it.
PIXEL_RANGE = (-1.0, 1.0)

# Outputs of the graph (OUT_IMAGE, float32 (S, S, 3) in PIXEL_RANGE, is named by the contract).
OUT_CHANNEL_MEAN = "image_channel_mean"  # float32 [3]: the catalogue's mean of each channel
OUT_CHANNEL_STD = "image_channel_std"    # float32 [3]: the catalogue's std of each channel

VOCABULARY_NAME = DESCRIPTION_VOCABULARY


def vocabulary_entries(output: tft.TFTransformOutput, name: str) -> list[str]:
    """The entries of a TFT vocabulary of the store, most frequent first, as text.

    TFT stores an empty vocabulary (e.g. of a field no record has) as one placeholder entry so
    its lookup tables can initialise; that placeholder is no value of the catalogue, so it is
    left out here and such a vocabulary has no entries."""
    words = [w.decode("utf-8", "replace") if isinstance(w, bytes) else w
             for w in output.vocabulary_by_name(name)]
    return [] if words == [EMPTY_VOCABULARY_ENTRY] else words


def _empty_vocabulary_entry() -> str:
    dummy = getattr(tft.analyzers, "get_empy_vocabulary_dummy_value", None)
    if dummy is None:  # the TFT 1.x value, should the helper be renamed
        return "49d0cd50-04bb-48c0-bc6f-5b575dce351a"
    return dummy(tf.string)[1].decode()


EMPTY_VOCABULARY_ENTRY = _empty_vocabulary_entry()


def feature_spec(fields: tuple[str, ...] = ()) -> dict:
    """The raw features the transform graph takes (fields: the categorical catalogue fields)."""
    return {
        FEATURE_IMAGE: tf.io.FixedLenFeature([], tf.string),
        DESCRIPTION_TEXT: tf.io.FixedLenFeature([], tf.string),
        CHANNEL_MEAN: tf.io.FixedLenFeature([3], tf.float32),
        CHANNEL_SQ_MEAN: tf.io.FixedLenFeature([3], tf.float32),
        **{field_feature(f): tf.io.FixedLenFeature([], tf.string) for f in fields},
    }


def category_value(value: tf.Tensor) -> tf.RaggedTensor:
    """A field's values (B,) -> ragged (B, 0 or 1): trimmed, lower-cased, absent when empty, so
    a record without the field has no condition rather than an "" category."""
    value = tf.strings.lower(tf.strings.strip(value))
    return tf.ragged.boolean_mask(value[:, tf.newaxis], (value != "")[:, tf.newaxis])


def tokenize(text: tf.Tensor) -> tf.RaggedTensor:
    """Lower-cased word tokens; punctuation separates words ("Red,cotton" -> red, cotton)."""
    text = tf.strings.regex_replace(tf.strings.lower(text), r"[^\p{L}\p{N}]+", " ")
    return tf.strings.split(text)


def make_preprocessing_fn(image_size: int, vocab_top_k: int | None = 20000,
                          vocab_min_frequency: int = 1, fields: tuple[str, ...] = ()):
    """Returns the preprocessing_fn for a store of image_size pixels (a module-level closure
    factory, so the Beam job and the tests build the same function from plain options)."""

    def preprocessing_fn(inputs: dict) -> dict:
        """Raw record features -> model-ready features, with catalogue-wide analyzers."""
        tokens = tokenize(inputs[DESCRIPTION_TEXT])
        description_ids = tft.compute_and_apply_vocabulary(
            tokens, top_k=vocab_top_k, frequency_threshold=vocab_min_frequency,
            num_oov_buckets=1, vocab_filename=VOCABULARY_NAME)
        categories = {
            field_ids(f): tft.compute_and_apply_vocabulary(
                category_value(inputs[field_feature(f)]), num_oov_buckets=1,
                vocab_filename=field_vocabulary(f))
            for f in fields}

        mean = tft.mean(inputs[CHANNEL_MEAN], reduce_instance_dims=False)
        sq_mean = tft.mean(inputs[CHANNEL_SQ_MEAN], reduce_instance_dims=False)
        std = tf.sqrt(tf.maximum(sq_mean - tf.square(mean), 0.0))

        pixels = tf.io.decode_raw(inputs[FEATURE_IMAGE], tf.uint8)
        pixels = tf.reshape(pixels, [-1, image_size, image_size, 3])
        low, high = PIXEL_RANGE
        image = tf.cast(pixels, tf.float32) * ((high - low) / 255.0) + low

        batch = tf.shape(inputs[FEATURE_IMAGE])[0]
        return {
            OUT_IMAGE: image,
            OUT_DESCRIPTION_IDS: description_ids,
            OUT_DESCRIPTION_TOKENS: tokens,
            **categories,
            OUT_CHANNEL_MEAN: tf.tile(mean[tf.newaxis], [batch, 1]),
            OUT_CHANNEL_STD: tf.tile(std[tf.newaxis], [batch, 1]),
        }

    return preprocessing_fn
