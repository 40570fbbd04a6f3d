"""Stage 5, scored: compare test_segmenter.py's masks with ground truth (--truth).

Ground truth is either
  (a) a sample index (samples.py), a JSON list whose entries carry mask files for every channel, or
  (b) a quad file, a JSON object {file name: {"size": [w, h], "quad": [[x, y] x 4] or null}},
      as in the real-photo sets: the pattern's outline only, so it scores channel 0; null = no pattern.

Writes OUT/metrics.json:
    {"truth", "mask_names", "thresholds",
     "per_mask": {name: {"iou", "tpr", "tnr"}},   # pixels pooled over the photos that have truth for it
     "images": [{"source", "iou": [per channel, null where no truth], "present"}],
     "summary": {"with_pattern", "found", "found_rate", "mean_iou", "without_pattern", "false_positives"}}

A photo with the pattern counts as found when its channel-0 IoU is at least FOUND_IOU.
A photo without it is a false positive when test_segmenter reports a pattern (`quad` not null).
Per photo, the IoU of two empty masks is 1.
"""

import json
import os

import cv2
import numpy as np

from segmenty.errors import InvalidArgument, SegmentyError

FOUND_IOU = 0.5
SHOWN_PHOTOS = 20  # per-photo lines in the printed table


def load_truth(path):
    """('index', {abs path: [mask paths]}) or ('quads', {file name: {"size", "quad"}}). Raises SegmentyError."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise InvalidArgument("truth", path, "an existing JSON file") from None
    except (OSError, ValueError) as e:
        raise SegmentyError(f"unreadable `truth` {path}: {e}") from None
    base = os.path.dirname(os.path.abspath(path))
    resolve = lambda p: os.path.abspath(p if os.path.isabs(p) or os.path.exists(p) else os.path.join(base, p))
    if isinstance(data, list) and all(isinstance(e, dict) and "x" in e and "y" in e for e in data):
        return "index", {resolve(e["x"]): [resolve(y) for y in e["y"]] for e in data}
    if isinstance(data, dict) and all(isinstance(v, dict) and "quad" in v for v in data.values()):
        return "quads", data
    raise InvalidArgument("truth", path, "a sample index (a list of {\"x\", \"y\"}) or a quad file "
                          "({file: {\"size\": [w, h], \"quad\": [[x, y] x 4] or null}})")


def quad_mask(quad, size, truth_size=None):
    """Boolean H x W mask of the pixels whose centres lie in a quadrilateral (None = empty).

    Args:
        quad: 4 x 2 corners, or None.
        size: (w, h) of the mask.
        truth_size: (w, h) the corners refer to, if not `size`; they are scaled.
    """
    w, h = size
    if quad is None:
        return np.zeros((h, w), bool)
    q = np.asarray(quad, np.float64)
    if truth_size and tuple(truth_size) != (w, h):
        q = q * [w / truth_size[0], h / truth_size[1]]
    edges = np.roll(q, -1, axis=0) - q
    turns = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    if not ((turns >= 0).all() or (turns <= 0).all()):  # not convex: OpenCV's raster, edges included
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [np.round((q - 0.5) * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
        return mask.astype(bool)
    sign = 1.0 if turns.sum() >= 0 else -1.0
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5  # pixel centres
    inside = np.ones((h, w), bool)
    for (x0, y0), (dx, dy) in zip(q, edges):  # the same side of every edge
        inside &= sign * (dx * (ys - y0) - dy * (xs - x0)) >= 0
    return inside


THRESHOLD_GRID = np.round(np.arange(0.2, 0.96, 0.05), 2)


def best_thresholds(truth, probs, grid=THRESHOLD_GRID):
    """Per channel, the threshold with the highest IoU pooled over all samples.

    Args:
        truth: bool array N x H x W x K, the true masks.
        probs: float array of the same shape, predictions.
        grid: thresholds to try. Defaults to 0.2, 0.25, ..., 0.95.

    Returns:
        list of K floats; 0.5 for a channel whose truth is empty everywhere.
    """
    best = []
    for k in range(truth.shape[-1]):
        t, p = truth[..., k].ravel(), probs[..., k].ravel()
        if not t.any():
            best.append(0.5)
            continue
        scores = [np.logical_and(t, p > g).sum() / max(np.logical_or(t, p > g).sum(), 1) for g in grid]
        best.append(float(grid[int(np.argmax(scores))]))
    return best


def mask_coverage(probs, thresholds):
    """Per mask, the share of the found full-pattern mask (channel 0) that mask K also covers.

    Pooled over samples that show the pattern, it says what a true find looks like: on a
    chessboard the line masks cover most of the board, on a lookalike they cover little.
    Returns a list of K floats; an empty list when channel 0 is never found.
    """
    inside = probs[..., 0] > thresholds[0]
    total = int(inside.sum())
    if not total:
        return []
    return [round(float(np.logical_and(inside, probs[..., k] > t).sum() / total), 3) for k, t in enumerate(thresholds)]


def iou(truth, pred):
    union = np.logical_or(truth, pred).sum()
    return 1.0 if union == 0 else float(np.logical_and(truth, pred).sum() / union)


class Evaluator:
    """Accumulates per-mask pixel counts and per-photo IoU as photos come (see the module docstring)."""

    def __init__(self, truth_path):
        self.path = truth_path
        self.kind, self.truth = load_truth(truth_path)
        self.counts = None
        self.images = []

    def covers(self, source):
        if self.kind == "index":
            return os.path.abspath(source) in self.truth
        return os.path.basename(source) in self.truth

    def truth_masks(self, source, size, n_masks):
        """Per channel a boolean mask at size (w, h), or None where there is no truth."""
        if self.kind == "index":
            masks = []
            for y in self.truth[os.path.abspath(source)][:n_masks]:
                m = cv2.imread(y, cv2.IMREAD_GRAYSCALE)
                if m is None:
                    raise SegmentyError(f"unreadable truth mask {y} listed in {self.path}")
                masks.append(cv2.resize(m, tuple(size), interpolation=cv2.INTER_NEAREST) > 127)
            return masks + [None] * (n_masks - len(masks))
        t = self.truth[os.path.basename(source)]
        return [quad_mask(t["quad"], size, t.get("size"))] + [None] * (n_masks - 1)

    def add(self, entry, probs, thresholds):
        """Score one photo: entry from results.json, probs H x W x K at the photo's size, a threshold per mask."""
        if not self.covers(entry["source"]):
            return
        n = probs.shape[2]
        self.thresholds = list(thresholds)
        if self.counts is None:
            self.counts = np.zeros((n, 6), np.int64)  # intersection, union, tp, positives, tn, negatives
        truths = self.truth_masks(entry["source"], entry["size"], n)
        ious = []
        for k, truth in enumerate(truths):
            if truth is None:
                ious.append(None)
                continue
            pred = probs[..., k] > thresholds[k]
            self.counts[k] += [np.logical_and(truth, pred).sum(), np.logical_or(truth, pred).sum(),
                               np.logical_and(truth, pred).sum(), truth.sum(),
                               np.logical_and(~truth, ~pred).sum(), (~truth).sum()]
            ious.append(round(iou(truth, pred), 4))
        self.images.append({"source": entry["source"], "iou": ious, "present": entry["present"],
                            "has_pattern": bool(truths[0].any()), "found_pattern": entry["quad"] is not None})

    def metrics(self, names):
        """The content of metrics.json."""
        if not self.images:
            raise SegmentyError(f"none of the photos has an entry in `truth` {self.path} "
                            "(quad files match by file name, sample indexes by path)")
        ratio = lambda a, b: None if b == 0 else round(float(a / b), 4)
        per_mask = {}
        for k, name in enumerate(names):
            i, u, tp, pos, tn, neg = self.counts[k]
            if u + pos + neg:
                per_mask[name] = {"iou": ratio(i, u), "tpr": ratio(tp, pos), "tnr": ratio(tn, neg)}
        with_pattern = [im for im in self.images if im["has_pattern"]]
        without = [im for im in self.images if not im["has_pattern"]]
        found = sum(im["iou"][0] >= FOUND_IOU for im in with_pattern)
        summary = {"with_pattern": len(with_pattern), "found": int(found), "found_rate": ratio(found, len(with_pattern)),
                   "mean_iou": None if not with_pattern else round(float(np.mean([im["iou"][0] for im in with_pattern])), 4),
                   "without_pattern": len(without), "false_positives": sum(im["found_pattern"] for im in without)}
        images = [{k: v for k, v in im.items() if k in ("source", "iou", "present")} for im in self.images]
        return {"truth": self.path, "mask_names": list(names), "thresholds": self.thresholds, "per_mask": per_mask,
                "images": images,
                "summary": summary}


def format_table(metrics):
    """The metrics as text: a row per mask, a line per photo, then the summary."""
    lines = [f"{'mask':<14}{'IoU':>8}{'tpr':>8}{'tnr':>8}"]
    fmt = lambda v: "     n/a" if v is None else f"{v:8.3f}"
    for name, m in metrics["per_mask"].items():
        lines.append(f"{name:<14}{fmt(m['iou'])}{fmt(m['tpr'])}{fmt(m['tnr'])}")
    images = metrics["images"]
    if len(images) <= SHOWN_PHOTOS:
        lines.append(f"per photo, IoU of {metrics['mask_names'][0]}:")
    else:  # the worst ones are what a person wants to look at; all are in metrics.json
        lines.append(f"per photo, IoU of {metrics['mask_names'][0]}, the {SHOWN_PHOTOS} lowest of {len(images)}:")
        images = sorted(images, key=lambda im: im["iou"][0])[:SHOWN_PHOTOS]
    for im in images:
        lines.append(f"  {os.path.basename(im['source']):<32}{im['iou'][0]:6.3f}   present {im['present']:.2f}")
    s = metrics["summary"]
    text = f"{s['with_pattern']} photos with the pattern"
    if s["with_pattern"]:
        text += f": found {s['found']} ({100 * s['found_rate']:.1f}%, IoU >= {FOUND_IOU}), mean IoU {s['mean_iou']:.3f}"
    text += f"; {s['without_pattern']} without: {s['false_positives']} false positives"
    lines.append(text)
    return "\n".join(lines)
