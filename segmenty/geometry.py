"""Pure geometry of a find: quadrilaterals fitted to masks, and homographies of the page.

No files, no model: numpy and OpenCV only. Coordinates are OpenCV's everywhere: (0, 0) is the
centre of the top-left pixel, x to the right, y down. A quad is 4 x 2 corners, clockwise on
screen. A homography H maps the pattern's full.png pixels to photo pixels.
"""

import math

import cv2
import numpy as np

# A quad is moved to cover probabilities above this level and leave those below. The calibrated
# thresholds (about 0.75) cut inside a board's edge; 0.5 let a soft edge spill into the paper.
QUAD_LEVEL = 0.6
QUAD_MAX_SIDE = 400  # the quad is refined on probabilities resized to at most this many pixels a side


# ---------------------------------------------------------------- quads from masks

def components(binary):
    """cv2.connectedComponentsWithStats of a binary image, 8-connected: (count, labels, stats).

    Grana's algorithm, named: in one OpenCV thread, as the worker processes answer, OpenCV's
    default took 2.6 times as long for the same labels (the bench clip's masks at 640 x 480: 1.9
    ms against 0.7); with more threads both take about 2 ms of CPU.
    """
    n, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(binary.astype(np.uint8), 8, cv2.CV_32S,
                                                                          cv2.CCL_GRANA)
    return n, labels, stats


def largest_component(binary):
    """(mask of the largest 8-connected component, its area in pixels); (None, 0) when empty."""
    n, labels, stats = components(binary)
    if n <= 1:
        return None, 0
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == best, int(stats[best, cv2.CC_STAT_AREA])


def clockwise_from_top_left(quad):
    """Reorder 4 points clockwise on screen (y down), starting at the one nearest the top-left."""
    quad = np.asarray(quad, np.float64)
    x, y = quad[:, 0], quad[:, 1]
    if np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) < 0:  # counter-clockwise on screen
        quad = quad[::-1]
    start = int(np.argmin(quad.sum(1)))
    return np.roll(quad, -start, axis=0)


def _line_through(points):
    vx, vy, x0, y0 = cv2.fitLine(points.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
    return np.array([x0, y0]), np.array([vx, vy])


def _cross(a, b):
    """z of the 2-D cross product: twice the signed triangle area (numpy 2.5 dropped 2-D np.cross)."""
    return a[0] * b[1] - a[1] * b[0]


def _intersect(a, b):
    (p, u), (q, v) = a, b
    det = _cross(u, v)
    if abs(det) < 1e-6:
        return None
    return p + _cross(q - p, v) / det * u


def _outline_and_hull(component):
    """(N x 2 outline of a component's largest region, M x 2 its convex hull), float64; None, [] if empty."""
    contours, _ = cv2.findContours(component.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None, []
    outline = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
    return outline, cv2.convexHull(outline.astype(np.float32)).reshape(-1, 2).astype(np.float64)


def _drop_vertices(polygon, keep, max_loss=np.inf):
    """The polygon with its vertices dropped one at a time, always the one whose removal loses the
    least area, until `keep` remain or the least loss would exceed `max_loss` (in pixels squared)."""
    pts = list(polygon)
    while len(pts) > keep:
        losses = [abs(_cross(pts[i] - pts[i - 1], pts[(i + 1) % len(pts)] - pts[i - 1])) / 2 for i in range(len(pts))]
        if min(losses) > max_loss:
            break
        pts.pop(int(np.argmin(losses)))
    return np.array(pts)


def _line_along(points, direction):
    """The line (point, unit direction) fitted to points, its direction turned to agree with `direction`."""
    point, along = _line_through(points)
    return point, (along if np.dot(along, direction) >= 0 else -along)


def fit_quad(component):
    """Four corners, clockwise, of the quadrilateral that best matches a component's outline.

    Coarse: vertices of the convex hull are dropped one at a time, always the one whose removal
    loses the least area, until four remain. Fine: a line is fitted to the outline points along
    each side, and neighbouring lines are intersected, which puts corners between pixels.
    """
    outline, hull = _outline_and_hull(component)
    if len(hull) < 4:
        x, y, w, h = cv2.boundingRect(component.astype(np.uint8))
        return clockwise_from_top_left([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    coarse = _drop_vertices(hull, keep=4)
    # Each outline point belongs to the side it is nearest to; the ends of a side are left out
    # because corners are rounded there.
    starts, ends = coarse, np.roll(coarse, -1, axis=0)
    dist = np.stack([_segment_distance(outline, a, b) for a, b in zip(starts, ends)], 1)
    side = np.argmin(dist, 1)
    lines = []
    for k, (a, b) in enumerate(zip(starts, ends)):
        on = outline[side == k]
        t = (on - a) @ (b - a) / max(np.dot(b - a, b - a), 1e-9)
        on = on[(t > 0.15) & (t < 0.85)]
        lines.append(_line_through(on) if len(on) >= 2 else None)
    fine = []
    reach = 0.25 * np.linalg.norm(coarse.max(0) - coarse.min(0))
    for k in range(4):
        corner = None if lines[k - 1] is None or lines[k] is None else _intersect(lines[k - 1], lines[k])
        ok = corner is not None and np.linalg.norm(corner - coarse[k]) < reach
        fine.append(corner if ok else coarse[k])
    # The outline runs through pixel centres of the edge pixels; the region's edge is half a pixel out.
    centre = np.mean(fine, 0)
    fine = [c + 0.5 * (c - centre) / max(np.linalg.norm(c - centre), 1e-9) for c in fine]
    return clockwise_from_top_left(fine)


def sides_in_view(component, size, tolerance=0.01, simplify=0.005, shortest=0.04, merge_angle=15.0):
    """The sides of a component's outline that are the pattern's own edges, not the photo's border.

    The outline's convex hull is simplified to a polygon; its sides along the photo's border are
    where the photo cut the pattern, the others lie on the pattern's edges. A line is fitted to
    the outline points along each of those (nearly straight neighbours merged into one).

    Returns:
        list of runs, each a list of sides (point, unit direction, N x 2 outline points along
        it) in clockwise order that meet at corners in view; the photo's border lies between
        runs. Empty where the outline doesn't touch the border or has no sides to tell apart.
    """
    outline, hull = _outline_and_hull(component)
    if len(hull) < 3:
        return []
    # The hull's vertices are dropped while that loses little: what remains are the corners, in
    # view and where the border cut the pattern.
    poly = _drop_vertices(hull, keep=3, max_loss=simplify * abs(signed_area(hull)))
    if signed_area(poly) < 0:
        poly = poly[::-1]
    w, h = size
    near = tolerance * max(w, h) + 1.0
    edge_of = lambda p: {e for e, hit in zip("lrtb", (p[0] < near, p[0] > w - 1 - near,
                                                      p[1] < near, p[1] > h - 1 - near)) if hit}
    n = len(poly)
    perimeter = float(np.sum(np.linalg.norm(poly - np.roll(poly, -1, axis=0), axis=1)))
    border = [bool(edge_of(poly[i]) & edge_of(poly[(i + 1) % n])) for i in range(n)]
    if not any(border) or all(border):
        return []
    # Outline points each belong to their nearest side; those at the photo's border and near the
    # sides' ends (rounded corners) take no part in the fit.
    dist = np.stack([_segment_distance(outline, poly[i], poly[(i + 1) % n]) for i in range(n)], 1)
    nearest = np.argmin(dist, 1)
    inside = ((outline[:, 0] >= near) & (outline[:, 0] <= w - 1 - near)
              & (outline[:, 1] >= near) & (outline[:, 1] <= h - 1 - near))
    start = border.index(True)
    runs, run = [], []
    for step in range(1, n + 1):
        i = (start + step) % n
        if border[i]:
            if run:
                runs.append(run)
            run = []
            continue
        a, b = poly[i], poly[(i + 1) % n]
        if np.linalg.norm(b - a) < shortest * perimeter:  # a rounded corner
            continue
        t = (outline - a) @ (b - a) / max(np.dot(b - a, b - a), 1e-9)
        on = outline[(nearest == i) & inside & (t > 0.1) & (t < 0.9)]
        if len(on) < 2:
            continue
        point, direction = _line_along(on, b - a)
        if run:
            _, last_direction, last_on = run[-1]
            angle = np.degrees(np.arccos(np.clip(np.dot(direction, last_direction), -1, 1)))
            if angle < merge_angle:  # one edge the polygon broke in two
                on = np.r_[last_on, on]
                point, direction = _line_along(on, last_direction)
                run.pop()
        run.append((point, direction, on))
    if run:
        runs.append(run)
    return runs


def pages_past_border(runs, aspect, lengths=np.geomspace(0.6, 1.6, 7), sizes=np.geomspace(1.0, 3.0, 8)):
    """Quads of the whole pattern area for a pattern the photo cut, from its sides in view.

    A pattern area is a quadrilateral; with one run of its sides in view (sides_in_view):
    - four sides: the quad is where they meet;
    - three: the middle one lies between two corners in view, and the page runs on past the
      border along the other two, equally far in an affine view: as far as the pattern's
      aspect says, give or take perspective (`lengths`);
    - two, meeting at a corner in view: it runs on along both in the aspect's ratio (either way
      round: which of the pattern's sides is which isn't known yet), from the least size that
      covers what is in view to `sizes` times that.
    Either aspect is tried, since the pattern's turn isn't known yet. A model's mask rounds the
    page's corners and bends its sides, which breaks a side in two: how many of the run's sides
    are the page's own isn't known, so the run is also taken as four, three and two sides
    (fewer_sides), and each gives its quads.

    Args:
        runs: sides_in_view's answer.
        aspect: the pattern area's width over its height.
        lengths: how far off the aspect's length perspective may make a side.
        sizes: the sizes tried where only one corner is in view, as multiples of the least.

    Returns:
        list of (4 x 2 clockwise quad, list of the indexes of its corners in view).
    """
    if len(runs) != 1 or len(runs[0]) < 2:
        return []
    quads, sides = [], runs[0]
    for count in (4, 3, 2):  # each from the last: merging is greedy, so that is the same as from the run
        sides = fewer_sides(sides, count)
        if len(sides) == count:
            quads += _pages_from_sides(sides, aspect, lengths, sizes)
    return quads


def fewer_sides(sides, count):
    """A run of sides (sides_in_view's) with neighbours merged until at most `count` remain,
    always the two whose points one line fits best (the least RMS distance)."""
    sides = list(sides)
    while len(sides) > count:
        best = None
        for i in range(len(sides) - 1):
            on = np.r_[sides[i][2], sides[i + 1][2]]
            point, direction = _line_along(on, sides[i][1])
            normal = np.array([-direction[1], direction[0]])
            spread = float(np.mean(((on - point) @ normal) ** 2))
            if best is None or spread < best[0]:
                best = (spread, i, (point, direction, on))
        _, i, merged = best
        sides[i:i + 2] = [merged]
    return sides


def _pages_from_sides(sides, aspect, lengths, sizes):
    """pages_past_border's quads for a run of two to four sides."""
    lines = [(point, direction) for point, direction, _ in sides]
    corners = [_intersect(lines[i], lines[i + 1]) for i in range(len(lines) - 1)]
    if any(c is None for c in corners):
        return []
    reach = lambda i, corner, direction: float(np.max((sides[i][2] - corner) @ direction))  # seen along a side
    quads = []
    if len(lines) == 4:
        hidden = _intersect(lines[3], lines[0])
        if hidden is not None:
            quads.append((np.array([hidden, *corners]), [1, 2, 3]))
        # The sides that run into the border are seen shortest, their directions least surely:
        # each of them is also left out, and the page runs on as with three.
        quads += _pages_from_sides(sides[:3], aspect, lengths, sizes)
        quads += _pages_from_sides(sides[1:], aspect, lengths, sizes)
    elif len(lines) == 3:
        p, q = corners
        back, on = -lines[0][1], lines[2][1]  # from p back along the first side; from q on along the third
        seen = max(reach(0, p, back), reach(2, q, on))
        # As far as the aspect says, give or take perspective; or just as far as is seen.
        reaches = [np.linalg.norm(q - p) * ratio * f for ratio in sorted({aspect, 1 / aspect}) for f in lengths]
        for t in [seen] + [t for t in reaches if t > seen]:
            quads.append((np.array([p + t * back, p, q, q + t * on]), [1, 2]))
    else:
        (p,) = corners
        back, on = -lines[0][1], lines[1][1]
        seen_back, seen_on = reach(0, p, back), reach(1, p, on)
        # Only the sides' ratio is known: from the least that covers what is in view, larger.
        for ratio in sorted({aspect, 1 / aspect}):
            least = max(seen_on, seen_back / ratio)
            for f in sizes:
                a, b = least * f * ratio, least * f
                quads.append((np.array([p + a * back, p, p + b * on, p + a * back + b * on]), [1]))
    return quads


def _segment_distance(points, a, b):
    ab = b - a
    t = np.clip((points - a) @ ab / max(np.dot(ab, ab), 1e-9), 0, 1)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def quad_coverage(quad, shape, origin=(0, 0)):
    """uint8 H x W raster of a quad, 255 inside, anti-aliased at its edges (corners in pixel-edge
    coordinates); with `origin` (x0, y0), the H x W part of the photo's raster from that pixel on."""
    raster = np.zeros(shape, np.uint8)
    corners = np.round((np.asarray(quad) - 0.5) * 16).astype(np.int32) - np.int32([16 * origin[0], 16 * origin[1]])
    cv2.fillPoly(raster, [corners], 255, cv2.LINE_AA, shift=4)
    return raster


def _box_around(quads, margin, shape):
    """(x0, y0, x1, y1): the pixels within `margin` of the quads' corners' box, in an image of `shape`."""
    h, w = shape
    x0, y0 = np.maximum(np.floor(quads.min(axis=0) - margin).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(quads.max(axis=0) + margin).astype(int) + 1, [w, h])
    return int(x0), int(y0), int(max(x1, x0 + 1)), int(max(y1, y0 + 1))


def _past(box, coordinate, axis, shape):
    """Whether a corner at `coordinate` along `axis` (0: x, 1: y) puts the quad's anti-aliased
    edge past the box, on a side where the box stops short of the image (`shape`)."""
    lo, hi, end = box[axis], box[axis + 2], shape[1 - axis]
    return (coordinate - 2 < lo and lo > 0) or (coordinate + 2 >= hi and hi < end)


def _coverage_score(quad, box, gains):
    """The sum of quad_coverage x gain over the box, `gains` being the box's gain raveled."""
    x0, y0, x1, y1 = box
    raster = quad_coverage(quad, (y1 - y0, x1 - x0), origin=(x0, y0))
    # One dot product of two vectors (BLAS's, as tensordot's, without its reshaping: a third faster).
    return float(np.dot(raster.astype(np.float32).ravel(), gains))


def refine_quad(prob, quad, level=QUAD_LEVEL, max_side=QUAD_MAX_SIDE):
    """Move a quad's corners until it best agrees with a probability map.

    The score is the sum of (prob - level) over the quad: pixels above `level` pay to be inside,
    pixels below pay to be outside. Coordinate descent, one corner coordinate at a time, with a
    halving step, from `quad` (fit_quad's), so it stays a local correction. Corners may leave the
    photo, as a partly framed pattern's do.

    Args:
        prob: float array H x W, channel 0's probabilities.
        quad: 4 x 2 corners in pixels.
        level: float, the probability that is neither in nor out. Defaults to QUAD_LEVEL.
        max_side: int, refine on a copy of `prob` at most this large, for speed.

    Returns:
        4 x 2 float array, clockwise from the top left; `quad` itself if refining broke its convexity.
    """
    h, w = prob.shape
    scale = min(1.0, max_side / max(h, w))
    small = prob if scale == 1 else cv2.resize(prob, (max(1, round(w * scale)), max(1, round(h * scale))),
                                              interpolation=cv2.INTER_AREA)
    gain = (small - level).astype(np.float32) / 255
    best_quad = np.asarray(quad, np.float64) * scale
    step = 0.02 * np.ptp(best_quad, axis=0).max()
    box, gains = None, None
    best = -np.inf
    while step > 0.2:
        improved = False
        for corner in range(4):
            for axis in range(2):
                for sign in (1, -1):
                    trial = best_quad.copy()
                    trial[corner, axis] += sign * step
                    # Scored on a box around the quads, since pixels outside them add nothing
                    # (a board filling a third of the photo: a third of the work); a trial whose
                    # anti-aliased edge reaches past the box, but not past the photo, scores
                    # both on a wider box.
                    if box is None or _past(box, trial[corner, axis], axis, small.shape):
                        box = _box_around(np.r_[best_quad, trial], 3 + 4 * step, small.shape)
                        gains = np.ascontiguousarray(gain[box[1]:box[3], box[0]:box[2]]).ravel()
                        best = _coverage_score(best_quad, box, gains)
                    value = _coverage_score(trial, box, gains)
                    if value > best:
                        best, best_quad, improved = value, trial, True
        if not improved:
            step /= 2
    refined = best_quad / scale
    return clockwise_from_top_left(refined if cv2.isContourConvex(refined.astype(np.float32)) else quad)


def snapped(prob, component, quad):
    """Channel 0 with the find redrawn as its quad: over the component (None: found without one)
    and the quad, the quad's raster."""
    raster = quad_coverage(quad, prob.shape)
    region = raster > 0 if component is None else component | (raster > 0)
    region = cv2.dilate(region.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    out = prob.copy()
    out[region] = raster[region] / 255.0
    return out


# ---------------------------------------------------------------- homographies

def project(H, points):
    """N x 2 points through a 3 x 3 homography (N x 2 float64)."""
    points = np.asarray(points, np.float64).reshape(-1, 1, 2)
    if not len(points):  # OpenCV returns None for no points
        return np.zeros((0, 2))
    return cv2.perspectiveTransform(points, np.asarray(H, np.float64)).reshape(-1, 2)


def signed_area(polygon):
    """The area of a polygon, positive when it runs clockwise on screen (y down)."""
    x, y = np.asarray(polygon, np.float64).T
    x_next, y_next = np.concatenate((x[1:], x[:1])), np.concatenate((y[1:], y[:1]))
    return 0.5 * float(np.sum(x * y_next - x_next * y))


def rectangle(x0, y0, x1, y1):
    """The 4 corners of an axis-aligned rectangle, clockwise on screen from (x0, y0)."""
    return np.float64([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def convex_overlap(a, b):
    """Area of the intersection of two convex polygons (0 when they don't meet)."""
    area, _ = cv2.intersectConvexConvex(np.float32(a), np.float32(b))
    return max(float(area), 0.0)


def in_view(quad, size):
    """The share of a convex quad's area that lies inside a photo of size (w, h); 0..1."""
    area = abs(signed_area(quad))
    if area <= 0:
        return 0.0
    w, h = size
    return min(1.0, convex_overlap(quad, rectangle(-0.5, -0.5, w - 0.5, h - 0.5)) / area)


def degenerate(H, area, size, min_side=8.0, max_scale=40.0):
    """Why a homography can't be a printed page seen by a camera, or None when it can.

    A page seen from its front keeps its corners' order (no mirror image), is convex (no fold),
    lies in front of the camera (the same sign of w at every corner), and is neither collapsed
    to a line or a few pixels nor blown up far beyond the photo.

    Args:
        H: 3 x 3 homography, full.png pixels -> photo pixels.
        area: 4 x 2 corners of the pattern area in full.png, clockwise.
        size: (w, h) of the photo.
        min_side: float, the shortest side the quad may have, in photo pixels.
        max_scale: float, how many times the photo's diagonal the quad's may be.
    """
    # Plain arithmetic on four points: a cut page's search asks this a few hundred times a photo.
    H = np.asarray(H, np.float64)
    if H.shape != (3, 3) or not np.isfinite(H).all():
        return "not a finite 3 x 3 matrix"
    area = np.asarray(area, np.float64)
    w_at = area @ H[2, :2] + H[2, 2]
    if not ((w_at > 0).all() or (w_at < 0).all()):
        return "part of the page behind the camera"
    quad = (area @ H[:2, :2].T + H[:2, 2]) / w_at[:, None]
    if signed_area(quad) <= 0:
        return "mirrored or collapsed"
    if not cv2.isContourConvex(np.float32(quad)):
        return "folded"
    step = quad[[1, 2, 3, 0]] - quad
    if np.sqrt((step * step).sum(axis=1)).min() < min_side:
        return "collapsed"
    span = quad.max(axis=0) - quad.min(axis=0)
    if math.hypot(*span) > max_scale * math.hypot(*size):
        return "far larger than the photo"
    return None


def page_turn(turns, page_size):
    """3 x 3 map of full.png onto itself, turned `turns` quarter turns clockwise about its centre.

    Only a square page can turn by one quarter; any page can turn by two. With a turn T, the
    homography H @ T shows the same page as H, its corners renamed.
    """
    w, h = page_size
    cx, cy = (w - 1) / 2, (h - 1) / 2
    c, s = [(1, 0), (0, 1), (-1, 0), (0, -1)][turns % 4]
    rotate = np.float64([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    move = lambda dx, dy: np.float64([[1, 0, dx], [0, 1, dy], [0, 0, 1]])
    return move(cx, cy) @ rotate @ move(-cx, -cy)
