"""Stage 2: the printed pattern and its masks (make_patterns.py).

Writes a pattern folder:

    pattern/full.{svg,png}     the page as printed
    pattern/<mask>.{svg,png}   one per mask; inside = white (255), outside = black (0)
    pattern/pattern.json       {"full": "full.png", "masks": [names in output-channel order], ...}

Every image of a folder has the same size. Sample generation and training read only
`pattern.json` and the PNGs, so a folder made by hand (a `full.png`, any number of mask
PNGs, and a `pattern.json` listing them) works the same as a generated one.

Each preset is a list of shapes per image; both the SVG (svgwrite) and the PNG (OpenCV,
anti-aliased) are drawn from that one list, so they always agree.
"""

import json
import math
import os
import shutil
import tempfile

import cv2
import numpy as np

from segmenty.errors import InvalidArgument, SegmentyError

PRESETS = ("segmenty", "chessboard")
BLACK, WHITE = 0, 255

# The original's page and grid (SPEC.md, "Pattern geometry").
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


def _write_png(path, img):
    if not cv2.imwrite(path, img):
        raise OSError(f"could not write {path}")


def _write_folder(out, write_files):
    """Write into a temporary sibling folder, then swap it in, so --out is never half-written."""
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


def write_shapes(out, images, meta):
    """Write {name: (w, h, shapes)} as SVG + PNG, plus pattern.json, into folder `out`."""
    def write_files(folder):
        for name, (w, h, shapes) in images.items():
            with open(os.path.join(folder, f"{name}.svg"), "w") as f:
                f.write(to_svg(w, h, shapes))
            _write_png(os.path.join(folder, f"{name}.png"), render(w, h, shapes))
        masks = [name for name in images if name != "full"]
        with open(os.path.join(folder, "pattern.json"), "w") as f:
            json.dump({"full": "full.png", "masks": masks, **meta}, f, indent=2)
    _write_folder(out, write_files)


def make_patterns(out="pattern", preset="segmenty", cols=10, rows=7, from_image=None):
    """Write a pattern folder.

    Args:
        out: str, the folder to (re)create. Defaults to "pattern".
        preset: str, "segmenty" (the original) or "chessboard". Defaults to "segmenty".
        cols: int, chessboard squares across. Defaults to 10.
        rows: int, chessboard squares down. Defaults to 7.
        from_image: str or None, a user's image to use as the pattern, with one all-page mask.

    Returns:
        dict, the pattern.json written.
    """
    if from_image is not None:
        img = cv2.imread(from_image, cv2.IMREAD_COLOR)
        if img is None:
            raise InvalidArgument("from_image", from_image, "a readable image file (jpg, png, ...)")

        def write_files(folder):
            _write_png(os.path.join(folder, "full.png"), img)
            _write_png(os.path.join(folder, "mask.png"), np.full(img.shape[:2], WHITE, np.uint8))
            with open(os.path.join(folder, "pattern.json"), "w") as f:
                json.dump({"full": "full.png", "masks": ["mask"], "source": os.path.abspath(from_image)}, f, indent=2)
        _write_folder(out, write_files)
        return load_pattern_json(out)
    if preset not in PRESETS:
        raise InvalidArgument("preset", preset, f"one of {', '.join(PRESETS)}")
    if preset == "chessboard":
        for name, value in (("cols", cols), ("rows", rows)):
            if not isinstance(value, int) or value < 2:
                raise InvalidArgument(name, value, "an integer >= 2")
        write_shapes(out, chessboard_shapes(cols, rows),
                     {"preset": "chessboard", "cols": cols, "rows": rows, "square": SQUARE})
    else:
        write_shapes(out, segmenty_shapes(), {"preset": "segmenty"})
    return load_pattern_json(out)


# The picture a model keeps of its pattern: 6 px per square of a 10 x 7 chessboard.
PICTURE_SIDE = 60
PATTERN_HINT = "(run make_patterns.py, or make one by hand as the README shows)"


def load_pattern_json(folder):
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
    return meta


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
