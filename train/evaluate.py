"""Evaluate a training run: FID and KID of its generator against a split of a store.

`streamgan evaluate` and `bench/quality.py` call `evaluate`; training calls the KID callback
(train/callbacks.py KIDEvaluation) with the same pieces.
"""
from __future__ import annotations

import json
import time
from typing import Any

from streamgan.common.files import write_text
from streamgan.train import quality
from streamgan.train.config import TrainConfig
from streamgan.train.paths import RunPaths


def evaluate(workdir: str, store: str | None = None, split: str | None = "validation",
             num: int = 2000, seed: int = 0, model: str | None = None,
             features: quality.InceptionFeatures | None = None) -> dict[str, Any]:
    """FID and KID of the run's generator (or `model`) against the store's `split` images.

    store defaults to the run's; a store without that split is compared on every image (the
    result says which). Writes the result to the run's evaluation.json and returns it.
    """
    from streamgan.store.contract import open_store
    from streamgan.train.export import load_generator
    from streamgan.train.generate import find_generator

    paths = RunPaths(workdir)
    config = TrainConfig.load(paths.config)
    info = open_store(store or config.store)
    used_split = quality.evaluation_split(info, split)
    generator_path = find_generator(workdir, model)
    started = time.time()
    extract = features or quality.InceptionFeatures()
    real = quality.store_features(info, used_split, num, extract,
                                  cache_dir=paths.feature_cache, seed=seed)
    loaded = load_generator(generator_path)
    generator, conditions = loaded.model, None
    if loaded.conditional:  # generate with the conditions of the images compared with
        from streamgan.train.data import StoreReader
        reader = StoreReader.from_info(info, info.split_mask(used_split)).with_condition(
            loaded.card.condition.source)
        conditions = loaded.encoder.encode(reader.condition_texts(num, seed=seed))
    fakes = quality.generated_images(generator, num, loaded.card.pixel_range, seed=seed + 1,
                                     conditions=conditions)
    fake = extract(fakes)
    kid_mean, kid_std = quality.kid(fake, real, seed=seed)
    result = {
        "generator": generator_path, "store": info.store_dir, "split": used_split,
        "real_images": len(real), "generated_images": len(fake),
        "fid": quality.fid(fake, real), "kid": kid_mean, "kid_std": kid_std,
        "seconds": round(time.time() - started, 1),
    }
    write_text(paths.evaluation, json.dumps(result, indent=2) + "\n")
    return result
