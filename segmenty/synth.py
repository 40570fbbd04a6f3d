"""Stage 3: one synthetic sample, as pure functions (used by samples.py and dataset.py).

`sample_params(rng, ctx)` draws every random number of a sample; `render(params, ctx)`
applies them deterministically and returns (image, masks, pts):

    image  HxWx3 uint8, BGR (OpenCV's order; dataset.py converts to RGB)
    masks  HxWxK uint8, inside = 255, in pattern.json order (edges may be in between)
    pts    5x2 float (page centre, then page corners TL, TR, BR, BL) in image pixels, or None if blank

The `segmenty` recipe is the original's eleven steps (SPEC.md, "Sample generation"):
backgrounds, shading, brightness, quadrilateral, blank-or-pattern, overlay, masks,
occluders, lens distortion, motion blur. Sizes scale with the image size (the original is 256).

Speed: the pattern and masks are resized to the sample size once (`Context`), and shaded
there, not at full resolution; the masks' perspective warp and lens undistortion are
composed into one remap; motion blur is a mean of shifted copies instead of a 2-D convolution.
"""

import math
import time
from contextlib import contextmanager

import cv2
import numpy as np

RECIPES = ("segmenty", "robust")  # robust: segmenty/robust.py, for real photos
BASE_SIZE = 256  # the original's sample size; size-dependent parameters scale from it


class Context:
    """What every sample of a run shares: backgrounds and the pattern, resized to `size` once.

    Args:
        backgrounds: uint8 array N x size x size x 3 (BGR), see samples.load_backgrounds.
        full: HxWx3 uint8 BGR pattern page.
        masks: list of HxW uint8 masks (inside = 255).
        mask_names: list of str.
        size: int, sample width = height.
        blank_prob: float, probability of a sample without the pattern. Defaults to 0.2.
        recipe: str, "segmenty" (the original) or "robust". Defaults to "segmenty".
    """

    def __init__(self, backgrounds, full, masks, mask_names, size, blank_prob=0.2, recipe="segmenty"):
        assert recipe in RECIPES
        self.backgrounds = backgrounds
        self.size = size
        self.blank_prob = blank_prob
        self.recipe = recipe
        self.mask_names = list(mask_names)
        self.pattern = cv2.resize(full, (size, size), interpolation=cv2.INTER_CUBIC)
        self.masks = np.dstack([cv2.resize(m, (size, size), interpolation=cv2.INTER_AREA) for m in masks])
        self.page_aspect = full.shape[1] / full.shape[0]
        if recipe == "robust":  # its pages may fill the frame: keep twice the detail
            self.pattern_fine = cv2.resize(full, (2 * size, 2 * size), interpolation=cv2.INTER_AREA)
        # Page coordinates are those of the resized page: the square (0,0)-(size-1,size-1).
        s = size - 1
        self.square = np.float32([[0, 0], [s, 0], [s, s], [0, s]])
        self.page_points = np.float32([[size / 2, size / 2], [0, 0], [s, 0], [s, s], [0, s]])


# ---------------------------------------------------------------- sampling

def sample_quad(rng, size):
    """Corners of the original's random quadrilateral: a centre, a radius and four sorted angles."""
    scale = size / BASE_SIZE
    centre = rng.integers(0, size + 1, 2)
    radius = float(np.clip(rng.normal(128 * scale, 128 * scale), 32 * scale, 256 * scale))
    # The first angle is uniform; each next one adds U(pi/8, 3pi/4), wrapping at 2 pi.
    steps = np.concatenate([rng.uniform(0, 2 * math.pi, 1), rng.uniform(math.pi / 8, 0.75 * math.pi, 3)])
    angles = np.sort(np.cumsum(steps) % (2 * math.pi))
    return (centre + radius * np.stack([np.cos(angles), np.sin(angles)], 1)).astype(np.float32)


def sample_params(rng, ctx):
    """Draw every random parameter of one sample.

    Args:
        rng: numpy Generator.
        ctx: Context.

    Returns:
        dict of plain values; `render(params, ctx)` turns it into a sample.
    """
    if ctx.recipe == "robust":
        from segmenty import robust
        return robust.sample_params(rng, ctx)
    size, scale = ctx.size, ctx.size / BASE_SIZE
    n = len(ctx.backgrounds)
    p = {
        "background": int(rng.integers(n)),
        "overlay": int(rng.integers(n)),
        "shade_colors": rng.uniform(0, 1, (2, 3)),  # RGB, top row then bottom row
        "brightness": rng.uniform(0.33, 1.0, 3),  # background, pattern, overlay
        "corners": sample_quad(rng, size),
        "blank": bool(rng.uniform() < ctx.blank_prob),
        "overlay_alpha": float(rng.uniform(0, 0.5)),
        "ellipses": {"centres": rng.uniform(0, size, (10, 2)), "axes": rng.integers(0, int(51 * scale) + 1, (10, 2)),
                     "angles": rng.uniform(0, 360, 10), "colors": rng.uniform(0, 255, (10, 3))},
        # Focal length scales with size so the distortion looks the same at every size.
        "focal": float(rng.uniform(14, 20)) * scale,
        "principal": (float(rng.uniform(0.4, 0.6)) * size, float(rng.uniform(0.4, 0.6)) * size),
        "k1": float(rng.normal(0, 0.001)),
        "motion_blur": bool(rng.uniform() < 0.5),
        "blur_size": int(rng.integers(max(2, round(3 * scale)), max(3, round(15 * scale)) + 1)),
        "blur_direction": int(rng.integers(8)),
    }
    return p


# ---------------------------------------------------------------- applying (deterministic)

def shade(pattern, colors, brightness=1.0):
    """Multiply a uint8 page by a vertical gradient from colors[0] (top row) to colors[1] (bottom row).

    Colours are RGB in [0, 1]; the page is BGR. Returns uint8.
    """
    h, w = pattern.shape[:2]
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    bgr = np.asarray(colors, np.float32)[:, ::-1]
    column = np.clip(((1 - t) * bgr[0] + t * bgr[1]) * (brightness * 255) + 0.5, 0, 255).astype(np.uint8)
    gradient = cv2.resize(column, (w, h), interpolation=cv2.INTER_NEAREST)
    return cv2.multiply(pattern, gradient, scale=1 / 255)


def camera(focal, principal, k1):
    """Camera matrix and distortion coefficients (k1 only; k2 = p1 = p2 = 0)."""
    K = np.float64([[focal, 0, principal[0]], [0, focal, principal[1]], [0, 0, 1]])
    return K, np.float64([k1, 0, 0, 0])


def undistort_map(size, focal, principal, k1):
    """A size x size x 2 float32 map for cv2.remap that does what cv2.undistort does with this camera."""
    K, dist = camera(focal, principal, k1)
    xy_map, _ = cv2.initUndistortRectifyMap(K, dist, None, K, (size, size), cv2.CV_32FC2)
    return xy_map


def undistort_points(pts, focal, principal, k1):
    K, dist = camera(focal, principal, k1)
    return cv2.undistortPoints(np.float64(pts).reshape(-1, 1, 2), K, dist, P=K).reshape(-1, 2)


def compose_map(xy_map, inverse_homography):
    """A map that first undistorts, then looks up through a perspective warp's inverse."""
    h, w = xy_map.shape[:2]
    return cv2.perspectiveTransform(xy_map.reshape(-1, 1, 2), inverse_homography).reshape(h, w, 2)


def line_blur(img, length, direction):
    """Mean along a line of `length` px through each pixel, in one of 8 directions (45 degree steps)."""
    dx, dy = [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)][direction % 8]
    r = length // 2
    offsets = range(-r, r + 1) if length % 2 else range(-r, r)  # even lengths: one step fewer
    if dx == 0 or dy == 0:  # a box filter, 3x faster; its anchor puts the same pixels under the line
        anchor = -min(offsets) if dx + dy > 0 else max(offsets)
        ksize, point = ((length, 1), (anchor, 0)) if dy == 0 else ((1, length), (0, anchor))
        return cv2.blur(img, ksize, anchor=point, borderType=cv2.BORDER_REFLECT_101)
    padded = cv2.copyMakeBorder(img, r, r, r, r, cv2.BORDER_REFLECT_101)
    h, w = img.shape[:2]
    acc = np.zeros(img.shape, np.uint16)
    for k in offsets:
        acc += padded[r + k * dy:r + k * dy + h, r + k * dx:r + k * dx + w]
    return ((acc + len(offsets) // 2) // len(offsets)).astype(np.uint8)


def draw_ellipses(image, ellipses):
    e = ellipses
    for (x, y), (a, b), angle, color in zip(e["centres"].astype(int).tolist(), e["axes"].tolist(),
                                            e["angles"].tolist(), e["colors"].tolist()):
        cv2.ellipse(image, (x, y), (a, b), angle, 0, 360, color, -1)


class Timer:
    """Accumulated seconds per step, for the benchmark's breakdown."""

    def __init__(self):
        self.seconds = {}

    @contextmanager
    def step(self, name):
        t0 = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0


class _NoTimer:
    @contextmanager
    def step(self, name):
        yield


def render(params, ctx, timer=None):
    """Apply sampled parameters: returns (image BGR uint8, masks HxWxK uint8, pts 5x2 or None)."""
    if ctx.recipe == "robust":
        from segmenty import robust
        return robust.render(params, ctx, timer)
    t = timer or _NoTimer()
    p, size = params, ctx.size
    # The image is BGRA until the lens: OpenCV warps and remaps 4 channels twice as fast as 3.
    with t.step("shading"):
        if not p["blank"]:
            pattern = cv2.cvtColor(shade(ctx.pattern, p["shade_colors"], p["brightness"][1]), cv2.COLOR_BGR2BGRA)
    with t.step("brightness"):
        image = cv2.convertScaleAbs(ctx.backgrounds[p["background"]], alpha=p["brightness"][0])
        image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    with t.step("quadrilateral"):
        M = cv2.getPerspectiveTransform(ctx.square, p["corners"])
    pts = None
    with t.step("warp pattern"):
        if not p["blank"]:
            # BORDER_TRANSPARENT: only the pixels the warped page covers change.
            cv2.warpPerspective(pattern, M, (size, size), dst=image, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_TRANSPARENT)
            pts = cv2.perspectiveTransform(ctx.page_points.reshape(-1, 1, 2), M).reshape(-1, 2)
    with t.step("overlay"):
        # The overlay's brightness folds into its weight (brightness <= 1: nothing to clip first).
        over = cv2.cvtColor(ctx.backgrounds[p["overlay"]], cv2.COLOR_BGR2BGRA)
        image = cv2.addWeighted(image, 1 - p["overlay_alpha"], over, p["overlay_alpha"] * p["brightness"][2], 0)
    with t.step("occluders"):
        draw_ellipses(image, p["ellipses"])
    with t.step("lens distortion"):
        xy_map = undistort_map(size, p["focal"], p["principal"], p["k1"])
        image = cv2.remap(image, xy_map, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        if p["blank"]:
            masks = np.zeros((size, size, ctx.masks.shape[2]), np.uint8)
        else:
            # Masks: the perspective warp and the undistortion in one lookup.
            masks = cv2.remap(ctx.masks, compose_map(xy_map, np.linalg.inv(M)), None, cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
            masks = masks.reshape(size, size, -1)
            pts = undistort_points(pts, p["focal"], p["principal"], p["k1"]).astype(np.float32)
    with t.step("motion blur"):
        if p["motion_blur"]:
            image = line_blur(image, p["blur_size"], p["blur_direction"])
    return image, masks, pts


def generate(rng, ctx, timer=None):
    """One sample: (image, masks, pts, params). The convenience of sample_params + render."""
    params = sample_params(rng, ctx)
    image, masks, pts = render(params, ctx, timer)
    return image, masks, pts, params
