"""The synthesis primitives: pure, deterministic numpy/OpenCV functions that recipes compose.

Nothing here knows a recipe or draws a random number, except from a seed it is given (sensor
noise, a structure's per-element variation): a recipe (segmenty/recipes/) samples its
parameters, then calls these to apply them. Recipes import this module, never the reverse.

Conventions: images are uint8 BGR (or BGRA) unless a function says otherwise; masks are
uint8, inside = 255; points are float pixel coordinates (x, y) with (0, 0) at the centre of
the top-left pixel, as OpenCV's.
"""

import math

import cv2
import numpy as np


# ---------------------------------------------------------------- colour and light

def shade(pattern, colors, brightness=1.0):
    """Multiply a uint8 page by a vertical gradient from colors[0] (top row) to colors[1] (bottom row).

    Args:
        pattern: HxWx3 uint8 BGR page.
        colors: 2x3 RGB colours in [0, 1], top row then bottom row.
        brightness: float, factor on both colours. Defaults to 1.0.

    Returns:
        HxWx3 uint8 BGR.
    """
    h, w = pattern.shape[:2]
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    bgr = np.asarray(colors, np.float32)[:, ::-1]
    column = np.clip(((1 - t) * bgr[0] + t * bgr[1]) * (brightness * 255) + 0.5, 0, 255).astype(np.uint8)
    gradient = cv2.resize(column, (w, h), interpolation=cv2.INTER_NEAREST)
    return cv2.multiply(pattern, gradient, scale=1 / 255)


def printed_page(page, ink, paper, tint, colors):
    """The pattern as printed and lit: ink and paper levels, a paper tint, the shading gradient."""
    levels = cv2.convertScaleAbs(page, alpha=(paper - ink) / 255, beta=ink)
    return shade(cv2.multiply(levels, tuple(float(t) for t in tint) + (0.0,)), colors)


def with_paper(page, margin, paper, tint):
    """Pad a page with paper.

    Args:
        page: HxWx3 uint8 page.
        margin: 4 floats, left/top/right/bottom, in page widths and heights.
        paper: float, the paper's grey level.
        tint: 3 floats, per-channel factors on `paper`.

    Returns:
        tuple (padded page, 3x3 transform from padded to page coordinates).
    """
    h, w = page.shape[:2]
    left, top, right, bottom = (np.asarray(margin) * [w, h, w, h]).round().astype(int)
    color = [float(paper * t) for t in tint]
    padded = cv2.copyMakeBorder(page, top, bottom, left, right, cv2.BORDER_CONSTANT, value=color)
    return padded, np.float64([[1, 0, -left], [0, 1, -top], [0, 0, 1]])


def zoom_background(image, zoom, shift, flip):
    """Zoom into a size x size background at a given place, optionally mirrored.

    Args:
        image: size x size x 3 uint8.
        zoom: float >= 1.
        shift: 2 floats in [0, 1], where the view lies in the room the zoom leaves (x, y).
        flip: bool, mirror left to right.
    """
    size = image.shape[0]
    free = size * (1 - 1 / zoom)
    tx, ty = shift * free
    A = np.float32([[zoom, 0, -tx * zoom], [0, zoom, -ty * zoom]])
    out = cv2.warpAffine(image, A, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out[:, ::-1] if flip else out


def illumination(size, gradient, level, shadow):
    """Float32 size x size light field: a linear gradient, optionally a soft-edged shadow.

    Args:
        size: int.
        gradient: 2 floats, the change in light across the frame along x and y.
        level: float, the light at the centre.
        shadow: dict with angle, offset, depth, softness; or None.
    """
    t = (np.arange(size, dtype=np.float32) / size) - 0.5
    field = level * (1 + gradient[0] * t[None, :] + gradient[1] * t[:, None])
    if shadow:
        c, s = math.cos(shadow["angle"]), math.sin(shadow["angle"])
        d = c * t[None, :] + s * t[:, None] - shadow["offset"]
        inside = 1 / (1 + np.exp(np.clip(-d / shadow["softness"], -60, 60)))  # clipped: no overflow warning
        field = field * (1 - shadow["depth"] * inside)
    return np.clip(field, 0.05, 2.0).astype(np.float32)


# ---------------------------------------------------------------- geometry and lens

def project_pose(pose, size, aspect):
    """Image corners (TL, TR, BR, BL) of a flat page seen by a pinhole camera.

    Args:
        pose: dict with focal (px), extent (the page's longer side as a share of the frame),
            tilt (2 angles in radians, about x then y), turn (radians, in the page's plane),
            centre (2 floats, where the page's centre lands, px).
        size: int, frame width = height.
        aspect: float, the page's width / height.

    Returns:
        4x2 float32.
    """
    w, h = aspect, 1.0
    corners = np.array([[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0], [-w / 2, h / 2, 0]])
    c, s = math.cos(pose["turn"]), math.sin(pose["turn"])
    rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    a, b = pose["tilt"]
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    f = pose["focal"]
    distance = f * max(w, h) / (pose["extent"] * size)
    offset = (pose["centre"] - size / 2) * distance / f
    world = corners @ (ry @ rx @ rz).T + [offset[0], offset[1], distance]
    world[:, 2] = np.maximum(world[:, 2], 0.2 * distance)  # a steep tilt never puts a corner behind the camera
    return (f * world[:, :2] / world[:, 2:] + size / 2).astype(np.float32)


def camera(focal, principal, k1):
    """Camera matrix and distortion coefficients (k1 only; k2 = p1 = p2 = 0)."""
    K = np.float64([[focal, 0, principal[0]], [0, focal, principal[1]], [0, 0, 1]])
    return K, np.float64([k1, 0, 0, 0])


def undistort_map(size, focal, principal, k1):
    """A size x size x 2 float32 map for cv2.remap that does what cv2.undistort does with this camera."""
    K, dist = camera(focal, principal, k1)
    xy_map, _ = cv2.initUndistortRectifyMap(K, dist, None, K, (size, size), cv2.CV_32FC2)
    return xy_map


def undistort_points(pts, focal, principal, k1):
    """Where points of the distorted image land after undistort_map's remap: N x 2 float64."""
    K, dist = camera(focal, principal, k1)
    return cv2.undistortPoints(np.float64(pts).reshape(-1, 1, 2), K, dist, P=K).reshape(-1, 2)


def compose_map(xy_map, inverse_homography):
    """A map that first undistorts, then looks up through a perspective warp's inverse."""
    h, w = xy_map.shape[:2]
    return cv2.perspectiveTransform(xy_map.reshape(-1, 1, 2), inverse_homography).reshape(h, w, 2)


# ---------------------------------------------------------------- blur

LINE_STEPS = [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)]  # 45 degrees apart


def line_blur(img, length, direction):
    """Mean along a line of `length` px through each pixel, in one of 8 directions (LINE_STEPS)."""
    dx, dy = LINE_STEPS[direction % 8]
    r = length // 2
    offsets = range(-r, r + 1) if length % 2 else range(-r, r)  # even lengths: one step fewer
    if dx == 0 or dy == 0:  # a box filter, 3x faster; its anchor puts the same pixels under the line
        anchor = -min(offsets) if dx + dy > 0 else max(offsets)
        ksize, point = ((length, 1), (anchor, 0)) if dy == 0 else ((1, length), (0, anchor))
        return cv2.blur(img, ksize, anchor=point, borderType=cv2.BORDER_REFLECT_101)
    padded = cv2.copyMakeBorder(img, r, r, r, r, cv2.BORDER_REFLECT_101)
    h, w = img.shape[:2]
    acc = np.zeros(img.shape, np.uint16)
    for k in offsets:
        acc += padded[r + k * dy:r + k * dy + h, r + k * dx:r + k * dx + w]
    return ((acc + len(offsets) // 2) // len(offsets)).astype(np.uint8)


def motion_blur(image, length, angle):
    """Blur along a line of any length (px) and angle (degrees): a normalised, anti-aliased line kernel."""
    k = int(math.ceil(length)) | 1
    kernel = np.zeros((k, k), np.float32)
    cv2.line(kernel, (0, k // 2), (k - 1, k // 2), 1.0, 1, cv2.LINE_AA)
    M = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), angle, length / k)
    kernel = cv2.warpAffine(kernel, M, (k, k))
    return cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6), borderType=cv2.BORDER_REFLECT_101)


# ---------------------------------------------------------------- drawing

def draw_ellipses(image, ellipses):
    """Draw filled ellipses in place: a dict of arrays centres (Nx2), axes (Nx2), angles (N), colors (Nx3)."""
    e = ellipses
    for (x, y), (a, b), angle, color in zip(e["centres"].astype(int).tolist(), e["axes"].tolist(),
                                            e["angles"].tolist(), e["colors"].tolist()):
        cv2.ellipse(image, (x, y), (a, b), angle, 0, 360, color, -1)


def draw_occluders(image, occluders, backgrounds):
    """Draw occluders in place: dicts of kind "ellipse", "polygon" or "patch" (a crop of backgrounds[source])."""
    size = image.shape[0]
    for o in occluders:
        if o["kind"] == "ellipse":
            cv2.ellipse(image, tuple(np.int32(o["centre"])), tuple(np.int32(o["axes"])), o["angle"], 0, 360,
                        o["color"].tolist(), -1, cv2.LINE_AA)
        elif o["kind"] == "polygon":
            cv2.fillPoly(image, [np.int32(o["points"])], o["color"].tolist(), cv2.LINE_AA)
        else:
            w, h = np.maximum(np.int32(o["wh"]), 2)
            src = backgrounds[o["source"]]
            cx, cy = (o["crop"] * (size - 1) * 0.5).astype(int)
            crop = src[cy:cy + max(h, size // 2), cx:cx + max(w, size // 2)]
            patch = cv2.convertScaleAbs(cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA), alpha=o["brightness"])
            x0, y0 = np.int32(o["centre"] - [w / 2, h / 2])
            xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + w, size), min(y0 + h, size)
            if xa < xb and ya < yb:
                image[ya:yb, xa:xb] = patch[ya - y0:yb - y0, xa - x0:xb - x0]


def draw_distractor(image, d):
    """Draw a grid of lines or stripes in perspective, in place.

    A straight line stays straight under a homography, so only the lines' ends are mapped.

    Args:
        image: HxWx3 uint8.
        d: dict with kind ("grid" or "stripes"), corners (4x2, where the unit square lands),
            cells (2 ints across, down), width (a share of a cell), color (3 floats).
    """
    size = image.shape[0]
    M = cv2.getPerspectiveTransform(np.float32([[0, 0], [1, 0], [1, 1], [0, 1]]), d["corners"])
    nx, ny = d["cells"]
    ends = [[(i / nx, 0), (i / nx, 1)] for i in range(nx + 1)]
    if d["kind"] == "grid":
        ends += [[(0, j / ny), (1, j / ny)] for j in range(ny + 1)]
    # Width as a share of a cell, in pixels of the quad's mean cell size.
    cell = math.sqrt(max(cv2.contourArea(d["corners"]), 1.0) / (nx * ny))
    width = max(1, int(round(d["width"] * cell)))
    for a, b in cv2.perspectiveTransform(np.float32(ends).reshape(-1, 1, 2), M).reshape(-1, 2, 2):
        if np.all(np.abs(np.concatenate([a, b])) < 4 * size):
            cv2.line(image, tuple(np.int32(a)), tuple(np.int32(b)), d["color"].tolist(), width, cv2.LINE_AA)


def _fixed(points):
    """Points as the int32 of OpenCV's drawing with shift=4 (1/16 px), bounded so that nothing overflows."""
    return np.int32(np.clip(np.round(np.asarray(points, np.float64) * 16), -2**26, 2**26))


UNIT_SQUARE = np.float32([[0, 0], [1, 0], [1, 1], [0, 1]])
STRUCTURES = ("tiles", "brick", "windows", "keys", "shelves", "fence", "print")


def _cells(nx, ny):
    """Column and row indices of an nx x ny grid's cells, flat, as floats."""
    i, j = np.meshgrid(np.arange(nx), np.arange(ny))
    return i.ravel().astype(np.float64), j.ravel().astype(np.float64)


def _tiles(s, rng):
    """(rectangles, colours, base colour) of a tiled floor or wall; see draw_structure."""
    nx, ny = s["cells"]
    i, j = _cells(nx, ny)
    g = s["gap"] / 2
    rects = np.stack([(i + g) / nx, (j + g) / ny, (i + 1 - g) / nx, (j + 1 - g) / ny], 1)
    which = ((i + j) % 2).astype(int) if s["checker"] else np.zeros(len(i), int)
    colors = s["colors"][which] + rng.normal(0, s["jitter"], (len(i), 3))
    return rects, colors, s["colors"][2]


def _brick(s, rng):
    """(rectangles, colours, base colour) of a brick wall."""
    nx, ny = s["cells"]
    k, j = _cells(nx + 1, ny)
    x0 = (k - 0.5 * (j % 2)) / nx  # every other row half a brick along: a running bond
    g = s["gap"] / 2
    rects = np.stack([np.clip(x0 + g / nx, 0, 1), (j + g) / ny, np.clip(x0 + (1 - g) / nx, 0, 1), (j + 1 - g) / ny], 1)
    keep = rects[:, 2] - rects[:, 0] > 0.1 / nx
    colors = s["colors"][0] + rng.normal(0, s["jitter"], (len(k), 3))
    return rects[keep], colors[keep], s["colors"][2]


def _windows(s, rng):
    """(rectangles, colours, base colour) of a facade's windows."""
    nx, ny = s["cells"]
    i, j = _cells(nx, ny)
    fw, fh = s["fill"]
    x0, y0, x1, y1 = (i + (1 - fw) / 2) / nx, (j + (1 - fh) / 2) / ny, (i + (1 + fw) / 2) / nx, (j + (1 + fh) / 2) / ny
    fx, fy = 0.08 * fw / nx, 0.08 * fh / ny  # frame width
    frame = np.stack([x0 - fx, y0 - fy, x1 + fx, y1 + fy], 1)
    sill = np.stack([x0 - 2 * fx, y1 + fy, x1 + 2 * fx, y1 + 3 * fy], 1)
    glass = np.stack([x0, y0, x1, y1], 1)
    parts = [frame, sill, glass]
    glass_colors = s["colors"][1] * rng.uniform(0.5, 1.4, (len(i), 1))  # some lit, some dark, some reflecting
    colors = [np.tile(s["colors"][2], (len(i), 1))] * 2 + [glass_colors]
    if s["mullions"]:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        parts += [np.stack([cx - fx / 2, y0, cx + fx / 2, y1], 1), np.stack([x0, cy - fy / 2, x1, cy + fy / 2], 1)]
        colors += [np.tile(s["colors"][2], (len(i), 1))] * 2
    return np.concatenate(parts), np.concatenate(colors), s["colors"][0]


def _keys(s, rng):
    """(rectangles, colours, base colour) of a keyboard's keys."""
    nx, ny = s["cells"]
    k, j = _cells(nx, ny)
    x = k + (j * s["stagger"]) % 1  # each row shifted along, as a keyboard's; the plane is nx + 1 keys wide
    g = s["gap"] / 2
    keys = np.stack([(x + g) / (nx + 1), (j + g) / ny, (x + 1 - g) / (nx + 1), (j + 1 - g) / ny], 1)
    w, h = keys[:, 2] - keys[:, 0], keys[:, 3] - keys[:, 1]
    glyphs = np.stack([keys[:, 0] + 0.25 * w, keys[:, 1] + 0.25 * h, keys[:, 0] + 0.45 * w, keys[:, 1] + 0.5 * h], 1)
    colors = s["colors"][1] + rng.normal(0, s["jitter"], (len(k), 3))
    glyph_colors = np.tile(s["colors"][2], (len(k), 1))
    return np.concatenate([keys, glyphs]), np.concatenate([colors, glyph_colors]), s["colors"][0]


def _shelves(s, rng):
    """(rectangles, colours, base colour) of shelves of books."""
    nx, ny = s["cells"]  # compartments across, shelves down
    board = s["board"]
    rects, colors = [], []
    for j in range(ny):
        floor = (j + 1 - board) / ny
        for i in range(nx):
            # Books: widths a share of the compartment, packed from its left side until it is full.
            widths = rng.uniform(0.04, 0.15, 40)
            left = i / nx + board / (2 * nx) + np.concatenate([[0], np.cumsum(widths)[:-1]]) / nx
            right = left + widths / nx
            fits = right < (i + 1) / nx - board / (2 * nx)
            tops = floor - rng.uniform(0.55, 0.95, 40) * (1 - board) / ny
            rects += [np.stack([left, tops, right, np.full(40, floor)], 1)[fits]]
            colors += [rng.uniform(20, 230, (40, 3))[fits]]
    boards = [[0, (j + 1 - board) / ny, 1, (j + 1) / ny] for j in range(ny)]
    boards += [[i / nx - board / (2 * nx), 0, i / nx + board / (2 * nx), 1] for i in range(nx + 1)]
    rects.append(np.float64(boards))
    colors.append(np.tile(s["colors"][2], (len(boards), 1)))
    return np.concatenate(rects), np.concatenate(colors), s["colors"][0] * 0.5  # the back panel lies in shadow


def _fence(s, rng):
    """(rectangles, colours, no base colour: the scene shows between the bars) of a fence or railing."""
    nx, ny = s["cells"]  # bays across, rails down
    i, j = np.arange(nx + 1, dtype=np.float64), np.arange(ny, dtype=np.float64)
    post, rail = s["post"] / (2 * nx), s["rail"] / (2 * ny)
    posts = np.stack([np.clip(i / nx - post, 0, 1), np.zeros_like(i), np.clip(i / nx + post, 0, 1), np.ones_like(i)], 1)
    middle = (j + 0.5) / ny  # the top rail half a rail's spacing below the posts' tops
    rails = np.stack([np.zeros_like(j), middle - rail, np.ones_like(j), middle + rail], 1)
    colors = np.concatenate([s["colors"][1] + rng.normal(0, s["jitter"], (ny, 3)),
                             s["colors"][0] + rng.normal(0, s["jitter"], (nx + 1, 3))])
    return np.concatenate([rails, posts]), colors, None  # the posts in front of the rails


_STRUCTURE_PARTS = {"tiles": _tiles, "brick": _brick, "windows": _windows, "keys": _keys, "shelves": _shelves,
                    "fence": _fence}

FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
         cv2.FONT_HERSHEY_PLAIN)
_LETTERS = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
_LETTER_ODDS = np.float64([12, 9, 8, 7.5, 7, 6.7, 6.3, 6, 6, 4.3, 4, 2.8, 2.8, 2.4, 2.4, 2.2, 2, 2, 2, 1.5, 1, .8, .2, .2, .1, .1])


def _typeset(s, rng, line_px):
    """A page of print: a uint8 image of `cells[1]` lines of line_px, `aspect` times as wide as tall, 255 ink.

    Letters at English frequencies, each a space instead with p = 0.2 (words of 4 on average), fill
    each line of each column inside a margin of `margin` (share of the width); a paragraph ends
    after a line with p = 0.15, U(0.2, 0.9) of a line long, and a blank line follows it with p = 0.5.
    """
    columns, lines = s["cells"]
    height = lines * line_px
    width = max(8, int(round(height * s["aspect"])))
    font, ink = FONTS[s["font"]], np.zeros((height, width), np.uint8)
    scale = cv2.getFontScaleFromHeight(font, max(2, int(line_px * s["x_height"])), s["stroke"])
    letter = cv2.getTextSize("etaoin shrdlu", font, scale, s["stroke"])[0][0] / 13  # one letter's mean width
    left, gutter = s["margin"] * width, 0.05 * width
    column = (width - 2 * left - (columns - 1) * gutter) / columns
    odds = _LETTER_ODDS / _LETTER_ODDS.sum()
    for c in range(columns):
        line = 0
        while line < lines:
            ends = rng.random() < 0.15
            n = int(column / letter * (rng.uniform(0.2, 0.9) if ends else 1.0))
            text = np.where(rng.random(n) < 0.2, " ", rng.choice(_LETTERS, n, p=odds))
            origin = (int(left + c * (column + gutter)), int((line + 0.75) * line_px))
            cv2.putText(ink, "".join(text).strip(), origin, font, scale, 255, s["stroke"], cv2.LINE_AA)
            line += 2 if ends and rng.random() < 0.5 else 1
    return ink


def _print_layer(image, s, rng, M, plane):
    """image with a page of print on the plane that M maps the unit square to; see draw_structure."""
    corners = np.float32(s["corners"])
    shown = max(np.linalg.norm(corners[1] - corners[0]), np.linalg.norm(corners[2] - corners[3]))  # its width
    # Typeset at about twice the line height it is seen at (but 12-32 px): smooth, and cheap for a page far off.
    line_px = int(np.clip(2 * shown / s["aspect"] / s["cells"][1], 12, 32))
    ink = _typeset(s, rng, line_px)
    h, w = ink.shape
    size = image.shape[0]
    to_unit = np.float64([[1 / w, 0, 0], [0, 1 / h, 0], [0, 0, 1]])
    seen = cv2.warpPerspective(ink, M @ to_unit, (size, size), flags=cv2.INTER_LINEAR)[..., None] / np.float32(255)
    layer = image.copy()
    cv2.fillConvexPoly(layer, plane, np.clip(s["colors"][0], 0, 255).tolist(), cv2.LINE_AA, shift=4)
    return np.clip(layer + seen * (np.float32(s["colors"][1]) - layer), 0, 255).astype(np.uint8)


def draw_structure(image, s):
    """Draw a regular structure on a plane in perspective, with texture and light, in place.

    Each kind but print is rectangles on the plane's unit square, filled in turn over a base colour:

        tiles    cells nx x ny, grout `gap` (share of a cell) in colors[2]; tiles colors[0], or
                 with `checker` colors[0] and colors[1] in turn
        brick    nx bricks a row, ny rows, every other row half a brick along; mortar colors[2]
        windows  a facade (colors[0]) with nx x ny windows of `fill` (w, h) of their cell:
                 frame and sill colors[2], glass colors[1] times U(0.5, 1.4) each, and
                 with `mullions` a cross
        keys     nx keys a row, ny rows, each row `stagger` keys further along (modulo one key);
                 body colors[0], keys colors[1], a glyph colors[2] on each
        shelves  nx compartments x ny shelves, boards `board` (share of a shelf) in colors[2],
                 back panel half colors[0]; books U(0.04, 0.15) of a compartment wide,
                 U(0.55, 0.95) of its height tall, each of colour U(20, 230)
        fence    nx bays x ny rails, see-through (no base: the scene shows between the bars):
                 nx + 1 posts `post` of a bay wide, colors[0], in front of ny rails `rail` of
                 their spacing thick, colors[1], the top one half a spacing below the posts' tops
        print    not rectangles: a page of nx columns x ny lines of print (_typeset), ink
                 colors[1] on paper colors[0], in `font` (an index into FONTS), letters
                 `x_height` of a line tall, strokes `stroke` px; `aspect` is the page's
                 width over its height

    Tiles, bricks, keys, posts and rails vary by N(0, jitter) per channel each. The whole plane (a
    fence's bars) is then multiplied by a light field: 1 + light . (position in the frame - 0.5),
    times a mottling of +-`texture` over a 6 x 6 grid, smoothly interpolated.

    Args:
        image: size x size x 3 uint8.
        s: dict with kind (one of STRUCTURES), cells (2 ints), colors (3 x 3 BGR floats), jitter,
            texture, light (2 floats), seed (int: the per-element variation), corners (4 x 2,
            where the plane's unit square lands) and what its kind needs, as above.
    """
    size = image.shape[0]
    rng = np.random.default_rng(s["seed"])
    M = cv2.getPerspectiveTransform(UNIT_SQUARE, np.float32(s["corners"]))
    plane = _fixed(s["corners"])
    region = np.zeros((size, size), np.uint8)
    see_through = False
    if s["kind"] == "print":
        layer = _print_layer(image, s, rng, M, plane)
    else:
        rects, colors, base = _STRUCTURE_PARTS[s["kind"]](s, rng)
        layer, see_through = image.copy(), base is None
        if not see_through:
            cv2.fillConvexPoly(layer, plane, np.clip(base, 0, 255).tolist(), cv2.LINE_AA, shift=4)
        corners = np.stack([rects[:, [0, 1]], rects[:, [2, 1]], rects[:, [2, 3]], rects[:, [0, 3]]], 1)
        quads = cv2.perspectiveTransform(np.float32(corners).reshape(-1, 1, 2), M).reshape(-1, 4, 2)
        visible = np.all(quads.max(1) > -1, 1) & np.all(quads.min(1) < size, 1)
        for quad, color in zip(_fixed(quads[visible]), np.clip(colors[visible], 0, 255).tolist()):
            cv2.fillConvexPoly(layer, quad, color, cv2.LINE_AA, shift=4)
            if see_through:  # only the elements take the plane's light
                cv2.fillConvexPoly(region, quad, 1, shift=4)
    if not see_through:
        cv2.fillConvexPoly(region, plane, 1, shift=4)
    t = np.arange(size, dtype=np.float32) / size - 0.5
    mottle = cv2.resize(np.float32(1 + rng.uniform(-s["texture"], s["texture"], (6, 6))), (size, size),
                        interpolation=cv2.INTER_CUBIC)
    field = np.float32(1 + s["light"][0] * t[None, :] + s["light"][1] * t[:, None]) * mottle
    cv2.copyTo(cv2.multiply(layer, cv2.merge([field] * 3), dtype=cv2.CV_8U), region, image)


# ---------------------------------------------------------------- the pattern's own look

def repeat_period(gray, axis, tolerance=0.1):
    """The smallest shift along `axis` under which an image repeats itself, or None.

    A shift counts when the mean absolute difference between the image and its shifted copy is
    below `tolerance` times the image's mean absolute deviation, at a local minimum, after some
    smaller shift made the copy differ clearly (above 0.5): a grid's period, not a blur's.

    Args:
        gray: 2-D array.
        axis: 1 across (x), 0 down (y).
        tolerance: float. Defaults to 0.1.

    Returns:
        float, the period in pixels (refined between pixels), at most half the image; or None.
    """
    a = np.asarray(gray, np.float32)
    a = (a - a.mean()) if axis == 1 else (a - a.mean()).T
    spread = np.abs(a).mean()
    n = a.shape[1]
    if spread < 1e-3 or n < 6:
        return None
    d = np.array([np.abs(a[:, k:] - a[:, :-k]).mean() / spread for k in range(1, n // 2 + 1)])
    risen = np.maximum.accumulate(d) > 0.5
    for k in range(1, len(d) - 1):
        if risen[k - 1] and d[k] < tolerance and d[k] <= d[k - 1] and d[k] <= d[k + 1]:
            curve = d[k - 1] - 2 * d[k] + d[k + 1]
            return k + 1 + (0.5 * (d[k - 1] - d[k + 1]) / curve if curve > 0 else 0.0)
    return None


def mirror_symmetric(page, tolerance=0.03):
    """Whether a page's mirror image looks like the page itself turned (0 or 180 degrees, or 90 if square).

    A 10 x 7 chessboard is (its mirror image is itself turned half a turn); a ChArUco board
    (0.09) or an ArUco marker is not. Compared in gray at 128 x 128: the mean absolute
    difference, relative to the page's mean absolute deviation, below `tolerance`.
    """
    g = cv2.resize(cv2.cvtColor(page, cv2.COLOR_BGR2GRAY) if page.ndim == 3 else page, (128, 128),
                   interpolation=cv2.INTER_AREA).astype(np.float32)
    spread = np.abs(g - g.mean()).mean()
    if spread < 1e-3:
        return True
    turns = [g, g[::-1, ::-1]]
    if abs(page.shape[1] / page.shape[0] - 1) < 0.02:
        turns += [np.rot90(g), np.rot90(g, 3)]
    mirrored = g[:, ::-1]
    return min(np.abs(mirrored - t).mean() for t in turns) / spread < tolerance


def tile_window(page, window, repeats, phase=(0.0, 0.0), mirror=False, scale=1.0):
    """A sheet that repeats a rectangle of a page: its tiles, or one crop of it, optionally mirrored.

    Args:
        page: HxWxC uint8.
        window: (x0, y0, x1, y1), the rectangle's edges in page pixels.
        repeats: 2 floats, how many window widths and heights the sheet spans (fractions cut a tile).
        phase: 2 floats, page pixels into the window where the sheet's tiling starts. Defaults to (0, 0).
        mirror: bool, mirror the sheet left to right. Defaults to False.
        scale: float, sheet pixels per page pixel. Defaults to 1.0.

    Returns:
        uint8 sheet, round(repeats * window size * scale) pixels.
    """
    x0, y0, x1, y1 = window

    def lookup(n, start, length, offset):  # sheet pixel centres -> OpenCV positions on the page
        s = (np.arange(n, dtype=np.float64) + 0.5) / scale
        return np.float32(start + np.mod(s + offset, length) - 0.5)

    w = max(1, int(round(repeats[0] * (x1 - x0) * scale)))
    h = max(1, int(round(repeats[1] * (y1 - y0) * scale)))
    map_x = np.ascontiguousarray(np.broadcast_to(lookup(w, x0, x1 - x0, phase[0])[None, :], (h, w)))
    map_y = np.ascontiguousarray(np.broadcast_to(lookup(h, y0, y1 - y0, phase[1])[:, None], (h, w)))
    sheet = cv2.remap(page, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return np.ascontiguousarray(sheet[:, ::-1]) if mirror else sheet


# ---------------------------------------------------------------- camera effects

def sensor_noise(image, sigma, seed):
    """Add Gaussian noise of standard deviation `sigma` to a float32 image, from its own seed."""
    noise = np.random.default_rng(seed).standard_normal(image.shape, np.float32)
    return image + noise * np.float32(sigma)


def gray(image):
    """A BGR image as a grayscale sensor sees it, still 3 channels."""
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def jpeg(image, quality):
    """The image after a JPEG round trip at `quality` (0-100)."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)
