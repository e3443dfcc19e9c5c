"""Evaluate a training run as a merchandiser would: overall and per category, against photos
the run never trained on, each figure beside what real photos score.

`streamgan evaluate` calls `evaluate`; bench/evaluate.py too. Every figure is computed on FID
Inception features (train/quality.py) of three sets: the generated images, the held-out split
(validation) and the training split (what the run learnt from):

- KID (mean and std over subsets) and FID (and its std over 80% subsets) against held-out;
- precision and recall (train/metrics.py, k-NN manifolds, k=3) against held-out;
- novelty: the share of generated images not nearer a training photo than training photos
  are to each other (the 5% quantile of their nearest-neighbour distances, stated as
  `novelty_threshold` in evaluation.json);
- class consistency: the share of images generated for a category that the store's judge
  (train/judge.py, a linear probe fitted on the training photos' categories) files under it.

Per condition group (train/groups.py: a category field, whole descriptions, or description
words): a conditional generator draws each image with the condition of a held-out photo of
the group; an unconditional one's images are grouped by what the judge calls them.

The ceiling beside each figure (`real`): what real photos score by the same computation.
Training photos (as many as were generated, where there are) stand in for the generator for
KID, FID, precision and recall; the held-out photos for novelty (a real new photo) and for
consistency (the judge's held-out accuracy).

Shares carry a 95% Wilson interval (low, high) and their n; KID and FID a std.
Writes evaluation.json, nearest.png (train/panel.py) and report.html (train/report.py).
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable

import numpy as np

from streamgan.common.files import write_text
from streamgan.store.contract import ALL_SPLITS
from streamgan.train import metrics, quality
from streamgan.train.config import TrainConfig
from streamgan.train.groups import Groups, choose_source, condition_texts, find_groups
from streamgan.train.paths import RunPaths

TRAIN_NUM = 10_000  # training photos compared with (novelty, the judge): a bounded sample
PANEL_ROWS = 10


def evaluate(workdir: str, store: str | None = None, split: str | None = "validation",
             num: int = 2000, seed: int = 0, model: str | None = None,
             features: Callable | None = None, by: str | None = None,
             train_num: int = TRAIN_NUM, log: Callable[[str], None] = print,
             source: Callable | None = None, report: bool = True) -> dict[str, Any]:
    """Score the run's generator (or `model`, or an image `source`) against the store's held-out
    `split`; write evaluation.json, nearest.png and report.html into the run; return the
    result. store defaults to the run's; by: what to group by (default: what the run was
    conditioned on, else a `category` field, else the descriptions)."""
    from streamgan.store.contract import open_store
    paths = RunPaths(workdir)
    config = TrainConfig.load(paths.config)
    info = open_store(store or config.store)
    started = time.time()
    generator_path = None
    if source is None:
        from streamgan.train.generate import load_source
        source, generator_path = load_source(workdir, model)
    train_split = config.split or info.default_split()
    held_out = quality.evaluation_split(info, split)
    if held_out == ALL_SPLITS:
        held_out = quality.held_out_split(info, train_split) or ALL_SPLITS
    if held_out == ALL_SPLITS or held_out == train_split:
        log(f"streamgan evaluate: {quality.NO_HELD_OUT}; comparing with the training images "
            "themselves (novelty then means nothing)")
    result, panel = score(info, source, held_out=held_out, train_split=train_split, num=num,
                          train_num=train_num, seed=seed,
                          extract=features or quality.InceptionFeatures(),
                          group_by=choose_source(info.manifest, config.condition_source, by),
                          log=log)
    result = {"generator": generator_path, "store": info.store_dir, **result,
              "seconds": round(time.time() - started, 1)}
    write_text(paths.evaluation, json.dumps(result, indent=2) + "\n")
    from streamgan.train.panel import nearest_panel
    nearest_panel(*panel, result["novelty_threshold"]["distance"], paths.nearest_panel)
    if report:
        from streamgan.train.report import write_report
        write_report(workdir)
    return result


def score(info, source, *, held_out: str, train_split: str, num: int, train_num: int,
          seed: int, extract: Callable, group_by: str | None, log=print,
          k: int = metrics.DEFAULT_K) -> tuple[dict, tuple]:
    """(the evaluation as a dict, (generated images, their nearest training images' rows and
    distances, the store) for the nearest-neighbour panel). See the module docstring."""
    from streamgan.train.judge import LinearProbe
    held_rows, held_f = quality.split_features(info, held_out, num, extract, log)
    train_rows, train_f = quality.split_features(info, train_split, train_num, extract, log)
    groups = (find_groups(info, group_by, held_rows, train_rows) if group_by
              else Groups("", ()))
    held_members = groups.members(info, held_rows) if groups.names else [set()] * len(held_rows)
    train_members = (groups.members(info, train_rows) if groups.names
                     else [set()] * len(train_rows))

    judge, judge_result = None, None
    train_labels = groups.labels(info, train_rows) if groups.names else np.zeros(0)
    if len(set(train_labels[train_labels >= 0].tolist())) >= 2:
        labelled = train_labels >= 0
        judge = LinearProbe(train_f[labelled], train_labels[labelled], len(groups.names),
                            seed=seed)
        held_labels = groups.labels(info, held_rows)
        verdicts = judge.predict(held_f[held_labels >= 0])
        judge_result = {"model": "linear probe on Inception features (train/judge.py)",
                        "trained_on": int(labelled.sum()),
                        "held_out_accuracy": metrics.share(verdicts == held_labels[
                            held_labels >= 0])}

    # what each generated image is asked for: a held-out photo's condition, cycled in a
    # shuffled order so every photo's condition is used about num / len(held_rows) times
    rng = np.random.default_rng(seed)
    pick = np.resize(rng.permutation(len(held_rows)), num)
    texts = None
    if source.conditional:
        held_texts = condition_texts(info, held_rows, source.condition)
        texts = [held_texts[i] for i in pick]
    log(f"  generating {num} images" + (" with the held-out photos' conditions"
                                         if texts is not None else ""))
    generated = source(num, texts, seed + 1)
    gen_f = extract(generated)
    if source.conditional:
        gen_members = [held_members[i] for i in pick]
    elif judge is not None:  # an unconditional generator: grouped by the judge's verdict
        gen_members = [{groups.names[v]} for v in judge.predict(gen_f)]
    else:
        gen_members = [set()] * len(gen_f)

    threshold = metrics.novelty_threshold(train_f)
    nn_d, nn_i = metrics.nearest(gen_f, train_f, 3)
    held_nn, _ = metrics.nearest(held_f, train_f, 1)
    gen_verdicts = judge.predict(gen_f) if judge is not None else None
    held_verdicts = judge.predict(held_f) if judge is not None else None
    ref_rows = np.sort(rng.choice(len(train_rows), min(num, len(train_rows)), replace=False))

    def row(gen: np.ndarray, held: np.ndarray, ref: np.ndarray, group: int | None) -> dict:
        """The figures of one row of the table: generated vs held-out, and real photos."""
        out = {"generated_images": int(gen.sum()), "real_images": int(held.sum()),
               "figures": figures(gen_f[gen], held_f[held], k, seed), "real": {}}
        out["real"] = figures(train_f[ref_rows][ref], held_f[held], k, seed)
        out["real"]["training_images"] = int(ref.sum())
        out["figures"]["novelty"] = metrics.share(nn_d[gen, 0] >= threshold)
        out["real"]["novelty"] = metrics.share(held_nn[held, 0] >= threshold)
        if judge is not None and group is not None and source.conditional:
            out["figures"]["consistency"] = metrics.share(gen_verdicts[gen] == group)
            out["real"]["consistency"] = metrics.share(held_verdicts[held] == group)
        return out

    everything = (np.ones(len(gen_f), bool), np.ones(len(held_f), bool),
                  np.ones(len(ref_rows), bool))
    overall = row(*everything, None)
    if judge is not None and source.conditional:
        asked = np.array([next(iter(m)) if len(m) == 1 else "" for m in gen_members])
        index = {name: i for i, name in enumerate(groups.names)}
        judged = np.array([bool(a) and index[a] == v for a, v in zip(asked, gen_verdicts)])
        overall["figures"]["consistency"] = metrics.share(judged[asked != ""])
        overall["real"]["consistency"] = judge_result["held_out_accuracy"]
    conditions = {}
    ref_members = [train_members[i] for i in ref_rows]
    for g, name in enumerate(groups.names):
        masks = [np.array([name in m for m in members], bool)
                 for members in (gen_members, held_members, ref_members)]
        conditions[name] = row(*masks, g)
        conditions[name]["share_of_generated"] = float(masks[0].mean())
    result = {
        "split": held_out, "train_split": train_split,
        "held_out": held_out not in (ALL_SPLITS, train_split),
        "generated_images": len(gen_f), "real_images": len(held_f),
        "training_images": len(train_f), "k": k,
        "conditional": bool(source.conditional),
        "grouped_by": groups.label if groups.names else None,
        "novelty_threshold": {
            "distance": threshold, "quantile": metrics.NOVELTY_QUANTILE,
            "meaning": f"a generated image is a near-copy when its nearest training photo is "
                       f"nearer than {threshold:.2f}, the {metrics.NOVELTY_QUANTILE:.0%} "
                       "quantile of the training photos' distances to their nearest other "
                       "training photo (Inception features); novelty is the share that is not"},
        "judge": judge_result,
        "overall": overall, "conditions": conditions,
        # the figures `streamgan evaluate` printed before, at the top level
        "fid": overall["figures"].get("fid", {}).get("value"),
        "kid": overall["figures"].get("kid", {}).get("value"),
        "kid_std": overall["figures"].get("kid", {}).get("std"),
    }
    order = np.argsort(nn_d[:, 0], kind="stable")[:PANEL_ROWS]
    panel = (generated[order], train_rows[nn_i[order]], nn_d[order], info)
    return result, panel


def figures(fake: np.ndarray, real: np.ndarray, k: int, seed: int) -> dict:
    """KID, FID, precision and recall of one set of features against another (each left out
    when a side has too few images for it)."""
    out: dict[str, Any] = {}
    if min(len(fake), len(real)) >= 2:
        kid, kid_std = quality.kid(fake, real, seed=seed)
        out["kid"] = {"value": kid, "std": kid_std}
        out["fid"] = {"value": quality.fid(fake, real),
                      "std": quality.fid_spread(fake, real, seed=seed)}
    if min(len(fake), len(real)) > k:
        in_real, in_fake = metrics.precision_recall(real, fake, k)
        out["precision"], out["recall"] = metrics.share(in_real), metrics.share(in_fake)
    return out
