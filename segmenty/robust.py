"""The `robust` recipe (make_samples.py --recipe robust): samples closer to real photos.

The original's recipe leaves the pattern as the only reliable thing in an image, but some of
what real cameras do never happens in it: a bright page filling the frame, a page printed on
paper with a margin, a dark room with sensor noise, defocus, blur in any direction, a photo
held in front of the page, JPEG. This recipe keeps its idea and its outputs (image, masks,
pts, in the same conventions as synth.py) and changes how a sample is drawn:

- geometry: a flat page seen by a pinhole camera (tilt, turn, distance, focal length), so the
  page keeps its aspect and looks like something a camera saw; one page in five still takes
  the original's random quadrilateral. Pages range from small to larger than the frame.
- the page: paper with a margin of its own, ink that is never pure black, paper never pure
  white, the original's colour gradient at a milder strength.
- the scene: backgrounds zoomed and flipped; reflections (the original's overlay) fainter.
- occluders: the original's ellipses, polygons, and patches of other photos, sometimes one
  large patch over the page; masks still show the whole page under them. Never so many, nor
  a page so small, dark or blurred, that the label asks the model to guess.
- distractors: grids of lines and stripes in perspective, regular like the pattern but not it.
- light: a smooth illumination field with an optional soft shadow, and an exposure that is
  sometimes that of a dark room.
- camera: the original's lens distortion (milder, no black corners), motion blur of any length and angle, defocus,
  sensor noise, grayscale sensors, JPEG recompression.

Sizes are relative to the sample size, so the recipe looks the same at 128 and at 256.
"""

import math

import cv2
import numpy as np

from segmenty import synth


def _pick(rng, p):
    return bool(rng.uniform() < p)


# ---------------------------------------------------------------- sampling

def sample_pose(rng, size, aspect):
    """Image positions of a page's corners (TL, TR, BR, BL) seen by a pinhole camera.

    The page is aspect x 1 in its own units. Its longer side spans `extent` of the frame,
    log-uniform from 0.22 to 1.4, so some pages are partly out of view.
    """
    focal = size * rng.uniform(0.7, 2.2)
    # Below about a fifth of the frame a page's squares shrink to a pixel or two at 128 px: a
    # label there teaches the model to guess, which is where false positives come from.
    extent = math.exp(rng.uniform(math.log(0.22), math.log(1.4)))
    tilt = np.radians(np.clip(rng.normal(0, 28, 2), -65, 65))  # about x, then y
    turn = rng.uniform(0, 2 * math.pi)  # in the page's plane
    # Where the page's centre lands; sometimes near or past an edge.
    spread = 0.7 if _pick(rng, 0.25) else 0.4
    centre = size * (0.5 + rng.uniform(-spread, spread, 2))
    return {"focal": focal, "extent": extent, "tilt": tilt, "turn": turn, "centre": centre}


def project_pose(pose, size, aspect):
    """4 x 2 float32 corners of a page pose (see sample_pose)."""
    w, h = aspect, 1.0
    corners = np.array([[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0], [-w / 2, h / 2, 0]])
    c, s = math.cos(pose["turn"]), math.sin(pose["turn"])
    rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    a, b = pose["tilt"]
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    f = pose["focal"]
    distance = f * max(w, h) / (pose["extent"] * size)
    offset = (pose["centre"] - size / 2) * distance / f
    world = corners @ (ry @ rx @ rz).T + [offset[0], offset[1], distance]
    world[:, 2] = np.maximum(world[:, 2], 0.2 * distance)  # a steep tilt never puts a corner behind the camera
    return (f * world[:, :2] / world[:, 2:] + size / 2).astype(np.float32)


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
    return {"kind": rng.choice(["grid", "stripes"]), "corners": synth.sample_quad(rng, size),
            "cells": rng.integers(3, 13, 2), "width": rng.uniform(0.05, 0.5), "color": rng.uniform(0, 255, 3)}


def _patch(rng, n_backgrounds, centre, wh):
    return {"kind": "patch", "source": int(rng.integers(n_backgrounds)), "centre": centre, "wh": wh,
            "crop": rng.uniform(0, 0.5, 2), "brightness": rng.uniform(0.4, 1.1)}


def sample_params(rng, ctx):
    """Draw every random parameter of one robust sample (see the module docstring).

    Args:
        rng: numpy Generator.
        ctx: synth.Context with recipe "robust".

    Returns:
        dict of plain values for render().
    """
    size, n = ctx.size, len(ctx.backgrounds)
    blank = _pick(rng, ctx.blank_prob)
    if _pick(rng, 0.2):
        pose = None
        corners = synth.sample_quad(rng, size)
    else:
        pose = sample_pose(rng, size, ctx.page_aspect)
        corners = project_pose(pose, size, ctx.page_aspect)
    box = None if blank else (np.clip(corners.min(0), 0, size), np.clip(corners.max(0), 0, size))
    if box is not None and np.any(box[1] - box[0] < 4):
        box = None
    ink, paper = rng.uniform(0, 90), rng.uniform(150, 255)
    low_light = _pick(rng, 0.25)
    distractor = sample_distractor(rng, size) if _pick(rng, 0.35) else None
    return {
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
        "focal": float(rng.uniform(14, 20)) * size / synth.BASE_SIZE,
        "principal": (float(rng.uniform(0.4, 0.6)) * size, float(rng.uniform(0.4, 0.6)) * size),
        "k1": float(rng.normal(0, 0.0005)),  # half the original's: real lenses bend lines gently
        "motion_blur": {"length": rng.uniform(2, 0.08 * size), "angle": rng.uniform(0, 180)} if _pick(rng, 0.35) else None,
        "defocus": rng.uniform(0.3, 0.015 * size) if _pick(rng, 0.3) else 0.0,
        "noise": rng.uniform(1, 4) if low_light else (rng.uniform(0, 6) if _pick(rng, 0.6) else 0.0),
        "noise_seed": int(rng.integers(2**31)),
        "gray": _pick(rng, 0.2),
        "jpeg_quality": int(rng.integers(30, 96)) if _pick(rng, 0.5) else None,
    }


# ---------------------------------------------------------------- applying (deterministic)

def background(image, zoom, shift, flip):
    """Zoom into a size x size background at a given place, optionally mirrored."""
    size = image.shape[0]
    free = size * (1 - 1 / zoom)
    tx, ty = shift * free
    A = np.float32([[zoom, 0, -tx * zoom], [0, zoom, -ty * zoom]])
    out = cv2.warpAffine(image, A, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out[:, ::-1] if flip else out


def printed_page(page, ink, paper, tint, colors):
    """The pattern as printed and lit: ink and paper levels, a paper tint, the shading gradient."""
    levels = cv2.convertScaleAbs(page, alpha=(paper - ink) / 255, beta=ink)
    return synth.shade(cv2.multiply(levels, tuple(float(t) for t in tint) + (0.0,)), colors)


def with_paper(page, margin, paper, tint):
    """Pad a page with paper: (padded page, 3x3 transform from padded to page coordinates)."""
    h, w = page.shape[:2]
    left, top, right, bottom = (np.asarray(margin) * [w, h, w, h]).round().astype(int)
    color = [float(paper * t) for t in tint]
    padded = cv2.copyMakeBorder(page, top, bottom, left, right, cv2.BORDER_CONSTANT, value=color)
    return padded, np.float64([[1, 0, -left], [0, 1, -top], [0, 0, 1]])


def draw_occluders(image, occluders, backgrounds):
    size = image.shape[0]
    for o in occluders:
        if o["kind"] == "ellipse":
            cv2.ellipse(image, tuple(np.int32(o["centre"])), tuple(np.int32(o["axes"])), o["angle"], 0, 360,
                        o["color"].tolist(), -1, cv2.LINE_AA)
        elif o["kind"] == "polygon":
            cv2.fillPoly(image, [np.int32(o["points"])], o["color"].tolist(), cv2.LINE_AA)
        else:
            w, h = np.maximum(np.int32(o["wh"]), 2)
            src = backgrounds[o["source"]]
            cx, cy = (o["crop"] * (size - 1) * 0.5).astype(int)
            crop = src[cy:cy + max(h, size // 2), cx:cx + max(w, size // 2)]
            patch = cv2.convertScaleAbs(cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA), alpha=o["brightness"])
            x0, y0 = np.int32(o["centre"] - [w / 2, h / 2])
            xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + w, size), min(y0 + h, size)
            if xa < xb and ya < yb:
                image[ya:yb, xa:xb] = patch[ya - y0:yb - y0, xa - x0:xb - x0]


def draw_distractor(image, d):
    """Lines of a grid or stripes, seen in perspective: a straight line stays straight, so only ends are mapped."""
    size = image.shape[0]
    M = cv2.getPerspectiveTransform(np.float32([[0, 0], [1, 0], [1, 1], [0, 1]]), d["corners"])
    nx, ny = d["cells"]
    ends = [[(i / nx, 0), (i / nx, 1)] for i in range(nx + 1)]
    if d["kind"] == "grid":
        ends += [[(0, j / ny), (1, j / ny)] for j in range(ny + 1)]
    # Width as a share of a cell, in pixels of the quad's mean cell size.
    cell = math.sqrt(max(cv2.contourArea(d["corners"]), 1.0) / (nx * ny))
    width = max(1, int(round(d["width"] * cell)))
    for a, b in cv2.perspectiveTransform(np.float32(ends).reshape(-1, 1, 2), M).reshape(-1, 2, 2):
        if np.all(np.abs(np.concatenate([a, b])) < 4 * size):
            cv2.line(image, tuple(np.int32(a)), tuple(np.int32(b)), d["color"].tolist(), width, cv2.LINE_AA)


def illumination(size, gradient, level, shadow):
    """Float32 size x size light field: a linear gradient, optionally a soft-edged shadow."""
    t = (np.arange(size, dtype=np.float32) / size) - 0.5
    field = level * (1 + gradient[0] * t[None, :] + gradient[1] * t[:, None])
    if shadow:
        c, s = math.cos(shadow["angle"]), math.sin(shadow["angle"])
        d = c * t[None, :] + s * t[:, None] - shadow["offset"]
        inside = 1 / (1 + np.exp(np.clip(-d / shadow["softness"], -60, 60)))  # clipped: no overflow warning
        field = field * (1 - shadow["depth"] * inside)
    return np.clip(field, 0.05, 2.0).astype(np.float32)


def motion_blur(image, length, angle):
    """A line kernel of any length (px) and angle (degrees), normalised."""
    k = int(math.ceil(length)) | 1
    kernel = np.zeros((k, k), np.float32)
    cv2.line(kernel, (0, k // 2), (k - 1, k // 2), 1.0, 1, cv2.LINE_AA)
    M = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), angle, length / k)
    kernel = cv2.warpAffine(kernel, M, (k, k))
    return cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6), borderType=cv2.BORDER_REFLECT_101)


def render(params, ctx, timer=None):
    """Apply sampled robust parameters: (image BGR uint8, masks HxWxK uint8, pts 5x2 or None)."""
    t = timer or synth._NoTimer()
    p, size = params, ctx.size
    with t.step("background"):
        image = background(ctx.backgrounds[p["background"]], p["background_zoom"], p["background_shift"],
                           p["background_flip"])
        image = cv2.convertScaleAbs(image, alpha=p["background_brightness"])
    with t.step("quadrilateral"):
        M = cv2.getPerspectiveTransform(ctx.square, p["corners"])
    pts = None
    if not p["blank"]:
        with t.step("page"):
            page = printed_page(ctx.pattern_fine, p["ink"], p["paper"], p["tint"], p["shade_colors"])
            page, to_page = with_paper(page, p["paper_margin"], p["paper"], p["tint"])
            # The fine page has twice the resolution of the square that M maps from.
            M_fine = M @ np.diag([0.5, 0.5, 1.0]) @ to_page
        with t.step("warp pattern"):
            cv2.warpPerspective(page, M_fine, (size, size), dst=image, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_TRANSPARENT)
            pts = cv2.perspectiveTransform(ctx.page_points.reshape(-1, 1, 2), M).reshape(-1, 2)
    with t.step("overlay"):
        if p["overlay_alpha"] > 0:
            over = ctx.backgrounds[p["overlay"]]
            image = cv2.addWeighted(image, 1 - p["overlay_alpha"], over, p["overlay_alpha"], 0)
    with t.step("occluders"):
        if p["distractor"]:
            draw_distractor(image, p["distractor"])
        draw_occluders(image, p["occluders"], ctx.backgrounds)
    with t.step("light"):
        light = illumination(size, p["light_gradient"], p["light_level"] * p["exposure"], p["shadow"])
        image = cv2.multiply(image.astype(np.float32), cv2.merge([light] * 3))
    with t.step("lens distortion"):
        xy_map = synth.undistort_map(size, p["focal"], p["principal"], p["k1"])
        # Reflected, not black: a photo has no empty corners.
        image = cv2.remap(image, xy_map, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        if p["blank"]:
            masks = np.zeros((size, size, ctx.masks.shape[2]), np.uint8)
        else:
            masks = cv2.remap(ctx.masks, synth.compose_map(xy_map, np.linalg.inv(M)), None, cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT).reshape(size, size, -1)
            pts = synth.undistort_points(pts, p["focal"], p["principal"], p["k1"]).astype(np.float32)
    with t.step("camera"):
        if p["motion_blur"]:
            image = motion_blur(image, p["motion_blur"]["length"], p["motion_blur"]["angle"])
        if p["defocus"] > 0:
            image = cv2.GaussianBlur(image, (0, 0), p["defocus"])
        if p["noise"] > 0:
            noise = np.random.default_rng(p["noise_seed"]).standard_normal(image.shape, np.float32)
            image = image + noise * np.float32(p["noise"])
        image = np.clip(image, 0, 255).astype(np.uint8)
        if p["gray"]:
            image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        if p["jpeg_quality"]:
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, p["jpeg_quality"]])
            image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return image, masks, pts
