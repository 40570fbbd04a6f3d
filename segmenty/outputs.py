"""Stage 5 on disk: test_segmenter.py's files, written from the Segmenter's Finds.

For each photo <stem> (a name used twice gets _2, _3, ...):

    OUT/<stem>_in.jpg              what the model saw (the photo resized to the model's input)
    OUT/<stem>_out<K>_<name>.png   mask K's probability, 0..255 grayscale, at the photo's own resolution
                                   (a found pattern's full-pattern mask snapped to its quad, unless snap=False)
    OUT/<stem>_overlay.jpg         the photo, each mask tinted in its colour, the pattern's outline
                                   (its top-left corner marked) and its points drawn
    OUT/results.json               {"model", "mask_names", "image_size", "thresholds", "decision",
                                    "images": [{"source", "input", "masks", "overlay", "area",
                                                **find.Find.to_json()} or {"source", "error"}]}

Writing is separate from finding: segmenter.Segmenter answers, this module only draws and writes.
"""

import collections
import concurrent.futures
import json
import os
import sys
import time

import cv2
import numpy as np

from segmenty import evaluate, images, video
from segmenty.drawing import draw_find
from segmenty.errors import InvalidArgument, SegmentyError
from segmenty.segmenter import Segmenter, check_min_score

# Grey pictures (probability maps): "up" filtering with run-length coding is 2x faster than the default, as small.
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP,
              cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
# BGR tints of the masks in the overlay, in channel order (repeats after six).
COLORS = [(40, 200, 40), (40, 40, 230), (230, 130, 30), (30, 210, 250), (200, 40, 200), (220, 220, 40)]
def overlay(rgb, probs, names, find=None, thresholds=None):
    """BGR picture: the photo with each mask tinted in its colour, the find drawn, a legend."""
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    for k in range(probs.shape[2]):
        inside = (probs[..., k] > (0.5 if thresholds is None else thresholds[k])).astype(np.uint8)
        x, y, w, h = cv2.boundingRect(inside)
        if w and h:  # tinted within the mask's box only: the same pixels, a fraction of the work
            box = img[y:y + h, x:x + w]
            tint = cv2.add(cv2.convertScaleAbs(box, alpha=0.55), tuple(0.45 * c for c in COLORS[k % len(COLORS)]) + (0,))
            cv2.copyTo(tint, inside[y:y + h, x:x + w], box)
    scale = max(img.shape[:2]) / 640
    thick = max(1, round(3 * scale))
    if find is not None:
        draw_find(img, find, scale)
    for k, name in enumerate(names):
        org = (round(8 * scale), round((22 + 22 * k) * scale))
        cv2.putText(img, name, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(img, name, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, COLORS[k % len(COLORS)], thick, cv2.LINE_AA)
    return img


def unique_stem(path, used):
    stem = os.path.splitext(os.path.basename(path))[0]
    candidate, k = stem, 1
    while candidate in used:
        k += 1
        candidate = f"{stem}_{k}"
    used.add(candidate)
    return candidate


def write_photo(out, stem, rgb, find, names, thresholds, image_size):
    """Write one photo's files; returns its results.json entry without "source"."""
    entry = {"input": os.path.join(out, f"{stem}_in.jpg"), "masks": []}
    seen = images.model_input(rgb, image_size).astype(np.uint8)
    cv2.imwrite(entry["input"], cv2.cvtColor(seen, cv2.COLOR_RGB2BGR))
    # All masks at once, rounded to the nearest grey level: OpenCV's conversion is several times faster than numpy's.
    grey = cv2.split(cv2.convertScaleAbs(np.ascontiguousarray(find.masks, np.float32), alpha=255))
    for k, name in enumerate(names):
        path = os.path.join(out, f"{stem}_out{k}_{name}.png")
        cv2.imwrite(path, grey[k], PNG_PARAMS)
        entry["masks"].append(path)
    entry["area"] = [round(float((find.masks[..., k] > t).mean()), 5) for k, t in enumerate(thresholds)]
    entry["overlay"] = os.path.join(out, f"{stem}_overlay.jpg")
    cv2.imwrite(entry["overlay"], overlay(rgb, find.masks, names, find, thresholds))
    entry.update(find.to_json())
    return entry


def read_intrinsics(path):
    """(camera matrix, distortion) from a JSON file {"camera_matrix": 3 x 3, "dist_coeffs": [k1, k2, p1, p2, ...]}."""
    if path is None:
        return None
    try:
        with open(path) as f:
            data = json.load(f)
        K = np.asarray(data["camera_matrix"], np.float64)
        dist = np.asarray(data.get("dist_coeffs", []), np.float64).ravel()
        if K.shape != (3, 3) or len(dist) not in (0, 4, 5, 8, 12, 14):
            raise ValueError("shapes")
    except (OSError, ValueError, KeyError, TypeError):
        raise InvalidArgument("intrinsics", path, 'a JSON file {"camera_matrix": [[fx, 0, cx], [0, fy, cy], '
                                                  '[0, 0, 1]], "dist_coeffs": [k1, k2, p1, p2, k3]} '
                                                  "(OpenCV's calibrateCamera outputs)") from None
    return K, dist


def segment(segmenter, inputs, out, limit=10, on_result=None, model_name=None):
    """Run a Segmenter on photos and write masks, overlays and results.json (see the module docstring).

    Args:
        segmenter: segmenter.Segmenter.
        inputs: list of str, image files or folders.
        out: str, output folder (created; an existing file there is an error).
        limit: int, at most this many photos; 0 for all. Defaults to 10.
        on_result: callable(entry, probs at photo size, thresholds) or None, e.g. to score each photo.
        model_name: str or None, what results.json calls the model.

    Returns:
        dict, the content of results.json, plus "seconds" (excluding the model load).
    """
    paths = images.list_images(inputs, limit)
    if os.path.exists(out) and not os.path.isdir(out):
        raise InvalidArgument("out", out, "a folder to write into (a file of that name exists)")
    os.makedirs(out, exist_ok=True)
    names, size, thresholds = segmenter.mask_names, segmenter.image_size, segmenter.thresholds
    results = {"model": model_name, "mask_names": names, "image_size": size, "thresholds": thresholds,
               "decision": segmenter.calibration, "images": []}
    used = set()
    stems = [unique_stem(p, used) for p in paths]

    def load(path):
        try:
            return images.read_photo(path, segmenter.max_pixels), None
        except ValueError as e:
            return None, e

    def collect(path, find, entry):
        """Add a photo's entry to results once its files are written (in order)."""
        entry = {"source": path, **(entry.result() if find is not None else entry)}
        results["images"].append(entry)
        if on_result and find is not None:
            on_result(entry, find.masks, thresholds)

    started = time.monotonic()
    batch = segmenter.predictor.batch_size
    # A pipeline: the photos are read ahead and their files written behind on threads while the
    # model looks at a batch (and the segmenter's workers answer the one before).
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        reading = collections.deque(pool.submit(load, p) for p in paths[:2 * batch])
        waiting, written = collections.deque(), collections.deque()

        def readable():
            for i, (path, stem) in enumerate(zip(paths, stems)):
                rgb, err = reading.popleft().result()
                if i + 2 * batch < len(paths):
                    reading.append(pool.submit(load, paths[i + 2 * batch]))
                waiting.append((path, stem, rgb, err))
                if rgb is not None:
                    yield rgb

        def unreadable():  # the photos before the next readable one that could not be read
            while waiting and waiting[0][2] is None:
                path, _, _, err = waiting.popleft()
                written.append((path, None, {"error": str(err)}))
                print(f"warning: {path}: {err}", file=sys.stderr)

        for find in segmenter.find_all(readable(), masks=True):
            unreadable()
            path, stem, rgb, _ = waiting.popleft()
            written.append((path, find, pool.submit(write_photo, out, stem, rgb, find, names, thresholds, size)))
            while len(written) > 2 * batch:  # a find holds its masks until its entry is collected
                collect(*written.popleft())
        unreadable()
        while written:
            collect(*written.popleft())
    results["seconds"] = round(time.monotonic() - started, 3)
    images.write_json(os.path.join(out, "results.json"), {k: v for k, v in results.items() if k != "seconds"},
                      indent=1)
    return results


def test_segmenter(model, inputs, out, limit=None, threshold=None, truth=None, batch_size=8, image_size=None,
                   zoom=True, flip=True, snap=True, pattern=None, likeness=True, intrinsics=None, camera=None,
                   track=True, every=30, show=None, max_pixels=images.MAX_PIXELS, workers=0, min_score=None):
    """Load a model and run it on photos (segment()), a video or a camera (video.run); with `truth`,
    score the photos, print the table and write OUT/metrics.json. Arguments as test_segmenter.py's flags.

    `limit` None means 10 photos (the original's default) or every frame. `workers`: processes
    that answer photos (and a video's frames without tracking) side by side (Segmenter.load).

    Returns:
        tuple (results dict, metrics dict or None); for a video or camera, (video.run's dict, None).
    """
    evaluator = None
    if threshold is not None and not 0 < threshold < 1:
        raise InvalidArgument("threshold", threshold, "0 < t < 1")
    check_min_score(min_score)  # before the model is read
    videos = [i for i in inputs if video.is_video_name(i)]
    if camera is not None or videos:
        if camera is not None and inputs or len(inputs) > 1:
            raise InvalidArgument("inputs", inputs, "one video, or photos, or none with `camera`")
        # The workers answer only a file's frames without tracking.
        segmenter = Segmenter.load(model, zoom=zoom, flip=flip, snap=snap, threshold=threshold, pattern=pattern,
                                   check_likeness=likeness, intrinsics=read_intrinsics(intrinsics),
                                   batch_size=batch_size, image_size=image_size, max_pixels=max_pixels,
                                   workers=workers, min_score=min_score)
        with segmenter:
            done = video.run(segmenter, camera if camera is not None else inputs[0], out, track, every, show,
                             limit or 0, log=lambda line: print(line, file=sys.stderr, flush=True))
        unreadable = f", {done['errors']} unreadable" if done["errors"] else ""
        print(f"wrote {done['video']} and {done['jsonl']}: {done['frames']} frames, pattern found in "
              f"{done['found']}{unreadable} ({done['frames'] / max(done['seconds'], 1e-9):.1f} frames/s)",
              file=sys.stderr)
        return done, None
    if not inputs:
        raise InvalidArgument("inputs", inputs, "photos, a folder of photos, or a video")
    limit = 10 if limit is None else limit
    if truth:
        evaluator = evaluate.Evaluator(truth)
        paths = images.list_images(inputs, limit)
        if not any(evaluator.covers(p) for p in paths):
            raise SegmentyError(f"none of the {len(paths)} photos has an entry in `truth` {truth} "
                                "(quad files match by file name, sample indexes by path)")
    segmenter = Segmenter.load(model, zoom=zoom, flip=flip, snap=snap, threshold=threshold, pattern=pattern,
                               check_likeness=likeness, intrinsics=read_intrinsics(intrinsics),
                               batch_size=batch_size, image_size=image_size, max_pixels=max_pixels, workers=workers,
                               min_score=min_score)
    with segmenter:
        results = segment(segmenter, inputs, out, limit, on_result=evaluator.add if evaluator else None,
                          model_name=model)
    done = [e for e in results["images"] if "error" not in e]
    print(f"wrote {len(done)} photos to {out}/ ({len(done) / max(results['seconds'], 1e-9):.1f} photos/s); "
          f"look at {out}/*_overlay.jpg", file=sys.stderr)
    errors = len(results["images"]) - len(done)
    if errors:
        print(f"{errors} unreadable photo(s) listed with an error in {out}/results.json", file=sys.stderr)
    metrics = None
    if evaluator:
        metrics = evaluator.metrics(results["mask_names"])
        images.write_json(os.path.join(out, "metrics.json"), metrics, indent=1)
        print(evaluate.format_table(metrics))
    return results, metrics
