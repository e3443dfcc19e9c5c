"""report.html: one self-contained page per run, what a person opens to judge it.

The store's summary (`streamgan inspect`'s), the loss and KID curves (loss_curve.png), one
labelled row of generated images per prompt, the evaluation table (evaluation.json, when
`streamgan evaluate` has run), the nearest-neighbour panel (nearest.png) and the run's
options (config.json). Images are inlined as PNG data URIs, so the file can be mailed or
archived alone; no script, no external resource. Written by `train` when it ends and by
`evaluate`.
"""
from __future__ import annotations

import base64
import html
import io
import json
import os
import time

import numpy as np

from streamgan.common.files import write_text
from streamgan.train.paths import RunPaths

ROW_IMAGES = 8   # images per prompt row
MAX_ROWS = 10    # prompt rows shown

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ccc; }
pre { background: #f6f6f6; padding: 8px; font-size: 12px; overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td small { color: #777; }
.row { display: flex; align-items: center; margin: 2px 0; }
.row span { width: 140px; font-size: 13px; }
.row img, .curve, .panel { image-rendering: pixelated; }
.row img { width: 512px; }
.curve { width: 100%; }
.note { color: #555; font-size: 12px; }
"""


def data_uri(png_bytes: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes).decode("ascii")


def png_of(array: np.ndarray) -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG", optimize=True)
    return out.getvalue()


def file_uri(path: str) -> str | None:
    if not os.path.exists(path):
        return None
    with open(path, "rb") as fh:
        return data_uri(fh.read())


def prompt_rows(workdir: str, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """(label, a strip of ROW_IMAGES generated images) per prompt of a conditional run (its
    most frequent conditions), or one unlabelled row for an unconditional one. The same noise
    down each column, so rows differ only by their prompt."""
    from streamgan.train.generate import load_source
    from streamgan.train.images import make_grid
    source, _ = load_source(workdir)
    if source.conditional:
        prompts = list(source.loaded.card.condition.prompts[:MAX_ROWS])
    else:
        prompts = [None]
    rows = []
    for prompt in prompts:
        texts = None if prompt is None else [prompt] * ROW_IMAGES
        images = source(ROW_IMAGES, texts, seed)
        rows.append(("(no prompt)" if prompt is None else prompt,
                     make_grid(images, ROW_IMAGES, pad=1)))
    return rows


def _cell(figure: dict | None, key: str, real: dict | None) -> str:
    """One table cell: the figure with its interval or std, and the real photos' under it."""
    def text(f):
        if not f or f.get("value") is None:
            return "-"
        if "std" in f:
            digits = 4 if key == "kid" else 1
            return f"{f['value']:.{digits}f} &plusmn; {f['std']:.{digits}f}"
        return (f"{f['value']:.0%} <small>({f['low']:.0%}&ndash;{f['high']:.0%})"
                "</small>")
    return (f"<td>{text((figure or {}).get(key))}<br><small>real: "
            f"{text((real or {}).get(key))}</small></td>")


COLUMNS = (("kid", "KID &darr;"), ("fid", "FID &darr;"), ("precision", "precision &uarr;"),
           ("recall", "recall &uarr;"), ("novelty", "novelty &uarr;"),
           ("consistency", "consistency &uarr;"))


def evaluation_table(ev: dict) -> str:
    head = "".join(f"<th>{label}</th>" for _, label in COLUMNS)
    lines = [f"<table><tr><th>{html.escape(ev.get('grouped_by') or 'condition')}</th>"
             f"<th>images<br><small>generated / held-out</small></th>{head}</tr>"]
    rows = [("all", ev["overall"])] + list(ev.get("conditions", {}).items())
    for name, r in rows:
        cells = "".join(_cell(r["figures"], key, r["real"]) for key, _ in COLUMNS)
        lines.append(f"<tr><td>{html.escape(name)}</td><td>{r['generated_images']} / "
                     f"{r['real_images']}</td>{cells}</tr>")
    lines.append("</table>")
    judge = ev.get("judge")
    notes = [
        f"Held-out split <b>{html.escape(str(ev['split']))}</b> "
        + ("" if ev.get("held_out") else "(<b>not held out</b>: the store has no other split) ")
        + f"against training split <b>{html.escape(str(ev['train_split']))}</b> "
        f"({ev['training_images']} training photos); Inception features; k = {ev['k']}.",
        "<i>real</i>: what real photos score by the same computation: training photos in the "
        "generator's place for KID, FID, precision and recall; the held-out photos for "
        "novelty and consistency. Shares carry a 95% Wilson interval (in parentheses; the "
        "counts behind each are in evaluation.json); KID and FID a std.",
        "Novelty: " + html.escape(ev["novelty_threshold"]["meaning"]) + ".",
    ]
    if judge:
        acc = judge["held_out_accuracy"]
        notes.append(f"Consistency: the share of images generated for a condition that the "
                     f"store's judge ({html.escape(judge['model'])}, fitted on "
                     f"{judge['trained_on']} training photos) files under it; its held-out "
                     f"accuracy, the ceiling, is {acc['value']:.1%}.")
    if not ev.get("conditional") and ev.get("conditions"):
        notes.append("An unconditional generator: its images are grouped by the judge's "
                     "verdict.")
    return "\n".join(lines) + "".join(f'<p class="note">{n}</p>' for n in notes)


def write_report(workdir: str, log=None) -> str:
    """Write WORKDIR/report.html from what the run holds; return its path."""
    from streamgan.train.callbacks import plot_history, read_history
    from streamgan.train.config import TrainConfig
    paths = RunPaths(workdir)
    config = TrainConfig.load(paths.config)
    parts = [f"<h1>streamgan run {html.escape(os.path.abspath(workdir))}</h1>",
             f'<p class="note">report written {time.strftime("%Y-%m-%d %H:%M:%S %Z")}</p>']

    parts.append("<h2>Store</h2>")
    try:
        from streamgan.store.summary import render, summarise
        parts.append(f"<pre>{html.escape(render(summarise(config.store)))}</pre>")
    except Exception as e:  # a store moved away since: the run is still worth a report
        parts.append(f'<p class="note">store {html.escape(str(config.store))} unreadable: '
                     f"{html.escape(str(e))}</p>")

    parts.append("<h2>Training: losses and KID</h2>")
    if not os.path.exists(paths.loss_curve) and os.path.exists(paths.history):
        plot_history(read_history(paths.history), paths.loss_curve)
    curve = file_uri(paths.loss_curve)
    parts.append(f'<img class="curve" alt="loss and KID curves" src="{curve}">' if curve else
                 '<p class="note">no epoch finished yet</p>')

    parts.append("<h2>Generated, one row per prompt</h2>")
    if os.path.exists(paths.generator):
        for label, strip in prompt_rows(workdir, seed=config.seed):
            parts.append(f'<div class="row"><span>{html.escape(label)}</span>'
                         f'<img alt="{html.escape(label)}" src="{data_uri(png_of(strip))}">'
                         "</div>")
    else:
        parts.append('<p class="note">no generator exported yet</p>')

    parts.append("<h2>Evaluation</h2>")
    if os.path.exists(paths.evaluation):
        with open(paths.evaluation) as fh:
            ev = json.load(fh)
        if "overall" in ev:
            parts.append(evaluation_table(ev))
        else:
            parts.append('<p class="note">evaluation.json is from an older streamgan: run '
                         "streamgan evaluate again</p>")
    else:
        parts.append(f'<p class="note">not evaluated yet: <code>streamgan evaluate --workdir '
                     f"{html.escape(workdir)}</code></p>")

    panel = file_uri(paths.nearest_panel)
    if panel:
        parts.append("<h2>Nearest training photos (closest to copies first)</h2>")
        parts.append(f'<img class="panel" alt="nearest-neighbour panel" src="{panel}">')

    parts.append("<h2>Run options</h2><table>")
    for key, value in sorted(config.to_dict().items()):
        parts.append(f"<tr><td>{html.escape(key)}</td><td>{html.escape(json.dumps(value))}"
                     "</td></tr>")
    parts.append("</table>")
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>streamgan report: {html.escape(os.path.basename(os.path.abspath(workdir)))}"
            f"</title><style>{_STYLE}</style></head><body>\n" + "\n".join(parts)
            + "\n</body></html>\n")
    write_text(paths.report, page)
    if log:
        log(f"  report      {paths.report}")
    return paths.report


def text_table(ev: dict) -> str:
    """The evaluation table as text: each figure with the real photos' in parentheses."""
    def fmt(row, key, side):
        f = row[side].get(key)
        if not f or f.get("value") is None:
            return "-"
        return f"{f['value']:.4f}" if key == "kid" else (
            f"{f['value']:.1f}" if key == "fid" else f"{f['value']:.0%}")
    keys = [k for k, _ in COLUMNS]
    widths = [max(12, len(ev.get("grouped_by") or "condition") + 1)] + [18] * len(keys)
    header = [ev.get("grouped_by") or "condition", "images"] + keys
    lines = ["".join(f"{h:<{widths[0]}}" if i == 0 else f"{h:>10}" if i == 1 else f"{h:>16}"
                     for i, h in enumerate(header))]
    rows = [("all", ev["overall"])] + list(ev.get("conditions", {}).items())
    for name, r in rows:
        cells = [f"{name:<{widths[0]}}", f"{r['generated_images']:>4}/{r['real_images']:<5}"]
        cells += [f"{fmt(r, k, 'figures') + ' (' + fmt(r, k, 'real') + ')':>16}" for k in keys]
        lines.append("".join(cells))
    lines.append("  (real photos in parentheses; novelty threshold "
                 f"{ev['novelty_threshold']['distance']:.2f} = the "
                 f"{ev['novelty_threshold']['quantile']:.0%} quantile of train-train "
                 "nearest distances)")
    return "\n".join(lines)
