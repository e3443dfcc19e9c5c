"""The numeric precision the nets compute in: float32, or mixed bfloat16 where the CPU does
bfloat16 arithmetic natively.

Mixed bfloat16 (Keras' `mixed_bfloat16` policy) keeps every weight, optimizer slot, EMA and
checkpoint in float32 and runs the convolutions and matmuls in bfloat16. bfloat16 has float32's
exponent range, so, unlike float16, no loss scaling is needed. On a CPU with AMX or AVX-512
bfloat16 units (Intel Sapphire Rapids and later, AMD Zen 4 and later) oneDNN runs the default
nets at about 1.6x the images per second of float32 (docs/training.md; bench/quality.py with
`streamgan:precision=float32` beside `streamgan` measures both); on a CPU without them it is
emulated and slower, so `auto` picks it only where it is native. The nets' outputs (images,
logits, condition scores) are float32 whatever the policy, so losses, penalties and exported
generators see float32.
"""
from __future__ import annotations

import contextlib
import functools

AUTO, FLOAT32, BFLOAT16 = "auto", "float32", "mixed_bfloat16"
CHOICES = (AUTO, FLOAT32, BFLOAT16)
_NATIVE_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo names of bfloat16 units


@functools.cache
def native_bfloat16() -> str | None:
    """The CPU's bfloat16 unit (a /proc/cpuinfo flag) when it has one and TF sees no GPU."""
    import tensorflow as tf
    if tf.config.list_physical_devices("GPU"):
        return None  # a GPU's own mixed precision is float16 with loss scaling: not chosen here
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            flags = next((line.split(":", 1)[1].split() for line in fh
                          if line.startswith("flags")), [])
    except OSError:
        return None
    return next((flag for flag in _NATIVE_FLAGS if flag in flags), None)


def resolve(requested: str) -> tuple[str, str]:
    """(Keras dtype policy, one line saying why) for --precision `requested`."""
    if requested == AUTO:
        unit = native_bfloat16()
        if unit:
            return BFLOAT16, f"mixed bfloat16 (this CPU computes bfloat16 natively: {unit})"
        return FLOAT32, "float32 (no native bfloat16 unit found)"
    return requested, f"{requested} (--precision {requested})"


@contextlib.contextmanager
def policy(name: str):
    """Build layers under the dtype policy `name` (they keep it); restores the previous."""
    import keras
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def float32_copy(model):
    """`model` computing in float32, with its weights: what a run exports, so a generator
    trained in mixed bfloat16 runs at full speed on a machine without bfloat16 units and
    loads as a plain float32 Keras model. A float32 model is returned as it is."""
    import keras

    from streamgan.train.layers import nested_layers
    if all(layer.dtype_policy.name == FLOAT32 for layer in nested_layers(model)):
        return model

    def in_float32(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": FLOAT32})
    copy = keras.models.clone_model(model, clone_function=in_float32, recursive=True)
    copy.set_weights(model.get_weights())
    return copy
