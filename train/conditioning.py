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
- How the nets read a condition is train/nets.py (embedding beside the noise and in every
  norm; a projection discriminator). Both condition paths are scaled by a strength that ramps
  from 0 to 1 (Shahbazi et al., ICLR 2022, "Collapse by conditioning"; train/gan.py): the GAN
  trains unconditionally first, so small data does not collapse to one image per class, then
  brings the condition in gradually.

This module is the condition's spec and text encoder: which source a run uses
(`choose_source`), text -> ids (`ConditionEncoder`, `check_prompts`), and the run's copy of
them (`prepare_run`). It builds no Keras layer.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import os

import numpy as np

from streamgan.common.errors import ConfigError
from streamgan.common.files import write_text
from streamgan.store import contract

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


def known_prompts(spec: ConditionSpec, encoder: "ConditionEncoder") -> tuple[str, ...]:
    """The run's frequent conditions a grid can show: those with a word the model has no
    embedding for are left out, as `generate --prompt` refuses them."""
    return tuple(p for p in spec.prompts if p.strip() and not encoder.unknown(p))


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


def prepare_run(config, info, paths, reader) -> tuple[ConditionSpec | None,
                                                      ConditionEncoder | None]:
    """(spec, encoder) of a resolved conditional run, (None, None) for an unconditional one.

    A new run keeps a copy of the store's TFT graph and its ConditionSpec in the run folder
    (generate and a resume need no store); a resumed run uses its own copy, so ids always mean
    what the model learned.
    """
    source = config.condition_source
    if source is None:
        return None, None
    if config.resume and os.path.exists(paths.conditioning):
        spec = ConditionSpec.load(paths.conditioning)
        return spec, ConditionEncoder(paths.conditioning, source, spec.max_tokens)
    contract.copy_transform(info.store_dir, paths.conditioning)
    encoder = ConditionEncoder(paths.conditioning, source, config.condition_max_tokens)
    prompts = reader.with_condition(source).frequent_conditions(GRID_ROWS * 4, PROMPT_SCAN_ROWS)
    spec = ConditionSpec(source=source, vocabulary=encoder.vocabulary(),
                         max_tokens=config.condition_max_tokens, dim=config.condition_dim,
                         prompts=tuple(prompts))
    spec.save(paths.conditioning)
    return spec, encoder
