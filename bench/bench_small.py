#!/usr/bin/env python3
"""Small patterns in large frames: the shared photos scaled down into a 1280x720 frame.

    python bench/bench_small.py --model M.keras [--set ../shared/data/real/opencv-stereo]
        [--backdrops ../shared/data/negatives] [--shares 0.005 0.01 0.02 0.03 0.05]
        [--frame 1280x720] [--limit 20]

Each photo of a set (with its gt.json) is scaled so that its board's quad covers each share of
the frame's area and pasted at a random place into a frame made of a board-free photo
(`--backdrops`, by default the shared negatives: facades, tiles, pages, which no model trained
on), and the Segmenter is asked for it, with and without its tiled look (`small`). A find counts when its quad overlaps the scaled truth by
IoU >= 0.5, as in bench_real.py. It prints, per share, the board's size in frame pixels (median
side) and the share found, and the smallest share from which every larger one is found in at least
90% of the frames.

It prints figures; it asserts nothing.
"""

import argparse
import json
import os
import sys

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))


def frames(set_dir, backdrops, share, size, limit, seed=0):
    """(frame BGR, true quad) per photo of the set, its board covering `share` of the frame of a
    board-free backdrop (another photo of the set would hold a second, larger board)."""
    with open(os.path.join(set_dir, "gt.json")) as f:
        truth = json.load(f)
    names = [n for n in sorted(truth) if truth[n]["quad"] is not None][:limit]
    rng = np.random.default_rng(seed)
    W, H = size
    for i, name in enumerate(names):
        photo = cv2.imread(os.path.join(set_dir, name))
        quad = np.float64(truth[name]["quad"])
        area = cv2.contourArea(np.float32(quad))
        scale = np.sqrt(share * W * H / area)
        small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        backdrop = cv2.imread(backdrops[i % len(backdrops)])
        frame = cv2.resize(backdrop, (W, H), interpolation=cv2.INTER_LINEAR)
        h, w = small.shape[:2]
        if w >= W or h >= H:
            continue
        x, y = int(rng.integers(0, W - w)), int(rng.integers(0, H - h))
        frame[y:y + h, x:x + w] = small
        yield frame, quad * scale + [x, y]


def iou(a, b):
    from segmenty import geometry
    inter = geometry.convex_overlap(a, b)
    return inter / (abs(geometry.signed_area(a)) + abs(geometry.signed_area(b)) - inter)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--set", default=os.path.join(SHARED, "data", "real", "opencv-stereo"))
    p.add_argument("--backdrops", default=os.path.join(SHARED, "data", "negatives"),
                   help="a folder of board-free photos the boards are pasted into")
    p.add_argument("--shares", type=float, nargs="+", default=[0.005, 0.01, 0.02, 0.03, 0.05])
    p.add_argument("--frame", default="1280x720")
    p.add_argument("--limit", type=int, default=20, help="photos per share")
    args = p.parse_args()
    from segmenty import cli
    cli.hide_gpus()
    cli.start_keras_quietly()
    from segmenty.segmenter import Segmenter
    size = tuple(int(v) for v in args.frame.split("x"))
    backdrops = sorted(os.path.join(args.backdrops, n) for n in os.listdir(args.backdrops)
                       if n.lower().endswith((".jpg", ".jpeg", ".png")))
    if not backdrops:
        p.error(f"--backdrops {args.backdrops} holds no .jpg or .png photos")
    tiled, whole = Segmenter.load(args.model), Segmenter.load(args.model, small=False)
    print(f"model {args.model}, {os.path.basename(args.set)} photos in {size[0]}x{size[1]} frames "
          f"of {os.path.basename(os.path.normpath(args.backdrops))}")
    print(f"{'share':>7}{'board side px':>15}{'found (tiles)':>15}{'found (whole)':>15}")
    rates = []
    for share in args.shares:
        found = {True: [], False: []}
        sides = []
        for frame, quad in frames(args.set, backdrops, share, size, args.limit):
            sides.append(np.median(np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)))
            for use, seg in ((True, tiled), (False, whole)):
                f = seg.find(frame, channels="bgr")
                found[use].append(bool(f.found and f.quad is not None and iou(f.quad, quad) >= 0.5))
        rate = np.mean(found[True]) if found[True] else 0.0
        rates.append((share, np.median(sides), rate))
        print(f"{share:7.3f}{np.median(sides):15.0f}{rate:15.2f}{np.mean(found[False]):15.2f}", flush=True)
    # Reliable from the smallest share on which it, and every larger one, is found in 90% of frames.
    reliable = None
    for share, side, rate in sorted(rates, reverse=True):
        if rate < 0.9:
            break
        reliable = (share, side)
    if reliable:
        print(f"found in >= 90% of frames from {reliable[0]:.3f} of the frame up "
              f"(a board side of about {reliable[1]:.0f} px)")
    else:
        print("no share was found in 90% of frames")


if __name__ == "__main__":
    main()
