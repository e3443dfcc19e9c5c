"""The conditions an evaluation reports separately: the categories of a store's images.

A condition group is a value of a categorical catalogue field (`category`, say: trimmed and
lower-cased, as the store's TFT vocabulary holds it); when the store has no such field, a
whole description when the descriptions are labels (a few values, each shared by several
images, cover 90% of the held-out images: clothing-small's descriptions are its category
names, "t-shirt" among them), otherwise a word of the descriptions (lower-cased letters and
digits, as the store's tokeniser splits them). An image belongs to every group its field
value, descriptions or description words name. Groups are the most frequent values among the
held-out images with at least `min_images` images on both sides (held-out and training), so
every figure has a few images behind it.

The judge (train/judge.py) needs one label per training image: an image whose description
names exactly one group is labelled by it; others are left out of the judge's training.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import re

import h5py
import numpy as np

from streamgan.store import contract

DESCRIPTIONS = contract.DESCRIPTIONS_CONDITION  # what to group by: descriptions or words
DESCRIPTION_TEXT = "description"                # group by whole descriptions
DESCRIPTION_WORDS = "description word"          # group by their words
LABEL_COVERAGE = 0.9  # descriptions are labels when their frequent values cover this share
# function words that describe no kind of product; dropped from description-word groups
_STOPWORDS = frozenset("a an and the with for of in on to or by at from is are this that".split())


def words(text: str) -> list[str]:
    """Lower-cased word tokens, punctuation separating words (as preprocess/transform.py)."""
    return re.findall(r"[^\W_]+", text.lower())


@dataclasses.dataclass(frozen=True)
class Groups:
    """Which images belong to which condition group."""
    source: str                 # a categorical field's name, DESCRIPTION_TEXT or _WORDS
    names: tuple[str, ...]      # most frequent among the held-out images first

    @property
    def label(self) -> str:
        """What a group is, for people: 'category', 'description' or 'description word'."""
        return self.source

    def members(self, info: contract.StoreInfo, rows: np.ndarray) -> list[set[str]]:
        """The groups (of self.names) of each stored row in `rows`."""
        wanted = set(self.names)
        return [values & wanted for values in row_values(info, rows, self.source)]

    def labels(self, info: contract.StoreInfo, rows: np.ndarray) -> np.ndarray:
        """int (len(rows),): the index of each row's only group, -1 for none or several."""
        index = {name: i for i, name in enumerate(self.names)}
        return np.array([index[next(iter(m))] if len(m) == 1 else -1
                         for m in self.members(info, rows)], np.int64)


def row_values(info: contract.StoreInfo, rows: np.ndarray, source: str) -> list[set[str]]:
    """The field value (a one-element set, empty when absent), the descriptions (trimmed,
    lower-cased) or the description words of each row, read in blocks."""
    rows = np.asarray(rows, np.int64)
    column = (contract.DESCRIPTIONS if source in (DESCRIPTION_TEXT, DESCRIPTION_WORDS)
              else contract.EXTRA)
    out: list[set[str]] = []
    with h5py.File(info.h5_path, "r") as f:
        data = f[column]
        for start in range(0, len(rows), 4096):
            for raw in data[rows[start:start + 4096]]:
                value = json.loads(raw)
                if source == DESCRIPTION_WORDS:
                    out.append({w for d in value for w in words(str(d))} - _STOPWORDS)
                elif source == DESCRIPTION_TEXT:
                    out.append({str(d).strip().lower() for d in value} - {""})
                else:
                    v = contract.field_value(value, source).strip().lower()
                    out.append({v} if v else set())
    return out


def choose_source(manifest: contract.Manifest, condition_source: str | None,
                  by: str | None = None) -> str | None:
    """What to group by: `by` when given; else what the run was conditioned on; else a field
    named `category`; else description words when the descriptions hold at least 2 words;
    None when the store says nothing about its images' kinds."""
    vocabulary = manifest.vocabulary
    fields = vocabulary.fields
    if by:
        if by != DESCRIPTIONS and by not in fields:
            from streamgan.common.errors import ConfigError
            raise ConfigError(f"--by {by}: the store has no categorical field {by!r} "
                              f"(analysed fields: {', '.join(sorted(fields)) or 'none'}; or "
                              f"--by {DESCRIPTIONS})")
        return by
    if condition_source:
        return condition_source
    category = vocabulary.fields.get("category")
    if category is not None and category.size >= 2:
        return "category"
    if vocabulary.size >= 2:
        return DESCRIPTIONS
    return None


def find_groups(info: contract.StoreInfo, source: str, held_out: np.ndarray,
                train: np.ndarray, min_images: int = 5, max_groups: int = 12) -> Groups:
    """The most frequent values of `source` among the held-out rows with at least min_images
    rows in both sets, at most max_groups of them. source "descriptions": whole descriptions
    when they are labels (see the module docstring), else their words."""
    if source == DESCRIPTIONS:
        texts = find_groups(info, DESCRIPTION_TEXT, held_out, train, min_images, max_groups)
        values = row_values(info, held_out, DESCRIPTION_TEXT)
        covered = sum(bool(v & set(texts.names)) for v in values)
        if texts.names and covered >= LABEL_COVERAGE * max(1, len(values)):
            return texts
        source = DESCRIPTION_WORDS
    held_values = row_values(info, held_out, source)
    held = collections.Counter(v for values in held_values for v in values)
    trained = collections.Counter(v for values in row_values(info, train, source)
                                  for v in values)
    # a word in (nearly) every description separates nothing ("dress" in a dress catalogue)
    common = LABEL_COVERAGE * len(held_values) if source == DESCRIPTION_WORDS else np.inf
    names = [name for name, count in held.most_common()
             if min_images <= count < common and trained[name] >= min_images]
    return Groups(source, tuple(names[:max_groups]))


def condition_texts(info: contract.StoreInfo, rows: np.ndarray, condition: str) -> list[str]:
    """What a run conditioned on `condition` (descriptions or a field) is given for each row:
    its first description, or its field value ("" when absent)."""
    rows = np.asarray(rows, np.int64)
    out: list[str] = []
    with h5py.File(info.h5_path, "r") as f:
        for start in range(0, len(rows), 4096):
            block = rows[start:start + 4096]
            if condition == contract.DESCRIPTIONS_CONDITION:
                out.extend(v.decode("utf-8") if isinstance(v, bytes) else str(v)
                           for v in f[contract.DESCRIPTION][block])
            else:
                out.extend(contract.field_value(json.loads(v), condition)
                           for v in f[contract.EXTRA][block])
    return out
