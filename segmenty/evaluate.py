"""Stage 5, scored: compare test_segmenter.py's masks and answers with ground truth (--truth).

Ground truth is either
  (a) a sample index (samples.py), a JSON list whose entries carry mask files for every channel, or
  (b) a quad file, a JSON object {file name: {"size": [w, h], "quad": [[x, y] x 4] or null,
      "corners": [[[x, y] x C] x R] (optional: a chessboard's inner corners, row by row)}},
      as in the real-photo sets: the pattern's outline only, so it scores channel 0; null = no pattern.

Writes OUT/metrics.json:
    {"truth", "mask_names", "thresholds",
     "per_mask": {name: {"iou", "tpr", "tnr"}},   # pixels pooled over the photos that have truth for it
     "images": [{"source", "iou": [per channel, null where no truth], "present",
                 "answer": score_answer(...) (quad files only)}],
     "summary": {"with_pattern", "found", "found_rate", "mean_iou", "without_pattern", "false_positives"},
     "answers": summarize_answers(...) (quad files only)}

A photo with the pattern counts as found when its channel-0 IoU is at least FOUND_IOU.
A photo without it is a false positive when test_segmenter reports a pattern (see is_found).
Per photo, the IoU of two empty masks is 1.

The answers are scored as a user receives them (results.json's `found`, `quad` and `points`),
on the plane rather than in the photo, so that a pattern running out of frame is judged whole:
  found         the answer says found and its quad overlaps the true quad with IoU >= FOUND_IOU;
  quad IoU      polygon IoU of the two quads, 0 where nothing is reported;
  corner error  distance of each quad corner to the truth's, under the best of the 4 rotations
                and 2 directions; in pixels and in % of the true quad's diagonal (found boards);
  points error  distance of each named grid point "r{row}c{col}" to the truth's `corners`, over
                the true corners inside the photo, under the best of the grid's turns (found boards);
  false finds   photos without the pattern that the answer says it found.
An answer written before `found` existed is found when its quad is not null.
All coordinates are OpenCV's: the centre of pixel (0, 0) is (0, 0).
"""

import json
import os
import re

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


def polygon_area(poly):
    """Signed area of a polygon (positive when its corners run clockwise on screen, y down)."""
    x, y = np.asarray(poly, np.float64).T
    return float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2


def _convex_pieces(quad):
    """A quadrilateral as convex polygons that tile it: itself, two triangles, or [] if it crosses itself."""
    q = np.asarray(quad, np.float64)
    edges = np.roll(q, -1, axis=0) - q
    turns = edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1] - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    area = polygon_area(q)
    if abs(area) < 1e-9:
        return []
    concave = np.flatnonzero(turns * area < 0)
    if len(concave) == 0:
        return [q]
    if len(concave) > 1:  # a bow tie: its turns cancel out
        return []
    # The diagonal from the one reflex corner (where edge i turns the wrong way into corner i + 1) lies inside.
    i = (concave[0] + 1) % 4
    return [q[[i, (i + 1) % 4, (i + 2) % 4]], q[[i, (i + 2) % 4, (i + 3) % 4]]]


def quad_iou(quad, truth):
    """IoU of two quadrilaterals on the plane, wherever their corners lie (not clipped to a photo).

    Args:
        quad: array-like 4 x 2 corners, or None (nothing reported).
        truth: array-like 4 x 2 corners, or None.

    Returns:
        float in 0..1; 0 when either is None, self-crossing or flat.
    """
    if quad is None or truth is None:
        return 0.0
    a, b = _convex_pieces(quad), _convex_pieces(truth)
    if not a or not b:
        return 0.0
    inter = sum(cv2.intersectConvexConvex(p.astype(np.float32), t.astype(np.float32))[0] for p in a for t in b)
    union = abs(polygon_area(quad)) + abs(polygon_area(truth)) - inter
    return float(np.clip(inter / union, 0, 1))


def corner_errors(quad, truth):
    """Distance of each corner of `quad` to its match in `truth`, under the best of the 4 rotations and 2 directions.

    Args:
        quad: array-like 4 x 2 corners.
        truth: array-like 4 x 2 corners.

    Returns:
        float array (4,), in the order of `truth`'s corners.
    """
    q, t = np.asarray(quad, np.float64), np.asarray(truth, np.float64)
    orders = [np.roll(c, -k, axis=0) for c in (q, q[::-1]) for k in range(4)]
    return min((np.linalg.norm(o - t, axis=1) for o in orders), key=lambda d: d.sum())


def quad_diagonal(quad):
    """The mean length of a quadrilateral's two diagonals."""
    q = np.asarray(quad, np.float64)
    return float(np.linalg.norm(q[2] - q[0]) + np.linalg.norm(q[3] - q[1])) / 2


GRID_POINT = re.compile(r"r(\d+)c(\d+)")


def grid_turns(rows, cols):
    """The ways a rows x cols grid maps onto itself by turning it: (r, c) -> (r', c') functions.

    Identity and the half turn; a square grid also has the two quarter turns.
    """
    turns = [lambda r, c: (r, c), lambda r, c: (rows - 1 - r, cols - 1 - c)]
    if rows == cols:
        turns += [lambda r, c: (c, cols - 1 - r), lambda r, c: (rows - 1 - c, r)]
    return turns


def in_photo(xy, size):
    """Whether a point lies on the photo: within half a pixel of the outer pixels' centres."""
    (x, y), (w, h) = xy, size
    return -0.5 <= x <= w - 0.5 and -0.5 <= y <= h - 0.5


def point_errors(points, corners, size):
    """Distances of reported grid points to the true grid, over the true points inside the photo.

    Args:
        points: list of dicts {"name": "r{row}c{col}", "xy": [x, y] or None, ...}, as in results.json.
        corners: array-like R x C x 2, the true positions, row by row.
        size: tuple (w, h) of the photo.

    Returns:
        float array of distances, under the turn of the grid that matches best (smallest median);
        empty when no reported point names a true one inside the photo.
    """
    truth = np.asarray(corners, np.float64)
    rows, cols = truth.shape[:2]
    reported = {}
    for p in points:
        m = GRID_POINT.fullmatch(str(p.get("name", "")))
        if m and p.get("xy") is not None:
            reported[int(m[1]), int(m[2])] = np.asarray(p["xy"], np.float64)
    best = np.zeros(0)
    for turn in grid_turns(rows, cols):
        d = [np.linalg.norm(reported[rc] - truth[turn(*rc)]) for rc in reported
             if 0 <= rc[0] < rows and 0 <= rc[1] < cols and in_photo(truth[turn(*rc)], size)]
        if d and (not len(best) or np.median(d) < np.median(best)):
            best = np.array(d)
    return best


def is_found(entry):
    """The answer's decision: `found`, or, where results.json has none (written before it), a quad."""
    if "error" in entry:
        return False
    return bool(entry["found"]) if "found" in entry else entry.get("quad") is not None


def score_answer(entry, truth):
    """Score one results.json entry against its truth (see the module docstring).

    Args:
        entry: dict from results.json's "images" ({"source", "size", "found", "quad", "points", ...}
            or {"source", "error"}).
        truth: dict {"size": [w, h] or None, "quad": 4 x 2 or None, "corners": optional R x C x 2}.
            Coordinates refer to `size`; they are scaled to the photo's where it differs.

    Returns:
        dict {"board", "reported", "found", "quad_iou", "corner_px", "corner_pct", "point_px"}:
        the corner and point lists are empty unless the board is found (and, for points, has both).
    """
    reported = is_found(entry)
    record = {"board": truth.get("quad") is not None, "reported": reported, "found": reported,
              "quad_iou": None, "corner_px": [], "corner_pct": [], "point_px": []}
    if not record["board"]:
        return record
    size = entry.get("size") or truth.get("size")
    scale = np.ones(2)
    if size and truth.get("size") and tuple(truth["size"]) != tuple(size):
        scale = np.asarray(size, np.float64) / truth["size"]
    gt = np.asarray(truth["quad"], np.float64) * scale
    quad = entry.get("quad") if reported else None
    record["quad_iou"] = round(quad_iou(quad, gt), 4)
    record["found"] = reported and record["quad_iou"] >= FOUND_IOU
    if not record["found"]:
        return record
    errors = corner_errors(quad, gt)
    record["corner_px"] = np.round(errors, 3).tolist()
    record["corner_pct"] = np.round(100 * errors / quad_diagonal(gt), 4).tolist()
    if truth.get("corners") is not None and entry.get("points") and size:
        corners = np.asarray(truth["corners"], np.float64) * scale
        record["point_px"] = np.round(point_errors(entry["points"], corners, size), 3).tolist()
    return record


def score_answers(entries, truth):
    """score_answer for every entry that `truth` (a quad file's content) has, keyed by file name.

    Returns:
        list of records, each with "source" first.
    """
    return [{"source": e["source"], **score_answer(e, truth[os.path.basename(e["source"])])}
            for e in entries if os.path.basename(e["source"]) in truth]


def percentiles(values, qs=(50, 90)):
    """The qs-th percentiles of values (numpy's linear interpolation), rounded; None for each if there are none."""
    if not len(values):
        return [None] * len(qs)
    return [round(float(v), 4) for v in np.percentile(np.asarray(values, np.float64), qs)]


def summarize_answers(records):
    """Pool score_answer records (of one set and condition, or several).

    Returns:
        dict {"boards", "found", "found_rate", "quad_iou" (mean over boards),
              "corner_px": [median, p90], "corner_pct": [median, p90] (over the corners of found boards),
              "point_px": [median, p90] (over the points of found boards), "point_boards",
              "board_free", "false_finds"}; rates and means are None where nothing is counted.
    """
    boards = [r for r in records if r["board"]]
    found = [r for r in boards if r["found"]]
    pooled = lambda key: [v for r in found for v in r[key]]
    free = [r for r in records if not r["board"]]
    return {"boards": len(boards), "found": len(found),
            "found_rate": round(len(found) / len(boards), 4) if boards else None,
            "quad_iou": round(float(np.mean([r["quad_iou"] for r in boards])), 4) if boards else None,
            "corner_px": percentiles(pooled("corner_px")), "corner_pct": percentiles(pooled("corner_pct")),
            "point_px": percentiles(pooled("point_px")), "point_boards": sum(bool(r["point_px"]) for r in found),
            "board_free": len(free), "false_finds": sum(r["reported"] for r in free)}


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
        image = {"source": entry["source"], "iou": ious, "present": entry["present"],
                 "has_pattern": bool(truths[0].any()), "found_pattern": is_found(entry)}
        if self.kind == "quads":
            image["answer"] = score_answer(entry, self.truth[os.path.basename(entry["source"])])
        self.images.append(image)

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
        images = [{k: v for k, v in im.items() if k in ("source", "iou", "present", "answer")} for im in self.images]
        metrics = {"truth": self.path, "mask_names": list(names), "thresholds": self.thresholds, "per_mask": per_mask,
                   "images": images, "summary": summary}
        if self.kind == "quads":
            metrics["answers"] = summarize_answers([im["answer"] for im in self.images])
        return metrics


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
        present = "-" if im["present"] is None else f"{im['present']:.2f}"  # None: a detector named the board
        lines.append(f"  {os.path.basename(im['source']):<32}{im['iou'][0]:6.3f}   present {present}")
    s = metrics["summary"]
    text = f"{s['with_pattern']} photos with the pattern"
    if s["with_pattern"]:
        text += f": found {s['found']} ({100 * s['found_rate']:.1f}%, IoU >= {FOUND_IOU}), mean IoU {s['mean_iou']:.3f}"
    text += f"; {s['without_pattern']} without: {s['false_positives']} false positives"
    lines.append(text)
    if "answers" in metrics:
        lines.append(format_answers(metrics["answers"]))
    return "\n".join(lines)


def format_answers(summary):
    """One line of summarize_answers's figures: what the answers (found, quad, points) are worth."""
    a = summary
    text = f"answers: {a['boards']} photos with the pattern"
    if a["boards"]:
        text += (f": found {a['found']} ({100 * a['found_rate']:.1f}%, quad IoU >= {FOUND_IOU}), "
                 f"mean quad IoU {a['quad_iou']:.3f}")
    if a["corner_px"][0] is not None:
        text += (f", corner error median {a['corner_pct'][0]:.2f}% ({a['corner_px'][0]:.1f} px), "
                 f"p90 {a['corner_pct'][1]:.2f}% ({a['corner_px'][1]:.1f} px)")
    if a["point_px"][0] is not None:
        text += f", points error median {a['point_px'][0]:.2f} px"
    return text + f"; {a['board_free']} without: {a['false_finds']} false finds"
