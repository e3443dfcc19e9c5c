"""Conditioning the GAN on what the catalogue says about each image: its descriptions, or a
categorical field such as `category`, mapped to ids by the vocabularies TFT computed over the
whole catalogue at preprocessing time.

- A condition is a bag of vocabulary ids: the tokens of one description, or the one value of a
  field. The model sees `(B, max_tokens)` int32 ids, shifted by one so that 0 means "nothing"
  (padding, and words outside the vocabulary). `ConditionEncoder` maps text to those ids
  through the store's own TFT graph, so training and `generate --prompt` tokenise exactly as
  preprocessing did; the run keeps a copy of that graph (`RunPaths.conditioning`), so a
  trained run needs no store to generate.
- A record with several descriptions (FEIDEGGER's five sentences, or duplicates merged at
  preprocessing) contributes all of them: each epoch samples one per image (train/data.py).
  One description per step is what a prompt looks like at generate time, and over epochs every
  description is used; pooling all five into one bag would train on bags no user types.
- The generator gets the mean embedding of the bag concatenated to its noise; the
  discriminator is a projection discriminator (Miyato & Koyama 2018): its logit plus the inner
  product of its pooled features with an embedding of the bag.
- Both condition paths are scaled by a strength that ramps from 0 to 1 (Shahbazi et al., ICLR
  2022, "Collapse by conditioning"): the GAN trains unconditionally first, so small data does
  not collapse to one image per class, then brings the condition in gradually. The strength
  is a non-trainable weight of each net, so checkpoints and the exported generator carry it.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import os

import keras
import numpy as np

from streamgan.common.errors import ConfigError
from streamgan.common.files import write_text
from streamgan.store import contract
from streamgan.train.layers import BagEmbedding, ConditionStrength

AUTO, NONE = "auto", "none"
GRID_ROWS = 8  # conditions shown in a conditional run's sample grid, one row each
PROMPT_SCAN_ROWS = 20000  # rows read to find the frequent conditions (bounded, whatever N)


@dataclasses.dataclass(frozen=True)
class ConditionSpec:
    """What a conditional run conditions on; saved as `condition.json` beside the TFT graph."""
    source: str               # "descriptions" or a categorical field's name
    vocabulary: tuple[str, ...]
    max_tokens: int
    dim: int
    prompts: tuple[str, ...]  # frequent conditions, most frequent first (the grid's rows)

    @property
    def input_dim(self) -> int:
        """Embedding rows: 0 = nothing, 1..V = the vocabulary."""
        return len(self.vocabulary) + 1

    @property
    def is_field(self) -> bool:
        return self.source != contract.DESCRIPTIONS_CONDITION

    def save(self, directory: str) -> str:
        data = dataclasses.asdict(self)
        return write_text(os.path.join(directory, SPEC_FILE),
                          json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    @classmethod
    def from_dict(cls, data: dict) -> "ConditionSpec":
        return cls(source=data["source"], vocabulary=tuple(data["vocabulary"]),
                   max_tokens=int(data["max_tokens"]), dim=int(data["dim"]),
                   prompts=tuple(data["prompts"]))

    @classmethod
    def load(cls, directory: str) -> "ConditionSpec":
        path = os.path.join(directory, SPEC_FILE)
        try:
            with open(path, encoding="utf-8") as fh:
                return cls.from_dict(json.load(fh))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{path} is missing or unreadable ({e}): the run's conditioning "
                              "cannot be restored; train it again") from None


SPEC_FILE = "condition.json"


def choose_source(requested: str, manifest: contract.Manifest) -> tuple[str | None, str]:
    """(source or None for unconditional, one line saying why) for --condition `requested`.

    auto: the descriptions when they carry information (at least two words in the catalogue's
    vocabulary), unconditional otherwise. Asking for a source the store cannot give is an error.
    """
    vocab = manifest.vocabulary
    fields = vocab.fields
    if requested == NONE:
        return None, "unconditional (--condition none)"
    if requested in (AUTO, contract.DESCRIPTIONS_CONDITION):
        size = vocab.size
        if size >= 2:
            return contract.DESCRIPTIONS_CONDITION, (
                f"conditioned on the descriptions ({size} words in the store's vocabulary)")
        why = ("every description is empty" if size == 0 else
               f"one word ({(vocab.top or ('?',))[0]!r}) describes everything")
        if requested == AUTO:
            return None, f"unconditional: {why}, so the descriptions cannot steer the images"
        raise ConfigError(f"--condition descriptions: {why} in this store; train without it")
    if requested not in fields:
        known = ", ".join(sorted(fields)) or "none"
        raise ConfigError(f"--condition {requested}: the store has no vocabulary for field "
                          f"{requested!r} (analysed fields: {known}); preprocess with "
                          f"--condition-fields {requested}")
    size = fields[requested].size
    if size < 2:
        raise ConfigError(f"--condition {requested}: the catalogue has {size} distinct "
                          f"{requested} value(s); conditioning needs at least 2")
    return requested, f"conditioned on {requested!r} ({size} values)"


class ConditionEncoder:
    """Text -> model ids (B, max_tokens) through a TFT graph (a store's, or a run's copy)."""

    def __init__(self, graph_dir: str, source: str, max_tokens: int):
        import tensorflow_transform as tft
        self.source, self.max_tokens = source, max_tokens
        self.output = tft.TFTransformOutput(graph_dir)
        self.layer = self.output.transform_features_layer()
        if source == contract.DESCRIPTIONS_CONDITION:
            self.feature, self.ids = contract.FEATURE_DESCRIPTION_TEXT, contract.OUT_DESCRIPTION_IDS
            self.vocabulary_name = contract.DESCRIPTION_VOCABULARY
        else:
            self.feature = contract.field_feature(source)
            self.ids = contract.field_ids(source)
            self.vocabulary_name = contract.field_vocabulary(source)

    def vocabulary(self) -> tuple[str, ...]:
        return tuple(w.decode("utf-8", "replace") if isinstance(w, bytes) else w
                     for w in self.output.vocabulary_by_name(self.vocabulary_name))

    def __call__(self, texts):
        """tf string (B,) -> int32 (B, max_tokens): ids + 1, 0 for padding and unknown words."""
        import tensorflow as tf
        ids = self.layer({self.feature: texts})[self.ids]
        size = tf.cast(self.output.vocabulary_size_by_name(self.vocabulary_name), ids.dtype)
        ids = tf.ragged.map_flat_values(lambda v: tf.where(v >= size, tf.zeros_like(v), v + 1),
                                        ids)
        dense = ids.to_tensor(default_value=0, shape=[None, self.max_tokens])
        return tf.cast(dense, tf.int32)

    def encode(self, texts: list[str]) -> np.ndarray:
        import tensorflow as tf
        return self(tf.constant(list(texts), tf.string)).numpy()

    def unknown(self, text: str) -> list[str]:
        """The words of `text` (as the graph tokenises it) outside the vocabulary."""
        import tensorflow as tf
        if self.source != contract.DESCRIPTIONS_CONDITION:
            value = text.strip().lower()
            return [] if not value or value in set(self.vocabulary()) else [value]
        out = self.layer({self.feature: tf.constant([text])})
        tokens = [t.decode() for t in out[contract.OUT_DESCRIPTION_TOKENS][0].numpy()]
        size = self.output.vocabulary_size_by_name(self.vocabulary_name)
        ids = out[self.ids][0].numpy()
        return [t for t, i in zip(tokens, ids) if i >= size]


def check_prompts(encoder: ConditionEncoder, prompts: list[str]) -> None:
    """Raise ConfigError naming every unknown word of the prompts, with the closest known."""
    vocabulary = encoder.vocabulary()
    problems = []
    for prompt in prompts:
        words = encoder.unknown(prompt)
        if not prompt.strip():
            problems.append(f"{prompt!r} is empty")
        for word in words:
            close = difflib.get_close_matches(word, vocabulary, n=3, cutoff=0.5)
            problems.append(f"{word!r} is not in the vocabulary"
                            + (f" (closest: {', '.join(close)})" if close else ""))
    if problems:
        what = "categories" if encoder.source != contract.DESCRIPTIONS_CONDITION else "words"
        raise ConfigError(f"--prompt: {'; '.join(problems)}; known {what} include "
                          f"{', '.join(vocabulary[:8])}")


def conditional_generator(base: keras.Model, latent_dim: int, spec: ConditionSpec,
                          seed: int | None = None) -> keras.Model:
    """(noise, ids) -> images: the condition's embedding, scaled by the condition strength,
    into base (the architecture's generator built with condition_dim = spec.dim, which reads
    it beside the noise and in every batch norm)."""
    noise = keras.Input((latent_dim,), name="noise")
    ids = keras.Input((spec.max_tokens,), dtype="int32", name="condition")
    condition = BagEmbedding(spec.input_dim, spec.dim, seed=seed, name="condition_embedding")(ids)
    condition = ConditionStrength(name="condition_strength")(condition)
    image = base([noise, condition])
    return keras.Model([noise, ids], image, name="conditional_generator")


def conditional_discriminator(base: keras.Model, spec: ConditionSpec,
                              seed: int | None = None) -> keras.Model:
    """(images, ids) -> [logits (B, 1), condition scores (B, V)].

    The logit is base's logit + strength * <embed(ids), pooled features> (the projection);
    the scores are the pooled features' inner products with every vocabulary entry's
    embedding, what the GAN's auxiliary classification term (`condition_classify`) trains:
    the same embedding, so telling conditions apart and judging an image against its own
    condition are one skill. base names its last feature map "features" (every registered
    architecture does).
    """
    image = keras.Input(base.inputs[0].shape[1:], name="image")
    if isinstance(base, keras.Sequential):  # no symbolic outputs to tap: chain its layers
        x, features = image, None
        for layer in base.layers:
            x = layer(x)
            features = x if layer.name == "features" else features
        logit = x
    else:
        trunk = keras.Model(base.inputs, [base.output, base.get_layer("features").output])
        logit, features = trunk(image)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    ids = keras.Input((spec.max_tokens,), dtype="int32", name="condition")
    # Unit-variance embeddings: a projection scaled down to the logit's size (1/sqrt(channels))
    # was tried and made the generator follow its prompts visibly less (the demo's rows).
    table = BagEmbedding(spec.input_dim, int(pooled.shape[-1]), seed=seed,
                         name="projection_embedding")
    projection = keras.layers.Dot(axes=1)([pooled, table(ids)])
    projection = ConditionStrength(name="condition_strength")(projection)
    logit = keras.layers.Add(name="conditional_logit", dtype="float32")([logit, projection])
    return keras.Model([image, ids], [logit, table(ids, scores_of=pooled)],
                       name="conditional_discriminator")


def classification_loss(scores, ids):
    """Mean cross-entropy of condition scores (B, V) against each bag's words (ids (B, T),
    0 = nothing, as the model reads them): one class for a field, the bag's words in equal
    shares for a description. Rows with no known word do not count."""
    from keras import ops
    vocabulary = ops.shape(scores)[-1]
    counts = ops.sum(ops.one_hot(ids - 1, vocabulary), axis=1)  # id 0 -> a row of zeros
    words = ops.sum(counts, axis=-1)
    targets = counts / ops.maximum(ops.expand_dims(words, -1), 1.0)
    per_row = -ops.sum(targets * ops.log_softmax(scores, axis=-1), axis=-1)
    known = ops.cast(words > 0, "float32")
    return ops.sum(per_row * known) / ops.maximum(ops.sum(known), 1.0)


def ramp(images_seen, start: float, length: float):
    """The condition's strength after `images_seen` images: 0 until start, then linear to 1."""
    from keras import ops
    if length <= 0:
        return ops.cast(images_seen >= start, "float32")
    return ops.clip((ops.cast(images_seen, "float32") - start) / length, 0.0, 1.0)


def grid_prompts(spec: ConditionSpec, num_samples: int) -> tuple[list[str], int]:
    """(prompts, columns) of a conditional grid of about num_samples images: one row per
    frequent condition (at most GRID_ROWS), as many columns as fill num_samples."""
    rows = max(1, min(GRID_ROWS, len(spec.prompts), num_samples))
    return list(spec.prompts[:rows]) or [""], max(1, num_samples // rows)


def grid_conditions(spec: ConditionSpec, encoder: ConditionEncoder, num_samples: int,
                    fixed_noise: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, list[str]]:
    """(noise, ids, columns, prompts) of a conditional sample grid: one row per frequent
    condition (`grid_prompts`), the same noise down each column, so rows differ only by their
    condition; the prompts label the rows."""
    prompts, cols = grid_prompts(spec, num_samples)
    ids = np.repeat(encoder.encode(prompts), cols, axis=0)
    noise = np.tile(fixed_noise[:cols], (len(prompts), 1))
    return noise, ids, cols, prompts


def prepare_conditioning(config, info, paths, reader):
    """(ConditionSpec, ConditionEncoder, one line saying what the run conditions on); the spec
    and encoder are None for an unconditional run. Sets config.condition_source.

    A new run resolves --condition against the store and keeps a copy of the store's TFT graph
    in the run; a resumed run uses its own copy, so ids always mean what the model learned.
    """
    from streamgan.train.config import TrainConfig

    if config.resume and os.path.exists(paths.config):
        source = TrainConfig.load(paths.config).condition_source
        why = f"conditioned on {source!r} (resumed)" if source else "unconditional (resumed)"
    else:
        source, why = choose_source(config.condition, info.manifest)
    config.condition_source = source
    if source is None:
        return None, None, why
    if config.resume and os.path.exists(paths.conditioning):
        spec = ConditionSpec.load(paths.conditioning)
        return spec, ConditionEncoder(paths.conditioning, source, spec.max_tokens), why
    contract.copy_transform(info.store_dir, paths.conditioning)  # generate needs no store
    encoder = ConditionEncoder(paths.conditioning, source, config.condition_max_tokens)
    prompts = reader.with_condition(source).frequent_conditions(GRID_ROWS * 4, PROMPT_SCAN_ROWS)
    spec = ConditionSpec(source=source, vocabulary=encoder.vocabulary(),
                         max_tokens=config.condition_max_tokens, dim=config.condition_dim,
                         prompts=tuple(prompts))
    spec.save(paths.conditioning)
    return spec, encoder, why
