"""streamgan: train GANs on product catalogues.

One installed namespace. The agreed source folders are mapped into it by setup.py:

    streamgan.common      common/       errors, files, logs, options shared by every layer
    streamgan.store       store/        the store contract between preprocess and train
    streamgan.preprocess  preprocess/   the Beam + TFT job: catalogue -> store
    streamgan.train       train/        the Keras GAN: store -> generator
    streamgan.pipeline    pipeline/     the `streamgan` command, which only orchestrates

`streamgan.load_generator(path)` loads an exported generator in any Python process.
"""
from __future__ import annotations

__version__ = "0.1.0"


def load_generator(path: str):
    """An exported generator (`generator.keras`) with what generating from it needs: its
    pixel range and, for a conditional one, its prompt tokenizer (streamgan.train.export)."""
    from streamgan.train.export import load_generator as load
    return load(path)
