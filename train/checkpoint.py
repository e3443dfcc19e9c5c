"""Checkpoints of a run (their place in the run directory: train/paths.py): what `--resume` reads.

    checkpoints/epoch0007/         one directory per finished epoch, newest `keep` kept
      gan.weights.h5               both nets and both optimizers (Keras weights format)
      state.json                   epoch, step, SeedGenerator state, config, epoch metrics

A checkpoint is written into a temporary directory and renamed into place once complete, so a
run killed at any moment leaves either the previous checkpoints or a complete new one; resume
picks the newest complete one and ignores debris.
"""
from __future__ import annotations

import json
import os
import shutil
from typing import Any

import numpy as np

from streamgan.common.files import require_room
from streamgan.train.paths import EPOCH_DIR, epoch_name

WEIGHTS_FILE = "gan.weights.h5"
STATE_FILE = "state.json"


def list_checkpoints(root: str) -> list[tuple[int, str]]:
    """Complete checkpoints under root as (epoch, path), oldest first."""
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        match = EPOCH_DIR.match(name)
        path = os.path.join(root, name)
        if match and os.path.exists(os.path.join(path, STATE_FILE)):
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(root: str) -> str | None:
    found = list_checkpoints(root)
    return found[-1][1] if found else None


def save_checkpoint(gan, root: str, epoch: int, config: dict[str, Any],
                    metrics: dict[str, float] | None = None, keep: int = 3) -> str:
    """Save the full training state after `epoch` finished epochs; keep the newest `keep`."""
    final = os.path.join(root, epoch_name(epoch))
    tmp = os.path.join(root, f".{epoch_name(epoch)}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    _check_room(root, tmp)
    os.makedirs(tmp)
    try:
        _write(gan, tmp, epoch, config, metrics)
    except BaseException:  # free what the half-written one took
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if os.path.exists(final):  # the same epoch trained again after a resume
        shutil.rmtree(final)
    os.replace(tmp, final)
    for _, old in list_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    _remove_debris(root)
    return final


def _write(gan, tmp: str, epoch: int, config: dict[str, Any], metrics) -> None:
    gan.save_weights(os.path.join(tmp, WEIGHTS_FILE))
    state = {
        "epoch": int(epoch),
        "step": int(gan.g_optimizer.iterations.numpy()),
        # Keras' weights file leaves the SeedGenerator out; without it a resumed run would
        # replay the noise of its first epochs.
        "seed_generator_state": [int(v) for v in np.asarray(gan.seed_generator.state.numpy())],
        "config": config,
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
    }
    with open(os.path.join(tmp, STATE_FILE), "w") as fh:
        json.dump(state, fh, indent=2, sort_keys=True)


def _check_room(root: str, tmp: str) -> None:
    """Refuse to start a checkpoint that cannot fit: about the size of the newest complete
    one, plus 1 MiB. (HDF5 fails badly when the disk fills up in the middle of a weights
    file: h5py's cleanup of the half-written file then crashes the interpreter at exit.)"""
    found = list_checkpoints(root)
    if not found:
        return
    needed = sum(entry.stat().st_size for entry in os.scandir(found[-1][1]) if entry.is_file())
    require_room(root, needed, "a checkpoint", tmp, margin=1 << 20)


def restore_checkpoint(gan, path: str) -> dict[str, Any]:
    """Load a checkpoint into a compiled GAN whose optimizers are built; return its state."""
    with open(os.path.join(path, STATE_FILE)) as fh:
        state = json.load(fh)
    gan.load_weights(os.path.join(path, WEIGHTS_FILE))
    seed_state = gan.seed_generator.state
    seed_state.assign(np.asarray(state["seed_generator_state"], dtype=seed_state.dtype))
    # Keras skips, with only a warning, optimizer state that does not fit; check it arrived.
    for optimizer in (gan.d_optimizer, gan.g_optimizer):
        if int(optimizer.iterations.numpy()) != state["step"]:
            raise RuntimeError(f"{path}: {optimizer.name} state did not load "
                               f"(iterations {int(optimizer.iterations.numpy())}, "
                               f"expected {state['step']})")
    return state


def _remove_debris(root: str) -> None:
    """Temporary directories of checkpoints whose writer was killed."""
    for name in os.listdir(root):
        if name.startswith(".epoch") and f".tmp{os.getpid()}" not in name:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
