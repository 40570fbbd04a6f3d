"""What a model knows of its printed page, so it can pose and check a find on its own.

A `Page` holds the page's picture (full.png in gray, shrunk), the size of full.png (the
coordinates a homography maps from), the outline of the pattern area (mask 0's region), the
named points pattern.json lists, and how many quarter turns leave the page looking the same.
train_segmenter.py stores it in the model (model.py's info, "page"), so test_segmenter.py
needs no pattern folder.
"""

import base64
import dataclasses
import re

import cv2
import numpy as np

from segmenty import pose

PAGE_SIDE = 640  # the stored picture's longer side: enough for registering a page that fills a photo
_GRID_NAME = re.compile(r"^r(\d+)c(\d+)$")
CHARUCO_KEYS = ("cols", "rows", "dictionary", "marker_ratio")  # pattern.json's, for cv2.aruco.CharucoBoard
MARKER_KEYS = ("dictionary", "marker_id")  # ... and for an ArUco marker


@dataclasses.dataclass
class Page:
    """The printed page as a model carries it.

    Attributes:
        picture: uint8 2D array, full.png in gray, at most PAGE_SIDE pixels on its longer side.
        size: (w, h) of full.png itself.
        area: 4 x 2 float array, the pattern area's outline in full.png (clockwise from its top-left).
        point_names: list of str.
        points: N x 2 float array, the named points in full.png.
        refine: str or None, "chessboard" where the points are chessboard corners.
        symmetry: int, how many quarter turns leave the page looking the same (1, 2 or 4).
        size_mm: (w, h) of the pattern area as printed, or None.
        charuco: dict {"cols", "rows", "dictionary", "marker_ratio"} for a ChArUco board (its
            points are its inner corners, by id), or None.
        marker: dict {"dictionary", "marker_id"} for one ArUco marker (its points are its four
            corners, as cv2.aruco.ArucoDetector lists them), or None.
        tiles: int, how many tiles a side find.evidence_for judges the pattern area in: the
            tiling the model's decision was calibrated on (the Segmenter sets it from the
            calibration's "tiles"). Not stored with the page.
    """

    picture: np.ndarray
    size: tuple
    area: np.ndarray
    point_names: list = dataclasses.field(default_factory=list)
    points: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 2)))
    refine: str = None
    symmetry: int = 1
    size_mm: tuple = None
    charuco: dict = None
    marker: dict = None
    tiles: int = pose.EVIDENCE_TILES

    @property
    def grid(self):
        """(rows, cols) when the points are named r{row}c{col} and fill that grid row by row, or are a
        ChArUco board's inner corners (by id, row by row), else None."""
        if self.charuco:
            rows, cols = self.charuco["rows"] - 1, self.charuco["cols"] - 1
            return (rows, cols) if self.point_names == [str(i) for i in range(rows * cols)] else None
        cells = [_GRID_NAME.match(n) for n in self.point_names]
        if not cells or not all(cells):
            return None
        rows, cols = 1 + max(int(m.group(1)) for m in cells), 1 + max(int(m.group(2)) for m in cells)
        expected = [f"r{r}c{c}" for r in range(rows) for c in range(cols)]
        return (rows, cols) if self.point_names == expected else None

    @property
    def named(self):
        """Whether OpenCV's detectors name this page's points (a ChArUco board's corners, a
        marker's): a pose through them is the page's and no other's."""
        return bool(self.charuco or self.marker)

    @property
    def placeable(self):
        """Whether OpenCV's detectors can place this page through its points: a chessboard's
        (or ChArUco board's) grid of corners, or a marker's corners (find.pose_from_corners)."""
        return bool(self.refine == "chessboard" and self.grid or self.marker)

    @property
    def corner_window(self):
        """How far, as a share of a square, a corner's sub-pixel search may look (pose.refine_chessboard):
        less on a ChArUco board, whose markers' edges lie near its corners."""
        return pose.CHARUCO_WINDOW if self.charuco else pose.CHESSBOARD_WINDOW

    @property
    def aspect(self):
        """The pattern area's width over its height (along its top and left sides)."""
        top, left = np.linalg.norm(self.area[1] - self.area[0]), np.linalg.norm(self.area[3] - self.area[0])
        return float(top / max(left, 1e-9))

    @property
    def mm_per_pixel(self):
        """Millimetres per full.png pixel as printed, or None when the printed size is unknown."""
        if not self.size_mm:
            return None
        return self.size_mm[0] / max(np.ptp(self.area[:, 0]), 1e-9)

    def to_info(self):
        """A JSON-able dict for the model's info (the picture as a base64 PNG)."""
        ok, png = cv2.imencode(".png", self.picture)
        assert ok
        return {"picture_png": base64.b64encode(png.tobytes()).decode("ascii"), "size": list(self.size),
                "area": np.round(self.area, 3).tolist(), "point_names": list(self.point_names),
                "points": np.round(self.points, 3).tolist(), "refine": self.refine, "symmetry": self.symmetry,
                "size_mm": None if self.size_mm is None else list(self.size_mm), "charuco": self.charuco,
                "marker": self.marker}

    @classmethod
    def from_info(cls, info):
        """The Page of a model's info["page"] (see to_info)."""
        png = np.frombuffer(base64.b64decode(info["picture_png"]), np.uint8)
        return cls(picture=cv2.imdecode(png, cv2.IMREAD_GRAYSCALE), size=tuple(info["size"]),
                   area=np.asarray(info["area"], np.float64), point_names=list(info.get("point_names", [])),
                   points=np.asarray(info.get("points") or np.zeros((0, 2)), np.float64).reshape(-1, 2),
                   refine=info.get("refine"), symmetry=int(info.get("symmetry", 1)),
                   size_mm=None if not info.get("size_mm") else tuple(info["size_mm"]), charuco=info.get("charuco"),
                   marker=info.get("marker"))


def from_pattern(folder):
    """The Page of a pattern folder (patterns.py), its symmetry measured on its picture."""
    from segmenty.patterns import load_pattern, load_pattern_json, pattern_area, pattern_points
    full, masks, _ = load_pattern(folder)  # checks pattern.json's points against full.png
    meta = load_pattern_json(folder)
    gray = cv2.cvtColor(full, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    scale = min(1.0, PAGE_SIDE / max(w, h))
    picture = gray if scale == 1 else cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))),
                                                 interpolation=cv2.INTER_AREA)
    names, points = pattern_points(meta)
    refine = meta.get("refine") or ("chessboard" if meta.get("preset") == "chessboard" else None)
    size_mm = meta.get("size_mm")
    charuco = {k: meta[k] for k in CHARUCO_KEYS} \
        if meta.get("preset") == "charuco" and all(k in meta for k in CHARUCO_KEYS) else None
    marker = {k: meta[k] for k in MARKER_KEYS} \
        if meta.get("preset") == "aruco" and all(k in meta for k in MARKER_KEYS) else None
    return Page(picture=picture, size=(w, h), area=pattern_area(masks[0]), point_names=list(names),
                points=np.asarray(points, np.float64).reshape(-1, 2), refine=refine,
                symmetry=pose.page_symmetry(picture), size_mm=tuple(size_mm) if size_mm else None, charuco=charuco,
                marker=marker)
