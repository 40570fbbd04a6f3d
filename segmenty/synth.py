"""Stage 3: one synthetic sample, as pure functions (used by samples.py and dataset.py).

`sample_params(rng, ctx)` draws every random number of a sample with the Context's recipe
(segmenty/recipes/); `render(params, ctx)` applies them deterministically and returns
(image, masks, pts):

    image  HxWx3 uint8, BGR (OpenCV's order; dataset.py converts to RGB)
    masks  HxWxK uint8, inside = 255, in pattern.json order (edges may be in between)
    pts    5x2 float (page centre, then page corners TL, TR, BR, BL) in image pixels, or None if blank

`generate(rng, ctx)` does both: (image, masks, pts, params). A seed reproduces a sample
exactly. Speed: the pattern and masks are resized to the sample size once (`Context`), not
for every sample.
"""

import cv2
import numpy as np

from segmenty import recipes

BLANK_PROB = 0.2  # the original's share of samples without the pattern


class Context:
    """What every sample of a run shares: backgrounds and the pattern, resized to `size` once.

    Args:
        backgrounds: uint8 array N x size x size x 3 (BGR), see samples.load_backgrounds.
        full: HxWx3 uint8 BGR pattern page.
        masks: list of HxW uint8 masks (inside = 255).
        mask_names: list of str.
        size: int, sample width = height.
        blank_prob: float, probability of a sample without the pattern. Defaults to 0.2.
        recipe: str, the name of a recipe (recipes.names()). Defaults to "segmenty", the original's.

    Raises:
        InvalidArgument: for an unknown recipe.
    """

    def __init__(self, backgrounds, full, masks, mask_names, size, blank_prob=BLANK_PROB, recipe=recipes.DEFAULT):
        prepare = getattr(recipes.get(recipe), "prepare", None)
        self.backgrounds = backgrounds
        self.size = size
        self.blank_prob = blank_prob
        self.recipe = recipe
        self.mask_names = list(mask_names)
        self.pattern = cv2.resize(full, (size, size), interpolation=cv2.INTER_CUBIC)
        self.masks = np.dstack([cv2.resize(m, (size, size), interpolation=cv2.INTER_AREA) for m in masks])
        self.page_aspect = full.shape[1] / full.shape[0]
        self.area_box = _pattern_box(masks[0])  # the pattern area, in shares of the page
        # Page coordinates are those of the resized page: the square (0,0)-(size-1,size-1).
        s = size - 1
        self.square = np.float32([[0, 0], [s, 0], [s, s], [0, s]])
        self.page_points = np.float32([[size / 2, size / 2], [0, 0], [s, 0], [s, s], [0, s]])
        if prepare:
            prepare(self, full)


def _pattern_box(mask):
    """The bounding box of mask 0's region (the pattern area) as shares of the page: (x0, y0, x1, y1), edges."""
    x, y, w, h = cv2.boundingRect((np.asarray(mask) > 127).astype(np.uint8))
    if not w:
        return (0.0, 0.0, 1.0, 1.0)
    H, W = mask.shape[:2]
    return (x / W, y / H, (x + w) / W, (y + h) / H)


def sample_params(rng, ctx):
    """Draw every random parameter of one sample with the Context's recipe.

    Args:
        rng: numpy Generator.
        ctx: Context.

    Returns:
        dict of plain values; `render(params, ctx)` turns it into a sample.
    """
    return recipes.get(ctx.recipe).sample_params(rng, ctx)


def render(params, ctx):
    """Apply sampled parameters: (image BGR uint8, masks HxWxK uint8, pts 5x2 or None)."""
    return recipes.get(ctx.recipe).render(params, ctx)


def generate(rng, ctx):
    """One sample drawn from `rng`, sample_params then render: (image, masks, pts, params)."""
    params = sample_params(rng, ctx)
    return (*render(params, ctx), params)
