"""Stage 2: the printed pattern and its masks (make_patterns.py).

Writes a pattern folder:

    pattern/full.png           the page as printed (full.svg too where a preset draws it from shapes)
    pattern/<mask>.{svg,png}   one per mask; inside = white (255), outside = black (0). Mask 0 is
                               the pattern area: what is printed, without the paper around it
    pattern/pattern.json       {"full": "full.png", "masks": [names in output-channel order], ...}
    pattern/pattern.pdf        with `paper`: the page to print, at the size pattern.json records

pattern.json's optional fields:

    "points": [{"name": "r0c0", "xy": [x, y]}, ...]   named points in full.png pixels
    "size_mm": [w, h]          the pattern area (mask 0's region) as printed, in mm
    "refine": "chessboard"     where the points are chessboard corners (sub-pixel refinable)

All coordinates are OpenCV's: (0, 0) is the centre of the top-left pixel, so a square's edge
drawn at x = 150 lies at x = 149.5, and mask 0's outline runs half a pixel outside its white
pixels (pattern_area). The presets: the original's page of circles (segmenty, the default),
a chessboard, a ChArUco board and a single ArUco marker (drawn by OpenCV's cv2.aruco), and a
symmetric or asymmetric circle grid as OpenCV's calibration uses; or any image (`from_image`).

Every image of a folder has the same size. Sample generation and training read only
`pattern.json` and the PNGs, so a folder made by hand (a `full.png`, any number of mask
PNGs, and a `pattern.json` listing them) works the same as a generated one.

A preset drawn from shapes is a list of shapes per image; both the SVG (svgwrite) and the PNG
(anti-aliased) are drawn from that one list, so they always agree.
"""

import dataclasses
import json
import math
import os
import shutil
import tempfile

import cv2
import numpy as np

from segmenty.errors import InvalidArgument, SegmentyError

PRESETS = ("segmenty", "chessboard", "charuco", "circles", "aruco")
BLACK, WHITE = 0, 255

# The original's page and grid (docs/original.md, "Pattern").
PAGE_W, PAGE_H = 850, 1100
GRID_COLS, GRID_ROWS, GRID_DX, GRID_DY = 9, 11, 85, 100
CIRCLE_R, CIRCLE_STROKE = 32, 8
LINE_W, LINE_LEN = 16, 96
BAR_HALF_LEN, BAR_W = 200, 32

# Chessboard: square size in px; the paper margin is half a square on every side.
SQUARE = 100
CHESS_BAR_W = 30  # the original's bar width relative to its grid spacing
CHESS_MIDDLE_R = 36


def rect(x, y, w, h, fill):
    return {"type": "rect", "x": x, "y": y, "w": w, "h": h, "fill": fill}


def circle(cx, cy, r, fill, stroke=None, stroke_width=0):
    return {"type": "circle", "cx": cx, "cy": cy, "r": r, "fill": fill,
            "stroke": stroke, "stroke_width": stroke_width}


def line(x1, y1, x2, y2, stroke, width):
    return {"type": "line", "x1": x1, "y1": y1, "x2": x2, "y2": y2, "stroke": stroke, "width": width}


def segmenty_cells():
    """Centres (ix, iy, x, y) of the drawn cells: both indices even, 5 x 6 = 30 cells."""
    return [(ix, iy, GRID_DX * ix + GRID_DX, GRID_DY * iy + GRID_DY // 2)
            for iy in range(0, GRID_ROWS, 2) for ix in range(0, GRID_COLS, 2)]


def segmenty_shapes():
    """Shapes of the original pattern: {image name: (width, height, [shapes])}."""
    cx0, cy0 = PAGE_W / 2, PAGE_H / 2
    full = [rect(0, 0, PAGE_W, PAGE_H, WHITE)]
    vertical = [rect(0, 0, PAGE_W, PAGE_H, BLACK)]
    horizontal = [rect(0, 0, PAGE_W, PAGE_H, BLACK)]
    for ix, _, x, y in segmenty_cells():
        full.append(circle(x, y, CIRCLE_R, BLACK if ix % 4 == 0 else WHITE, BLACK, CIRCLE_STROKE))
        dist = math.hypot(cx0 - x, cy0 - y)
        if dist > 0:  # the centre cell's line has zero length
            ex, ey = x + LINE_LEN * (cx0 - x) / dist, y + LINE_LEN * (cy0 - y) / dist
            full.append(line(x, y, ex, ey, BLACK, LINE_W))
        vertical.append(rect(x - BAR_W / 2, y - BAR_HALF_LEN, BAR_W, 2 * BAR_HALF_LEN, WHITE))
        horizontal.append(rect(x - BAR_HALF_LEN, y - BAR_W / 2, 2 * BAR_HALF_LEN, BAR_W, WHITE))
    middle = [rect(0, 0, PAGE_W, PAGE_H, BLACK), circle(cx0, cy0, CIRCLE_R, WHITE, WHITE, CIRCLE_STROKE)]
    images = {"full": full, "mask": [rect(0, 0, PAGE_W, PAGE_H, WHITE)],
              "vertical": vertical, "horizontal": horizontal, "middle": middle}
    return {name: (PAGE_W, PAGE_H, shapes) for name, shapes in images.items()}


def chessboard_shapes(cols, rows, square=SQUARE):
    """Shapes of a cols x rows chessboard, black at top-left, with a half-square white margin."""
    m = square / 2
    w, h = int((cols + 1) * square), int((rows + 1) * square)
    bw, bh = cols * square, rows * square
    full = [rect(0, 0, w, h, WHITE)]
    full += [rect(m + c * square, m + r * square, square, square, BLACK)
             for r in range(rows) for c in range(cols) if (r + c) % 2 == 0]
    vertical = [rect(0, 0, w, h, BLACK)]
    vertical += [rect(m + c * square - CHESS_BAR_W / 2, m, CHESS_BAR_W, bh, WHITE) for c in range(1, cols)]
    horizontal = [rect(0, 0, w, h, BLACK)]
    horizontal += [rect(m, m + r * square - CHESS_BAR_W / 2, bw, CHESS_BAR_W, WHITE) for r in range(1, rows)]
    images = {
        "full": full,
        "mask": [rect(0, 0, w, h, BLACK), rect(m, m, bw, bh, WHITE)],
        "vertical": vertical,
        "horizontal": horizontal,
        "middle": [rect(0, 0, w, h, BLACK), circle(w / 2, h / 2, CHESS_MIDDLE_R, WHITE)],
    }
    return {name: (w, h, shapes) for name, shapes in images.items()}


def to_svg(width, height, shapes):
    """SVG text of a shape list (svgwrite)."""
    import svgwrite  # here, not at the top: it adds 80 ms to the start of every stage that only reads patterns
    drawing = svgwrite.Drawing(size=(width, height), profile="tiny")
    grey = lambda v: svgwrite.rgb(v, v, v)
    for s in shapes:
        if s["type"] == "rect":
            drawing.add(drawing.rect((s["x"], s["y"]), (s["w"], s["h"]), fill=grey(s["fill"])))
        elif s["type"] == "circle":
            kw = {"fill": grey(s["fill"])}
            if s["stroke"] is not None:
                kw.update(stroke=grey(s["stroke"]), stroke_width=s["stroke_width"])
            drawing.add(drawing.circle((s["cx"], s["cy"]), s["r"], **kw))
        elif s["type"] == "line":
            drawing.add(drawing.line((s["x1"], s["y1"]), (s["x2"], s["y2"]),
                                     stroke=grey(s["stroke"]), stroke_width=s["width"]))
    return drawing.tostring()


def _paint(img, x0, y0, x1, y1, value, signed_distance):
    """Blend value into img where a shape covers pixels; coverage = clip(0.5 - distance, 0, 1)."""
    h, w = img.shape
    c0, r0 = max(0, int(math.floor(x0)) - 1), max(0, int(math.floor(y0)) - 1)
    c1, r1 = min(w, int(math.ceil(x1)) + 1), min(h, int(math.ceil(y1)) + 1)
    if c0 >= c1 or r0 >= r1:
        return
    # SVG puts pixel centres at +0.5.
    ys, xs = np.mgrid[r0:r1, c0:c1].astype(np.float64) + 0.5
    cover = np.clip(0.5 - signed_distance(xs, ys), 0.0, 1.0)
    region = img[r0:r1, c0:c1]
    region[...] = region * (1 - cover) + value * cover


def _paint_disk(img, cx, cy, r, value):
    if r > 0:
        _paint(img, cx - r, cy - r, cx + r, cy + r, value, lambda x, y: np.hypot(x - cx, y - cy) - r)


def _paint_box(img, cx, cy, half_len, half_w, ux, uy, value):
    """A rectangle centred at (cx, cy) with unit long axis (ux, uy)."""
    ext = abs(ux) * half_len + abs(uy) * half_w, abs(uy) * half_len + abs(ux) * half_w
    def sd(x, y):
        u, v = (x - cx) * ux + (y - cy) * uy, -(x - cx) * uy + (y - cy) * ux
        return np.maximum(np.abs(u) - half_len, np.abs(v) - half_w)
    _paint(img, cx - ext[0], cy - ext[1], cx + ext[0], cy + ext[1], value, sd)


def render(width, height, shapes):
    """Grayscale uint8 image of a shape list, anti-aliased, following SVG semantics."""
    img = np.zeros((height, width), np.float64)
    for s in shapes:
        if s["type"] == "rect":
            _paint_box(img, s["x"] + s["w"] / 2, s["y"] + s["h"] / 2, s["w"] / 2, s["h"] / 2, 1.0, 0.0, s["fill"])
        elif s["type"] == "circle":
            half = s["stroke_width"] / 2 if s["stroke"] is not None else 0
            if half:  # the stroke straddles the circle's edge
                _paint_disk(img, s["cx"], s["cy"], s["r"] + half, s["stroke"])
            _paint_disk(img, s["cx"], s["cy"], s["r"] - half, s["fill"])
        elif s["type"] == "line":  # SVG's default butt caps: a rotated rectangle
            dx, dy = s["x2"] - s["x1"], s["y2"] - s["y1"]
            length = math.hypot(dx, dy)
            if length > 0:
                _paint_box(img, (s["x1"] + s["x2"]) / 2, (s["y1"] + s["y2"]) / 2, length / 2, s["width"] / 2,
                           dx / length, dy / length, s["stroke"])
    return np.round(img).astype(np.uint8)


# ---------------------------------------------------------------- presets

def segmenty_points():
    """(names, N x 2) of the original pattern's 30 circle centres, r{row}c{col} row by row (OpenCV coordinates)."""
    cells = segmenty_cells()
    return [f"r{iy // 2}c{ix // 2}" for ix, iy, _, _ in cells], np.float64([[x, y] for *_, x, y in cells]) - 0.5


def chessboard_points(cols, rows, square=SQUARE):
    """(names, N x 2) of a chessboard's inner corners, r{row}c{col} row by row from the top-left.

    OpenCV coordinates: the corner drawn at x = 150 (a square's edge) lies at x = 149.5.
    """
    m = square / 2
    names = [f"r{r}c{c}" for r in range(rows - 1) for c in range(cols - 1)]
    xy = [[m + (c + 1) * square - 0.5, m + (r + 1) * square - 0.5] for r in range(rows - 1) for c in range(cols - 1)]
    return names, np.float64(xy)


def circles_grid(cols, rows, square=SQUARE, asymmetric=False):
    """Shapes and centres of a circle grid as OpenCV's calibration uses it (cv2.findCirclesGrid).

    Symmetric: `cols` x `rows` circles `square` px apart. Asymmetric (OpenCV's acircles): rows
    `square` / 2 px apart, each shifted by half the in-row spacing from the one before, as in
    OpenCV's object points ((2 col + row % 2) s, row s) with s = square / 2. The pattern area
    is the circles' extent plus `g` on each side (half a spacing; the asymmetric grid's s), and
    the paper margin beyond it another `g`.

    Returns:
        tuple ({"full", "mask": (w, h, shapes)}, names r{row}c{col}, N x 2 centres in OpenCV coordinates).
    """
    if asymmetric:
        s = square / 2
        units = [((2 * c + r % 2) * s, r * s) for r in range(rows) for c in range(cols)]
        g, radius = s, 0.3 * s
    else:
        units = [(c * square, r * square) for r in range(rows) for c in range(cols)]
        g, radius = square / 2, 0.25 * square
    units = np.float64(units)
    centres = units + 2 * g
    w, h = (int(round(v)) for v in units.max(0) + 4 * g)
    full = [rect(0, 0, w, h, WHITE)] + [circle(x, y, radius, BLACK) for x, y in centres]
    area = [rect(0, 0, w, h, BLACK), rect(g, g, w - 2 * g, h - 2 * g, WHITE)]
    names = [f"r{r}c{c}" for r in range(rows) for c in range(cols)]
    return {"full": (w, h, full), "mask": (w, h, area)}, names, centres - 0.5


def aruco_dictionary(name):
    """OpenCV's predefined ArUco dictionary called `name` (e.g. "DICT_4X4_50")."""
    known = sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_"))
    if name not in known:
        raise InvalidArgument("dictionary", name, f"one of OpenCV's ArUco dictionaries: {', '.join(known)}")
    return cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name))


def charuco_board(cols, rows, square, dictionary, marker_ratio):
    """(full.png drawn by cv2.aruco.CharucoBoard, names = corner ids, N x 2 inner corners).

    The page has the chessboard preset's layout: `square` px squares and half a square of paper
    around them, so the chessboard's masks fit it.
    """
    if not 0 < marker_ratio < 1:
        raise InvalidArgument("marker_ratio", marker_ratio, "a marker side as a share of a square, between 0 and 1")
    markers = aruco_dictionary(dictionary)
    needed, available = cols * rows // 2, markers.bytesList.shape[0]
    if needed > available:
        raise SegmentyError(f"a {cols}x{rows} ChArUco board needs {needed} markers, but `dictionary` "
                            f"{dictionary} has {available}: expected fewer squares or a larger dictionary")
    board = cv2.aruco.CharucoBoard((cols, rows), float(square), float(marker_ratio * square), markers)
    m = square // 2
    full = board.generateImage(((cols + 1) * square, (rows + 1) * square), marginSize=m)
    corners = board.getChessboardCorners()[:, :2] + m - 0.5  # board units are pixels here
    return full, [str(i) for i in range(len(corners))], np.float64(corners)


def aruco_marker(dictionary, marker_id, square):
    """(full.png: one marker with a quiet zone of one cell, its pattern area's mask, corner names, 4 x 2 corners).

    `square` is the side of one of the marker's cells in pixels; the corners are those
    cv2.aruco.ArucoDetector reports: the black border's outer corners, clockwise from the top-left.
    """
    markers = aruco_dictionary(dictionary)
    available = markers.bytesList.shape[0]
    if not isinstance(marker_id, int) or not 0 <= marker_id < available:
        raise InvalidArgument("marker_id", marker_id, f"an id of {dictionary}, 0 to {available - 1}")
    side = (markers.markerSize + 2) * square
    marker = cv2.aruco.generateImageMarker(markers, marker_id, side, borderBits=1)
    full = cv2.copyMakeBorder(marker, square, square, square, square, cv2.BORDER_CONSTANT, value=WHITE)
    mask = np.zeros_like(full)
    mask[square:square + side, square:square + side] = WHITE
    a, b = square - 0.5, square + side - 0.5
    return full, mask, ["tl", "tr", "br", "bl"], np.float64([[a, a], [b, a], [b, b], [a, b]])


# ---------------------------------------------------------------- any image

INK_LEVEL = 48  # how far below white (255) a pixel's darkest channel must be to count as printed


def printed_area(image, ink_level=INK_LEVEL):
    """The box (x0, y0, x1, y1) of an image's printed pixels on white paper, x1 and y1 exclusive.

    A pixel is printed where its darkest channel is more than `ink_level` below white.

    Raises:
        SegmentyError: when nothing is printed.
    """
    darkest = image.min(axis=2) if image.ndim == 3 else image
    ys, xs = np.nonzero(darkest < 255 - ink_level)
    if not len(xs):
        raise SegmentyError("no printed area in `from_image`: it is all white; expected a pattern on white "
                            "paper (or give its `area`)")
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _image_area(image, margin, area):
    """The pattern area of a user's image: `area`, or the image less `margin`, or its printed area."""
    h, w = image.shape[:2]
    if margin is not None and area is not None:
        raise SegmentyError("give `margin` or `area`, not both")
    if area is not None:
        try:
            x0, y0, x1, y1 = (int(v) for v in (area.split(",") if isinstance(area, str) else area))
        except (TypeError, ValueError):
            x0 = y0 = x1 = y1 = -1
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise InvalidArgument("area", area, f"x0,y0,x1,y1: integers with 0 <= x0 < x1 <= {w} and "
                                  f"0 <= y0 < y1 <= {h} (the image's size; x1 and y1 exclusive)")
        return x0, y0, x1, y1
    if margin is not None:
        if not isinstance(margin, int) or margin < 0 or 2 * margin >= min(w, h):
            raise InvalidArgument("margin", margin, f"pixels of paper on each side, 0 to {(min(w, h) - 1) // 2}")
        return margin, margin, w - margin, h - margin
    return printed_area(image)


# ---------------------------------------------------------------- printing

PAPERS = {"a4": (210.0, 297.0), "letter": (215.9, 279.4)}  # width x height, mm
PRINT_MARGIN_MM = 10  # what printers leave blank at the paper's edges


def print_scale(full_size, area_width, paper=None, width_mm=None):
    """Millimetres per full.png pixel for a printed `width_mm` of the pattern area, or the largest that fits `paper`.

    The whole of full.png (its paper margin too) must fit the paper, less PRINT_MARGIN_MM on each side,
    in either orientation.
    """
    fits = None
    if paper is not None:
        if paper not in PAPERS:
            raise InvalidArgument("paper", paper, f"one of {', '.join(PAPERS)}")
        usable = np.float64(PAPERS[paper]) - 2 * PRINT_MARGIN_MM
        w, h = full_size
        fits = max(min(usable[0] / w, usable[1] / h), min(usable[1] / w, usable[0] / h))  # mm per pixel
    if width_mm is None:
        return math.floor(fits * area_width) / area_width  # a whole number of millimetres
    largest = None if fits is None else math.floor(fits * area_width * 10) / 10
    if not isinstance(width_mm, (int, float)) or width_mm <= 0 or (largest is not None and width_mm > largest):
        limit = f", at most {largest} to fit {paper}" if largest is not None else ""
        raise InvalidArgument("width_mm", width_mm, f"the pattern area's printed width in mm, > 0{limit}")
    return width_mm / area_width


def write_pdf(path, full, mm_per_pixel, paper):
    """A one-page PDF of `paper` with full.png centred on it at `mm_per_pixel`, turned to fit.

    Each full.png pixel stays one image pixel (no resampling), and the PDF's resolution makes it
    `mm_per_pixel` wide, so the printed size is exact when printed at 100% ("actual size").
    """
    from PIL import Image  # here, not at the top: only printing needs it
    h, w = full.shape[:2]
    paper_w, paper_h = PAPERS[paper]
    if (w > h) != (paper_w > paper_h):
        paper_w, paper_h = paper_h, paper_w
    page_w, page_h = round(paper_w / mm_per_pixel), round(paper_h / mm_per_pixel)
    page = np.full((page_h, page_w, 3), WHITE, np.uint8)
    x, y = (page_w - w) // 2, (page_h - h) // 2
    page[y:y + h, x:x + w] = full if full.ndim == 3 else full[..., None]
    rgb = Image.fromarray(np.ascontiguousarray(page[..., ::-1]))
    # Quality 100 without chroma subsampling: Pillow writes PDF images as JPEG.
    rgb.save(path, "PDF", resolution=25.4 / mm_per_pixel, quality=100, subsampling=0)


# ---------------------------------------------------------------- writing

def _write_png(path, img):
    if not cv2.imwrite(path, img):
        raise OSError(f"could not write {path}")


def _write_folder(out, write_files):
    """Write into a temporary sibling folder, then swap it in, so `out` is never half-written."""
    parent = os.path.dirname(os.path.abspath(out)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.", dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would otherwise become the folder's mode
    try:
        write_files(tmp)
        old = None
        if os.path.exists(out):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.old.", dir=parent)
            os.rename(out, os.path.join(old, "x"))
        os.rename(tmp, out)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_pattern(out, images, meta, points=None, paper=None, width_mm=None):
    """Write a pattern folder: full and its masks as PNG (and SVG where drawn from shapes), pattern.json, pattern.pdf.

    Args:
        out: str, the folder to (re)create.
        images: dict {name: (w, h, shapes) or uint8 array}, "full" first, then the masks in channel order.
        meta: dict, more fields of pattern.json (preset and its parameters).
        points: tuple (names, N x 2) or None, the named points in full.png (OpenCV coordinates).
        paper: str or None, "a4" or "letter": also write pattern.pdf.
        width_mm: float or None, the pattern area's printed width; None: as large as fits `paper`.

    Returns:
        dict, the pattern.json written.
    """
    pngs = {name: render(*image) if isinstance(image, tuple) else image for name, image in images.items()}
    meta = {"full": "full.png", "masks": [name for name in images if name != "full"], **meta}
    if points is not None:
        names, xy = points
        meta["points"] = [{"name": n, "xy": [round(float(x), 3), round(float(y), 3)]} for n, (x, y) in zip(names, xy)]
    scale = None
    if paper is not None or width_mm is not None:
        area = pattern_area(pngs[meta["masks"][0]])
        area_w, area_h = np.ptp(area, axis=0)
        h, w = pngs["full"].shape[:2]
        scale = print_scale((w, h), area_w, paper, width_mm)
        meta["size_mm"] = [round(float(area_w * scale), 2), round(float(area_h * scale), 2)]
    validate_meta(meta, "pattern.json", pngs["full"].shape[:2])

    def write_files(folder):
        for name, image in images.items():
            if isinstance(image, tuple):
                with open(os.path.join(folder, f"{name}.svg"), "w") as f:
                    f.write(to_svg(*image))
            _write_png(os.path.join(folder, f"{name}.png"), pngs[name])
        if paper is not None:
            write_pdf(os.path.join(folder, "pattern.pdf"), pngs["full"], scale, paper)
        with open(os.path.join(folder, "pattern.json"), "w") as f:
            json.dump(meta, f, indent=2)
    _write_folder(out, write_files)
    return meta


def _option(default, help, **more):
    """A config field: its default, its help text, and what else its flag needs (type, metavar)."""
    return dataclasses.field(default=default, metadata={"help": help, **more})


@dataclasses.dataclass
class PatternConfig:
    """What pattern to draw, and how to print it: the defaults and help texts of make_patterns.py."""

    out: str = _option("pattern", "pattern folder to (re)create")
    preset: str = _option("segmenty", "segmenty (the original's circles), chessboard, charuco, circles or aruco")
    # The chessboard of the real-photo tests is 10 x 7 squares.
    cols: int = _option(10, "squares across (chessboard, charuco), or circles in a row (circles)")
    rows: int = _option(7, "squares down (chessboard, charuco), or rows of circles (circles)")
    square: int = _option(SQUARE, "pixels per square (chessboard, charuco), circle spacing (circles) "
                                  "or marker cell (aruco); even")
    dictionary: str = _option("DICT_4X4_50", "OpenCV's ArUco dictionary (charuco, aruco)")
    marker_ratio: float = _option(0.7, "marker side as a share of a square (charuco)")
    marker_id: int = _option(0, "the marker's id in its dictionary (aruco)")
    asymmetric: bool = _option(False, "an asymmetric circle grid, as OpenCV's acircles pattern (circles)")
    from_image: str | None = _option(None, "use your own image as the pattern; mask 0 is its printed area "
                                           "(its extent on white paper)", metavar="IMAGE")
    margin: int | None = _option(None, "your image's paper margin: its pattern area is the image less this many "
                                       "pixels on each side (default: found)", type=int, metavar="PX")
    area: str | None = _option(None, "your image's pattern area, a box in pixels with x1 and y1 exclusive "
                                     "(default: found)", metavar="X0,Y0,X1,Y1")
    paper: str | None = _option(None, "also write pattern.pdf for a4 or letter paper", metavar="a4|letter")
    width_mm: float | None = _option(None, "printed width of the pattern area in mm; pattern.json records its "
                                           "size (default: as large as fits the paper)", type=float, metavar="MM")


_P = PatternConfig  # each default once: in the config


def make_patterns(out=_P.out, preset=_P.preset, cols=_P.cols, rows=_P.rows, from_image=_P.from_image,
                  square=_P.square, dictionary=_P.dictionary, marker_ratio=_P.marker_ratio, marker_id=_P.marker_id,
                  asymmetric=_P.asymmetric, margin=_P.margin, area=_P.area, paper=_P.paper, width_mm=_P.width_mm):
    """Write a pattern folder (see the module docstring).

    Args:
        out: str, the folder to (re)create.
        preset: str, "segmenty" (the original), "chessboard", "charuco", "circles" or "aruco".
        cols: int, squares across (chessboard, charuco) or circles in a row (circles).
        rows: int, squares down (chessboard, charuco) or rows of circles (circles).
        from_image: str or None, a user's image to use as the pattern instead of a preset.
        square: int, pixels per square, circle spacing or marker cell; even.
        dictionary: str, an OpenCV ArUco dictionary's name (charuco, aruco).
        marker_ratio: float, marker side / square side (charuco), below 1.
        marker_id: int, the marker's id (aruco).
        asymmetric: bool, OpenCV's asymmetric circle grid (circles).
        margin: int or None, with from_image: the pattern area is the image less this many pixels each side.
        area: str "x0,y0,x1,y1", 4 ints or None, with from_image: the pattern area's box (x1, y1 exclusive).
        paper: str or None, "a4" or "letter": also write pattern.pdf.
        width_mm: float or None, the pattern area's printed width in mm (default: as large as fits `paper`).
        The defaults are PatternConfig's.

    Returns:
        dict, the pattern.json written.
    """
    printing = {"paper": paper, "width_mm": width_mm}
    if from_image is not None:
        return _from_image(out, from_image, margin, area, printing)
    if margin is not None or area is not None:
        raise SegmentyError("`margin` and `area` apply to `from_image` only")
    if preset not in PRESETS:
        raise InvalidArgument("preset", preset, f"one of {', '.join(PRESETS)}")
    if not isinstance(square, int) or square < 10 or square % 2:
        raise InvalidArgument("square", square, "an even number of pixels >= 10")
    if preset in ("chessboard", "charuco", "circles"):
        for name, value in (("cols", cols), ("rows", rows)):
            if not isinstance(value, int) or value < 2:
                raise InvalidArgument(name, value, "an integer >= 2")
    grid = {"cols": cols, "rows": rows, "square": square}
    if preset == "chessboard":
        return write_pattern(out, chessboard_shapes(cols, rows, square), {"preset": preset, **grid, "refine": "chessboard"},
                             chessboard_points(cols, rows, square), **printing)
    if preset == "charuco":
        full, names, corners = charuco_board(cols, rows, square, dictionary, marker_ratio)
        images = {**chessboard_shapes(cols, rows, square), "full": full}  # the chessboard's masks fit its layout
        meta = {"preset": preset, **grid, "dictionary": dictionary, "marker_ratio": marker_ratio, "refine": "chessboard"}
        return write_pattern(out, images, meta, (names, corners), **printing)
    if preset == "circles":
        images, names, centres = circles_grid(cols, rows, square, asymmetric)
        return write_pattern(out, images, {"preset": preset, **grid, "asymmetric": bool(asymmetric)},
                             (names, centres), **printing)
    if preset == "aruco":
        full, mask, names, corners = aruco_marker(dictionary, marker_id, square)
        meta = {"preset": preset, "square": square, "dictionary": dictionary, "marker_id": marker_id}
        return write_pattern(out, {"full": full, "mask": mask}, meta, (names, corners), **printing)
    return write_pattern(out, segmenty_shapes(), {"preset": preset}, segmenty_points(), **printing)


def _read_on_paper(path):
    """A user's image as 8-bit BGR, its transparent parts white: a logo's background is the paper."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InvalidArgument("from_image", path, "a readable image file (jpg, png, ...)")
    if img.dtype != np.uint8:
        img = cv2.convertScaleAbs(img, alpha=255 / np.iinfo(img.dtype).max if img.dtype.kind in "ui" else 255)
    if img.ndim == 2 or img.shape[2] == 1:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        alpha = img[..., 3:].astype(np.float32) / 255
        return np.round(img[..., :3] * alpha + WHITE * (1 - alpha)).astype(np.uint8)
    return img


def _from_image(out, path, margin, area, printing):
    """A pattern folder from a user's image: full.png is the image, mask 0 its pattern area; a
    chessboard in it gets its inner corners as points, refined as the preset's are."""
    img = _read_on_paper(path)
    x0, y0, x1, y1 = _image_area(img, margin, area)
    mask = np.zeros(img.shape[:2], np.uint8)
    mask[y0:y1, x0:x1] = WHITE
    corners = chessboard_in(img, (x0, y0, x1, y1))
    meta = {"source": os.path.abspath(path), **({"refine": "chessboard"} if corners else {})}
    return write_pattern(out, {"full": img, "mask": mask}, meta, corners, **printing)


def chessboard_in(image, area, least=(3, 3)):
    """(names, N x 2) of the inner corners of a chessboard that makes up a pattern image's area,
    named r{row}c{col} row by row from its top-left, as the chessboard preset's; None where
    cv2.findChessboardCornersSB finds no such grid.

    The grid must be a chessboard's: its corners a regular lattice (within 5% of a square of a
    homography), and its outer squares' border on the pattern area's (within a quarter of a
    square), so a few corners of some other drawing, or part of a ChArUco board, are not one.

    Args:
        image: uint8 BGR or gray, the pattern image.
        area: (x0, y0, x1, y1), the pattern area's box in pixels, x1 and y1 exclusive.
        least: (cols, rows), the smallest grid looked for.
    """
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    found, corners, meta = cv2.findChessboardCornersSBWithMeta(gray, least, cv2.CALIB_CB_LARGER | cv2.CALIB_CB_ACCURACY)
    if not found or meta is None:
        return None
    grid = corners.reshape(*meta.shape, 2).astype(np.float64)
    # OpenCV starts at any corner of the grid: turn it to run along x from the top-left.
    along = grid[0, -1] - grid[0, 0]
    if abs(along[1]) > abs(along[0]):
        grid = grid.transpose(1, 0, 2)
    if grid[0, -1, 0] < grid[0, 0, 0]:
        grid = grid[:, ::-1]
    if grid[-1, 0, 1] < grid[0, 0, 1]:
        grid = grid[::-1]
    rows, cols = grid.shape[:2]
    lattice = np.float64([[c, r] for r in range(rows) for c in range(cols)])
    H, _ = cv2.findHomography(lattice, grid.reshape(-1, 2), 0)
    if H is None:
        return None
    step = np.median(np.linalg.norm(np.diff(grid, axis=1), axis=2))
    fitted = cv2.perspectiveTransform(lattice.reshape(-1, 1, 2), H).reshape(-1, 2)
    border = cv2.perspectiveTransform(np.float64([[-1, -1], [cols, -1], [cols, rows], [-1, rows]]).reshape(-1, 1, 2),
                                      H).reshape(-1, 2)
    x0, y0, x1, y1 = area
    edges = np.float64([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) - 0.5  # OpenCV coordinates of the area's corners
    if np.abs(fitted - grid.reshape(-1, 2)).max() > 0.05 * step or np.abs(border - edges).max() > 0.25 * step:
        return None
    return [f"r{r}c{c}" for r in range(rows) for c in range(cols)], grid.reshape(-1, 2)


# The picture a model keeps of its pattern: 6 px per square of a 10 x 7 chessboard.
PICTURE_SIDE = 60
PATTERN_HINT = "(run make_patterns.py, or make one by hand as the README shows)"


def load_pattern_json(folder):
    """pattern.json of a pattern folder, checked (see the module docstring). Raises SegmentyError."""
    path = os.path.join(folder, "pattern.json")
    if not os.path.isdir(folder):
        raise SegmentyError(f"no pattern folder at {folder}/ {PATTERN_HINT}")
    try:
        with open(path) as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise SegmentyError(f"no pattern.json in {folder}/ {PATTERN_HINT}") from None
    except (OSError, ValueError) as e:
        raise SegmentyError(f"unreadable {path}: {e} {PATTERN_HINT}") from None
    if not isinstance(meta, dict) or "full" not in meta or not meta.get("masks"):
        raise SegmentyError(f"invalid {path}: expected {{\"full\": \"full.png\", \"masks\": [names...]}}")
    validate_meta(meta, path)
    return meta


def _parse_points(points):
    """(names, N x 2 float64) of pattern.json's "points", or None where they are malformed."""
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        return None
    names = [p.get("name") for p in points]
    try:
        xy = np.array([p.get("xy") for p in points], np.float64).reshape(len(points), -1)
    except (TypeError, ValueError):
        return None
    ok = (all(isinstance(n, str) and n for n in names) and len(set(names)) == len(names)
          and xy.shape[1:] in ((2,), ()) and np.isfinite(xy).all())
    return (names, xy.reshape(-1, 2)) if ok else None


def validate_meta(meta, where, full_shape=None):
    """Check pattern.json's optional fields: points, size_mm, refine; and, given full.png's (h, w), that the points lie on it.

    Raises:
        SegmentyError: saying what was expected, in one line.
    """
    if "points" in meta:
        parsed = _parse_points(meta["points"])
        if parsed is None:
            raise SegmentyError(f"invalid points in {where}: expected a list of {{\"name\": \"r0c0\", \"xy\": [x, y]}} "
                                "with distinct names, in full.png pixels")
        xy = parsed[1]
        if full_shape is not None and len(xy):
            h, w = full_shape
            if not ((xy >= -0.5).all() and (xy <= [w - 0.5, h - 0.5]).all()):
                raise SegmentyError(f"points in {where} lie outside full.png ({w}x{h}): expected OpenCV pixel "
                                    f"coordinates, -0.5 to {w - 0.5} across and -0.5 to {h - 0.5} down")
    size = meta.get("size_mm")
    if size is not None and not (isinstance(size, list) and len(size) == 2
                                 and all(isinstance(v, (int, float)) and v > 0 for v in size)):
        raise SegmentyError(f"invalid size_mm in {where}: expected [width, height] of the pattern area in mm")
    if meta.get("refine") not in (None, "chessboard"):
        raise SegmentyError(f"invalid refine in {where}: expected \"chessboard\", or no refine")


def pattern_points(source):
    """The named points of a pattern: a folder or its pattern.json dict.

    A chessboard folder made before points were listed gets its inner corners.

    Returns:
        tuple (list of names, N x 2 float64 array in full.png's OpenCV coordinates); empty when none.
    """
    meta = source if isinstance(source, dict) else load_pattern_json(source)
    if "points" in meta:
        parsed = _parse_points(meta["points"])
        if parsed is None:
            validate_meta(meta, "pattern.json")  # raises, saying what was expected
        return parsed
    if meta.get("preset") == "chessboard":
        return chessboard_points(meta["cols"], meta["rows"], meta.get("square", SQUARE))
    return [], np.zeros((0, 2))


def pattern_area(mask):
    """The outline of a mask's region: 4 x 2 corners, clockwise from the top-left, in OpenCV coordinates.

    The outline runs half a pixel outside the region's outer pixels (a region of columns 50 to
    1049 spans x = 49.5 to 1049.5). A region that isn't a rectangle gets the quadrilateral
    closest to its outline.

    Raises:
        SegmentyError: when the mask is empty.
    """
    inside = (np.asarray(mask) > 127).astype(np.uint8)
    x, y, w, h = cv2.boundingRect(inside)
    if not w:
        raise SegmentyError("the pattern's first mask is empty: expected white (255) over the pattern area")
    box = np.float64([[x, y], [x + w, y], [x + w, y + h], [x, y + h]]) - 0.5
    if inside.sum() == w * h or min(w, h) < 3:  # a rectangle (every preset's), or too thin for more
        return box
    contours, _ = cv2.findContours(inside, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = cv2.convexHull(max(contours, key=cv2.contourArea)).reshape(-1, 2).astype(np.float32)
    for epsilon in np.geomspace(0.5, 0.25 * max(w, h), 12):
        quad = cv2.approxPolyDP(hull, float(epsilon), True).reshape(-1, 2)
        if len(quad) <= 4:
            break
    if len(quad) != 4:
        quad = cv2.boxPoints(cv2.minAreaRect(hull))
    # The hull joins the outer pixels' centres: its sides move half a pixel out to the region's edge.
    return _grow(_clockwise_from_top_left(np.float64(quad)), 0.5)


def _clockwise_from_top_left(quad):
    centre = quad.mean(0)
    quad = quad[np.argsort(np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0]))]  # y down: clockwise on screen
    return np.roll(quad, -int(np.argmin(quad.sum(1))), axis=0)


def _grow(quad, d):
    """A convex quadrilateral (clockwise) with each side moved `d` outwards; its corners are where the moved sides meet."""
    u = np.roll(quad, -1, axis=0) - quad  # side i runs from corner i to corner i + 1
    u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)
    start = quad + d * np.stack([u[:, 1], -u[:, 0]], 1)  # outwards, for clockwise corners with y down
    corners = []
    for i in range(4):  # corner i: moved side i - 1 meets moved side i
        t = np.linalg.lstsq(np.column_stack([u[i - 1], -u[i]]), start[i] - start[i - 1], rcond=None)[0][0]
        corners.append(start[i - 1] + t * u[i - 1])
    return np.float64(corners)


def mask_names(folder, meta=None):
    """The mask names of a pattern folder, in channel order (pattern.json's list, without .png)."""
    return [os.path.splitext(n)[0] for n in (meta or load_pattern_json(folder))["masks"]]


def load_pattern(folder):
    """Read a pattern folder.

    Returns:
        tuple (full, masks, mask_names): full is an HxWx3 uint8 BGR image, masks a list
        of HxW uint8 images (inside = 255), mask_names their names in channel order.
    """
    meta = load_pattern_json(folder)
    full = cv2.imread(os.path.join(folder, meta["full"]), cv2.IMREAD_COLOR)
    if full is None:
        raise SegmentyError(f"unreadable pattern image {os.path.join(folder, meta['full'])} {PATTERN_HINT}")
    validate_meta(meta, os.path.join(folder, "pattern.json"), full.shape[:2])
    masks = []
    for name in meta["masks"]:
        path = os.path.join(folder, name if name.endswith(".png") else f"{name}.png")
        m = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise SegmentyError(f"unreadable mask {path} listed in {folder}/pattern.json {PATTERN_HINT}")
        if m.shape != full.shape[:2]:
            raise SegmentyError(f"mask {path} is {m.shape[1]}x{m.shape[0]}, but {meta['full']} is "
                            f"{full.shape[1]}x{full.shape[0]}: every image of a pattern must have the same size")
        masks.append(m)
    return full, masks, mask_names(folder, meta)


def pattern_picture(folder, long_side=PICTURE_SIDE):
    """The printed pattern where mask 0 covers it, in gray, `long_side` px on its longer side.

    A model stores it, so test_segmenter.py can check a doubtful find against what was printed.

    Returns:
        uint8 2D array, or None when mask 0 is empty.
    """
    full, masks, _ = load_pattern(folder)
    x, y, w, h = cv2.boundingRect((masks[0] > 127).astype(np.uint8))
    if not w or not h:
        return None
    gray = cv2.cvtColor(full[y:y + h, x:x + w], cv2.COLOR_BGR2GRAY)
    scale = long_side / max(w, h)
    return cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
