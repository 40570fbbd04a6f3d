"""The `segmenty` recipe: the original's sample generation (docs/original.md, "Samples").

Its steps: backgrounds, shading, brightness, quadrilateral, blank-or-pattern, overlay,
masks, occluders, lens distortion, motion blur. Sizes scale with the sample size (the
original's is 256).

Speed: the masks' perspective warp and lens undistortion are composed into one remap; motion
blur is a mean of shifted copies instead of a 2-D convolution.
"""

import math

import cv2
import numpy as np

from segmenty import transforms

BASE_SIZE = 256  # the original's sample size; size-dependent parameters scale from it


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
        ctx: synth.Context.

    Returns:
        dict of plain values; `render(params, ctx)` turns it into a sample.
    """
    size, scale = ctx.size, ctx.size / BASE_SIZE
    n = len(ctx.backgrounds)
    return {
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


# ---------------------------------------------------------------- applying (deterministic)

def render(params, ctx):
    """Apply sampled parameters: (image BGR uint8, masks HxWxK uint8, pts 5x2 or None)."""
    p, size = params, ctx.size
    # The image is BGRA until the lens: OpenCV warps and remaps 4 channels twice as fast as 3.
    if not p["blank"]:
        pattern = transforms.shade(ctx.pattern, p["shade_colors"], p["brightness"][1])
        pattern = cv2.cvtColor(pattern, cv2.COLOR_BGR2BGRA)
    image = cv2.convertScaleAbs(ctx.backgrounds[p["background"]], alpha=p["brightness"][0])
    image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    M = cv2.getPerspectiveTransform(ctx.square, p["corners"])
    pts = None
    if not p["blank"]:
        # BORDER_TRANSPARENT: only the pixels the warped page covers change.
        cv2.warpPerspective(pattern, M, (size, size), dst=image, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_TRANSPARENT)
        pts = cv2.perspectiveTransform(ctx.page_points.reshape(-1, 1, 2), M).reshape(-1, 2)
    # The overlay's brightness folds into its weight (brightness <= 1: nothing to clip first).
    over = cv2.cvtColor(ctx.backgrounds[p["overlay"]], cv2.COLOR_BGR2BGRA)
    image = cv2.addWeighted(image, 1 - p["overlay_alpha"], over, p["overlay_alpha"] * p["brightness"][2], 0)
    transforms.draw_ellipses(image, p["ellipses"])
    xy_map = transforms.undistort_map(size, p["focal"], p["principal"], p["k1"])
    image = cv2.remap(image, xy_map, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if p["blank"]:
        masks = np.zeros((size, size, ctx.masks.shape[2]), np.uint8)
    else:
        # Masks: the perspective warp and the undistortion in one lookup.
        masks = cv2.remap(ctx.masks, transforms.compose_map(xy_map, np.linalg.inv(M)), None, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)
        masks = masks.reshape(size, size, -1)
        pts = transforms.undistort_points(pts, p["focal"], p["principal"], p["k1"]).astype(np.float32)
    if p["motion_blur"]:
        image = transforms.line_blur(image, p["blur_size"], p["blur_direction"])
    return image, masks, pts
