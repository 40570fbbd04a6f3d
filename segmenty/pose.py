"""The pose of the page: where every point of the printed page lands in the photo.

Pure numpy/OpenCV, no model, no files:

- `search`: the page's picture moved and resized over the photo until it matches best, from
  a rough pose (the quad of a mask), so that a regular pattern lines up at the right period.
- `register`: the page's picture aligned to the photo (cv2.findTransformECC with a homography,
  coarse to fine), which brings the pose to a fraction of a pixel where the photo allows it.
- `refine_chessboard`: chessboard corners found to sub-pixel precision (cv2.cornerSubPix) near
  where the pose puts them; `fit_through_points` and `local_corners` pose the page through them.
- `chessboard_placements`, `grown_corners`, `fitted_to_corners`: a chessboard page placed through
  the corners OpenCV finds in view (cv2.findChessboardCornersSB), however few, grown over the
  board's other corners, then fitted to them;
  `charuco_placements`: a ChArUco board's, through the corners its markers name (CharucoDetector);
  `marker_placements`: an ArUco marker's, through its corners (ArucoDetector).
- `match`: how well a posed page explains the photo, tile by tile: the evidence of a find.
- `canonical_turn`, `page_symmetry`: one stable pose among the equivalent ones of a symmetric page.
- `camera_pose`: rotation and translation in millimetres (cv2.solvePnP), given the camera.

Conventions: OpenCV pixel coordinates ((0, 0) = centre of the top-left pixel); H maps the
pattern's full.png pixels to photo pixels; the page picture is full.png in gray, shrunk, with
`page_size` the size of full.png itself.
"""

import weakref

import cv2
import numpy as np

from segmenty import geometry

ECC_SIDE = 320  # the page is registered at this many pixels on its longer side at the finest level
ECC_LEVELS = (0.5, 1.0)  # coarse to fine, as shares of ECC_SIDE
ECC_ITERATIONS = 20
# A corner's sub-pixel search window, half its side as a share of a square: on a ChArUco board the
# markers' edges come within 0.15 of a square of its corners, and a wider window is pulled off
# by them (0.8 px median error at 0.35 with 0.7 markers on rendered boards, 0.3 px at 0.2).
CHESSBOARD_WINDOW = 0.35
CHARUCO_WINDOW = 0.2
DETECTOR_SCALES = (1.0, 0.5, 0.25)  # the ArUco detectors look at the photo at these sizes (_pyramid)
DETECTOR_PAD = 16  # ... with this many pixels of its edge repeated around it
TILES = 4  # match() compares the page with the photo in TILES x TILES tiles
# The decision's evidence (find.evidence_for) judges the pattern area in finer tiles: an occluder
# over 0.55 of each side (30% of the area) touches 9 to 16 of 4 x 4 tiles, and their median falls
# with a board plainly there; it touches 25 to 36 of 8 x 8 (39-56%).
EVIDENCE_TILES = 8
FIRST_EVIDENCE_TILES = 4  # ... calibrations that record no "tiles" were measured on 4 x 4
COVERED = 0.5  # covered(): a tile matching less than this share as well as the best ones is covered
BORDER_SEGMENTS = 12  # border() judges the page's border in this many segments around it
BORDER_CONTRAST = 20  # ... where the page's border differs from the pattern's mean by this many grey levels
RANSAC_SEED = 0  # fit_through_points seeds OpenCV's random generator with this
SAME_PICTURE = 0.98  # explained(): poses whose pictures correlate this well where they share the page predict the same there


_per_page = {}  # (id of a page picture, what, sizes...) -> (a weak reference to the picture, the value)


def _once_per_page(page, key, make):
    """make(), computed once per page picture and `key` (a tuple naming what and its sizes): each
    find asks for the same few again and again. The weak reference tells a new picture that got
    a freed one's id from it."""
    key = (id(page), *key)
    cached = _per_page.get(key)
    if cached is None or cached[0]() is not page:
        if len(_per_page) > 1024:
            _per_page.clear()
        cached = (weakref.ref(page), make())
        _per_page[key] = cached
    return cached[1]


def _resized(page, size):
    """The page picture at `size` (w, h), float32."""
    return _once_per_page(page, ("resized", *size),
                          lambda: cv2.resize(page, size, interpolation=cv2.INTER_AREA).astype(np.float32))


def _scaling(factor):
    """3 x 3 map from pixel coordinates of an image to those of the same image resized by `factor`."""
    return np.float64([[factor, 0, 0.5 * factor - 0.5], [0, factor, 0.5 * factor - 0.5], [0, 0, 1]])


def register(gray, page, page_size, H, side=ECC_SIDE, levels=ECC_LEVELS, iterations=ECC_ITERATIONS, mask=None):
    """Align the page's picture to the photo, starting from H: a better H, or H itself if ECC fails.

    Each level shrinks the page picture to `side * level` pixels on its longer side and the
    photo so that the page appears at about the same size, then runs cv2.findTransformECC
    (a homography, maximising the correlation, so it ignores the light's level and contrast).
    Pixels that the page sends out of the photo take no part.

    Args:
        gray: uint8 or float32 H x W, the photo in gray.
        page: uint8 2D array, the page picture (full.png in gray, any size).
        page_size: (w, h) of full.png, the coordinates H maps from.
        H: 3 x 3, the starting homography.
        mask: uint8 H x W or None: the photo's pixels to register on (non-zero), e.g. covered().

    Returns:
        (H 3 x 3 float64, the correlation ECC reached, or None if it failed at every level).
    """
    H = np.asarray(H, np.float64)
    gray = np.asarray(gray, np.float32)
    corners = geometry.project(H, geometry.rectangle(-0.5, -0.5, page_size[0] - 0.5, page_size[1] - 0.5))
    on_photo = max(np.ptp(corners, axis=0).max(), 1.0)  # the page's extent in photo pixels
    correlation = None
    for level in levels:
        target = side * level
        s = target / max(page_size)
        d = min(1.0, target / on_photo)
        template = _resized(page, (max(8, round(page_size[0] * s)), max(8, round(page_size[1] * s))))
        shrunk = (max(8, round(gray.shape[1] * d)), max(8, round(gray.shape[0] * d)))
        image = gray if d == 1 else cv2.resize(gray, shrunk, interpolation=cv2.INTER_AREA)
        valid = mask if mask is None or d == 1 else cv2.resize(mask, shrunk, interpolation=cv2.INTER_NEAREST)
        # The template is full.png resized, so its pixels map to full.png's through a scaling.
        to_template = _scaling(template.shape[1] / page_size[0])
        to_image = _scaling(image.shape[1] / gray.shape[1])
        warp = to_image @ H @ np.linalg.inv(to_template)
        warp = (warp / warp[2, 2]).astype(np.float32)
        try:
            correlation, warp = cv2.findTransformECC(
                template, image, warp, cv2.MOTION_HOMOGRAPHY,
                (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-5), valid, 5)
        except cv2.error:  # no convergence, or the page left the photo: keep the last good pose
            continue
        H = np.linalg.inv(to_image) @ warp.astype(np.float64) @ to_template
        H /= H[2, 2]
    return H, correlation


SEARCH_SCALES = np.geomspace(0.8, 1.25, 7)  # the page's size may be this far off what the masks say
SEARCH_REACH = 0.3  # ... and its place by this share of its size


def search(gray, page, page_size, H, side=96, scales=SEARCH_SCALES, reach=SEARCH_REACH, anchors=None, limit=None):
    """H corrected by the shift and scale, within the page's plane, at which the page's picture
    best matches the photo: (H, that match's correlation).

    The photo is warped into the page's frame by H, with `reach` of the page's size around it,
    and the page's picture, resized by each of `scales`, is slid over it (cv2.matchTemplate).
    Where a mask outlines the pattern a few percent off, a regular pattern lines up with the
    photo at the wrong period and registration (ECC) can't recover; this finds the right one.
    `anchors` (N x 2 full.png points) move at most `limit` full.png pixels, where given.
    """
    s = side / max(page_size)
    tw, th = max(8, round(page_size[0] * s)), max(8, round(page_size[1] * s))
    template = _resized(page, (tw, th))
    pad_x, pad_y = round(reach * tw), round(reach * th)
    # Pixels of the extended frame -> full.png pixels -> photo pixels.
    frame = np.float64([[1 / s, 0, -pad_x / s], [0, 1 / s, -pad_y / s], [0, 0, 1]])
    warped = cv2.warpPerspective(np.asarray(gray, np.float32), np.asarray(H, np.float64) @ frame,
                                 (tw + 2 * pad_x, th + 2 * pad_y), flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_REPLICATE)
    best = (-np.inf, 1.0, (pad_x, pad_y))
    sizes = [(round(tw * scale), round(th * scale)) for scale in scales]
    if anchors is not None and len(anchors):
        # Anchor X lands at at + X * s * scale, against pad + X * s unmoved: a box of allowed `at`
        # for each scale (all at once: a cut page runs this search a few hundred times).
        grown = np.float64([w for w, _ in sizes]) / tw - 1  # each scale's, as its width says
        moved_by = np.asarray(anchors, np.float64)[None] * s * grown[:, None, None]
        los = np.maximum(np.ceil(np.max(-moved_by - limit * s, axis=1) + (pad_x, pad_y)).astype(int), 0)
        his = np.floor(np.min(-moved_by + limit * s, axis=1) + (pad_x, pad_y)).astype(int)
        his = np.minimum(his, warped.shape[1::-1] - np.array(sizes))
        boxes = [(lo, hi) for lo, hi in zip(los.tolist(), his.tolist())]
    else:
        boxes = [None] * len(sizes)
    for (w, h), box in zip(sizes, boxes):
        if w >= warped.shape[1] or h >= warped.shape[0]:
            continue
        x0, y0 = 0, 0
        area = warped
        if box is not None:
            (x0, y0), (x1, y1) = box
            if x0 > x1 or y0 > y1:
                continue
            # Only the allowed places are scored: the same scores, a fraction of the work.
            area = warped[y0:y1 + h, x0:x1 + w]
        scores = cv2.matchTemplate(area, _resized(page, (w, h)), cv2.TM_CCOEFF_NORMED)
        _, value, _, (x, y) = cv2.minMaxLoc(scores)
        if value > best[0]:
            best = (value, w / tw, (x + x0, y + y0))
    value, scale, (x, y) = best
    # full.png point X sits at extended-frame pixel (x, y) + X * s * scale.
    move = np.float64([[scale, 0, (x - pad_x) / s], [0, scale, (y - pad_y) / s], [0, 0, 1]])
    moved = np.asarray(H, np.float64) @ move
    return moved / moved[2, 2], float(value)


def grid_step(points):
    """The median distance between neighbouring points of a (rows, cols, 2) grid, in pixels."""
    steps = np.r_[np.linalg.norm(np.diff(points, axis=0), axis=2).ravel(),
                  np.linalg.norm(np.diff(points, axis=1), axis=2).ravel()]
    return float(np.median(steps)) if len(steps) else 0.0


def refine_chessboard(gray, H, points, grid, window=CHESSBOARD_WINDOW, reach=0.3):
    """Chessboard corners to sub-pixel precision near where H puts them.

    Args:
        gray: uint8 H x W, the photo in gray.
        H: 3 x 3, full.png -> photo.
        points: N x 2, the corners in full.png, row by row.
        grid: (rows, cols) of `points`.
        window: float, the search window's half-size as a share of a square (Page.corner_window).
        reach: float, a corner moved further than this share of a square is not trusted.

    Returns:
        (N x 2 photo positions: refined where `refined`, projected elsewhere, refined: N bools).
    """
    projected = geometry.project(H, points)
    step = grid_step(projected.reshape(*grid, 2))
    win = int(np.clip(round(window * step), 2, 25))
    h, w = gray.shape
    inside = ((projected[:, 0] > win + 1) & (projected[:, 0] < w - win - 2)
              & (projected[:, 1] > win + 1) & (projected[:, 1] < h - win - 2))
    found = projected.copy()
    refined = np.zeros(len(points), bool)
    if step < 6 or not inside.any():  # squares of a few pixels: nothing to refine
        return found, refined
    start = projected[inside].astype(np.float32).reshape(-1, 1, 2)
    moved = cv2.cornerSubPix(gray, start.copy(), (win, win), (-1, -1),
                             (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 0.01)).reshape(-1, 2)
    near = np.linalg.norm(moved - projected[inside], axis=1) < reach * step
    index = np.nonzero(inside)[0][near]
    found[index] = moved[near]
    refined[index] = True
    return found, refined


def chessboard_placements(gray, points, grid, least=(3, 3)):
    """Homographies (full.png -> photo) that put a chessboard page's corners through the inner
    corners cv2.findChessboardCornersSB finds in the photo, grown over those around them
    (grown_corners), [] where it finds none.

    With CALIB_CB_LARGER, OpenCV returns the largest grid of at least `least` corners it can
    follow, which may be any part of the board (the rest out of frame, dark or covered). Which of
    the page's corners they are is not known: the page is placed at every position and turn
    where those corners fit in its own, one homography each.

    Args:
        gray: uint8 H x W, the photo in gray.
        points: N x 2, the page's inner corners in full.png, row by row.
        grid: (rows, cols) of `points`.
        least: (cols, rows), the smallest grid that counts.
    """
    seen = corners_in_view(gray, grid, least)
    if seen is None:
        return []
    index, xy = seen
    page = np.asarray(points, np.float64).reshape(*grid, 2)
    placements = []
    for turns in range(4):
        turned = index
        for _ in range(turns):  # a quarter turn of the lattice: (row, col) -> (col, -row)
            turned = np.stack([turned[:, 1], -turned[:, 0]], axis=1)
        turned = turned - turned.min(axis=0)
        rows, cols = turned.max(axis=0) + 1
        for r in range(grid[0] - rows + 1):
            for c in range(grid[1] - cols + 1):
                H, _ = cv2.findHomography(np.float32(page[turned[:, 0] + r, turned[:, 1] + c]), np.float32(xy), 0)
                if H is not None:
                    placements.append(H / H[2, 2])
    return placements


GROW_REACH = 0.3  # grown_corners: a corner found further than this share of a square from where its neighbours put it is not one
SADDLE_SAMPLE = 0.3  # ... whose four squares are sampled this share of a step along each diagonal from it
SADDLE_CONTRAST = 0.3  # ... and differ by at least this share of the contrast at the corners OpenCV followed


def grown_corners(gray, grid_xy, limit):
    """The inner corners of a chessboard around a grid of them that OpenCV followed, as
    (index: N x 2 (row, col), xy: N x 2), those of the followed grid that were kept first.

    findChessboardCornersSB follows a grid only while all of it stays regular: at a steep angle,
    in dim light or at the photo's edge, that may be a few rows of a board whose other corners
    are plain to see. A page placed through a few corners is extrapolated far off, too far for
    the registration to recover. Here each corner next to the known ones is looked for where the
    known ones nearest to it put it (a homography through them), refined (cv2.cornerSubPix), and
    kept if it is a chessboard corner that continues the board: its four squares dark and light
    crosswise, in the colours the board's alternation asks for there. Growing stops where no
    neighbour is kept, or where the corners would no longer fit in the page's `limit` (rows, cols)
    either way round.
    """
    rows, cols = grid_xy.shape[:2]
    known = {(r, c): grid_xy[r, c].astype(np.float64) for r in range(rows) for c in range(cols)}
    step = grid_step(grid_xy)
    if step < 6:  # squares of a few pixels: nothing to refine
        return _as_result(known)
    smooth = cv2.blur(gray, (max(1, round(step / 6)),) * 2).astype(np.float32)
    # In a dim, steep view OpenCV's grid may skip a column or run along the board's edge: a column
    # a square off has its squares' colours the wrong way round, the edge has no saddles, and one
    # further off is off the lattice of the rest. None of them seeds; which check goes first
    # matters where both fail, and the seed that grows the most wins.
    best, tried = known, []
    for colours_first in (True, False):
        seed = _seed(known, smooth, step, colours_first)
        if seed is not None and set(seed[0]) not in tried:  # mostly both checks keep the same corners
            tried.append(set(seed[0]))
            grown = _grow(gray, smooth, step, limit, *seed)
            best = grown if len(grown) > len(best) else best
    return _as_result(best)


def _seed(known, smooth, step, colours_first):
    """(The corners OpenCV followed that agree in their squares' colours and lie on one lattice,
    the sign of an even corner's _saddle, the median contrast), or None where too few do."""
    for check in ("colours", "lattice") if colours_first else ("lattice", "colours"):
        arrays = _arrays(known)
        saddles = np.array([np.nan if local is None else _saddle(smooth, known[k], *local[1:]) * (-1) ** sum(k)
                            for k, local in zip(known, _predicted(arrays, list(known)))])
        if not np.isfinite(saddles).any():
            return None
        parity = np.sign(np.median(saddles[np.isfinite(saddles)]))
        if check == "colours":
            # Not a saddle at all: OpenCV followed the board's outer edge (light squares as light
            # as the paper). Dropped too.
            keep = np.isfinite(saddles) & (np.sign(saddles) == parity)
        else:
            _, keep = fit_through_points(arrays[0][:, ::-1], arrays[1], max(1.0, 0.05 * step))
        if keep.sum() < 6:
            return None
        known = {k: xy for (k, xy), kept in zip(known.items(), keep) if kept}
    kept = saddles[np.isfinite(saddles) & keep]
    return (known, parity, float(np.median(np.abs(kept)))) if len(kept) else None


def _grow(gray, smooth, step, limit, known, parity, contrast):
    """The corners grown from `known` (see grown_corners), a dict (row, col) -> xy."""
    known = dict(known)
    win = int(np.clip(round(CHESSBOARD_WINDOW * step), 2, 25))
    h, w = gray.shape
    rejected = set()
    while True:
        frontier = {(r + dr, c + dc) for r, c in known for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))}
        frontier = [k for k in frontier - set(known) - rejected if _fits(known, k, limit)]
        arrays = _arrays(known)
        predicted = dict(zip(frontier, _predicted(arrays, frontier)))
        predicted = {k: p for k, p in predicted.items()
                     if p is not None and win + 1 < p[0][0] < w - win - 2 and win + 1 < p[0][1] < h - win - 2}
        rejected.update(set(frontier) - set(predicted))
        if not predicted:
            return known
        keys = list(predicted)
        start = np.float32([predicted[k][0] for k in keys]).reshape(-1, 1, 2)
        moved = cv2.cornerSubPix(gray, start.copy(), (win, win), (-1, -1),
                                 (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 0.01)).reshape(-1, 2)
        grew = False
        for k, xy, before in zip(keys, moved.astype(np.float64), start.reshape(-1, 2)):
            saddle = _saddle(smooth, xy, *predicted[k][1:])
            if (np.linalg.norm(xy - before) < GROW_REACH * step and np.isfinite(saddle)
                    and np.sign(saddle) == parity * (-1) ** sum(k)
                    and abs(saddle) >= SADDLE_CONTRAST * contrast and _fits(known, k, limit)):
                known[k] = xy
                grew = True
            else:
                rejected.add(k)
        if not grew:
            return known


def _as_result(known):
    """grown_corners' answer: (row, col) from 0 N x 2, xy N x 2, in the order they became known."""
    keys = list(known)
    index = np.array(keys, int)
    return index - index.min(axis=0), np.array([known[k] for k in keys], np.float64)


def _fits(known, key, limit):
    """Whether the corners, with `key`, still span no more rows and columns than the page has, either way round."""
    index = np.array(list(known) + [key])
    rows, cols = index.max(axis=0) - index.min(axis=0) + 1
    return (rows <= limit[0] and cols <= limit[1]) or (rows <= limit[1] and cols <= limit[0])


def _arrays(known):
    """The known corners as arrays: (row, col) N x 2, xy N x 2."""
    return np.array(list(known), np.float64), np.array(list(known.values()), np.float64)


def _predicted(arrays, wanted, nearest=8):
    """For each of the `wanted` (row, col) keys: where the known corners (_arrays) nearest to it
    (in rows and columns) put it, and the steps to its next column and row there, from a
    homography through them; None where they are all in a line.

    The homography is the least-squares one (the direct linear transform, on points scaled to
    unit size), all of them in one batched SVD: a growth step makes a hundred of these, and
    cv2.findHomography's own refinement makes each 5x slower."""
    keys, points = arrays
    wanted = np.asarray(wanted, np.float64).reshape(-1, 2)
    out = [None] * len(wanted)
    order = np.argsort(np.abs(keys[None] - wanted[:, None]).sum(axis=2), axis=1, kind="stable")[:, :nearest]
    if not len(wanted) or order.shape[1] < 4:
        return out
    index = keys[order][:, :, ::-1] - wanted[:, None, ::-1]  # (col, row), from each key
    centred = index - index.mean(axis=1, keepdims=True)
    in_line = np.linalg.det(np.swapaxes(centred, 1, 2) @ centred) < 1e-6
    xy = points[order]
    to = xy - xy[:, :1]
    src_scale = np.maximum(np.abs(index).max(axis=(1, 2)), 1e-9)
    dst_scale = np.maximum(np.abs(to).max(axis=(1, 2)), 1e-9)
    x, y = np.moveaxis(index / src_scale[:, None, None], 2, 0)
    u, v = np.moveaxis(to / dst_scale[:, None, None], 2, 0)
    n = order.shape[1]
    A = np.zeros((len(wanted), 2 * n, 9))
    A[:, :n, 0], A[:, :n, 1], A[:, :n, 2] = x, y, 1
    A[:, n:, 3], A[:, n:, 4], A[:, n:, 5] = x, y, 1
    A[:, :n, 6:] = -u[..., None] * A[:, :n, :3]
    A[:, n:, 6:] = -v[..., None] * A[:, n:, 3:6]
    solutions = np.linalg.svd(A)[2][:, -1]
    for i in np.nonzero(~in_line)[0]:
        H = solutions[i].reshape(3, 3)
        if abs(H[2, 2]) < 1e-12:
            continue
        H = np.diag([dst_scale[i], dst_scale[i], 1.0]) @ H @ np.diag([1 / src_scale[i], 1 / src_scale[i], 1.0])
        at, right, below = geometry.project(H / H[2, 2], [(0, 0), (1, 0), (0, 1)]) + xy[i, 0]
        out[i] = (at, right - at, below - at)
    return out


def _saddle(smooth, xy, u, v):
    """How much a corner's two diagonal pairs of squares differ, positive where the pair towards
    +u+v (its next column and row) is the lighter; NaN where the pairs themselves differ."""
    spots = np.float32([xy + SADDLE_SAMPLE * (a * u + b * v) for a, b in ((1, 1), (-1, -1), (1, -1), (-1, 1))])
    h, w = smooth.shape
    if not ((spots >= 0).all() and (spots[:, 0] <= w - 1).all() and (spots[:, 1] <= h - 1).all()):
        return np.nan
    a, b, c, d = cv2.remap(smooth, spots[:, None, 0], spots[:, None, 1], cv2.INTER_LINEAR).ravel()
    between = (a + b - c - d) / 2
    return float(between) if abs(between) > 2 * max(abs(a - b), abs(c - d)) else np.nan


_per_photo = {}  # search name -> (a weak reference to a photo, its key, the result)


def _once_per_photo(name, gray, key, search):
    """search(), or what it gave last time for this very photo and key: a photo's candidates (and
    the decisions run on it again) share one detector run."""
    cached = _per_photo.get(name)
    if cached is not None and cached[0]() is gray and cached[1] == key:
        return cached[2]
    result = search()
    _per_photo[name] = (weakref.ref(gray), key, result)
    return result


def corners_in_view(gray, grid, least=(3, 3)):
    """The inner corners findChessboardCornersSB follows in the photo, at least `least` (cols, rows),
    grown (grown_corners) up to the page's `grid` (rows, cols): (index N x 2, xy N x 2), or None.
    Once per photo (the candidates and the decisions run on it share one detector run)."""
    limit = tuple(grid)
    def search():
        found, corners, meta = cv2.findChessboardCornersSBWithMeta(gray, least, cv2.CALIB_CB_LARGER)
        if not found or meta is None:
            return None
        return grown_corners(gray, corners.reshape(*meta.shape, 2).astype(np.float64), limit)
    return _once_per_photo("chessboard", gray, (least, limit), search)


def charuco_placements(gray, points, charuco):
    """The homography (full.png -> photo) through the ChArUco corners cv2.aruco.CharucoDetector
    finds in the photo, in a list, or [] where it finds fewer than 6. Its markers name each
    corner, so there is one placement, not one per position and turn as for a chessboard.

    Args:
        gray: uint8 H x W, the photo in gray.
        points: N x 2, the board's inner corners in full.png, by id.
        charuco: Page.charuco, the board.
    """
    corners, ids = _charuco_in_view(gray, charuco)
    if ids is None:
        return []
    H, agreeing = fit_through_points(np.asarray(points, np.float64)[ids], corners, 2.0)
    return [H] if H is not None and agreeing.sum() >= 6 else []


def _charuco_in_view(gray, charuco):
    """(M x 2 corners, M ids) CharucoDetector finds in the photo, or (None, None)."""
    cols, rows, dictionary, ratio = key = (charuco["cols"], charuco["rows"], charuco["dictionary"],
                                           charuco["marker_ratio"])

    def search():
        board = cv2.aruco.CharucoBoard((cols, rows), 1.0, float(ratio),
                                       cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary)))
        detector = cv2.aruco.CharucoDetector(board, cv2.aruco.CharucoParameters(), _detector_parameters(gray))
        seen = (None, None)
        for image, scale in _pyramid(gray):
            corners, ids, _, _ = detector.detectBoard(image)
            if ids is not None and len(ids) > (0 if seen[1] is None else len(seen[1])):
                seen = (_unscaled(corners.reshape(-1, 2), scale), ids.ravel())
            if seen[1] is not None and len(seen[1]) >= 6:  # enough to place it (charuco_placements)
                break
        return seen
    return _once_per_photo("charuco", gray, key, search)


def _pyramid(gray):
    """(the photo at each of DETECTOR_SCALES, padded by DETECTOR_PAD, the scale), the next only
    made when asked for.

    ArUco detection thresholds the photo in windows of at most 23 px: a marker's border many
    times thicker than that goes unseen, so a marker missed at full size is looked for again at a
    half and a quarter. And it misses markers near the photo's edge (rendered frames: 1 in 10
    within a marker's width of it), which the repeated edge brings further in."""
    for scale in DETECTOR_SCALES:
        image = gray if scale == 1 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        yield cv2.copyMakeBorder(image, *[DETECTOR_PAD] * 4, cv2.BORDER_REPLICATE), scale


def _detector_parameters(gray):
    """OpenCV's defaults, but for the smallest marker, a share of the image's size: of the photo's,
    not of the padded image's."""
    parameters = cv2.aruco.DetectorParameters()
    side = max(gray.shape)
    parameters.minMarkerPerimeterRate *= side / (side + 2 * DETECTOR_PAD)
    parameters.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    return parameters


def _unscaled(xy, scale):
    """Pixel positions found in a _pyramid image back in the photo's own (pixel centres kept)."""
    return (np.asarray(xy, np.float64) - DETECTOR_PAD + 0.5) / scale - 0.5


def marker_placements(gray, points, marker):
    """Homographies (full.png -> photo) through each ArUco marker of the page's id that
    cv2.aruco.ArucoDetector finds in the photo, [] where it finds none.

    Args:
        gray: uint8 H x W, the photo in gray.
        points: 4 x 2, the marker's corners in full.png, as the detector lists them.
        marker: Page.marker.
    """
    seen = _once_per_photo("marker", gray, (marker["dictionary"], marker["marker_id"]),
                           lambda: _markers_in_view(gray, marker))
    return [cv2.getPerspectiveTransform(np.float32(points), np.float32(c)).astype(np.float64) for c in seen]


def _markers_in_view(gray, marker):
    """The 4 x 2 corners of each marker of the page's id ArucoDetector finds in the photo."""
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, marker["dictionary"]))
    detector = cv2.aruco.ArucoDetector(dictionary, _detector_parameters(gray))
    for image, scale in _pyramid(gray):
        corners, ids, _ = detector.detectMarkers(image)
        found = [_unscaled(np.reshape(c, (4, 2)), scale) for c, i in zip(corners, [] if ids is None else ids.ravel())
                 if i == marker["marker_id"]]
        if found:
            return found
    return []


def fit_to_corners(gray, H, points, grid, window=CHESSBOARD_WINDOW):
    """One fit through the chessboard's corners: those refined near where H puts them
    (refine_chessboard), and a homography through them (fit_through_points), to within 5% of a
    square. Returns (the homography or None, found, refined, agreeing: of the refined ones)."""
    found, refined = refine_chessboard(gray, H, points, grid, window)
    step = grid_step(geometry.project(H, points).reshape(*grid, 2))
    fitted, agreeing = fit_through_points(points[refined], found[refined], max(1.0, 0.05 * step))
    return fitted, found, refined, agreeing


def fitted_to_corners(gray, H, points, grid, window=CHESSBOARD_WINDOW, rounds=4, agree=0.5):
    """H fitted again through its corners (fit_to_corners), `rounds` times: each fit brings
    corners further out within reach of the next. Stops where fewer than `agree` of the refined
    corners agree with one homography."""
    for _ in range(rounds):
        fitted, _, _, agreeing = fit_to_corners(gray, H, points, grid, window)
        if fitted is None or agreeing.mean() < agree:
            break
        H = fitted
    return H


def fit_through_points(page_points, photo_points, tolerance):
    """A homography through matched points (RANSAC), and the mask of the points that agree with it."""
    if len(page_points) < 6:
        return None, np.zeros(len(page_points), bool)
    # RANSAC draws from OpenCV's random generator, whose state is whatever the photos answered
    # before left it: seeded, the same points give the same answer, in whatever order they come.
    cv2.setRNGSeed(RANSAC_SEED)
    H, inliers = cv2.findHomography(np.float32(page_points), np.float32(photo_points), cv2.RANSAC, tolerance)
    if H is None:
        return None, np.zeros(len(page_points), bool)
    return H / H[2, 2], inliers.ravel().astype(bool)


def local_corners(area, page_points, photo_points, usable, H, nearest=9):
    """Each corner of `area` through a homography of the `nearest` usable points closest to it.

    A lens bends the page's straight lines a little: one homography over the whole page then
    misses its corners by a few pixels, while the points next to a corner still fix it.
    Corners with too few usable points near them come from H.
    """
    out = geometry.project(H, area)
    for k, corner in enumerate(np.asarray(area, np.float64)):
        order = np.argsort(np.linalg.norm(page_points - corner, axis=1))
        near = [i for i in order if usable[i]][:nearest]
        if len(near) < nearest:
            continue
        local, _ = cv2.findHomography(np.float32(page_points[near]), np.float32(photo_points[near]), 0)
        if local is not None:
            out[k] = geometry.project(local, [corner])[0]
    return out


def match(gray, page, page_size, H, tiles=TILES, side=ECC_SIDE // 2, area=None):
    """How well the page, posed by H, explains the photo: correlation per tile of the page.

    The photo is warped into the page's frame (`side` pixels on its longer side) and compared
    with the page picture tile by tile; tiles the page sends out of the photo, or whose picture
    is flat (plain paper), are left out. With `area` (the pattern area's 4 x 2 corners in
    full.png), the tiles divide that area, not the whole page: the page's outline (a dark pattern
    on light paper) then takes no part, as any dark card on a light wall would match it.

    Returns:
        float array of the tiles' correlations (-1..1), empty when no tile can be judged.
    """
    grid, _, _ = match_grid(gray, page, page_size, H, tiles, side, area)
    return grid[~np.isnan(grid)]


def match_grid(gray, page, page_size, H, tiles=TILES, side=ECC_SIDE // 2, area=None):
    """match()'s correlations as a tiles x tiles grid (NaN for a tile left out), and the tiles'
    edges in full.png pixels: (grid, x edges, y edges)."""
    template, warped, valid, s = _in_page_frame(gray, page, page_size, H, side)
    xs, ys, t, st, stt, n = _tiled_picture(page, template, tiles, _tiled_extent(template.shape, s, area))
    # Every tile's sums at once (this runs for each of a cut page's many candidate poses).
    p = warped.astype(np.float64)
    sp, spp = (_box_sums(a, ys, xs) for a in cv2.integral2(p, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F))
    stp, seen = (_box_sums(cv2.integral(a, sdepth=cv2.CV_64F), ys, xs) for a in (t * p, valid.astype(np.float64)))
    grid = np.full((tiles, tiles), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        vt, vp = stt - st * st / n, spp - sp * sp / n
        norm = np.sqrt(np.maximum(vt, 0) * np.maximum(vp, 0))
        value = np.where(norm > 1e-6, (stp - st * sp / n) / norm, 0.0)  # 0 where the photo is flat: no match
        # Judged: mostly in the photo, and a tile of the page that isn't plain paper.
        judged = (n > 0) & (seen / n >= 0.9) & _textured(st, stt, n)
    grid[judged] = value[judged]
    return grid, xs / s, ys / s


def textured_tiles(page, page_size, tiles=TILES, side=ECC_SIDE // 2, area=None):
    """How many of match_grid's tiles of the page picture hold more than plain paper: the most a
    photo can judge the page on (a marker's wide black border and cells leave many tiles plain)."""
    tw, th = _frame_size(page_size, side)
    template = _resized(page, (tw, th))
    _, _, _, st, stt, n = _tiled_picture(page, template, tiles, _tiled_extent(template.shape, tw / page_size[0], area))
    return int(np.count_nonzero(_textured(st, stt, n)))


def _tiled_extent(shape, s, area):
    """The extent (x0, y0, x1, y1) in frame pixels (`shape` at scale `s`) that the tiles divide: the
    page's, or the pattern area's (its corners are pixel centres)."""
    th, tw = shape
    (x0, y0), (x1, y1) = ((0, 0), (tw, th)) if area is None else \
        ((np.min(area, axis=0) + 0.5) * s, (np.max(area, axis=0) + 0.5) * s)
    return float(x0), float(y0), float(x1), float(y1)


def _textured(st, stt, n):
    """Which tiles of the page picture (their sums, sums of squares, pixel counts) aren't plain paper."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (n > 0) & (np.maximum(stt - st * st / n, 0) / n >= 64)


def _tiled_picture(page, template, tiles, extent):
    """(x edges, y edges of the tiles over `extent` (x0, y0, x1, y1) of `template`, the page
    picture resized; it as float64; its sums and sums of squares over each tile; each tile's
    pixel count), once per page, size and tiling (_once_per_page)."""
    def make():
        th, tw = template.shape
        x0, y0, x1, y1 = extent
        xs = np.linspace(x0, x1, tiles + 1).round().astype(int).clip(0, tw)
        ys = np.linspace(y0, y1, tiles + 1).round().astype(int).clip(0, th)
        t = template.astype(np.float64)
        st, stt = (_box_sums(a, ys, xs) for a in cv2.integral2(t, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F))
        return xs, ys, t, st, stt, np.outer(np.diff(ys), np.diff(xs)).astype(np.float64)
    return _once_per_page(page, ("tiled", template.shape, tiles, extent), make)


def _box_sums(total, ys, xs):
    """The sums over the boxes between consecutive `ys` and `xs` (len(ys)-1 x len(xs)-1), from an integral image."""
    corner = total[ys][:, xs]
    return corner[1:, 1:] - corner[:-1, 1:] - corner[1:, :-1] + corner[:-1, :-1]


def covered(gray, page, page_size, H, tiles=TILES):
    """The photo's pixels outside the page's tiles that something covers, as a registration mask
    (uint8, 0 over a covered tile), or None where no tile is.

    A tile is taken as covered where it matches the photo (match_grid) less than COVERED times as
    well as the best-matching tiles (their 90th percentile): an occluder, a glare, a fold. ECC
    over all the page would let it pull the pose; registered without it, the rest lines up.
    """
    grid, xs, ys = match_grid(gray, page, page_size, H, tiles)
    if np.isnan(grid).all():
        return None
    bad = grid < COVERED * np.nanpercentile(grid, 90)
    if not bad.any():
        return None
    mask = np.full(gray.shape[:2], 255, np.uint8)
    for i, j in zip(*np.nonzero(bad)):
        corners = geometry.project(H, geometry.rectangle(xs[j], ys[i], xs[j + 1], ys[i + 1]))
        cv2.fillConvexPoly(mask, np.int32(np.round(corners)), 0)
    return mask


def explained(gray, page, page_size, poses, side=ECC_SIDE):
    """How well each pose's page picture matches the photo where all of them place the page: the
    correlation of each with the photo over the photo pixels that every pose maps inside full.png,
    or None where those are fewer than 100 (at `side` pixels over the poses' extent).

    match() and border() judge a pose on its median tile and border segment, so that an
    occluder doesn't sink it; but a pose a row off, or turned, then passes on the tiles it gets
    right. Two poses compared over the same pixels are told apart by all of them: what one
    explains and the other doesn't decides, while an occluder costs both alike.

    Where the poses' pictures are the same over those pixels (SAME_PICTURE: a grid of squares
    one period off, its margin on a gap), they can't tell them apart: the correlation is then
    taken over the pixels any of them places the page on, each pose saying nothing (its mean)
    beyond its own page, so that a column it puts on the desk counts against it.
    """
    h, w = gray.shape[:2]
    outlines = [geometry.project(H, geometry.rectangle(-0.5, -0.5, page_size[0] - 0.5, page_size[1] - 0.5))
                for H in poses]
    lo = np.clip(np.min([o.min(axis=0) for o in outlines], axis=0), 0, (w - 1, h - 1))
    hi = np.clip(np.max([o.max(axis=0) for o in outlines], axis=0), 0, (w - 1, h - 1))
    f = min(1.0, side / max(1.0, float(np.max(hi - lo))))
    size = (max(8, int(np.ceil((hi[0] - lo[0] + 1) * f))), max(8, int(np.ceil((hi[1] - lo[1] + 1) * f))))
    # Photo pixels -> pixels of the compared window (its box around the poses, scaled by f).
    to_window = np.float64([[f, 0, f * (0.5 - lo[0]) - 0.5], [0, f, f * (0.5 - lo[1]) - 0.5], [0, 0, 1]])
    photo = cv2.warpAffine(np.asarray(gray, np.float32), to_window[:2], size, flags=cv2.INTER_LINEAR)
    picture = _resized(page, (page.shape[1], page.shape[0]))
    from_picture = np.linalg.inv(_scaling(page.shape[1] / page_size[0]))
    predicted, reached = [], []
    for H in poses:
        M = to_window @ np.asarray(H, np.float64) @ from_picture
        predicted.append(cv2.warpPerspective(picture, M, size, flags=cv2.INTER_LINEAR))
        reached.append(cv2.warpPerspective(np.ones(page.shape[:2], np.uint8), M, size, flags=cv2.INTER_NEAREST) > 0)
    shared = np.logical_and.reduce(reached)
    if shared.sum() < 100:
        return None
    if all(correlation(p[shared], predicted[0][shared]) >= SAME_PICTURE for p in predicted[1:]):
        # A grid moved by one period predicts the same picture where both poses place the page:
        # only what each says beyond it tells them apart, each saying nothing (its mean) beyond its own.
        anywhere = np.logical_or.reduce(reached)
        return [correlation(np.where(here, p - p[here].mean(), 0.0)[anywhere], photo[anywhere])
                for p, here in zip(predicted, reached)]
    return [correlation(p[shared], photo[shared]) for p in predicted]


def correlation(x, y):
    """The normalised cross-correlation of two arrays of the same shape, 0 where either is flat."""
    x, y = x - x.mean(), y - y.mean()
    norm = np.sqrt(float((x * x).sum()) * float((y * y).sum()))
    return float((x * y).sum()) / norm if norm > 1e-6 else 0.0


def _in_page_frame(gray, page, page_size, H, side):
    """(page picture, photo warped into the page's frame, mask of photo pixels) at `side` pixels, and the scale."""
    tw, th = _frame_size(page_size, side)
    template = _resized(page, (tw, th))
    M = np.asarray(H, np.float64) @ np.linalg.inv(_scaling(tw / page_size[0]))  # frame pixels -> photo pixels
    warped = cv2.warpPerspective(np.asarray(gray, np.float32), M, (tw, th),
                                 flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP, borderValue=-1)
    valid = cv2.warpPerspective(np.ones(gray.shape[:2], np.uint8), M, (tw, th),
                                flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=0) > 0
    return template, warped, valid, tw / page_size[0]


def _frame_size(page_size, side):
    """(w, h) of the page's frame at `side` pixels on its longer side."""
    s = side / max(page_size)
    return max(8, round(page_size[0] * s)), max(8, round(page_size[1] * s))


def border(gray, page, page_size, area, H, segments=BORDER_SEGMENTS, side=ECC_SIDE // 2):
    """How much the page's border around the pattern area, posed by H, looks as printed: 0..1 per
    segment of the border, or an empty array where the page has no distinct border or it is out of view.

    A regular pattern repeats: a larger grid of the same cells matches the pattern area anywhere
    inside it, and only the border around the area (the chessboard's paper margin) tells the two
    apart. In each segment of the border's outer two thirds (its inner third takes the blur of
    the pattern's edge), around the page's centre, the photo's mean level should differ from its
    mean over the pattern area as the page's do, scaled by the levels fitted over the pattern
    area: the score is that difference's share, near 1 for paper around a chessboard, near 0 for
    more of the grid. Means don't mind noise, and blur lowers the fitted contrast as much as the
    difference. The median segment ignores an occluder over part of the border.
    """
    template, warped, valid, s = _in_page_frame(gray, page, page_size, H, side)
    th, tw = template.shape
    (x0, y0), (x1, y1) = np.asarray(area)[0] * s, np.asarray(area)[2] * s
    if min(x0, y0, tw - 1 - x1, th - 1 - y1) < 3:
        return np.array([])
    inside, outside, segment = _border_geometry(page, template.shape, (float(x0), float(y0), float(x1), float(y1)),
                                                segments)
    inner, ring = inside & valid, outside & valid
    if ring.sum() < 20 or inner.sum() < 20 or template[inner].std() < 1:
        return np.array([])
    a, _ = np.polyfit(template[inner], warped[inner], 1)
    bins = segment[ring]
    w, t = warped[ring], template[ring]
    t_inner, w_inner = template[inner].mean(), warped[inner].mean()
    scores = []
    for k in range(segments):
        here = bins == k
        expected = t[here].mean() - t_inner if here.sum() >= 8 else 0.0
        if abs(expected) >= BORDER_CONTRAST:  # a border that differs from the pattern's average
            scores.append((w[here].mean() - w_inner) / (a * expected) if a > 0 else 0.0)
    return np.clip(np.array(scores), 0, 1)


def _border_geometry(page, shape, box, segments):
    """border()'s pixels of the page's frame (`shape`) that depend on the page alone: (inside the
    pattern area's `box` (x0, y0, x1, y1), the border's outer two thirds around it, each pixel's
    segment), once per page, size and box (_once_per_page)."""
    def make():
        th, tw = shape
        x0, y0, x1, y1 = box
        pad = min(x0, y0, tw - 1 - x1, th - 1 - y1) / 3
        ys, xs = np.mgrid[0:th, 0:tw]
        inside = (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
        outside = ~((xs >= x0 - pad) & (xs <= x1 + pad) & (ys >= y0 - pad) & (ys <= y1 + pad))
        angle = np.arctan2(ys - th / 2, xs - tw / 2)
        return inside, outside, ((angle + np.pi) / (2 * np.pi) * segments).astype(int) % segments
    return _once_per_page(page, ("border", shape, box, segments), make)


def canonical_turn(H, page_size, symmetry):
    """Of the poses that show the same symmetric page (H turned by each equivalent quarter turn),
    the one whose page points most nearly up in the photo: a choice that stays put as the page moves.

    Args:
        symmetry: int, how many equivalent turns the page has (1, 2 or 4).
    """
    if symmetry <= 1:
        return np.asarray(H, np.float64)
    w, h = page_size
    centre, top = [(w - 1) / 2, (h - 1) / 2], [(w - 1) / 2, 0]
    best, best_up = None, None
    for k in range(0, 4, 4 // symmetry):
        turned = np.asarray(H, np.float64) @ geometry.page_turn(k, page_size)
        c, t = geometry.project(turned, [centre, top])
        up = -(t[1] - c[1]) / max(np.linalg.norm(t - c), 1e-9)
        if best_up is None or up > best_up + 1e-9:
            best, best_up = turned, up
    return best / best[2, 2]


def page_symmetry(page, threshold=0.9):
    """How many quarter turns leave a page picture looking the same: 1, 2 or 4.

    Args:
        page: uint8 2D array, the page in gray.
        threshold: float, the correlation above which a turned page counts as the same.
    """
    a = np.asarray(page, np.float32)
    def same(b):
        if b.shape != a.shape:
            return False
        x, y = a - a.mean(), b - b.mean()
        norm = np.sqrt(float((x * x).sum()) * float((y * y).sum()))
        return norm > 0 and float((x * y).sum()) / norm >= threshold
    if same(np.rot90(a, 1)) and same(np.rot90(a, 2)):
        return 4
    return 2 if same(np.rot90(a, 2)) else 1


def camera_pose(page_points, photo_points, mm_per_pixel, camera_matrix, distortion):
    """The page's rotation and translation from the camera (cv2.solvePnP), in millimetres.

    Args:
        page_points: N x 2 in full.png pixels (N >= 4), photo_points: N x 2 in photo pixels.
        mm_per_pixel: float, millimetres per full.png pixel as printed.
        camera_matrix: 3 x 3, distortion: OpenCV's distortion coefficients.

    Returns:
        dict {"rvec", "tvec" (mm), "reprojection_error" (px)}, or None if solvePnP fails.
    """
    objects = np.c_[np.asarray(page_points, np.float64) * mm_per_pixel, np.zeros(len(page_points))]
    image = np.asarray(photo_points, np.float64)
    K, dist = np.asarray(camera_matrix, np.float64), np.asarray(distortion, np.float64).ravel()
    ok, rvec, tvec = cv2.solvePnP(objects, image, K, dist, flags=cv2.SOLVEPNP_IPPE if len(objects) >= 4 else 0)
    if not ok:
        return None
    back, _ = cv2.projectPoints(objects, rvec, tvec, K, dist)
    error = float(np.sqrt(np.mean(np.sum((back.reshape(-1, 2) - image) ** 2, axis=1))))
    return {"rvec": rvec.ravel().round(6).tolist(), "tvec": tvec.ravel().round(3).tolist(),
            "reprojection_error": round(error, 3)}
