"""The nearest-neighbour panel: generated images beside their three nearest training photos.

One row per generated image, the ones nearest to a training photo (closest to copies) first,
each labelled with its distance and, below the novelty threshold, "near-copy", so a person
sees memorisation at a glance. Distances are in FID Inception features (train/evaluate.py).
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from streamgan.common.files import atomic_path

CELL = 96      # pixels per image on the panel (small images are enlarged to it)
LABEL = 16     # pixels of text above each row


def nearest_panel(generated: np.ndarray, neighbour_rows: np.ndarray, neighbour_d: np.ndarray,
                  info, threshold: float, path: str) -> str | None:
    """Write the panel PNG: generated (R, S, S, 3) uint8, neighbour_rows (R, 3) store rows of
    each one's nearest training photos, neighbour_d (R, 3) their distances. None when there
    is nothing to show."""
    from streamgan.store.contract import read_rows
    if len(generated) == 0:
        return None
    wanted = np.unique(neighbour_rows)
    photos = dict(zip(wanted.tolist(), read_rows(info, wanted)))
    cols = 1 + neighbour_rows.shape[1]
    gap = 4
    width = cols * CELL + (cols + 1) * gap + gap * 2  # a wider gap after the generated image
    height = len(generated) * (CELL + LABEL + gap) + gap + LABEL
    panel = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(panel)
    draw.text((gap, 2), "generated", fill="black")
    draw.text((3 * gap + CELL + gap, 2), "its nearest training photos (distance)", fill="black")
    for r, image in enumerate(generated):
        y = LABEL + gap + r * (CELL + LABEL + gap)
        d = float(neighbour_d[r, 0])
        copy = d < threshold
        draw.text((gap, y), f"{d:.1f}" + ("  near-copy" if copy else ""),
                  fill="firebrick" if copy else "black")
        cells = [image] + [photos[int(row)] for row in neighbour_rows[r]]
        x = gap
        for c, cell in enumerate(cells):
            if c == 1:
                x += gap * 2
            tile = Image.fromarray(cell).resize((CELL, CELL), Image.NEAREST)
            panel.paste(tile, (x, y + LABEL))
            if c:
                draw.text((x + 2, y + LABEL + CELL - 12), f"{neighbour_d[r, c - 1]:.1f}",
                          fill="white", stroke_width=1, stroke_fill="black")
            x += CELL + gap
    with atomic_path(path, suffix=".png") as tmp:
        panel.save(tmp, format="PNG", optimize=True)
    return path
