#!/usr/bin/env python3
"""The pose and the decision alone, without a model: what find.decide answers when the mask is right.

    python bench/bench_pose.py --pattern DIR [--synthetic 300] [--cards 0] [--backgrounds DIR]
        [--sets DIR ...] [--threshold 0.5] [--jitter 0.0] [--model MODEL]

The full-pattern mask each photo gets is its truth quad (cut by the photo, its edge blurred by 2
px, 0.95 inside), optionally with each corner moved by --jitter of the quad's diagonal (a model's
mask is a few percent off); all masks get the same. find.decide then poses the page, refines its
points and decides, as test_segmenter.py does after the model, with the decision cut at
--threshold (a model's calibrated threshold; 0.5 by default). So a change to the pose or the
decision can be measured in minutes, apart from the model's quality, and on photos no model was
trained for. Scored as bench_real.py scores results.json (segmenty.evaluate): found (quad IoU >=
0.5 with the whole pattern), mean quad IoU, corner error (median and p90, % of the diagonal),
points error, and the median and mean time of decide (or, with --model, of the whole answer).

1. --synthetic N: held-out samples of the `robust` recipe (seeds training and calibration never
   use) at 512x512 over --backgrounds, with the pattern's corners known; of those whose page lies
   inside the sample, each whole and cut as ../shared/tools/degrade_real.py cuts its partial
   photos: the frame cropped along x or y so that 40% of the pattern's extent lies outside it.
   And each whole one covered, as degrade_real.py covers its occluded photos: a patch of another
   background photo, COVER of the quad's bounding box on each side, somewhere inside that box.
   These are the figures to decide on: no real photo enters them.
2. --cards N: decoys. N board-free background photos, each with a plain card of the pattern
   area's shape on lighter paper pasted in (one random dark tone, a little noise: a picture
   frame, a poster, a screen), posed at random, and that card's outline as the mask. Any find
   is a false find; the evidence of each is summarised (median, 90th percentile, most).
3. --sets DIR ...: folders of photos with a gt.json ({"quad", "size"} per photo, as bench_real.py
   writes its degraded sets), each scored on its own. Real photos are a measuring tape: look,
   don't tune.

With --model MODEL, the masks are the model's instead (Segmenter.find, with its calibration;
--threshold and --jitter are then unused): the whole answer on the same held-out samples,
whole and cut, so that a change to how the pose reads a model's masks (rounded corners,
bulges, a side that stops short) is measured without a real photo. The times then include the
model.
"""

import argparse
import json
import os
import statistics
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from segmenty import calibrate, evaluate, find, geometry, images, samples, synth  # noqa: E402
from segmenty.page import from_pattern  # noqa: E402

SYNTH_SIZE = 512
CUT = 0.4  # the share of the pattern's extent a cut sample loses, as degrade_real.py's partial photos do
COVER = 0.55  # the side of a covered sample's patch, a share of the quad's bounding box, as degrade_real.py's
SEED = 271828  # apart from training's seeds and calibrate.py's


def truth_mask(quad, size, jitter, rng):
    """The full-pattern mask a perfect model would give (see the module docstring), H x W x 1."""
    quad = np.asarray(quad, np.float64)
    if jitter:
        quad = quad + rng.normal(0, jitter * np.linalg.norm(quad[2] - quad[0]), quad.shape)
    mask = np.zeros((size[1], size[0]), np.float32)
    cv2.fillConvexPoly(mask, np.int32(np.round(quad * 4)), 1.0, shift=2)
    return (cv2.GaussianBlur(mask, (0, 0), 2.0) * 0.95)[..., None]


def answer(photo, quad, page, calibration, jitter, rng, segmenter=None):
    """(results.json-like entry, seconds) for one photo (BGR or gray) with its truth quad: decide's
    with the truth mask, or the whole answer of `segmenter` (a Segmenter) with its model's masks."""
    if segmenter is not None:
        bgr = photo if photo.ndim == 3 else cv2.cvtColor(photo, cv2.COLOR_GRAY2BGR)
        start = time.perf_counter()
        f = segmenter.find(bgr, channels="bgr")
    else:
        gray = photo if photo.ndim == 2 else cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
        probs = truth_mask(quad, (gray.shape[1], gray.shape[0]), jitter, rng)
        start = time.perf_counter()
        f = find.decide(gray, probs, [0.5], page, calibration)
    return json.loads(json.dumps(f.to_json())), time.perf_counter() - start


def cut_sample(photo, quad, side):
    """The sample (gray or colour) cropped so that CUT of the quad's extent along x (side 0, 1) or y (2, 3) is outside it."""
    lo, hi = quad.min(axis=0), quad.max(axis=0)
    quad = quad.copy()
    axis = side // 2
    if side % 2 == 0:  # cut from the start
        c = int(lo[axis] + CUT * (hi[axis] - lo[axis]))
        photo = photo[:, c:] if axis == 0 else photo[c:, :]
        quad[:, axis] -= c
    else:
        c = int(np.ceil(hi[axis] - CUT * (hi[axis] - lo[axis])))
        photo = photo[:, :c] if axis == 0 else photo[:c, :]
    return np.ascontiguousarray(photo), quad


def covered_sample(photo, quad, patch, rng):
    """The sample with `patch` (a photo, as many channels) resized to COVER of the quad's bounding
    box on each side and pasted at a random place inside that box, clipped by the photo."""
    lo, hi = quad.min(axis=0), quad.max(axis=0)
    w, h = np.maximum(np.int32(COVER * (hi - lo)), 2)
    centre = rng.uniform(lo + (w, h) / np.float64(2), hi - (w, h) / np.float64(2))
    x0, y0 = np.maximum(np.int32(centre - (w // 2, h // 2)), 0)
    x1, y1 = min(x0 + w, photo.shape[1]), min(y0 + h, photo.shape[0])
    out = photo.copy()
    out[y0:y1, x0:x1] = cv2.resize(patch, (int(w), int(h)), interpolation=cv2.INTER_AREA)[:y1 - y0, :x1 - x0]
    return out


def synthetic(page, pattern, backgrounds, count, calibration, jitter, segmenter=None):
    """{kind: records} and {kind: times} for the kinds whole, cut and covered, over `count` robust samples."""
    context = samples.make_context(backgrounds, pattern, SYNTH_SIZE, 0.0, "robust")
    photos = samples.background_paths(backgrounds)
    records, times = {"whole": [], "cut": [], "covered": []}, {"whole": [], "cut": [], "covered": []}
    for i in range(count):
        rng = np.random.default_rng([SEED, i])
        params = synth.sample_params(rng, context)
        params["blank"] = False
        if params.get("own_distractor"):
            params["own_distractor"] = None  # the copy would be a second pattern: the truth has one
        image, _, pts = synth.render(params, context)
        if pts is None:
            continue
        quad = calibrate.true_quad(pts, page, SYNTH_SIZE)
        if geometry.in_view(quad, (SYNTH_SIZE, SYNTH_SIZE)) < 0.97:  # cut already: not a whole page
            continue
        cut = cut_sample(image, quad, int(rng.integers(4)))  # drawn first: the cut samples stay as they were
        patch = images.read_photo(photos[int(rng.integers(len(photos)))])
        patch = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY if image.ndim == 2 else cv2.COLOR_RGB2BGR)
        kinds = (("whole", (image, quad)), ("cut", cut), ("covered", (covered_sample(image, quad, patch, rng), quad)))
        for kind, (photo, truth) in kinds:
            entry, seconds = answer(photo, truth, page, calibration, jitter, rng, segmenter)
            times[kind].append(seconds)
            records[kind].append(evaluate.score_answer(entry, {"quad": truth.tolist(), "size": None}))
    return records, times


def cards(page, backgrounds, count, calibration, segmenter=None):
    """(finds, evidence of each decoy) over `count` plain cards of the page's shape in board-free photos."""
    photos = samples.background_paths(backgrounds)
    (x0, y0), (x1, y1) = np.int32(np.asarray(page.area)[0] + 0.5), np.int32(np.asarray(page.area)[2] + 0.5)
    finds, evidence = 0, []
    for i in range(count):
        rng = np.random.default_rng([SEED, 7, i])
        photo = images.read_photo(photos[int(rng.integers(len(photos)))])
        gray = cv2.resize(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), (SYNTH_SIZE, SYNTH_SIZE), interpolation=cv2.INTER_AREA)
        card = np.full((page.size[1], page.size[0]), rng.uniform(170, 250), np.float32)
        card[y0:y1, x0:x1] = rng.uniform(20, 130)
        card = np.clip(card + rng.normal(0, 3, card.shape), 0, 255).astype(np.uint8)
        # A random pose: its pattern area 25-60% of the photo's side, turned, tilted, inside the photo.
        side = rng.uniform(0.25, 0.6) * SYNTH_SIZE
        aspect = (x1 - x0) / (y1 - y0)
        w, h = side * min(1.0, aspect), side * min(1.0, 1 / aspect)
        corners = np.float64([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
        corners *= 1 + rng.uniform(-0.12, 0.12, (4, 1))
        turn = rng.uniform(-np.pi, np.pi)
        corners = corners @ np.float64([[np.cos(turn), np.sin(turn)], [-np.sin(turn), np.cos(turn)]])
        reach = np.max(np.abs(corners), axis=0) * 1.2
        centre = rng.uniform(reach, SYNTH_SIZE - reach)
        quad = corners + centre
        H = cv2.getPerspectiveTransform(np.float32(page.area), np.float32(quad))
        cv2.warpPerspective(card, H, (SYNTH_SIZE, SYNTH_SIZE), dst=gray, flags=cv2.INTER_AREA,
                            borderMode=cv2.BORDER_TRANSPARENT)
        f, _ = answer(gray, quad, page, calibration, 0.0, rng, segmenter)
        finds += bool(f["found"])
        if f["likeness"] is not None:
            evidence.append(f["likeness"])
    return finds, evidence


def real_set(folder, page, calibration, jitter, segmenter=None):
    """score_answer records and the answers' times (answer()) for a folder with a gt.json."""
    with open(os.path.join(folder, "gt.json")) as f:
        truth = json.load(f)
    rng = np.random.default_rng(SEED)
    records, times = [], []
    for name in sorted(truth):
        photo = cv2.cvtColor(images.read_photo(os.path.join(folder, name)), cv2.COLOR_RGB2BGR)
        t = truth[name]
        quad = t.get("quad")
        if quad is None:
            continue
        scale = photo.shape[1] / t["size"][0] if t.get("size") else 1.0
        entry, seconds = answer(photo, np.asarray(quad, np.float64) * scale, page, calibration, jitter, rng, segmenter)
        times.append(seconds)
        records.append(evaluate.score_answer(entry, t))
    return records, times


def row(name, records, times):
    s = evaluate.summarize_answers(records)
    pct = s["corner_pct"]
    corners = "—" if pct[0] is None else f"{pct[0]:.2f}% / {pct[1]:.2f}%"
    points = "—" if s["point_px"][0] is None else f"{s['point_px'][0]:.2f} px"
    found = "—" if s["found_rate"] is None else f"{s['found_rate']:.3f}"
    iou = "—" if s["quad_iou"] is None else f"{s['quad_iou']:.3f}"
    ms = f"{1000 * statistics.median(times):.0f} / {1000 * statistics.mean(times):.0f}" if times else "—"
    return f"| {name} | {s['boards']} | {found} | {iou} | {corners} | {points} | {ms} |"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("--pattern", required=True, help="pattern folder (make_patterns.py's output)")
    parser.add_argument("--synthetic", type=int, default=300, help="robust samples drawn (0: none)")
    parser.add_argument("--backgrounds", default="backgrounds",
                        help="background folder for the samples (photos in its subfolders); "
                             "photos training never saw, e.g. bench_real.py's WORK/no_board in a folder of its own")
    parser.add_argument("--cards", type=int, default=0, help="plain cards of the pattern's shape in board-free photos (0: none)")
    parser.add_argument("--sets", nargs="*", default=[], help="folders of photos with a gt.json")
    parser.add_argument("--threshold", type=float, default=0.5, help="the decision's cut on the evidence")
    parser.add_argument("--jitter", type=float, default=0.0, help="each mask corner moved by this share of the diagonal")
    parser.add_argument("--model", help="a trained model: its masks and calibration instead of the truth mask")
    args = parser.parse_args(argv)
    page = from_pattern(args.pattern)
    calibration = {"threshold": args.threshold, "scale": 0.05}
    segmenter = None
    if args.model:
        from segmenty.segmenter import Segmenter
        segmenter = Segmenter.load(args.model, pattern=args.pattern)
        page, calibration = segmenter.page, segmenter.calibration
    print(f"| photos | boards | found | quad IoU | corner error median / p90 | points median | "
          f"{'answer' if segmenter else 'decide'} ms median / mean |")
    print("|---|---|---|---|---|---|---|")
    if args.synthetic:
        records, times = synthetic(page, args.pattern, args.backgrounds, args.synthetic, calibration, args.jitter,
                                   segmenter)
        for kind, recs in records.items():
            print(row(f"synthetic, {kind}", recs, times[kind]), flush=True)
    if args.cards:
        finds, evidence = cards(page, args.backgrounds, args.cards, calibration, segmenter)
        q = np.percentile(evidence, [50, 90, 100]) if evidence else [np.nan] * 3
        print(f"\nplain cards of the pattern's shape: {finds} found of {args.cards}; evidence median "
              f"{q[0]:.3f}, p90 {q[1]:.3f}, most {q[2]:.3f} (threshold {args.threshold})", flush=True)
    for folder in args.sets:
        records, times = real_set(folder, page, calibration, args.jitter, segmenter)
        name = os.path.join(os.path.basename(os.path.dirname(os.path.normpath(folder))), os.path.basename(os.path.normpath(folder)))
        print(row(name, records, times), flush=True)


if __name__ == "__main__":
    main()
