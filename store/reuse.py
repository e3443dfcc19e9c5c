"""When an existing store can stand in for work: the two reuse rules, side by side.

- A whole store is reused (`streamgan run`) when it is complete and was made from the same
  catalogue bytes with the same options marked `store` (common/options.py); `store_key` names
  a store by exactly those, so a workdir keeps one store per catalogue and options.
- A previous store's images are reused (`--previous`, preprocess/previous.py) when it was made
  with the same options marked `pixels` (the subset that decides an image's pixels) and the
  same image size.

Both compare an option's value as recorded in the manifest (JSON) with the config's value
(tuples are lists in JSON) through one canonical form.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from streamgan.common.errors import StoreError
from streamgan.store.contract import Manifest, open_store


def canonical(value: Any) -> str:
    """An option's value as JSON text: the same for a config's tuple and the manifest's list."""
    return json.dumps(value, sort_keys=True, default=list)


def store_key(catalog_sha256: str, cfg) -> str:
    """Names a store by what determines its content: the catalogue bytes and the options
    marked `store` in cfg's class (a PreprocessConfig)."""
    from streamgan.common.options import marked
    options = {name: getattr(cfg, name) for name in marked(type(cfg), "store")}
    text = json.dumps({"catalog": catalog_sha256, "options": options}, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def changed_option(manifest: Manifest, cfg, mark: str) -> str | None:
    """The first option marked `mark` whose value the store was made with differs from cfg's,
    or None when they all agree."""
    from streamgan.common.options import marked
    for name in marked(type(cfg), mark):
        if canonical(manifest.options.get(name)) != canonical(getattr(cfg, name)):
            return name
    return None


def reusable(store_dir: str, catalog_sha256: str, cfg) -> bool:
    """True when store_dir is a complete store of this catalogue made with cfg's store options."""
    try:
        manifest = open_store(store_dir, allow_empty=True).manifest
    except StoreError:
        return False
    return (manifest.catalog.sha256 == catalog_sha256
            and changed_option(manifest, cfg, "store") is None)


def pixel_option_problem(manifest: Manifest, cfg) -> str | None:
    """Why a previous store's images cannot stand in for this run's (a pixel-deciding option,
    marked `pixels`, or the image size differs), or None when they can."""
    from streamgan.common.options import flag_of
    name = changed_option(manifest, cfg, "pixels")
    if name is not None:
        return (f"it was made with {flag_of(type(cfg), name)} "
                f"{_shown(manifest.options.get(name))}, this run uses {_shown(getattr(cfg, name))}")
    if manifest.image_size != cfg.image_size:
        return f"its images are {manifest.image_size} px, this run makes {cfg.image_size} px"
    return None


def _shown(value) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
