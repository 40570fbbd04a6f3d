"""The `robust` recipe (make_samples.py --recipe robust): samples closer to real photos.

The original's recipe leaves the pattern as the only reliable thing in an image, but some of
what real cameras do never happens in it: a bright page filling the frame, a page printed on
paper with a margin, a dark room with sensor noise, defocus, blur in any direction, a photo
held in front of the page, JPEG. Nor does it show what a pattern is not: regular structures,
or the pattern's own parts. This recipe keeps the original's idea and its outputs (image,
masks, pts, in the same conventions as synth.py) and changes how a sample is drawn.

Every probability and range (sizes are shares of the sample size S, so the recipe looks the
same at 128 and at 256; U = uniform, N = normal, logU = log-uniform):

- blank: ctx.blank_prob (the original's 0.2).
- geometry: a flat page before a pinhole camera, or with p = 0.2 the original's random
  quadrilateral. Focal length U(0.7, 2.2) S; the page's longer side spans logU(0.22, 1.4) of
  the frame; tilt N(0, 28) degrees about x and y, clipped to 65; any turn in its plane; its
  centre at S (0.5 + U(-0.4, 0.4)), or U(-0.7, 0.7) with p = 0.25, so some pages are partly
  out of view. Below about a fifth of the frame a page's squares shrink to a pixel or two at
  128 px: a label there teaches the model to guess.
- the page: paper beyond it with p = 0.7, U(0, 0.3) of a page side on each side; ink U(0, 90),
  paper U(150, 255) and at least ink + 60; tint U(0.85, 1) per channel; the original's colour
  gradient U(0, 1) with p = 0.3, else U(0.7, 1) (milder).
- the scene: a background zoomed U(1, 2.5) at a random place, mirrored with p = 0.5, brightness
  U(0.4, 1.1); a reflection (the original's overlay) with p = 0.5, of weight U(0, 0.35).
- regular structures behind the page, p = 0.4 (board-free photos full of them are where false
  finds come from), one of tiles, brick, windows of a facade, keys, shelves, a fence or railing,
  print with equal odds (transforms.draw_structure draws them): a plane whose longer side spans
  U(1, 3) of the frame, seen with a focal length U(0.7, 2.2) S, tilted N(0, 25) degrees (clipped
  to 60), centred at S (0.5 + U(-0.3, 0.3)), upright (turn N(0, 6) degrees) except tiles and keys
  (any turn);
  colours: a grey U(20, 235) plus U(-30, 30) per channel; per-element variation N(0, U(3, 30));
  light across the plane U(-0.6, 0.6) in x and y; mottling U(0, 0.15). Per kind:
    tiles    nx U{4..16} across, tiles of aspect 1 or, p = 0.3, U(1, 2), rows enough for a square
             plane; grout U(0.02, 0.12) of a tile; a two-colour checker with p = 0.4
    brick    U{4..10} bricks a row of aspect U(2, 4), U{6..24} rows; mortar U(0.04, 0.12)
    windows  U{3..10} x U{3..10} windows, U(0.35, 0.7) x U(0.4, 0.75) of a cell of aspect
             U(0.7, 1.5); a cross of mullions with p = 0.5
    keys     U{10..15} keys a row, U{4..6} rows, gaps U(0.08, 0.2) of a key, each row
             U(0, 0.5) keys along
    shelves  U{1..4} compartments x U{3..7} shelves of aspect U(0.8, 2.5); boards U(0.05, 0.15)
    fence    U{2..8} bays of U(0.3, 1.5) of its height wide, U{2..4} rails; posts U(0.05, 0.3) of a
             bay wide, rails U(0.1, 0.4) of their spacing thick; the scene shows between them
    print    a page of U{4..40} lines of print in 1 column or, p = 0.3, 2, its width U(0.6, 1.6) of
             its height; ink and paper as the pattern's page (below), each channel U(-15, 15) off
             the grey; one of OpenCV's 5 Hershey fonts, letters U(0.35, 0.6) of a line tall,
             strokes U{1..3} px where it is typeset (12-32 px a line); margins U(0.03, 0.15) of the width
- the pattern's own distractors, p = 0.4, drawn behind the page (which hides what it covers):
  what the model must not take for the pattern. Each is printed as the page is and lies on its
  own paper (U(0.02, 0.2) of its side on each side), posed as a page is, but with its longer
  side spanning logU(0.2, 1.0) of the frame, centred in view at S U(0.15, 0.85), or where
  there is a page, at the farthest from it of 4 such places. One of these, with equal odds among those
  that apply (`prepare` finds which):
    fragment  a crop of the pattern area, U(0.3, 0.75) of its width and of its height
    recount   where the pattern area is a regular grid (transforms.repeat_period finds its
              period along x and y, and it spans a whole or half-whole number of them): the same
              motif with another count, its cell tiled U{ceil(n/2)..floor(1.6 n) + 1} units
              along each axis of n (never n x m itself, nor turned); a 10 x 7 chessboard gives
              e.g. 12 x 9 or 8 x 5 squares. Started at any unit of the cell.
    tiled     otherwise: a fragment of U(0.2, 0.5) of the area's width and height, tiled
              U{2..4} x U{2..4} times
    mirror    where the page is not mirror-symmetric (transforms.mirror_symmetric): the page
              mirrored left to right
  Masks stay empty there.
- occluders: U{0..4} of ellipses (p = 0.45; axes U(1, 0.15 S)), polygons (0.25; 3 to 6
  corners U(0.02, 0.15) S from a centre) and patches of other photos (0.3; U(0.05, 0.25) S
  a side); with p = 0.25 also one large patch over the page, U(0.3, 0.7) of its box. Masks
  still show the whole page under them.
- generic distractors, p = 0.35, drawn over the page: a grid of lines or stripes (equal odds) on
  the original's random quadrilateral, U{3..12} cells each way, lines U(0.05, 0.5) of a cell wide.
- light: a field 1 + U(-0.5, 0.5) x and y gradients, level U(0.6, 1.3); a soft shadow with
  p = 0.3 (any angle, depth U(0.3, 0.7), softness U(0.01, 0.15), offset U(-0.4, 0.4)); an
  exposure of a dark room U(0.1, 0.35) with p = 0.25, else U(0.7, 1.3).
- camera: the original's lens (focal length U(14, 20) S / 256, principal point U(0.4, 0.6) S)
  at half its distortion (k1 N(0, 0.0005)), reflected at the edges (no black corners); motion
  blur with p = 0.35, U(2, 0.08 S) px long at any angle; defocus with p = 0.3, a Gaussian of
  sigma U(0.3, 0.015 S); sensor noise U(1, 4) in a dark room, else U(0, 6) with p = 0.6;
  grayscale with p = 0.2; JPEG of quality U{30..95} with p = 0.5.
"""

import math

import cv2
import numpy as np

from segmenty import transforms
from segmenty.recipes.segmenty import BASE_SIZE, sample_quad  # the original's quadrilateral, one page in five


FRAGMENT_RANGE, TILE_RANGE = (0.3, 0.75), (0.2, 0.5)  # shares of the pattern area's width and height
RECOUNT_RANGE = (0.5, 1.6)  # counts of a grid's distractors, as shares of its own


def prepare(ctx, full):
    """Keep twice the detail, as pages may fill the frame (ctx.pattern_fine); find what the pattern's own
    distractors can be (ctx.own: see own_distractors)."""
    ctx.pattern_fine = cv2.resize(full, (2 * ctx.size, 2 * ctx.size), interpolation=cv2.INTER_AREA)
    ctx.own = own_distractors(full, ctx.area_box)


def own_distractors(full, area_box):
    """What the pattern's own distractors can be, from its page.

    Args:
        full: HxWx3 uint8, the page (full.png).
        area_box: (x0, y0, x1, y1), the pattern area's box in shares of the page.

    Returns:
        dict: "mirror" (bool, the page is not mirror-symmetric) and "grid": None, or, where the
        pattern area is a regular grid, {"unit": (ux, uy) and "period": (px, py) in shares of
        the page (a period is one or two units: a chessboard's repeats every two squares),
        "counts": (nx, ny) units across the area, "recounts": [(nx, ny), ...] other counts}.
    """
    h, w = full.shape[:2]
    x0, y0, x1, y1 = area_box
    box = [int(round(v)) for v in (x0 * w, y0 * h, x1 * w, y1 * h)]
    area = cv2.cvtColor(full[box[1]:box[3], box[0]:box[2]], cv2.COLOR_BGR2GRAY)
    f = min(1.0, 256 / max(area.shape))  # detail enough for a period, and a quick search
    area = cv2.resize(area, (max(1, round(area.shape[1] * f)), max(1, round(area.shape[0] * f))),
                      interpolation=cv2.INTER_AREA)
    axes = []
    for axis, length, share in ((1, area.shape[1], x1 - x0), (0, area.shape[0], y1 - y0)):
        period = transforms.repeat_period(area, axis)
        axes.append(None if period is None else _units(length / period, share))
    grid = None
    if all(axes):
        (ux, nx, kx), (uy, ny, ky) = axes
        grid = {"unit": (ux, uy), "period": (kx * ux, ky * uy), "counts": (nx, ny),
                "recounts": _recounts((nx, ny), (ux * w, uy * h))}
        grid = grid if grid["recounts"] else None
    return {"mirror": not transforms.mirror_symmetric(full), "grid": grid}


def _units(periods, share):
    """(unit in page shares, units across the area, units a period) where the area spans a whole or half-whole
    number of periods, else None."""
    for per_period in (1, 2):
        n = round(periods * per_period)
        if n >= 2 and abs(periods * per_period - n) < 0.05 * per_period:
            return share / n, n, per_period
    return None


def _recounts(counts, unit_px):
    """Other counts of a grid's units, RECOUNT_RANGE of its own; never its own, nor its own turned."""
    (nx, ny), (ux, uy) = counts, unit_px
    lo, hi = RECOUNT_RANGE
    out = []
    for mx in range(max(2, math.ceil(lo * nx)), math.floor(hi * nx) + 2):
        for my in range(max(2, math.ceil(lo * ny)), math.floor(hi * ny) + 2):
            turned = abs(mx * ux - ny * uy) < 0.02 * ny * uy and abs(my * uy - nx * ux) < 0.02 * nx * ux
            if (mx, my) != (nx, ny) and not turned:
                out.append((mx, my))
    return out


# ---------------------------------------------------------------- sampling

def _pick(rng, p):
    return bool(rng.uniform() < p)


def sample_pose(rng, size, extent_range=(0.22, 1.4)):
    """A page's pose before a pinhole camera (transforms.project_pose turns it into corners).

    Its longer side spans `extent` of the frame, log-uniform in `extent_range`, so some pages
    are partly out of view.
    """
    focal = size * rng.uniform(0.7, 2.2)
    extent = math.exp(rng.uniform(*np.log(extent_range)))
    tilt = np.radians(np.clip(rng.normal(0, 28, 2), -65, 65))  # about x, then y
    turn = rng.uniform(0, 2 * math.pi)  # in the page's plane
    # Where the page's centre lands; sometimes near or past an edge.
    spread = 0.7 if _pick(rng, 0.25) else 0.4
    centre = size * (0.5 + rng.uniform(-spread, spread, 2))
    return {"focal": focal, "extent": extent, "tilt": tilt, "turn": turn, "centre": centre}


def sample_occluders(rng, size, n_backgrounds, page_box):
    """A list of occluder shapes; one in four samples has a large photo patch over the page."""
    occluders = []
    for _ in range(int(rng.integers(0, 5))):
        kind = rng.choice(["ellipse", "polygon", "patch"], p=[0.45, 0.25, 0.3])
        centre = rng.uniform(0, size, 2)
        if kind == "ellipse":
            occluders.append({"kind": "ellipse", "centre": centre, "axes": rng.uniform(1, 0.15 * size, 2),
                              "angle": rng.uniform(0, 360), "color": rng.uniform(0, 255, 3)})
        elif kind == "polygon":
            n = int(rng.integers(3, 7))
            angles = np.sort(rng.uniform(0, 2 * math.pi, n))
            radii = rng.uniform(0.02, 0.15, n) * size
            occluders.append({"kind": "polygon", "color": rng.uniform(0, 255, 3),
                              "points": centre + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], 1)})
        else:
            wh = rng.uniform(0.05, 0.25, 2) * size
            occluders.append(_patch(rng, n_backgrounds, centre, wh))
    if page_box is not None and _pick(rng, 0.25):
        (x0, y0), (x1, y1) = page_box
        wh = rng.uniform(0.3, 0.7, 2) * [x1 - x0, y1 - y0]
        centre = [rng.uniform(x0 + wh[0] / 2, x1 - wh[0] / 2), rng.uniform(y0 + wh[1] / 2, y1 - wh[1] / 2)]
        occluders.append(_patch(rng, n_backgrounds, np.array(centre), wh))
    return occluders


def sample_distractor(rng, size):
    """Regular structure that is not the pattern: a grid of lines (windows, mesh) or stripes (blinds)."""
    return {"kind": rng.choice(["grid", "stripes"]), "corners": sample_quad(rng, size),
            "cells": rng.integers(3, 13, 2), "width": rng.uniform(0.05, 0.5), "color": rng.uniform(0, 255, 3)}


def _grey_colors(rng, n):
    """n BGR colours as surfaces have them: a grey U(20, 235) plus U(-30, 30) per channel."""
    return np.clip(rng.uniform(20, 235, (n, 1)) + rng.uniform(-30, 30, (n, 3)), 0, 255)


def sample_structure(rng, size):
    """A regular structure behind the page (transforms.draw_structure; ranges in the module docstring)."""
    kind = transforms.STRUCTURES[int(rng.integers(len(transforms.STRUCTURES)))]
    s = {"kind": kind, "seed": int(rng.integers(2**31)), "colors": _grey_colors(rng, 3),
         "jitter": rng.uniform(3, 30), "texture": rng.uniform(0, 0.15), "light": rng.uniform(-0.6, 0.6, 2)}
    if kind == "tiles":
        nx = int(rng.integers(4, 17))
        cell_aspect = rng.uniform(1, 2) if _pick(rng, 0.3) else 1.0
        s.update(gap=rng.uniform(0.02, 0.12), checker=_pick(rng, 0.4))
        cells = (nx, int(round(nx * cell_aspect)))  # rows enough for a square plane
    elif kind == "brick":
        cells, cell_aspect = (int(rng.integers(4, 11)), int(rng.integers(6, 25))), rng.uniform(2, 4)
        s.update(gap=rng.uniform(0.04, 0.12))
    elif kind == "windows":
        cells, cell_aspect = tuple(int(n) for n in rng.integers(3, 11, 2)), rng.uniform(0.7, 1.5)
        s.update(fill=(rng.uniform(0.35, 0.7), rng.uniform(0.4, 0.75)), mullions=_pick(rng, 0.5))
    elif kind == "keys":
        cells, cell_aspect = (int(rng.integers(10, 16)), int(rng.integers(4, 7))), 1.0
        s.update(gap=rng.uniform(0.08, 0.2), stagger=rng.uniform(0, 0.5))
    elif kind == "shelves":
        cells, cell_aspect = (int(rng.integers(1, 5)), int(rng.integers(3, 8))), rng.uniform(0.8, 2.5)
        s.update(board=rng.uniform(0.05, 0.15))
    elif kind == "fence":
        cells = (int(rng.integers(2, 9)), int(rng.integers(2, 5)))
        cell_aspect = rng.uniform(0.3, 1.5) * cells[1]  # a bay's width over the fence's height
        s.update(post=rng.uniform(0.05, 0.3), rail=rng.uniform(0.1, 0.4))
    else:
        cells = (1 + int(_pick(rng, 0.3)), int(rng.integers(4, 41)))
        aspect = rng.uniform(0.6, 1.6)
        cell_aspect = aspect * cells[1] / cells[0]  # the page's aspect, whatever its columns and lines
        ink = rng.uniform(0, 90)
        paper = rng.uniform(max(150, ink + 60), 255)  # printed as the pattern's page is
        s.update(colors=np.clip(np.float64([[paper], [ink], [paper]]) + rng.uniform(-15, 15, (3, 3)), 0, 255),
                 font=int(rng.integers(len(transforms.FONTS))), x_height=rng.uniform(0.35, 0.6),
                 stroke=int(rng.integers(1, 4)), margin=rng.uniform(0.03, 0.15), aspect=aspect)
    s["cells"] = cells
    across = cells[0] + 1 if kind == "keys" else cells[0]  # a keyboard's rows are a key longer: their stagger
    pose = {"focal": size * rng.uniform(0.7, 2.2), "extent": rng.uniform(1, 3),
            "tilt": np.radians(np.clip(rng.normal(0, 25, 2), -60, 60)),
            "turn": rng.uniform(0, 2 * math.pi) if kind in ("tiles", "keys") else np.radians(rng.normal(0, 6)),
            "centre": size * (0.5 + rng.uniform(-0.3, 0.3, 2))}
    s["corners"] = transforms.project_pose(pose, size, across * cell_aspect / cells[1])
    return s


def sample_own_distractor(rng, ctx, page=None):
    """One of the pattern's own distractors (module docstring): a window of the page, tiled, on paper, posed.

    Args:
        rng: numpy Generator.
        ctx: synth.Context, prepared by this recipe.
        page: 4 x 2 corners of the sample's page, or None if blank: the distractor keeps away from it.

    Returns:
        dict: kind; window (x0, y0, x1, y1) in shares of the page; repeats (2 floats); phase
        (2 floats, shares of the page); mirror (bool); margin (4 floats); corners (4 x 2).
    """
    own, size = ctx.own, ctx.size
    kinds = ["fragment", "recount" if own["grid"] else "tiled"] + (["mirror"] if own["mirror"] else [])
    kind = kinds[int(rng.integers(len(kinds)))]
    x0, y0, x1, y1 = ctx.area_box
    aw, ah = x1 - x0, y1 - y0
    repeats, phase = (1.0, 1.0), (0.0, 0.0)
    if kind in ("fragment", "tiled"):
        w, h = rng.uniform(*(FRAGMENT_RANGE if kind == "fragment" else TILE_RANGE), 2) * [aw, ah]
        fx, fy = rng.uniform(0, 1, 2)
        left, top = x0 + fx * (aw - w), y0 + fy * (ah - h)
        window = (left, top, left + w, top + h)
        if kind == "tiled":
            repeats = tuple(float(n) for n in rng.integers(2, 5, 2))
    elif kind == "recount":
        grid = own["grid"]
        nx, ny = grid["recounts"][int(rng.integers(len(grid["recounts"])))]
        (ux, uy), (px, py) = grid["unit"], grid["period"]
        window = (x0, y0, x0 + px, y0 + py)
        repeats = (nx * ux / px, ny * uy / py)
        phase = (int(rng.integers(round(px / ux))) * ux, int(rng.integers(round(py / uy))) * uy)
    else:
        window = (0.0, 0.0, 1.0, 1.0)
    margin = rng.uniform(0.02, 0.2, 4)
    wide = repeats[0] * (window[2] - window[0]) * ctx.page_aspect * (1 + margin[0] + margin[2])
    tall = repeats[1] * (window[3] - window[1]) * (1 + margin[1] + margin[3])
    pose = sample_pose(rng, size, extent_range=(0.2, 1.0))
    # In view; drawn behind the page, where the page would hide it: of 4 places, the farthest from the page.
    places = size * rng.uniform(0.15, 0.85, (4, 2))
    pose["centre"] = places[0 if page is None else np.argmax(np.linalg.norm(places - np.mean(page, 0), axis=1))]
    return {"kind": kind, "window": window, "repeats": repeats, "phase": phase, "mirror": kind == "mirror",
            "margin": margin, "corners": transforms.project_pose(pose, size, wide / tall)}


def _patch(rng, n_backgrounds, centre, wh):
    return {"kind": "patch", "source": int(rng.integers(n_backgrounds)), "centre": centre, "wh": wh,
            "crop": rng.uniform(0, 0.5, 2), "brightness": rng.uniform(0.4, 1.1)}


def sample_params(rng, ctx):
    """Draw every random parameter of one robust sample (see the module docstring).

    Args:
        rng: numpy Generator.
        ctx: synth.Context.

    Returns:
        dict of plain values for render().
    """
    size, n = ctx.size, len(ctx.backgrounds)
    blank = _pick(rng, ctx.blank_prob)
    if _pick(rng, 0.2):
        pose = None
        corners = sample_quad(rng, size)
    else:
        pose = sample_pose(rng, size)
        corners = transforms.project_pose(pose, size, ctx.page_aspect)
    box = None if blank else (np.clip(corners.min(0), 0, size), np.clip(corners.max(0), 0, size))
    if box is not None and np.any(box[1] - box[0] < 4):
        box = None
    ink, paper = rng.uniform(0, 90), rng.uniform(150, 255)
    low_light = _pick(rng, 0.25)
    distractor = sample_distractor(rng, size) if _pick(rng, 0.35) else None
    params = {
        "recipe": "robust",
        "blank": blank,
        "background": int(rng.integers(n)),
        "background_zoom": rng.uniform(1, 2.5), "background_shift": rng.uniform(0, 1, 2),
        "background_flip": _pick(rng, 0.5),
        "background_brightness": rng.uniform(0.4, 1.1),
        "overlay": int(rng.integers(n)),
        "overlay_alpha": 0.0 if _pick(rng, 0.5) else float(rng.uniform(0, 0.35)),
        "pose": pose, "corners": corners,
        # Paper beyond the pattern's page, in page sizes, left/top/right/bottom.
        "paper_margin": rng.uniform(0, 0.3, 4) if _pick(rng, 0.7) else np.zeros(4),
        "ink": ink, "paper": max(paper, ink + 60), "tint": rng.uniform(0.85, 1.0, 3),
        "shade_colors": rng.uniform(0, 1, (2, 3)) if _pick(rng, 0.3) else rng.uniform(0.7, 1, (2, 3)),
        "occluders": sample_occluders(rng, size, n, box),
        "distractor": distractor,
        "light_gradient": rng.uniform(-0.5, 0.5, 2), "light_level": rng.uniform(0.6, 1.3),
        "shadow": {"angle": rng.uniform(0, 2 * math.pi), "offset": rng.uniform(-0.4, 0.4),
                   "depth": rng.uniform(0.3, 0.7), "softness": rng.uniform(0.01, 0.15)} if _pick(rng, 0.3) else None,
        "exposure": rng.uniform(0.1, 0.35) if low_light else rng.uniform(0.7, 1.3),
        "focal": float(rng.uniform(14, 20)) * size / BASE_SIZE,
        "principal": (float(rng.uniform(0.4, 0.6)) * size, float(rng.uniform(0.4, 0.6)) * size),
        "k1": float(rng.normal(0, 0.0005)),  # half the original's: real lenses bend lines gently
        "motion_blur": {"length": rng.uniform(2, 0.08 * size), "angle": rng.uniform(0, 180)} if _pick(rng, 0.35) else None,
        "defocus": rng.uniform(0.3, 0.015 * size) if _pick(rng, 0.3) else 0.0,
        "noise": rng.uniform(1, 4) if low_light else (rng.uniform(0, 6) if _pick(rng, 0.6) else 0.0),
        "noise_seed": int(rng.integers(2**31)),
        "gray": _pick(rng, 0.2),
        "jpeg_quality": int(rng.integers(30, 96)) if _pick(rng, 0.5) else None,
    }
    # Drawn last, so that everything above stays what a seed drew before they existed.
    params["structure"] = sample_structure(rng, size) if _pick(rng, 0.4) else None
    own = _pick(rng, 0.4)
    params["own_distractor"] = sample_own_distractor(rng, ctx, None if blank else corners) if own else None
    return params


# ---------------------------------------------------------------- applying (deterministic)

def own_sheet(d, printed):
    """The flat sheet of one of the pattern's own distractors, before its paper: the printed page's window, tiled."""
    side = printed.shape[0]  # the fine page is square: a share of the page is share * side on both axes
    window = np.float64(d["window"]) * side
    span = np.float64(d["repeats"]) * (window[2:] - window[:2])
    scale = min(1.0, side / span.max())  # no larger than the fine page
    return transforms.tile_window(printed, window, d["repeats"], np.float64(d["phase"]) * side, d["mirror"], scale)


def draw_own_distractor(image, d, printed, paper, tint):
    """Draw one of the pattern's own distractors in place: its sheet on paper, in perspective."""
    sheet, _ = transforms.with_paper(own_sheet(d, printed), d["margin"], paper, tint)
    h, w = sheet.shape[:2]
    M = cv2.getPerspectiveTransform(np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]), d["corners"])
    cv2.warpPerspective(sheet, M, image.shape[1::-1], dst=image, flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_TRANSPARENT)


def render(params, ctx):
    """Apply sampled robust parameters: (image BGR uint8, masks HxWxK uint8, pts 5x2 or None)."""
    p, size = params, ctx.size
    image = transforms.zoom_background(ctx.backgrounds[p["background"]], p["background_zoom"],
                                       p["background_shift"], p["background_flip"])
    image = cv2.convertScaleAbs(image, alpha=p["background_brightness"])
    if p["structure"]:
        transforms.draw_structure(image, p["structure"])
    M = cv2.getPerspectiveTransform(ctx.square, p["corners"])
    pts = None
    if not p["blank"] or p["own_distractor"]:
        printed = transforms.printed_page(ctx.pattern_fine, p["ink"], p["paper"], p["tint"], p["shade_colors"])
    if p["own_distractor"]:
        draw_own_distractor(image, p["own_distractor"], printed, p["paper"], p["tint"])
    if not p["blank"]:
        page, to_page = transforms.with_paper(printed, p["paper_margin"], p["paper"], p["tint"])
        # The fine page has twice the resolution of the square that M maps from.
        M_fine = M @ np.diag([0.5, 0.5, 1.0]) @ to_page
        cv2.warpPerspective(page, M_fine, (size, size), dst=image, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_TRANSPARENT)
        pts = cv2.perspectiveTransform(ctx.page_points.reshape(-1, 1, 2), M).reshape(-1, 2)
    if p["overlay_alpha"] > 0:
        over = ctx.backgrounds[p["overlay"]]
        image = cv2.addWeighted(image, 1 - p["overlay_alpha"], over, p["overlay_alpha"], 0)
    if p["distractor"]:
        transforms.draw_distractor(image, p["distractor"])
    transforms.draw_occluders(image, p["occluders"], ctx.backgrounds)
    light = transforms.illumination(size, p["light_gradient"], p["light_level"] * p["exposure"], p["shadow"])
    image = cv2.multiply(image.astype(np.float32), cv2.merge([light] * 3))
    xy_map = transforms.undistort_map(size, p["focal"], p["principal"], p["k1"])
    # Reflected, not black: a photo has no empty corners.
    image = cv2.remap(image, xy_map, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    if p["blank"]:
        masks = np.zeros((size, size, ctx.masks.shape[2]), np.uint8)
    else:
        masks = cv2.remap(ctx.masks, transforms.compose_map(xy_map, np.linalg.inv(M)), None, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT).reshape(size, size, -1)
        pts = transforms.undistort_points(pts, p["focal"], p["principal"], p["k1"]).astype(np.float32)
    if p["motion_blur"]:
        image = transforms.motion_blur(image, p["motion_blur"]["length"], p["motion_blur"]["angle"])
    if p["defocus"] > 0:
        image = cv2.GaussianBlur(image, (0, 0), p["defocus"])
    if p["noise"] > 0:
        image = transforms.sensor_noise(image, p["noise"], p["noise_seed"])
    image = np.clip(image, 0, 255).astype(np.uint8)
    if p["gray"]:
        image = transforms.gray(image)
    if p["jpeg_quality"]:
        image = transforms.jpeg(image, p["jpeg_quality"])
    return image, masks, pts
