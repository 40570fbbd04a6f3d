"""Stage 5: run a trained model on photos (test_segmenter.py).

Writes, for each photo <stem> (a name used twice gets _2, _3, ...):

    OUT/<stem>_in.jpg              what the model saw (the photo resized to the model's input)
    OUT/<stem>_out<K>_<name>.png   mask K's probability, 0..255 grayscale, at the photo's own resolution
    OUT/<stem>_overlay.jpg         the photo, each mask tinted in its colour, the found pattern outlined
    OUT/results.json               {"model", "mask_names", "image_size", "thresholds",
                                    "images": [{"source", "input", "masks", "overlay", "size": [w, h],
                                                "present", "agreement", "likeness", "area", "bbox", "quad", "zoom"}
                                               or {"source", "error"}]}

A pattern found small in the frame gets a second, closer look: the model runs again on a square
window around the find (`zoom`: [x0, y0, x1, y1] in photo pixels, or null), which sees it with
more pixels and sharpens its edges. The close-up replaces the first look only where it confirms
it (the find keeps its area within ZOOM_KEEP); --no-zoom turns this off. Each look averages
the model's view of the photo with its view of the mirror image (--no-flip: one view, half the model's time).

`present`, `agreement`, `bbox` and `quad` describe the full-pattern mask (channel 0): its
largest connected component above the threshold. `present` is that component's mean
probability, scaled down when the component is smaller than MIN_AREA of the photo, so specks
never count as a find. `agreement` checks the other masks: for each mask that covers a large
share of a true find (its `coverage`, measured on held-out samples during training), the share
it covers in this component, relative to that; the lowest of them, or null when no mask
qualifies. The pattern is found when present >= PRESENT and agreement >= AGREEMENT: something
merely page-like, whose inner structure is missing, is not a find. A find whose masks agree less
than CONFIRM_BELOW must also look like what was printed: `likeness` is how much the photo inside
its quad correlates with the pattern's picture, which the model carries (see likeness); under
LIKENESS, it is not a find. `likeness` is null when there is no picture (--no-likeness), or when
the quad runs out of the photo, where it outlines only the part in view.
`quad` is the four-cornered polygon that best explains the component, clockwise, in photo pixels:
fitted to its outline, then moved until it holds as much probability above QUAD_LEVEL, and as
little below, as it can (a pattern running out of frame has corners outside the photo). A
printed pattern is flat, so its outline is four straight lines, even where the model's edge
wavers (a white square on the border looks like the paper around it). The full-pattern mask of
a found pattern is then snapped to that quad: redrawn as the quad over the component and the
quad (--no-snap keeps the model's own mask).
"""

import concurrent.futures
import json
import os
import sys
import time

import cv2
import numpy as np

from segmenty.errors import InvalidArgument, SegmentyError
from segmenty.images import list_images, model_input, read_photo
from segmenty.samples import PNG_PARAMS

MIN_AREA = 0.005  # share of the photo below which a component is noise, not a pattern
PRESENT = 0.5  # `present` at or above this means "the pattern is in the photo"
AGREEMENT = 0.5  # a find's other masks cover at least this share of what they cover on a true find
# Four chessboard models: the false finds on a fence and a reflection (agreement 0.54-0.72) had
# likeness 0.06-0.13; the 12 true finds with agreement under 0.8, all blurred, 0.25 and more.
CONFIRM_BELOW = 0.8
LIKENESS = 0.15
SPREAD = 0.2  # masks covering less of a true find (a centre dot, say) may be out of frame: not checked
ZOOM_MARGIN = 0.25  # a second look at a find frames it with this share of its extent on each side
ZOOM_MAX = 0.5  # ... unless that window would cover more than this share of the photo anyway
ZOOM_KEEP = 0.8  # the second look is kept if the find's area changes by less than this factor
# A quad is moved to cover probabilities above this level and leave those below. The calibrated
# thresholds (about 0.75) cut inside a board's edge; 0.5 let a soft edge spill into the paper.
QUAD_LEVEL = 0.6
QUAD_MAX_SIDE = 400  # the quad is refined on probabilities resized to at most this many pixels a side
# BGR tints of the masks in the overlay, in channel order (repeats after six).
COLORS = [(40, 200, 40), (40, 40, 230), (230, 130, 30), (30, 210, 250), (200, 40, 200), (220, 220, 40)]
OUTLINE = (255, 0, 255)


# ---------------------------------------------------------------- outputs (pure)

def to_photo_size(probs, size):
    """Model-size probabilities (h, w, K) -> (H, W, K) at the photo's size (w, h) = size."""
    up = cv2.resize(probs, tuple(size), interpolation=cv2.INTER_LINEAR)
    return up.reshape(size[1], size[0], -1)


def zoom_window(probs, threshold, size):
    """The square of the photo to look at again, (x0, y0, x1, y1) in photo pixels, or None.

    A pattern found small in the frame was seen with few pixels: a second pass over a window
    around it, resized to the model's input, sees it larger and gives sharper edges.

    Args:
        probs: model-size probabilities (h, w, K); channel 0 is the full pattern.
        threshold: float, where channel 0 is cut.
        size: (W, H), the photo's size.
    """
    component, area = largest_component(probs[..., 0] > threshold)
    if component is None or area < MIN_AREA * component.size:
        return None
    (W, H), (h, w) = size, component.shape
    x, y, bw, bh = cv2.boundingRect(component.astype(np.uint8))
    # The find's extent in photo pixels; a square window keeps the photo's proportions.
    cx, cy = (x + bw / 2) * W / w, (y + bh / 2) * H / h
    side = (1 + 2 * ZOOM_MARGIN) * max(bw * W / w, bh * H / h)
    if side > min(W, H) or side * side > ZOOM_MAX * W * H:
        return None
    x0 = int(round(min(max(cx - side / 2, 0), W - side)))
    y0 = int(round(min(max(cy - side / 2, 0), H - side)))
    return x0, y0, x0 + int(round(side)), y0 + int(round(side))


def crop(rgb, window):
    x0, y0, x1, y1 = window
    return rgb[y0:y1, x0:x1]


def closer_looks(predict, photos, windows, size):
    """The model's probabilities over each photo's window, in one batch; None where there is no window."""
    looks = [i for i, window in enumerate(windows) if window]
    closer = [None] * len(photos)
    for i, probs in zip(looks, predict([model_input(crop(photos[i], windows[i]), size) for i in looks])
                        if looks else []):
        closer[i] = probs
    return closer


def zoomed(probs_full, window, probs_window):
    """Photo-size probabilities with the second look's `probs_window` (model size) in place over `window`."""
    x0, y0, x1, y1 = window
    out = probs_full.copy()
    out[y0:y1, x0:x1] = to_photo_size(probs_window, (x1 - x0, y1 - y0))
    return out


def confirmed(before, after, threshold):
    """Whether a second look `after` (photo-size probabilities) confirms the first, `before`.

    Seen closer, a pattern keeps its area, give or take its edges. A close-up that shrinks or
    grows the find is beyond what the model learned (heavy motion blur, magnified, say).
    """
    _, area_before = largest_component(before[..., 0] > threshold)
    _, area_after = largest_component(after[..., 0] > threshold)
    return ZOOM_KEEP <= area_after / max(area_before, 1) <= 1 / ZOOM_KEEP


def largest_component(binary):
    """(mask of the largest 8-connected component, its area in pixels); (None, 0) when empty."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    if n <= 1:
        return None, 0
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == best, int(stats[best, cv2.CC_STAT_AREA])


def clockwise_from_top_left(quad):
    """Reorder 4 points clockwise on screen (y down), starting at the one nearest the top-left."""
    quad = np.asarray(quad, np.float64)
    x, y = quad[:, 0], quad[:, 1]
    if np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) < 0:  # counter-clockwise on screen
        quad = quad[::-1]
    start = int(np.argmin(quad.sum(1)))
    return np.roll(quad, -start, axis=0)


def _line_through(points):
    vx, vy, x0, y0 = cv2.fitLine(points.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
    return np.array([x0, y0]), np.array([vx, vy])


def _cross(a, b):
    """z of the 2-D cross product: twice the signed triangle area (numpy 2.5 dropped 2-D np.cross)."""
    return a[0] * b[1] - a[1] * b[0]


def _intersect(a, b):
    (p, u), (q, v) = a, b
    det = _cross(u, v)
    if abs(det) < 1e-6:
        return None
    return p + _cross(q - p, v) / det * u


def fit_quad(component):
    """Four corners, clockwise, of the quadrilateral that best matches a component's outline.

    Coarse: vertices of the convex hull are dropped one at a time, always the one whose removal
    loses the least area, until four remain. Fine: a line is fitted to the outline points along
    each side, and neighbouring lines are intersected, which puts corners between pixels.
    """
    contours, _ = cv2.findContours(component.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
    hull = cv2.convexHull(outline.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    if len(hull) < 4:
        x, y, w, h = cv2.boundingRect(component.astype(np.uint8))
        return clockwise_from_top_left([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    pts = list(hull)
    while len(pts) > 4:
        losses = [abs(_cross(pts[i] - pts[i - 1], pts[(i + 1) % len(pts)] - pts[i - 1])) for i in range(len(pts))]
        pts.pop(int(np.argmin(losses)))
    coarse = np.array(pts)
    # Each outline point belongs to the side it is nearest to; the ends of a side are left out
    # because corners are rounded there.
    starts, ends = coarse, np.roll(coarse, -1, axis=0)
    dist = np.stack([_segment_distance(outline, a, b) for a, b in zip(starts, ends)], 1)
    side = np.argmin(dist, 1)
    lines = []
    for k, (a, b) in enumerate(zip(starts, ends)):
        on = outline[side == k]
        t = (on - a) @ (b - a) / max(np.dot(b - a, b - a), 1e-9)
        on = on[(t > 0.15) & (t < 0.85)]
        lines.append(_line_through(on) if len(on) >= 2 else None)
    fine = []
    reach = 0.25 * np.linalg.norm(coarse.max(0) - coarse.min(0))
    for k in range(4):
        corner = None if lines[k - 1] is None or lines[k] is None else _intersect(lines[k - 1], lines[k])
        ok = corner is not None and np.linalg.norm(corner - coarse[k]) < reach
        fine.append(corner if ok else coarse[k])
    # The outline runs through pixel centres of the edge pixels; the region's edge is half a pixel out.
    centre = np.mean(fine, 0)
    fine = [c + 0.5 * (c - centre) / max(np.linalg.norm(c - centre), 1e-9) for c in fine]
    return clockwise_from_top_left(fine)


def _ncc(a, b):
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / norm if norm > 1e-6 else 0.0


def likeness(gray, quad, picture, shift=0.03, scales=(0.97, 1.0, 1.03)):
    """How much the photo inside `quad` looks like the pattern's picture, -1..1.

    The photo is warped onto the picture and correlated with it (normalized cross-correlation),
    for each of the four ways the quad's corners can map onto the picture's, and for shifts of
    `shift` of its size and the given scalings, since a quad is a few percent off; the best wins.

    Args:
        gray: float32 H x W, the photo in gray.
        quad: 4 x 2 corners in photo pixels, clockwise.
        picture: uint8 2D array, the pattern where mask 0 covers it (patterns.pattern_picture).

    Returns:
        float, or None when the quad runs out of the photo or the picture is flat.
    """
    quad = np.asarray(quad, np.float32)
    h, w = gray.shape
    margin = 0.01 * max(h, w)
    if not ((quad >= margin).all() and (quad <= [w - 1 - margin, h - 1 - margin]).all()):
        return None
    picture = np.asarray(picture, np.float32)
    if picture.std() < 1:
        return None
    # Warping samples the photo; shrink it first so the quad is about twice the picture's size.
    scale = min(1.0, 2 * max(picture.shape) / max(np.ptp(quad, axis=0).max(), 1))
    if scale < 1:
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        quad = quad * scale
    best = -1.0
    for turns in range(4):
        target = np.rot90(picture, turns)
        th, tw = target.shape
        corners = np.float32([[0, 0], [tw, 0], [tw, th], [0, th]]) - [tw / 2, th / 2]
        for dx in (-shift, 0, shift):
            for dy in (-shift, 0, shift):
                for s in scales:
                    dst = np.float32(corners * s + [tw / 2 + dx * tw, th / 2 + dy * th])
                    warped = cv2.warpPerspective(gray, cv2.getPerspectiveTransform(quad, dst), (tw, th),
                                                 flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                    best = max(best, _ncc(warped, target))
    return round(best, 4)


def quad_coverage(quad, shape):
    """uint8 H x W raster of a quad, 255 inside, anti-aliased at its edges (corners in pixel-edge coordinates)."""
    raster = np.zeros(shape, np.uint8)
    cv2.fillPoly(raster, [np.round((np.asarray(quad) - 0.5) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return raster


def refine_quad(prob, quad, level=QUAD_LEVEL, max_side=QUAD_MAX_SIDE):
    """Move a quad's corners until it best agrees with a probability map.

    The score is the sum of (prob - level) over the quad: pixels above `level` pay to be inside,
    pixels below pay to be outside. Coordinate descent, one corner coordinate at a time, with a
    halving step, from `quad` (fit_quad's), so it stays a local correction. Corners may leave the
    photo, as a partly framed pattern's do.

    Args:
        prob: float array H x W, channel 0's probabilities.
        quad: 4 x 2 corners in pixels.
        level: float, the probability that is neither in nor out. Defaults to QUAD_LEVEL.
        max_side: int, refine on a copy of `prob` at most this large, for speed.

    Returns:
        4 x 2 float array, clockwise from the top left; `quad` itself if refining broke its convexity.
    """
    h, w = prob.shape
    scale = min(1.0, max_side / max(h, w))
    small = prob if scale == 1 else cv2.resize(prob, (max(1, round(w * scale)), max(1, round(h * scale))),
                                              interpolation=cv2.INTER_AREA)
    gain = (small - level).astype(np.float32) / 255
    score = lambda q: float(np.tensordot(quad_coverage(q, small.shape).astype(np.float32), gain))
    best_quad = np.asarray(quad, np.float64) * scale
    best = score(best_quad)
    step = 0.02 * np.ptp(best_quad, axis=0).max()
    while step > 0.2:
        improved = False
        for corner in range(4):
            for axis in range(2):
                for sign in (1, -1):
                    trial = best_quad.copy()
                    trial[corner, axis] += sign * step
                    value = score(trial)
                    if value > best:
                        best, best_quad, improved = value, trial, True
        if not improved:
            step /= 2
    refined = best_quad / scale
    return clockwise_from_top_left(refined if cv2.isContourConvex(refined.astype(np.float32)) else quad)


def snapped(prob, component, quad):
    """Channel 0 with the find redrawn as its quad: over the component and the quad, the quad's raster."""
    raster = quad_coverage(quad, prob.shape)
    region = cv2.dilate((component | (raster > 0)).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    out = prob.copy()
    out[region] = raster[region] / 255.0
    return out


def _segment_distance(points, a, b):
    ab = b - a
    t = np.clip((points - a) @ ab / max(np.dot(ab, ab), 1e-9), 0, 1)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def describe_pattern(probs, thresholds, coverage=None, gray=None, picture=None):
    """present, agreement, likeness, bbox and quad of the full pattern (see the module docstring).

    Args:
        probs: float array H x W x K, the masks' probabilities (0..1); channel 0 is the full pattern.
        thresholds: K floats, where each mask's probabilities are cut.
        coverage: K floats or None, each mask's share of a true find (the model's calibration).
        gray: float32 H x W or None, the photo in gray, to compare a find with `picture`.
        picture: uint8 2D array or None, the pattern's picture (patterns.pattern_picture).
    """
    component, area = largest_component(probs[..., 0] > thresholds[0])
    if component is None:
        return {"present": 0.0, "agreement": None, "likeness": None, "bbox": None, "quad": None}
    present = float(probs[..., 0][component].mean()) * min(1.0, area / (MIN_AREA * component.size))
    shares = [float((probs[..., k][component] > thresholds[k]).mean()) / expected
              for k, expected in enumerate(coverage or []) if k and expected >= SPREAD]
    agreement = round(min(1.0, *shares), 4) if shares else None
    lost = {"present": round(present, 4), "agreement": agreement, "likeness": None, "bbox": None, "quad": None}
    if present < PRESENT or (agreement is not None and agreement < AGREEMENT):
        return lost
    quad = refine_quad(probs[..., 0], fit_quad(component))
    similar = likeness(gray, quad, picture) if gray is not None and picture is not None else None
    if similar is not None and similar < LIKENESS and agreement is not None and agreement < CONFIRM_BELOW:
        return {**lost, "likeness": similar}
    x, y, w, h = cv2.boundingRect(component.astype(np.uint8))
    return {"present": round(present, 4), "agreement": agreement, "likeness": similar, "bbox": [x, y, w, h],
            "quad": np.round(quad, 1).tolist()}


def overlay(rgb, probs, names, quad=None, thresholds=None):
    """BGR picture: the photo with each mask tinted in its colour, the quad outlined, a legend."""
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    for k in range(probs.shape[2]):
        inside = (probs[..., k] > (0.5 if thresholds is None else thresholds[k])).astype(np.uint8)
        if inside.any():
            tint = cv2.add(cv2.convertScaleAbs(img, alpha=0.55), tuple(0.45 * c for c in COLORS[k % len(COLORS)]) + (0,))
            cv2.copyTo(tint, inside, img)
    scale = max(img.shape[:2]) / 640
    thick = max(1, round(3 * scale))
    if quad is not None:
        cv2.polylines(img, [np.int32(np.round(quad))], True, OUTLINE, thick, cv2.LINE_AA)
    for k, name in enumerate(names):
        org = (round(8 * scale), round((22 + 22 * k) * scale))
        cv2.putText(img, name, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(img, name, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, COLORS[k % len(COLORS)], thick, cv2.LINE_AA)
    return img


# ---------------------------------------------------------------- the run

def unique_stem(path, used):
    stem = os.path.splitext(os.path.basename(path))[0]
    candidate, k = stem, 1
    while candidate in used:
        k += 1
        candidate = f"{stem}_{k}"
    used.add(candidate)
    return candidate


def write_outputs(out, stem, rgb, seen, probs, names, thresholds, coverage=None, snap=True, picture=None):
    """Write one photo's files from its photo-size probabilities.

    Returns:
        (its results.json entry without source, the probabilities as written: snapped if `snap`).
    """
    h, w = rgb.shape[:2]
    entry = {"input": os.path.join(out, f"{stem}_in.jpg"), "masks": [], "size": [w, h]}
    cv2.imwrite(entry["input"], cv2.cvtColor(seen.astype(np.uint8), cv2.COLOR_RGB2BGR))
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) if picture is not None else None
    entry.update(describe_pattern(probs, thresholds, coverage, gray, picture))
    if snap and entry["quad"] is not None:
        component, _ = largest_component(probs[..., 0] > thresholds[0])
        probs = probs.copy()
        probs[..., 0] = snapped(probs[..., 0], component, entry["quad"])
    for k, name in enumerate(names):
        path = os.path.join(out, f"{stem}_out{k}_{name}.png")
        cv2.imwrite(path, np.clip(probs[..., k] * 255 + 0.5, 0, 255).astype(np.uint8), PNG_PARAMS)
        entry["masks"].append(path)
    entry["area"] = [round(float((probs[..., k] > t).mean()), 5) for k, t in enumerate(thresholds)]
    entry["overlay"] = os.path.join(out, f"{stem}_overlay.jpg")
    cv2.imwrite(entry["overlay"], overlay(rgb, probs, names, entry["quad"], thresholds))
    return entry, probs


def check_threshold(threshold):
    if threshold is not None and not 0 < threshold < 1:
        raise InvalidArgument("threshold", threshold, "0 < t < 1")


def model_thresholds(info, threshold=None):
    """One threshold per mask: `threshold` for all, else the model's calibrated ones, else 0.5."""
    n = len(info["mask_names"])
    if threshold is not None:
        return [threshold] * n
    return list(info.get("thresholds") or [0.5] * n)


def load_segmenter(path, image_size=None, batch_size=8, flip=True):
    """(predict function, info) of a segmenty model; SegmentyError with one line otherwise.

    The function takes a list of model inputs and always runs full batches, so the backend
    compiles once, here, during the load rather than in the middle of the photos. With `flip`,
    it averages the model's view of each input with its view of the mirror image, mirrored
    back: the pattern looks the same either way, the model's mistakes mostly don't.
    """
    from segmenty import model as models
    from segmenty.devices import gpu_count
    model, info = models.load(path, compile=False)
    # bf16 on a GPU, float32 on any CPU, whatever it was trained in: the real-photo figures were
    # measured in float32, and a laptop has no bf16 units.
    model = models.with_policy(model, info, "mixed_bfloat16" if gpu_count() else "float32")
    size = image_size or info["image_size"]
    if size % models.input_multiple(info):
        raise InvalidArgument("image_size", size, f"a multiple of {models.input_multiple(info)} for this model")
    empty = np.zeros((batch_size, size, size, 3), np.float32)

    def predict(inputs):
        batch = empty.copy()
        if len(inputs):
            batch[:len(inputs)] = np.stack(inputs)
        probs = np.asarray(model.predict_on_batch(batch), np.float32)
        if flip:
            mirrored = model.predict_on_batch(np.ascontiguousarray(batch[:, :, ::-1]))
            probs = (probs + np.asarray(mirrored, np.float32)[:, :, ::-1]) / 2
        return probs[:len(inputs)]

    predict([])
    return predict, {**info, "input_size": size}


def pattern_picture_for(info, pattern=None):
    """The picture to check finds against: the `pattern` folder's if given, else the model's, else None."""
    if pattern is None:
        return np.asarray(info["picture"], np.uint8) if info.get("picture") else None
    from segmenty.patterns import mask_names, pattern_picture
    names = mask_names(pattern)
    if names != list(info["mask_names"]):
        raise InvalidArgument("pattern", pattern, f"a pattern folder with the model's masks {info['mask_names']}, "
                              f"not {names}")
    return pattern_picture(pattern)


def segment(model_path, inputs, out, limit=10, threshold=None, batch_size=8, image_size=None, on_result=None,
            zoom=True, flip=True, snap=True, pattern=None, check_likeness=True):
    """Run a model on photos and write masks, overlays and results.json (see the module docstring).

    Args:
        model_path: str, a .keras file written by train_segmenter.py.
        inputs: list of str, image files or folders.
        out: str, output folder (created).
        limit: int, at most this many photos; 0 for all. Defaults to 10.
        threshold: float or None, probability above which a pixel is inside a mask; None for the
            model's calibrated thresholds (0.5 for a model without them). Defaults to None.
        batch_size: int, photos per forward pass. Defaults to 8.
        image_size: int or None, the model's input size to use; None for the size it was trained at.
        on_result: callable(entry, probs at photo size, thresholds) or None, e.g. to score each photo.
        zoom: bool, take a second look at a pattern found small in the frame (see zoom_window).
            Defaults to True.
        flip: bool, average each view with the mirror image's (see load_segmenter). Defaults to True.
        snap: bool, redraw a found pattern's full-pattern mask as its quad (see snapped). Defaults to True.
        pattern: str or None, a pattern folder whose picture replaces the model's (see likeness).
        check_likeness: bool, check doubtful finds against the pattern's picture. Defaults to True.

    Returns:
        dict, the content of results.json, plus "seconds" (excluding the model load).
    """
    check_threshold(threshold)
    paths = list_images(inputs, limit)
    predict, info = load_segmenter(model_path, image_size, batch_size, flip)
    names, size = info["mask_names"], info["input_size"]
    thresholds = model_thresholds(info, threshold)
    # The agreement check only holds at the thresholds the coverage was measured with.
    coverage = info.get("coverage") if threshold is None else None
    picture = pattern_picture_for(info, pattern) if check_likeness else None
    os.makedirs(out, exist_ok=True)
    results = {"model": model_path, "mask_names": names, "image_size": size, "thresholds": thresholds, "images": []}
    used = set()
    stems = [unique_stem(p, used) for p in paths]

    def load(path):
        try:
            rgb = read_photo(path)
        except ValueError as e:
            return path, e, None
        return path, rgb, model_input(rgb, size)

    def finish(path, stem, rgb, seen, probs, window, probs_window):
        full = to_photo_size(probs, (rgb.shape[1], rgb.shape[0]))
        if window:
            closer = zoomed(full, window, probs_window)
            full, window = (closer, window) if confirmed(full, closer, thresholds[0]) else (full, None)
        entry, full = write_outputs(out, stem, rgb, seen, full, names, thresholds, coverage, snap, picture)
        return {"source": path, **entry, "zoom": window and list(window)}, full

    started = time.monotonic()
    # OpenCV and the decoders release the GIL: threads overlap decoding, writing and the model.
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        for first in range(0, len(paths), batch_size):
            loaded = list(pool.map(load, paths[first:first + batch_size]))
            good = [(path, rgb, seen, stem) for (path, rgb, seen), stem in zip(loaded, stems[first:])
                    if seen is not None]
            for path, err, seen in loaded:
                if seen is None:
                    results["images"].append({"source": path, "error": str(err)})
                    print(f"warning: {path}: {err}", file=sys.stderr)
            if not good:
                continue
            probs = predict([g[2] for g in good])
            windows = [zoom_window(p, thresholds[0], (rgb.shape[1], rgb.shape[0])) if zoom else None
                       for (_, rgb, _, _), p in zip(good, probs)]
            closer = closer_looks(predict, [g[1] for g in good], windows, size)
            done = pool.map(lambda a: finish(*a), [(path, stem, rgb, seen, p, window, c) for (path, rgb, seen, stem), p,
                                                   window, c in zip(good, probs, windows, closer)])
            for entry, full in done:
                results["images"].append(entry)
                if on_result:
                    on_result(entry, full, thresholds)
    results["seconds"] = round(time.monotonic() - started, 3)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({k: v for k, v in results.items() if k != "seconds"}, f, indent=1)
    return results


def test_segmenter(model_path, inputs, out, limit=10, threshold=None, truth=None, batch_size=8, image_size=None,
                   zoom=True, flip=True, snap=True, pattern=None, check_likeness=True):
    """segment(), then, with `truth`, score the masks, print the table and write OUT/metrics.json.

    Returns:
        tuple (results dict, metrics dict or None).
    """
    from segmenty import evaluate
    evaluator = None
    if truth:
        check_threshold(threshold)
        evaluator = evaluate.Evaluator(truth)
        paths = list_images(inputs, limit)
        if not any(evaluator.covers(p) for p in paths):
            raise SegmentyError(f"none of the {len(paths)} photos has an entry in `truth` {truth} "
                            "(quad files match by file name, sample indexes by path)")
    results = segment(model_path, inputs, out, limit, threshold, batch_size, image_size,
                      on_result=evaluator.add if evaluator else None, zoom=zoom, flip=flip, snap=snap,
                      pattern=pattern, check_likeness=check_likeness)
    done = [e for e in results["images"] if "error" not in e]
    print(f"wrote {len(done)} photos to {out}/ ({len(done) / max(results['seconds'], 1e-9):.1f} photos/s); "
          f"look at {out}/*_overlay.jpg", file=sys.stderr)
    errors = len(results["images"]) - len(done)
    if errors:
        print(f"{errors} unreadable photo(s) listed with an error in {out}/results.json", file=sys.stderr)
    metrics = None
    if evaluator:
        metrics = evaluator.metrics(results["mask_names"])
        with open(os.path.join(out, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=1)
        print(evaluate.format_table(metrics))
    return results, metrics
