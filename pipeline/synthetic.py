"""A synthetic clothing catalogue: product-shot-like garment images plus a catalog.json.

`streamgan demo` and the tests need a catalogue that looks like the real thing (clothing on a
white background, a description per image, mixed sizes and formats) without touching the
network or shipping a data set. Everything here is drawn with Pillow and numpy:

    path = make_catalog("demo_data", n=200, seed=0, url_prefix="http://127.0.0.1:8000/")
    image = draw_garment("t-shirt", "navy", "striped", (300, 400), np.random.default_rng(0))

Record i of a catalogue depends only on (seed, i), so `make_catalog(n=20)` is a prefix of
`make_catalog(n=200)` with the same seed, and reruns are byte-identical.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
from typing import Callable, NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from streamgan.common.files import write_text

# Colour names used in descriptions -> RGB. No white: a white garment on the white background
# would be invisible, which a real catalogue avoids with a grey backdrop we don't bother with.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (196, 32, 42), "navy": (28, 38, 84), "black": (28, 28, 31), "olive": (106, 112, 46),
    "mustard": (212, 163, 34), "pink": (234, 150, 180), "grey": (138, 139, 144),
    "burgundy": (118, 22, 42), "sky blue": (122, 178, 226), "beige": (212, 192, 152),
    "orange": (232, 118, 40), "teal": (22, 128, 128), "purple": (108, 52, 138),
    "forest green": (36, 98, 52), "brown": (110, 72, 42),
}
PATTERNS = ("striped", "polka-dot", "checked")
# (width, height), as Pillow counts them.
SIZES = ((300, 400), (400, 400), (256, 256), (400, 300))

SS = 2  # supersampling: shapes are drawn at 2x and downsampled, which antialiases the edges
_SOLE_RGB = (238, 236, 230)
Point = tuple[float, float]


# --- garment shapes -------------------------------------------------------------------------
# Each builder returns (parts, details) in a unit box (x right, y down, both 0..1):
#   parts: [(paint, shape, coords)], paint "body" (garment colour + pattern), "trim" (darker)
#          or "sole" (off-white); shape "poly" (points) or "ellipse" (x0, y0, x1, y1)
#   details: polylines (seams, hems, laces) drawn in a darker shade inside the silhouette.

def _mirrored(right: list[Point]) -> list[Point]:
    """Right half (top centre, clockwise, to bottom centre) -> the whole symmetric outline."""
    return right + [(1 - x, y) for x, y in reversed(right)]


def _both_sides(line: list[Point]) -> list[list[Point]]:
    return [line, [(1 - x, y) for x, y in line]]


# Sleeve styles: (angle below horizontal in degrees, length, cuff width), each a (lo, hi) range.
# Long sleeves hang almost straight down, as in a flat-lay product shot.
_SLEEVES = {"short": ((26, 36), (0.24, 0.30), (0.18, 0.21)),
            "long": ((64, 72), (0.70, 0.76), (0.11, 0.13)),
            "cap": ((40, 50), (0.12, 0.16), (0.14, 0.17))}


def _top(u: Callable[[float, float], float], sleeve: str, neck: str, body_len: float = 1.0):
    """Right half of a flat-laid top: neckline, shoulder, sleeve (or none), side seam to hem."""
    nw, nd = u(0.09, 0.12), (u(0.06, 0.09) if neck == "crew" else u(0.20, 0.26))
    if neck == "crew":  # quarter ellipse from the centre front to the shoulder seam
        right = [(0.5 + nw * math.sin(t), nd * math.cos(t)) for t in np.linspace(0, math.pi / 2, 7)]
        details = _both_sides([(0.5 + nw * 1.1 * math.sin(t), nd * 1.35 * math.cos(t) + 0.01)
                               for t in np.linspace(0, math.pi / 2, 7)])  # neck ribbing
    else:
        right, details = [(0.5, nd), (0.5 + nw, 0.0)], []
    shoulder, armpit = (0.5 + u(0.19, 0.21), u(0.04, 0.06)), (0.5 + u(0.22, 0.24), u(0.33, 0.38))
    if sleeve == "none":
        right += [shoulder, (armpit[0] - 0.02, armpit[1] * 0.6), armpit]
    else:
        (a0, a1), (l0, l1), (c0, c1) = _SLEEVES[sleeve]
        theta, length, cuff = math.radians(u(a0, a1)), u(l0, l1), u(c0, c1)
        d, n = (math.cos(theta), math.sin(theta)), (-math.sin(theta), math.cos(theta))
        out = (shoulder[0] + d[0] * length, shoulder[1] + d[1] * length)
        inn = (out[0] + n[0] * cuff, out[1] + n[1] * cuff)
        right += [shoulder, out, inn, armpit]
        band = 0.05 if sleeve == "long" else 0.03  # ribbed cuff vs a simple hem
        details += _both_sides([(out[0] - d[0] * band, out[1] - d[1] * band),
                                (inn[0] - d[0] * band, inn[1] - d[1] * band)])
    hem = 0.5 + u(0.22, 0.25)
    right += [(hem, body_len), (0.5, body_len)]
    details.append([(1 - hem + 0.01, body_len - 0.04), (hem - 0.01, body_len - 0.04)])
    return right, details


def _shirt(u, variant, sleeve):
    right, details = _top(u, sleeve, "v" if variant == "v-neck" else "crew")
    return [("body", "poly", _mirrored(right))], details


def _dress(u, variant):
    right, details = _top(u, "cap" if variant == "short sleeves" else "none", "crew", 0.40)
    right = right[:-2]  # keep the bodice down to the armpit, then flare out into the skirt
    waist, hem = 0.5 + u(0.14, 0.16), u(0.36, 0.45)
    right += [(waist, 0.40)] + [(0.5 + hem * t, 1.0 - 0.03 * t * t) for t in np.linspace(1, 0, 6)]
    details = details[:-1] + [[(1 - waist, 0.40), (waist, 0.40)]]
    for f in (0.25, 0.6):  # soft folds falling from the waist
        details += _both_sides([(0.5 + (waist - 0.5) * f, 0.43), (0.5 + hem * f * 1.1, 0.97)])
    return [("body", "poly", _mirrored(right))], details


def _legs(u, crotch: float, hem_out: float, hem_in: float, hip: float):
    waist = u(0.28, 0.31)
    right = [(0.5, 0.0), (0.5 + waist, 0.0), (0.5 + hip, crotch * 0.7), (0.5 + hem_out, 1.0),
             (0.5 + hem_in, 1.0), (0.5, crotch)]
    details = [[(0.5 - waist, 0.06), (0.5 + waist, 0.06)],  # waistband
               [(0.47, 0.06), (0.47, crotch * 0.75), (0.5, crotch * 0.85)]]  # fly
    details += _both_sides([(0.5 + waist * 0.6, 0.06), (0.5 + hip * 0.97, crotch * 0.55)])  # pockets
    return [("body", "poly", _mirrored(right))], details


def _trousers(u, variant):
    wide = variant == "wide-leg"
    out, inn = (u(0.36, 0.42), u(0.02, 0.04)) if wide else (u(0.24, 0.28), u(0.05, 0.07))
    parts, details = _legs(u, u(0.28, 0.33), out, inn, u(0.32, 0.34))
    details += _both_sides([(0.5 + 0.17, 0.34), (0.5 + (out + inn) / 2, 0.97)])  # pressed crease
    return parts, details


def _shorts(u, variant):
    out, inn = u(0.40, 0.44), u(0.04, 0.06)
    parts, details = _legs(u, u(0.52, 0.6), out, inn, u(0.33, 0.35))
    y = 0.86 if variant == "turn-ups" else 0.95
    details += _both_sides([(0.5 + inn, y), (0.5 + out - 0.01, y)])
    return parts, details


def _skirt(u, variant):
    waist, hem = u(0.20, 0.24), u(0.44, 0.48)
    right = [(0.5, 0.0), (0.5 + waist, 0.0)] + [(0.5 + hem * t, 1.0 - 0.04 * t * t)
                                                for t in np.linspace(1, 0, 6)]
    details = [[(0.5 - waist, 0.08), (0.5 + waist, 0.08)]]
    folds = (0.2, 0.45, 0.7, 0.92) if variant == "pleated" else (0.5,)
    for f in folds:
        details += _both_sides([(0.5 + waist * f, 0.09), (0.5 + hem * f, 0.98 - 0.04 * f * f)])
    return [("body", "poly", _mirrored(right))], details


def _hat(u, variant):
    brim = (0.0, 0.56, 1.0, 0.88) if variant == "wide brim" else (0.13, 0.58, 0.87, 0.84)
    dent = u(0.12, 0.17)
    crown = [(0.27, 0.68), (0.30, 0.22), (0.40, 0.10), (0.5, dent), (0.60, 0.10), (0.70, 0.22),
             (0.73, 0.68)]
    band = [(0.285, 0.52), (0.715, 0.52), (0.725, 0.65), (0.275, 0.65)]
    return ([("body", "ellipse", brim), ("body", "poly", crown), ("trim", "poly", band)],
            [[(0.40, 0.11), (0.5, dent + 0.05), (0.60, 0.11)]])


def _shoe(u, variant):
    if variant == "high-top":
        collar = [(0.04, 0.02), (0.16, 0.0), (0.30, 0.04), (0.36, 0.0), (0.44, 0.05)]
    else:
        collar = [(0.04, 0.40), (0.10, 0.30), (0.24, 0.34), (0.34, 0.36), (0.42, 0.22), (0.50, 0.24)]
    toe = u(0.52, 0.58)
    upper = [(0.02, 0.80)] + collar + [(0.62, 0.42), (0.80, toe), (0.93, toe + 0.05),
                                       (0.99, 0.68), (1.0, 0.80)]
    sole = [(0.0, 0.76), (1.0, 0.74), (1.0, 0.86), (0.96, 0.96), (0.04, 0.98), (0.0, 0.92)]
    lx0, ly0 = collar[-1]
    laces = [[(lx0 + 0.03 + 0.045 * k, ly0 + 0.04 + 0.05 * k), (lx0 + 0.07 + 0.045 * k, ly0 + 0.0 + 0.05 * k)]
             for k in range(4)]
    return ([("body", "poly", upper), ("sole", "poly", sole)],
            laces + [[(0.70, 0.76), (0.78, toe + 0.05), (0.92, toe + 0.10)]])  # toe cap seam


class _Kind(NamedTuple):
    build: Callable             # (u, variant) -> (parts, details)
    variants: tuple[str, ...]   # the first is the default
    aspect: float               # garment box width / height
    size_weights: tuple[float, ...]  # over SIZES: dresses come portrait, shoes landscape
    template: Callable[[str], str]   # variant -> description; {c} colour, {p} "pattern " or ""


KINDS: dict[str, _Kind] = {
    "t-shirt": _Kind(
        lambda u, v: _shirt(u, v, "short"), ("crew neck", "v-neck"), 1.1, (2, 4, 2, 0),
        lambda v: "{c} {p}" + ("v-neck " if v == "v-neck" else "") + "t-shirt with short sleeves"),
    "long-sleeve top": _Kind(
        lambda u, v: _shirt(u, v, "long"), ("crew neck", "v-neck"), 1.05, (2, 4, 2, 0),
        lambda v: "{c} {p}long-sleeve top with a " + v),
    "dress": _Kind(
        _dress, ("sleeveless", "short sleeves"), 0.62, (6, 2, 1, 0),
        lambda v: "{c} {p}sleeveless dress" if v == "sleeveless" else "{c} {p}dress with short sleeves"),
    "trousers": _Kind(
        _trousers, ("slim-fit", "wide-leg"), 0.48, (6, 2, 1, 0),
        lambda v: "{c} {p}" + v + " trousers"),
    "shorts": _Kind(
        _shorts, ("plain", "turn-ups"), 1.05, (1, 4, 2, 1),
        lambda v: "{c} {p}shorts" + (" with turn-ups" if v == "turn-ups" else "")),
    "skirt": _Kind(
        _skirt, ("a-line", "pleated"), 0.95, (2, 4, 2, 1),
        lambda v: "{c} {p}" + v + " skirt"),
    "hat": _Kind(
        _hat, ("wide brim", "narrow brim"), 1.55, (0, 3, 2, 4),
        lambda v: "{c} {p}hat with a " + v),
    "shoe": _Kind(
        _shoe, ("low-top", "high-top"), 2.1, (0, 3, 2, 4),
        lambda v: "{c} {p}" + v + " shoe with a white sole"),
}


def describe(kind: str, colour: str, pattern: str | None, variant: str) -> str:
    """The catalogue description, e.g. "navy striped t-shirt with short sleeves"."""
    return KINDS[kind].template(variant).format(c=colour, p=f"{pattern} " if pattern else "")


# --- rendering ------------------------------------------------------------------------------

def _shade(rgb: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, c * f))) for c in rgb)


def _luma(rgb: tuple[int, int, int]) -> float:
    return (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255


def _ellipse(x0: float, y0: float, x1: float, y1: float, n: int = 48) -> list[Point]:
    """An ellipse as a polygon, so it tilts with the rest of the garment."""
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    return [(cx + rx * math.cos(t), cy + ry * math.sin(t)) for t in np.linspace(0, 2 * math.pi, n)]


def _paint_pattern(draw: ImageDraw.ImageDraw, pattern: str | None, to_px: Callable,
                   aspect: float, px_per_unit: float, ink: tuple[int, int, int],
                   rng: np.random.Generator) -> None:
    """Covers the garment's unit box with the pattern; the silhouette mask crops it later.

    Works in unit-box coordinates (aspect = box width / height keeps dots round and checks
    square) and maps through to_px, so the pattern tilts with the garment.
    """
    def band(a: float, b: float, vertical: bool) -> list[Point]:
        r = ((a, -0.2), (b, -0.2), (b, 1.2), (a, 1.2)) if vertical else \
            ((-0.2, a), (1.2, a), (1.2, b), (-0.2, b))
        return to_px(r)

    if pattern == "striped":
        vertical = rng.random() < 0.25
        period = rng.uniform(0.05, 0.09) / (aspect if vertical else 1)
        width = period * rng.uniform(0.3, 0.5)
        for a in np.arange(-0.2, 1.2, period):
            draw.polygon(band(a, a + width, vertical), fill=ink)
    elif pattern == "polka-dot":
        step = rng.uniform(0.08, 0.12)
        r = step * px_per_unit * rng.uniform(0.15, 0.25)
        for row, y in enumerate(np.arange(-0.1, 1.1, step * aspect)):
            for x in np.arange(-0.1 + 0.5 * step * (row % 2), 1.1, step):
                (cx, cy), = to_px([(x, y)])
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=ink)
    elif pattern == "checked":  # gingham: translucent bands both ways, darker where they cross
        step = rng.uniform(0.07, 0.11)
        for a in np.arange(-0.2, 1.2, step):
            draw.polygon(band(a, a + step / 2, True), fill=ink + (110,))
        for a in np.arange(-0.2, 1.2, step * aspect):
            draw.polygon(band(a, a + step * aspect / 2, False), fill=ink + (110,))
    elif pattern is not None:
        raise ValueError(f"unknown pattern {pattern!r}; expected one of {PATTERNS} or None")


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    """Grey erosion by a (2r+1) cross; numpy slices are ~20x faster than Pillow's MinFilter."""
    out = mask.copy()
    for k in range(1, r + 1):
        out[k:] = np.minimum(out[k:], mask[:-k])
        out[:-k] = np.minimum(out[:-k], mask[k:])
        out[:, k:] = np.minimum(out[:, k:], mask[:, :-k])
        out[:, :-k] = np.minimum(out[:, :-k], mask[:, k:])
    return out


def draw_garment(kind: str, colour: str, pattern: str | None, size: tuple[int, int],
                 rng: np.random.Generator, *, variant: str | None = None,
                 transparent: bool = False) -> Image.Image:
    """Draws one garment, product-shot style, on a (width, height) canvas.

    Returns RGB on an off-white background with a soft shadow, or, with `transparent`, an RGBA
    cut-out on a fully transparent background (like PNG catalogue images). `rng` drives the
    small variations (size, position, tilt, proportions) that keep every image different.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown garment kind {kind!r}; expected one of {sorted(KINDS)}")
    if colour not in COLOURS:
        raise ValueError(f"unknown colour {colour!r}; expected one of {sorted(COLOURS)}")
    spec = KINDS[kind]
    builder, variants, aspect = spec.build, spec.variants, spec.aspect
    variant = variant or variants[0]
    if variant not in variants:
        raise ValueError(f"unknown variant {variant!r} for {kind}; expected one of {variants}")
    w, h = size
    rgb = tuple(int(np.clip(c + rng.integers(-10, 11), 0, 255)) for c in COLOURS[colour])

    # Garment box: fills most of the limiting side, jittered in size, shape and position.
    aspect *= rng.uniform(0.93, 1.07)
    fill = rng.uniform(0.70, 0.84)
    bw = min(w * fill, h * fill * aspect)
    bh = bw / aspect
    x0 = (w - bw) / 2 + rng.uniform(-0.04, 0.04) * w
    y0 = (h - bh) / 2 + rng.uniform(-0.04, 0.04) * h
    flip = kind == "shoe" and rng.random() < 0.5  # shoes face either way in real catalogues
    tilt = math.radians(rng.uniform(-4, 4))
    cos, sin = math.cos(tilt), math.sin(tilt)

    def to_px(points) -> list[Point]:
        """Unit box -> supersampled canvas pixels, tilted about the box centre.

        Tilting the coordinates rather than the finished picture costs nothing and never blurs.
        """
        out = []
        for x, y in points:
            dx, dy = ((1 - x) if flip else x) * bw - bw / 2, y * bh - bh / 2
            out.append((SS * (x0 + bw / 2 + dx * cos - dy * sin),
                        SS * (y0 + bh / 2 + dx * sin + dy * cos)))
        return out

    def jitter(points) -> list[Point]:  # a hand-drawn wobble so outlines differ image to image
        return [(x + rng.normal(0, 0.0015), y + rng.normal(0, 0.0015)) for x, y in points]

    def u(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi))

    parts, details = builder(u, variant)
    big = (w * SS, h * SS)
    mask = Image.new("L", big, 0)
    layer = Image.new("RGBA", big, rgb + (255,))
    ink = (244, 243, 238) if _luma(rgb) < 0.55 else _shade(rgb, 0.45)
    _paint_pattern(ImageDraw.Draw(layer, "RGBA"), pattern, to_px, aspect, SS * bw, ink, rng)
    mdraw, ldraw = ImageDraw.Draw(mask), ImageDraw.Draw(layer)
    dark = _shade(rgb, 0.55) if _luma(rgb) > 0.2 else tuple(c + (255 - c) // 4 for c in rgb)
    for paint, shape, coords in parts:
        poly = to_px(jitter(coords if shape == "poly" else _ellipse(*coords)))
        mdraw.polygon(poly, fill=255)
        if paint != "body":  # body parts show the layer's colour and pattern through the mask
            ldraw.polygon(poly, fill=_SOLE_RGB if paint == "sole" else dark)
    for line in details:
        ldraw.line(to_px(line), fill=dark, width=max(2, int(SS * min(w, h) / 180)), joint="curve")
    # Outline = the silhouette minus its erosion: one outline round the union, no inner seams.
    m = np.asarray(mask)
    layer.paste(dark + (255,), mask=Image.fromarray(m - _erode(m, SS)))
    layer.putalpha(mask)
    garment = layer.reduce(SS)  # box-filter downsampling: the supersampling's antialiasing

    # Soft light from the upper left, so flat fills read as fabric rather than clip art.
    arr = np.asarray(garment).astype(np.float32)
    yy, xx = np.ogrid[0:h, 0:w]
    light = 1.06 - 0.10 * ((xx - x0) / bw) - 0.05 * ((yy - y0) / bh)
    arr[..., :3] *= np.clip(light, 0.85, 1.1)[..., None]
    garment = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGBA")
    if transparent:
        return garment

    paper = int(rng.integers(246, 256))
    shadow = garment.getchannel("A").filter(ImageFilter.GaussianBlur(max(3, min(w, h) // 40)))
    shadow = np.roll(np.asarray(shadow, np.float32) / 255, (int(h * 0.015), int(w * 0.01)), (0, 1))
    bg = (paper * (1 - 0.14 * shadow)).astype(np.uint8)
    out = Image.fromarray(np.repeat(bg[..., None], 3, axis=2), "RGB")
    out.paste(garment, mask=garment.getchannel("A"))
    return out


# --- the catalogue --------------------------------------------------------------------------

def _encode(img: Image.Image, fmt: str, rng: np.random.Generator) -> bytes:
    buf = io.BytesIO()
    if fmt == "jpg":
        img.save(buf, "JPEG", quality=int(rng.integers(82, 95)))
    elif fmt == "png":
        img.save(buf, "PNG", optimize=False)
    else:
        img.save(buf, "WEBP", quality=80, method=0)  # method 0: fastest encoder, fine for a demo
    return buf.getvalue()


def _block_choice(seed: int, block: int, size: int, k: int) -> list[int]:
    """k distinct positions in a block of `size` records, fixed by (seed, block).

    Splits and formats are dealt per block rather than per record so every 20 records have
    exactly their share of validation images and PNG/WebP files, while staying prefix-stable.
    """
    return list(np.random.default_rng([seed, 1_000_003, block]).choice(size, k, replace=False))


def make_catalog(out_dir: str, n: int, seed: int = 0, url_prefix: str = "") -> str:
    """Writes n synthetic product images under out_dir/images/ and out_dir/catalog.json.

    Each record is {"id", "url", "description", "category", "split"}; url is `url_prefix` +
    the image's path relative to out_dir (so give a prefix ending in "/", e.g. a StaticServer's
    base_url), or that relative path alone when url_prefix is "". About 10% of records have
    split "validation", the rest "train". Per 20 records: 3 PNG cut-outs with transparent
    backgrounds, 1 WebP, 16 JPEG. Returns the path of catalog.json.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    kinds, colours = sorted(KINDS), sorted(COLOURS)
    seen: set[str] = set()
    records = []
    for i in range(n):
        block, pos = divmod(i, 20)
        special = _block_choice(seed, block, 20, 6)
        fmt = "png" if pos in special[:3] else "webp" if pos == special[3] else "jpg"
        split = "validation" if pos in special[4:6] else "train"
        rng = np.random.default_rng([seed, i])
        kind = kinds[rng.integers(len(kinds))]
        colour = colours[rng.integers(len(colours))]
        pattern = (PATTERNS + (None,))[rng.choice(4, p=(0.2, 0.15, 0.1, 0.55))]
        variant = KINDS[kind].variants[rng.integers(len(KINDS[kind].variants))]
        weights = np.array(KINDS[kind].size_weights, float)
        size = SIZES[rng.choice(len(SIZES), p=weights / weights.sum())]
        while True:  # a repeat is astronomically unlikely, but tests rely on unique images
            img = draw_garment(kind, colour, pattern, size, rng, variant=variant,
                               transparent=fmt == "png")
            data = _encode(img, fmt, rng)
            digest = hashlib.sha256(data).hexdigest()
            if digest not in seen:
                break
        seen.add(digest)
        rel = f"images/{i:06d}.{fmt}"
        with open(os.path.join(out_dir, rel), "wb") as f:
            f.write(data)
        records.append({"id": f"syn-{seed}-{i:06d}", "url": url_prefix + rel,
                        "description": describe(kind, colour, pattern, variant),
                        "category": kind, "split": split})
    # atomic: a reader never sees a half-written catalogue
    return write_text(os.path.join(out_dir, "catalog.json"), json.dumps(records, indent=1))
