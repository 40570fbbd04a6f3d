#!/usr/bin/env python3
"""The README's picture: segmenty's answer beside OpenCV's on one photo per condition.

    python bench/figure_hard_cases.py MODEL.keras DEGRADED_DIR [--photo left05.jpg] [--out docs/hard_cases.png]

DEGRADED_DIR holds clean/ partial/ dark/ blur/ occluded/ as ../shared/tools/degrade_real.py writes them
(bench/bench_real.py keeps them in WORK/real/opencv-stereo). Only OpenCV's own sample photos
(real/opencv-stereo) may go into the project's docs; credit them under the picture.

Top row (labelled with the condition): segmenty's answer (the whole board, its first corner, the inner corners in view); bottom row:
findChessboardCornersSB as bench_real.py runs it. The dark photos are shown brightened, so that one
can see them; both detectors got the dark photo itself.
"""

import argparse
import os
import sys

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))
from bench_real import CONDITIONS, detect_chessboard  # noqa: E402
from segmenty import Segmenter  # noqa: E402
from segmenty.find import Find, Point  # noqa: E402
from segmenty.drawing import draw_find  # noqa: E402

TILE_HEIGHT = 150


def opencv_find(gray):
    answer = detect_chessboard(gray)
    if not answer["found"]:
        return Find(found=False, score=0.0, size=gray.shape[::-1])
    points = [Point(p["name"], tuple(p["xy"]), True, True) for p in answer["points"]]
    return Find(found=True, score=1.0, size=gray.shape[::-1], quad=answer["quad"], points=points)


def tile(bgr, find, label, brighten):
    """One photo, TILE_HEIGHT high, the answer drawn only where it is a find (what a user acts on)."""
    shown = cv2.convertScaleAbs(bgr, alpha=6.0) if brighten else bgr.copy()
    if find.found:
        draw_find(shown, find, scale=bgr.shape[0] / TILE_HEIGHT / 1.5)
    width = round(bgr.shape[1] * TILE_HEIGHT / bgr.shape[0])
    shown = cv2.resize(shown, (width, TILE_HEIGHT), interpolation=cv2.INTER_AREA)
    lines = [t for t in (label, "" if find.found else "not found") if t]
    for k, text in enumerate(lines):  # white on black, a line each
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.38, 1)
        top = k * (th + 7)
        cv2.rectangle(shown, (0, top), (tw + 6, top + th + 7), (0, 0, 0), -1)
        cv2.putText(shown, text, (3, top + th + 3), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
    return shown


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("degraded")
    p.add_argument("--photo", default="left05.jpg")
    p.add_argument("--out", default=os.path.join(ROOT, "docs", "hard_cases.png"))
    a = p.parse_args()
    segmenter = Segmenter.load(a.model)
    rows = [[], []]
    for condition in CONDITIONS:
        bgr = cv2.imread(os.path.join(a.degraded, condition, a.photo))
        if bgr is None:
            sys.exit(f"{a.degraded}/{condition}/{a.photo}: no such photo (expected degrade_real.py's folders)")
        ours = segmenter.find(bgr, channels="bgr")
        theirs = opencv_find(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        rows[0].append(tile(bgr, ours, condition, condition == "dark"))
        rows[1].append(tile(bgr, theirs, "", condition == "dark"))
        print(condition, "segmenty", ours.found, "opencv", theirs.found)
    rows = [np.hstack([cv2.copyMakeBorder(t, 0, 0, 0, 2, cv2.BORDER_CONSTANT, value=(255,) * 3) for t in row])
            for row in rows]
    picture = np.vstack([rows[0], np.full((2, rows[0].shape[1], 3), 255, np.uint8), rows[1]])
    cv2.imwrite(a.out, picture, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(a.out, picture.shape[1], "x", picture.shape[0], os.path.getsize(a.out) // 1024, "KiB")


if __name__ == "__main__":
    main()
