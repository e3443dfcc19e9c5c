"""Starting a new run from an earlier run's weights: a new season's catalogue trains from last
season's GAN instead of from random weights.

The new run copies the parent's last checkpoint into its freshly built nets: the generator,
the discriminator and the generator's weight average. Optimizer state is not copied: the new
catalogue is a new problem for Adam's moment estimates, and fresh moments are what a new run
with a new learning-rate budget expects. A conditional run's embeddings are carried over word
by word: a word (or category) in both vocabularies keeps its rows, a new one starts from the
random initialisation, so old ids keep their meaning under the new vocabulary's numbering.
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
    condition entries of a conditional run's vocabulary, (0, 0) otherwise."""
    from streamgan.train.conditioning import ConditionSpec
    from streamgan.train.gan import build_gan

    paths = RunPaths(config.parent["run"])
    parent = TrainConfig.load(paths.config)
    parent_spec = ConditionSpec.load(paths.conditioning) if parent.condition_source else None
    old = build_gan(parent, parent_spec)
    restore_checkpoint(old, config.parent["checkpoint"])
    kept = new = 0
    for new_net, old_net in _nets(gan, old):
        (new_weights, new_bags), (old_weights, old_bags) = _split(new_net), _split(old_net)
        for target, source in zip(new_weights, old_weights, strict=True):
            target.assign(source)
        for target, source in zip(new_bags, old_bags, strict=True):
            kept, new = _remap(target, source, parent_spec, spec)
    return kept, new


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


def _remap(target, source, old_spec, new_spec) -> tuple[int, int]:
    """Copy embedding rows of the words both vocabularies share (row 0, "nothing", too)."""
    old_rows = {word: i + 1 for i, word in enumerate(old_spec.vocabulary)}
    weights = np.array(target.embedding.embeddings.numpy())
    old = source.embedding.embeddings.numpy()
    weights[0] = old[0]
    kept = 0
    for i, word in enumerate(new_spec.vocabulary):
        if word in old_rows:
            weights[i + 1] = old[old_rows[word]]
            kept += 1
    target.embedding.embeddings.assign(weights)
    return kept, len(new_spec.vocabulary) - kept
