#!/usr/bin/env python3
"""Pages whose points OpenCV's detectors name: a ChArUco board and one ArUco marker, rendered.

    python bench/bench_named.py [--count 20] [--marker-sides 16 24 40 80 160 320]
        [--board-sides 160 240 320 480] [--frame 1280x720] [--negatives DIR ...]

No model and no real photo: each page (make_patterns.py's `charuco` 10x7 and `aruco` presets) is
drawn at a random place, turn and tilt into a frame of blurred noise, `--count` times per size
(its longer side in frame pixels), plain, dark (a fifth of the contrast, with noise) and blurred
(Gaussian, sigma 1.5 px), and find.decide is asked for it with an empty mask, as a model that
missed it answers. Printed per page, condition and size: the share found (quad IoU >= 0.5, a
threshold of 0.5 evidence, as the tests use) and the median corner error of the quad, in pixels.
Then the false finds on every photo of the --negatives folders (board-free; by default the shared
negatives and backgrounds).

It prints figures; it asserts nothing.
"""

import argparse
import glob
import os
import sys
import tempfile

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from segmenty import find, geometry  # noqa: E402
from segmenty.calibrate import quad_iou  # noqa: E402
from segmenty.page import from_pattern  # noqa: E402
from segmenty.patterns import make_patterns  # noqa: E402

CALIBRATED = {"threshold": 0.5, "scale": 0.1}
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
NEGATIVES = [os.path.join(SHARED, "data", "negatives"), os.path.join(SHARED, "data", "backgrounds", "bsds-train")]
CONDITIONS = ("plain", "dark", "blur")


def render(page, full, side, size, condition, rng):
    """(gray frame, true homography) with the page's pattern area `side` pixels on its longer side."""
    w, h = size
    area = np.asarray(page.area, np.float64)
    extent = np.ptp(area, axis=0)
    shape = (area - area.mean(0)) * side / extent.max()
    turn = rng.uniform(0, 2 * np.pi)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    quad = shape @ rotation.T * (1 + rng.uniform(-0.12, 0.12, (4, 1)))  # a tilt: each corner a little nearer or further
    margin = min(0.75 * side, min(w, h) / 2)  # turned, the page stays in the frame (nearly, at the largest)
    quad += rng.uniform([margin, margin], [w - margin, h - margin])
    H = cv2.getPerspectiveTransform(np.float32(area), np.float32(quad))
    frame = cv2.GaussianBlur(rng.integers(60, 200, (h, w), dtype=np.uint8), (0, 0), 3)
    cv2.warpPerspective(full, H, size, dst=frame, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_TRANSPARENT)
    if condition == "dark":
        frame = np.clip(frame * 0.2 + rng.normal(0, 2, frame.shape), 0, 255).astype(np.uint8)
    elif condition == "blur":
        frame = cv2.GaussianBlur(frame, (0, 0), 1.5)
    return frame, H


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=20, help="frames per page, condition and size")
    p.add_argument("--marker-sides", type=int, nargs="+", default=[16, 24, 40, 80, 160, 320],
                   help="the marker's sizes, pixels")
    p.add_argument("--board-sides", type=int, nargs="+", default=[160, 240, 320, 480],
                   help="the ChArUco board's sizes (its longer side), pixels")
    p.add_argument("--frame", default="1280x720", help="frame size WxH")
    p.add_argument("--negatives", nargs="*", default=NEGATIVES, help="folders of board-free photos")
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.frame.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        pages = {}
        for name, preset, sides in (("charuco 10x7", "charuco", args.board_sides),
                                    ("aruco marker", "aruco", args.marker_sides)):
            folder = os.path.join(tmp, preset)
            make_patterns(folder, preset)
            pages[name] = (from_pattern(folder), cv2.imread(os.path.join(folder, "full.png"), cv2.IMREAD_GRAYSCALE),
                           sides)
        for name, (page, full, sides) in pages.items():
            print(f"\n{name:14s} {'':9s} " + " ".join(f"{s:>4d} px: found, corner px" for s in sides))
            for condition in CONDITIONS:
                cells = []
                for side in sides:
                    rng = np.random.default_rng([side, CONDITIONS.index(condition)])
                    found, errors = 0, []
                    for _ in range(args.count):
                        frame, H = render(page, full, side, size, condition, rng)
                        empty = np.zeros((size[1], size[0], 1), np.float32)
                        answer = find.decide(frame, empty, [0.5], page, CALIBRATED)
                        truth = geometry.project(H, page.area)
                        if answer.found and quad_iou(answer.quad, truth) >= 0.5:
                            found += 1
                            errors.append(np.median(np.linalg.norm(np.asarray(answer.quad) - truth, axis=1)))
                    error = f"{np.median(errors):.2f}" if errors else "-"
                    cells.append(f"{found / args.count:>15.2f}, {error:>9s}")
                print(f"{name:14s} {condition:9s} " + " ".join(cells))
        photos = sorted(f for d in args.negatives for f in glob.glob(os.path.join(d, "*"))
                        if f.lower().endswith((".jpg", ".jpeg", ".png")))
        for name, (page, _, _) in pages.items():
            false = 0
            for path in photos:
                gray = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
                false += find.decide(gray, np.zeros(gray.shape + (1,), np.float32), [0.5], page, CALIBRATED).found
            print(f"{name}: {false} false finds in {len(photos)} board-free photos")


if __name__ == "__main__":
    main()
