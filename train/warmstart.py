"""Starting a new run from an earlier run's weights: a new season's catalogue trains from last
season's GAN instead of from random weights.

The new run copies the parent's last checkpoint into its freshly built nets: the generator,
the discriminator and the generator's weight average. A conditional run's embeddings are
carried over word by word: a word (or category) in both vocabularies keeps its rows, so old
ids keep their meaning under the new vocabulary's numbering. What else comes along is
TrainConfig.warm_start_fixes, the candidate cures for the KID of a warm start with the
weights only rising in its first season-2 minutes (issue 26): new words' rows at the known
rows' mean, Adam's moments, and a learning-rate warm-up (see load_parent; the warm-up is
train/gan.py's WarmUp). bench/warmstart.py compares them; all three are off by default
until its full-length run shows one helps (its first, short one: docs/training.md).
The condition is already brought in, so a warm-started conditional run starts at full strength
(its resolved config says so: train/build.py).
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from streamgan.common.options import marked
from streamgan.train.checkpoint import list_checkpoints, restore_checkpoint
from streamgan.train.config import TrainConfig
from streamgan.train.paths import RunPaths

# Options that must match for the parent's weights to fit the new nets (marked `shape`).
SHAPE_OPTIONS = marked(TrainConfig, "shape")


def incompatibility(parent: TrainConfig, config: TrainConfig) -> str | None:
    """Why the parent's weights cannot start `config`'s nets, or None when they can."""
    for name in SHAPE_OPTIONS:
        if getattr(parent, name) != getattr(config, name):
            return f"its {name} is {getattr(parent, name)!r}, this run's {getattr(config, name)!r}"
    return None


def parent_of(config: TrainConfig) -> tuple[dict[str, Any] | None, str]:
    """(what the run starts from: {"run", "epoch", "checkpoint"}, or None; one line saying so)
    for config.warm_start, judged on the configs alone (no weights are read), so the resolved
    config knows its parent before any net is built.

    A missing, damaged or incompatible parent is not an error: the run trains from scratch,
    which is never worse than failing a new season's run.
    """
    parent_dir = os.path.abspath(config.warm_start)
    paths = RunPaths(parent_dir)
    try:
        parent = TrainConfig.load(paths.config)
    except Exception as e:  # a missing or damaged parent never stops a new run
        return None, f"not warm-starting from {parent_dir}: {e}"
    checkpoints = list_checkpoints(paths.checkpoints)
    reason = "it has no checkpoint" if not checkpoints else incompatibility(parent, config)
    if reason:
        return None, f"not warm-starting from {parent_dir}: {reason}; training from scratch"
    epoch, checkpoint = checkpoints[-1]
    return ({"run": parent_dir, "epoch": epoch, "checkpoint": checkpoint},
            f"warm-starting from {parent_dir} after epoch {epoch}")


def load_parent(gan, config: TrainConfig, spec) -> tuple[int, int]:
    """Copy config.parent's checkpoint into `gan` (built for config and spec); (known, new)
    condition entries of a conditional run's vocabulary, (0, 0) otherwise.

    With config.warm_start_fixes' "rows", a new entry's rows start at the known entries' mean
    (plus a tenth of their random initialisation, so two new entries differ): the nets read
    a new category as "some product" rather than as a random direction no layer has seen.
    With "moments", Adam's moment estimates come along for every weight whose shape matches
    (condition rows row by row, new rows at the known rows' mean): with fresh moments Adam's
    first steps are lr * sign(gradient) on every weight at once. The step count starts again at 0, so
    Adam's bias correction scales the first steps down further, and the weight average
    warms up again as in any new run.
    """
    from streamgan.train.conditioning import ConditionSpec
    from streamgan.train.gan import build_gan

    paths = RunPaths(config.parent["run"])
    parent = TrainConfig.load(paths.config)
    parent_spec = ConditionSpec.load(paths.conditioning) if parent.condition_source else None
    old = build_gan(parent, parent_spec)
    restore_checkpoint(old, config.parent["checkpoint"])
    rows = _row_map(parent_spec, spec) if spec is not None else None
    mean_rows = config.warm_start_fix("rows")
    kept = new = 0
    for new_net, old_net in _nets(gan, old):
        (new_weights, new_bags), (old_weights, old_bags) = _split(new_net), _split(old_net)
        for target, source in zip(new_weights, old_weights, strict=True):
            target.assign(source)
        for target, source in zip(new_bags, old_bags, strict=True):
            table = target.embedding.embeddings
            table.assign(_remap(table.numpy(), source.embedding.embeddings.numpy(), rows,
                                mean_rows))
    if rows is not None:
        kept = sum(1 for i in rows[1:] if i is not None)
        new = len(rows) - 1 - kept
    if config.warm_start_fix("moments"):
        for optimizer, old_optimizer, net, old_net in (
                (gan.g_optimizer, old.g_optimizer, gan.generator, old.generator),
                (gan.d_optimizer, old.d_optimizer, gan.discriminator, old.discriminator)):
            _carry_moments(optimizer, old_optimizer, net, old_net, rows)
    return kept, new


def _row_map(old_spec, new_spec) -> list[int | None]:
    """For each row of the new embedding table, the parent's row of the same word (row 0,
    "nothing", is row 0), or None for a word the parent never had."""
    old_rows = {word: i + 1 for i, word in enumerate(old_spec.vocabulary)}
    return [0] + [old_rows.get(word) for word in new_spec.vocabulary]


def _remap(fresh: np.ndarray, old: np.ndarray, rows: list, mean_rows: bool,
           spread: float = 0.1) -> np.ndarray:
    """The new table: the parent's row of each known word; a new word's row as initialised
    (`fresh`), or with mean_rows the known words' mean plus `spread` times that."""
    table = np.array(fresh)
    known = [i for i in rows[1:] if i is not None]
    centre = old[known].mean(0) if known else old[1:].mean(0)
    for new_row, old_row in enumerate(rows):
        if old_row is not None:
            table[new_row] = old[old_row]
        elif mean_rows:
            table[new_row] = centre + spread * fresh[new_row]
    return table


def _carry_moments(optimizer, old_optimizer, net, old_net, rows) -> None:
    """Adam's moments of old_net's weights into optimizer's of net's: same-shaped weights
    one to one, condition tables row by row (the new rows take the known rows' mean)."""
    for new_var, old_var in zip(net.trainable_variables, old_net.trainable_variables,
                                strict=True):
        i, j = optimizer._get_variable_index(new_var), old_optimizer._get_variable_index(old_var)
        for slots, old_slots in ((optimizer._momentums, old_optimizer._momentums),
                                 (optimizer._velocities, old_optimizer._velocities)):
            value = old_slots[j].numpy()
            if tuple(slots[i].shape) != value.shape:
                if rows is None or len(slots[i].shape) != 2:
                    continue  # a weight that does not fit keeps fresh moments
                value = _remap(np.zeros(slots[i].shape, value.dtype), value, rows, True,
                               spread=0.0)
            slots[i].assign(value)


def _nets(new, old):
    pairs = [(new.generator, old.generator), (new.discriminator, old.discriminator)]
    if new.ema_generator is not None:
        pairs.append((new.ema_generator, old.ema_generator))
    return pairs


def _split(net):
    """(the net's weights outside its condition embeddings, its BagEmbedding layers): the
    former copy one to one, the latter row by word."""
    from streamgan.train.layers import BagEmbedding, nested_layers
    bags = [layer for layer in nested_layers(net) if isinstance(layer, BagEmbedding)]
    embedded = {id(w) for layer in bags for w in layer.weights}
    return [w for w in net.weights if id(w) not in embedded], bags


def achieved(workdir: str, warm: dict, num: int, log=print) -> dict:
    """What a finished warm-started run achieved, for `streamgan run` to say: `warm` (the
    train summary's "warm_start": parent, known/new counts, KID at the start and the end)
    with "new_categories": {group: (consistency, the judge's accuracy on real photos)} of
    the condition groups none of whose words the parent knew, from a full evaluation of the
    run (train/evaluate.py, which also writes evaluation.json and the report)."""
    from streamgan.train.conditioning import ConditionSpec
    from streamgan.train.evaluate import evaluate
    parent = RunPaths(warm["parent"]["run"])
    known = set(ConditionSpec.load(parent.conditioning).vocabulary)
    result = evaluate(workdir, num=num, train_num=max(num, 2000), log=log)
    new = {}
    for name, row in result["conditions"].items():
        if name not in known and not set(name.lower().split()) <= known \
                and "consistency" in row["figures"]:
            new[name] = (row["figures"]["consistency"]["value"],
                         row["real"]["consistency"]["value"])
    return {**warm, "new_categories": new}
