"""The answer for one photo: is the pattern there, where is its page, and how sure is that.

`decide()` turns what the model said about a photo into a `Find`:

1. The full-pattern mask (channel 0) at the photo's size: its largest component is the
   candidate (`present`, `bbox`; `agreement` of the other masks, as the original's masks allow).
   (The Segmenter calls decide again without it, up to CANDIDATES times, while none is found.)
2. The pose: a homography H from the pattern's full.png to the photo. The quad that best
   agrees with the mask (start_quad) says roughly where the pattern is; the page's own picture,
   turned each of four ways, moved and resized, is matched against the photo to find where it
   is exactly and which way up (pose_from_quad), and registered (pose.register), again without
   the tiles something covers (pose.covered). A page cut by the photo's border is extended past
   it, and rebuilt from its own edges in view (geometry.pages_past_border); of a cut page's
   poses, each registered at the coarse level, the one that explains the photo best over the
   pixels they share wins (pose.explained), since the median tile passes a page a row off too,
   and is registered at the fine level. Where the pose is doubtful (the page's evidence alone
   would not pass, doubtful), the page is also posed from the outline of all the mask's large
   pieces (pose_from_pieces: an occluder splits a board's mask). A chessboard whose pose is
   still doubtful, or is cut, is also placed through the corners OpenCV finds in view
   (pose_from_corners), and a ChArUco board or an ArUco marker through the corners OpenCV's
   detectors name, even where the masks missed it. A cut chessboard is placed so first: where
   that pose isn't doubtful and OpenCV followed nearly all the corners it puts in view
   (placed_surely), it is the pose, and the search past the border is not run.
   For a chessboard or a ChArUco board, H is then fitted again through its inner corners found
   to sub-pixel precision (pose.refine_chessboard).
3. The decision: the registered pattern area is compared with the photo tile by tile (pose.match)
   and the page's border with the paper around the pattern (pose.border); the lower of their medians is
   the evidence (`likeness`, evidence_for). `score` (0..1) maps it, less how far the masks'
   `present` falls short of sure as much as the calibration weighs that (weighed), through the
   calibration the model carries (measured on held-out synthetic samples and board-free photos
   when it was trained, see calibrate.py), with a threshold of its own for a page partly out of
   the photo; `found` is score >= 0.5, or >= the user's `min_score` where the calibration holds
   one (Segmenter.load adds it; the search for a pose still judges doubt at 0.5). A pose that
   folds, mirrors or collapses the page is never a find.

Models trained before they carried a calibration keep the earlier port's decision: present >=
PRESENT, agreement >= AGREEMENT, and a doubtful find (agreement < CONFIRM_BELOW) must look like
the pattern's small picture (`likeness` >= LIKENESS); their `score` is `present`. They get a pose
too where the page is known (test_segmenter.py --pattern DIR).

A closer look: a pattern found small in the frame is seen again through a square window
around it (zoom_window), which the caller runs through the model; the close-up replaces the
first look where it confirms it (confirmed).
"""

import dataclasses
import math

import cv2
import numpy as np

from segmenty import geometry, pose

MIN_AREA = 0.005  # share of the photo below which a component is noise, not a pattern
PRESENT = 0.5  # models without coordinates: `present` at or above this means "the pattern is in the photo"
AGREEMENT = 0.5  # ... and a find's other masks cover at least this share of what they cover on a true find
# Four chessboard models of the earlier port: the false finds on a fence and a reflection
# (agreement 0.54-0.72) had likeness 0.06-0.13; the 12 true finds under 0.8, all blurred, 0.25 and more.
CONFIRM_BELOW = 0.8
LIKENESS = 0.15
SPREAD = 0.2  # masks covering less of a true find (a centre dot, say) may be out of frame: not checked
ZOOM_MARGIN = 0.25  # a second look at a find frames it with this share of its extent on each side
ZOOM_MAX = 0.5  # ... unless that window would cover more than this share of the photo anyway
ZOOM_KEEP = 0.8  # the second look is kept if the find's area changes by less than this factor
# A quad's side or corner within this share of the photo's size of its border is at the border:
# a fitted quad's cut side strays a little past it (cut_edges, within_window, start_quad).
NEAR_BORDER = 0.01
TRACK_MARGIN = 0.3  # in video, the next frame is looked at first this share of the find's extent around it
# Before a model is calibrated (a checkpoint of its first epoch): a page whose tiles correlate
# with the photo at 0.5 explains half of what the photo shows there.
UNCALIBRATED = {"threshold": 0.5, "scale": 0.1}
FOUND = 0.5  # the score at the calibrated threshold: a find, unless the user asks for another (min_score)
WHOLE = 0.99  # a page at least this share in the photo is judged whole: on all its tiles and its border
TURN_SIDE = 96  # the page's longer side, in pixels, when telling its turns apart
# A cut page's ~50 trials per turn (pages extended past the border, pages built from its edges in
# view) are ranked at this side first (a quarter of the pixels to warp and match); the FINER best
# of each kind are fitted again at TURN_SIDE, which decides.
COARSE_SIDE = TURN_SIDE // 2
FINER = 3
# How far past the photo's border a page cut by it may run on, in lengths of its sides in view:
# from a sliver missing to three quarters of the page out of frame.
EXTENSIONS = np.geomspace(0.05, 3.0, 12)
# ... or short of it, by the smaller of those amounts (up to a third): a mask that spills over the
# table to the border makes a page wholly in view look cut there, and extending it only slides the
# page a period further out. Only pages wholly in view are kept from these (judged on its part in
# view, a grid pulled back and turned can pass as well as the page it cuts short), and the best of
# them replaces the cut page's pose only with more evidence (pose_from_quad).
RETRACTIONS = -EXTENSIONS[:6]
# A cut page's candidates registered, best first by their match in view: on held-out synthetic cut
# pages (bench_pose.py --model), registering all of them found no more boards than the best three.
CUT_REGISTERED = 3
REGISTERED = 2  # of the turns tried, at most this many of the best are registered before one is chosen
CLEAR_FIT = 0.9  # ... the next one only if the best one's evidence (evidence_for) is under this
# The page's corners away from the photo's border are where the mask says, within its error (a few
# percent): a search that moves them further slides a regular pattern by a period, which its cells
# can't tell apart (a chessboard by two squares, a circle grid by a row).
ANCHOR_REACH = 0.05  # of the pattern area's diagonal
JUDGED = pose.TILES ** 2 // 4  # in_view_match ranks a pose on at least a quarter of the page's tiles in view
# placed_surely: a cut chessboard placed through the corners OpenCV followed in view is its pose
# where they are at least this share of those the pose puts in the photo (bench_pose.py's held-out
# cut boards, two draws: the poses that the search past the border beat had 12-16 of 26-27).
FOLLOWED = 0.9
CANDIDATES = 3  # a photo's mask components posed, largest first, until one is found


@dataclasses.dataclass
class Point:
    """A named point of the pattern, in the photo: OpenCV pixel coordinates (x, y)."""
    name: str
    xy: tuple
    in_view: bool
    refined: bool = False


@dataclasses.dataclass
class Find:
    """What segmenty answers for one photo (results.json holds the same, see to_json).

    Attributes:
        found: bool, the decision.
        score: float, 0..1, how sure the decision is (0.5 at the calibrated threshold).
        quad: 4 x 2 float array or None: the pattern area's outline in the photo, clockwise from
            the image of the pattern's own top-left corner; corners may lie outside the photo.
        homography: 3 x 3 float array or None: full.png pixels -> photo pixels.
        points: list of Point, or None: pattern.json's named points in the photo.
        in_view: float or None, the share of the pattern area inside the photo.
        symmetry: int, how many quarter turns leave the pattern looking the same (1, 2 or 4);
            of the equivalent poses, the one whose page points most nearly up is reported.
        size: (w, h) of the photo.
        present, agreement, likeness, bbox: the masks' evidence (see the module docstring);
            bbox is None for a video frame posed from the last one without a model run
            (Segmenter.track), whose present is the last frame's; both are None for a ChArUco board
            or a marker the masks missed and OpenCV's detector named.
        zoom: (x0, y0, x1, y1) of the closer look that was kept, or None.
        camera_pose: {"rvec", "tvec" (mm), "reprojection_error"} or None (needs intrinsics and
            the printed size).
        masks: H x W x K probabilities at the photo's size, when asked for, else None.
    """

    found: bool
    score: float
    size: tuple
    quad: np.ndarray = None
    homography: np.ndarray = None
    points: list = None
    in_view: float = None
    symmetry: int = 1
    present: float = 0.0
    agreement: float = None
    likeness: float = None
    bbox: list = None
    zoom: tuple = None
    camera_pose: dict = None
    masks: np.ndarray = None

    def to_json(self):
        """The fields of results.json's entry for this photo (plain lists and numbers)."""
        rounded = lambda a, n=2: None if a is None else np.round(np.asarray(a, np.float64), n).tolist()
        return {"found": self.found, "score": round(float(self.score), 4), "quad": rounded(self.quad, 1),
                "homography": None if self.homography is None else [[float(f"{v:.8g}") for v in row]
                                                                    for row in np.asarray(self.homography)],
                "in_view": None if self.in_view is None else round(self.in_view, 4), "symmetry": self.symmetry,
                "points": None if self.points is None else [
                    {"name": p.name, "xy": [round(float(p.xy[0]), 2), round(float(p.xy[1]), 2)],
                     "in_view": p.in_view, "refined": p.refined} for p in self.points],
                "camera_pose": self.camera_pose,
                "present": None if self.present is None else round(float(self.present), 4),
                "agreement": self.agreement, "likeness": self.likeness, "bbox": self.bbox,
                "size": list(self.size), "zoom": None if self.zoom is None else list(self.zoom)}


# ---------------------------------------------------------------- looks

def zoom_window(probs, threshold, size):
    """The square of the photo to look at again, (x0, y0, x1, y1) in photo pixels, or None.

    A pattern found small in the frame was seen with few pixels: a second pass over a window
    around it, resized to the model's input, sees it larger and gives sharper edges.

    Args:
        probs: model-size probabilities (h, w, K); channel 0 is the full pattern.
        threshold: float, where channel 0 is cut.
        size: (W, H), the photo's size.
    """
    component, area = largest_component(probs[..., 0] > threshold)
    if component is None or area < MIN_AREA * component.size:
        return None
    (W, H), (h, w) = size, component.shape
    x, y, bw, bh = cv2.boundingRect(component.astype(np.uint8))
    # The find's extent in photo pixels; a square window keeps the photo's proportions.
    cx, cy = (x + bw / 2) * W / w, (y + bh / 2) * H / h
    side = (1 + 2 * ZOOM_MARGIN) * max(bw * W / w, bh * H / h)
    if side > min(W, H) or side * side > ZOOM_MAX * W * H:
        return None
    return square_window(cx, cy, side, size)


def tracking_window(quad, size, margin=TRACK_MARGIN):
    """The square of a video frame to look at first, around where the pattern was: (x0, y0, x1, y1) or None.

    None when the pattern filled most of the frame anyway: then the whole frame is the window.
    """
    W, H = size
    quad = np.clip(np.asarray(quad, np.float64), [0, 0], [W - 1, H - 1])  # the part in view
    (x0, y0), (x1, y1) = quad.min(0), quad.max(0)
    side = (1 + 2 * margin) * max(x1 - x0, y1 - y0, 8)
    if side >= min(W, H):
        return None
    return square_window((x0 + x1) / 2, (y0 + y1) / 2, side, size)


def within_window(quad, window, size, tolerance=NEAR_BORDER):
    """Whether a quad lies inside a window of the photo, clear of its sides by `tolerance` of its
    width (as cut_edges judges the photo's border), but for the sides on the photo's border (a page
    may run on out of the photo there). A quad at or past another side is one the window cut: its
    masks saw only part of the page, and posed that part as if it were all of it."""
    W, H = size
    x0, y0, x1, y1 = window
    near = tolerance * (x1 - x0)
    xs, ys = np.asarray(quad, np.float64).T
    return bool((x0 <= 0 or xs.min() > x0 - 0.5 + near) and (x1 >= W or xs.max() < x1 - 0.5 - near)
                and (y0 <= 0 or ys.min() > y0 - 0.5 + near) and (y1 >= H or ys.max() < y1 - 0.5 - near))


def square_window(cx, cy, side, size):
    """The square of whole pixels, `side` wide, centred on (cx, cy) as nearly as the photo allows:
    (x0, y0, x1, y1) inside a photo of size (W, H)."""
    W, H = size
    side = min(int(round(side)), W, H)  # rounded first, so that the square never pokes out of the photo
    x0 = int(np.clip(round(cx - side / 2), 0, W - side))
    y0 = int(np.clip(round(cy - side / 2), 0, H - side))
    return x0, y0, x0 + side, y0 + side


def to_photo_size(probs, size):
    """Model-size probabilities (h, w, K) -> (H, W, K) at the photo's size (w, h) = size."""
    up = cv2.resize(probs, tuple(size), interpolation=cv2.INTER_LINEAR)
    return up.reshape(size[1], size[0], -1)


def zoomed(probs_full, window, probs_window, keep=None):
    """Photo-size probabilities with a second look's `probs_window` (model size) over `window`: in
    place of the first look's, or combined with them by `keep` (e.g. np.maximum for overlapping tiles)."""
    x0, y0, x1, y1 = window
    out = probs_full.copy()
    seen = to_photo_size(probs_window, (x1 - x0, y1 - y0))
    out[y0:y1, x0:x1] = seen if keep is None else keep(out[y0:y1, x0:x1], seen)
    return out


def anything(probs, threshold):
    """Whether channel 0 holds a component large enough to be a find (see MIN_AREA)."""
    _, area = largest_component(probs[..., 0] > threshold)
    return area >= MIN_AREA * probs.shape[0] * probs.shape[1]


def tile_windows(size, image_size):
    """Overlapping square tiles of a large photo, (x0, y0, x1, y1) each, for a second look at the
    whole of it: half the photo's shorter side, each overlapping the next by half, so that a
    pattern of a few percent of the photo lies whole in some tile (up to half a tile wide), and
    there about as large as the smallest the model learned (a fifth of its input). None for a
    photo whose tiles would be less than twice the model's input: the first look saw it with
    enough pixels.
    """
    W, H = size
    side = min(W, H) // 2
    if side < 2 * image_size:
        return []
    step = max(1, side // 2)
    xs = sorted({*range(0, W - side, step), W - side})
    ys = sorted({*range(0, H - side, step), H - side})
    return [(x, y, x + side, y + side) for y in ys for x in xs]


def confirmed(before, after, threshold):
    """Whether a second look `after` (photo-size probabilities) confirms the first, `before`.

    Seen closer, a pattern keeps its area, give or take its edges. A close-up that shrinks or
    grows the find is beyond what the model learned (heavy motion blur, magnified, say).
    """
    _, area_before = largest_component(before[..., 0] > threshold)
    _, area_after = largest_component(after[..., 0] > threshold)
    return ZOOM_KEEP <= area_after / max(area_before, 1) <= 1 / ZOOM_KEEP


largest_component = geometry.largest_component


# ---------------------------------------------------------------- the masks' evidence

def likeness(gray, quad, picture, shift=0.03, scales=(0.97, 1.0, 1.03)):
    """How much the photo inside `quad` looks like the pattern's small picture, -1..1 (models
    without coordinates).

    The photo is warped onto the picture and correlated with it, for each of the four ways the
    quad's corners can map onto the picture's, and for shifts of `shift` of its size and the
    given scalings, since a quad is a few percent off; the best wins.

    Args:
        gray: float32 H x W, the photo in gray.
        quad: 4 x 2 corners in photo pixels, clockwise.
        picture: uint8 2D array, the pattern where mask 0 covers it (patterns.pattern_picture).

    Returns:
        float, or None when the quad runs out of the photo or the picture is flat.
    """
    quad = np.asarray(quad, np.float32)
    h, w = gray.shape
    margin = 0.01 * max(h, w)
    if not ((quad >= margin).all() and (quad <= [w - 1 - margin, h - 1 - margin]).all()):
        return None
    picture = np.asarray(picture, np.float32)
    if picture.std() < 1:
        return None
    # Warping samples the photo; shrink it first so the quad is about twice the picture's size.
    scale = min(1.0, 2 * max(picture.shape) / max(np.ptp(quad, axis=0).max(), 1))
    if scale < 1:
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        quad = quad * scale
    best = -1.0
    for turns in range(4):
        target = np.rot90(picture, turns)
        th, tw = target.shape
        corners = np.float32([[0, 0], [tw, 0], [tw, th], [0, th]]) - [tw / 2, th / 2]
        for dx in (-shift, 0, shift):
            for dy in (-shift, 0, shift):
                for s in scales:
                    dst = np.float32(corners * s + [tw / 2 + dx * tw, th / 2 + dy * th])
                    warped = cv2.warpPerspective(gray, cv2.getPerspectiveTransform(quad, dst), (tw, th),
                                                 flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                    best = max(best, pose.correlation(warped, target))
    return round(best, 4)


def mask_evidence(probs, thresholds, coverage=None):
    """(component, present, agreement) of the full-pattern mask (see the module docstring);
    component is None when nothing is above the threshold."""
    component, area = largest_component(probs[..., 0] > thresholds[0])
    if component is None:
        return None, 0.0, None
    present = float(probs[..., 0][component].mean()) * min(1.0, area / (MIN_AREA * component.size))
    shares = [float((probs[..., k][component] > thresholds[k]).mean()) / expected
              for k, expected in enumerate(coverage or []) if k and expected >= SPREAD]
    agreement = round(min(1.0, *shares), 4) if shares else None
    return component, round(present, 4), agreement


def start_quad(probs, component, size, tolerance=NEAR_BORDER):
    """The quad the pose search starts from: the component's outline moved to agree with the
    probabilities (blur smears the outline past the page), unless the outline runs along the
    photo's border, where it marks the cut that pose_from_quad extends the page past.

    An outline clear of the border says the page is in the photo: a corner moved out of the
    photo (past `tolerance` of its size) was pulled there by the fit, which pixels outside the
    photo don't pay into, not by the mask, and the outline is kept."""
    outline = geometry.fit_quad(component)
    if cut_edges(outline, size):
        return outline
    refined = geometry.refine_quad(probs[..., 0], outline)
    near = tolerance * max(size)
    inside = (refined >= -0.5 - near) & (refined <= np.float64(size) - 0.5 + near)
    return refined if inside.all() else outline


def quad_from_masks(prob, component):
    """The quad of a component: fitted to its outline, then moved to agree with the probabilities."""
    return geometry.refine_quad(prob, geometry.fit_quad(component))


# ---------------------------------------------------------------- the pose

def pose_from_quad(gray, page, quad, past_border=None):
    """(A homography from the quad fitted to the mask, registered on the photo, its evidence_for),
    or (None, None).

    The quad says roughly where the pattern is, not which of its corners is the pattern's
    top-left, so each of the four ways to match them is tried: the page placed by each is moved
    and resized until it best matches the photo (pose.search), and the best of them is registered
    (pose.register). A quad with a side along the photo's border outlines only the part in view:
    the page runs on past that side, so pages extended past it by a range of amounts are tried
    too, one cut side after the other, and pages pulled back short of it that end wholly in view
    (a mask spilled to the border: RETRACTIONS). Where given, `past_border`
    (geometry.pages_past_border: whole pages built from the page's own edges in view) compete
    with those: of each turn's best of each, the CUT_REGISTERED best are registered, and the one
    that explains the photo best is chosen. The best page pulled back, of all turns, replaces it
    only where it has more evidence and explains the photo better. A cut page's trials are ranked
    at COARSE_SIDE, and only the FINER best of each kind are fitted again at TURN_SIDE.
    """
    quad = np.asarray(quad, np.float64)
    size = (gray.shape[1], gray.shape[0])
    cut = cut_edges(quad, size)
    anchored = [i for i in range(4) if i not in cut and (i - 1) % 4 not in cut]  # corners on no cut side
    area = np.asarray(page.area, np.float64)
    limit = ANCHOR_REACH * np.linalg.norm(area[2] - area[0])
    photo = np.asarray(gray, np.float32)  # once: a cut page's trials warp it a few hundred times

    def fit(shape, k, anchored=anchored, side=TURN_SIDE, whole=False):
        H = cv2.getPerspectiveTransform(np.float32(page.area), np.float32(np.roll(shape, -k, axis=0)))
        if geometry.degenerate(H, page.area, size):
            return -np.inf, H
        anchors = area[[(i - k) % 4 for i in anchored]]
        moved, value = pose.search(photo, page.picture, page.size, H, side=side, anchors=anchors, limit=limit)
        if whole and geometry.in_view(geometry.project(moved, page.area), size) < WHOLE:
            return -np.inf, moved  # a page pulled back stands only for a page wholly in view
        if cut:  # judged in the photo only: the page's parts out of frame say nothing either way
            value = in_view_match(photo, page, moved, side)
        return value, moved

    def coarse(shape, k, seen=anchored, whole=False):  # (its value at COARSE_SIDE, the trial), for ranking
        return fit(shape, k, seen, COARSE_SIDE, whole)[0], shape, seen, whole

    def finest(ranked, k):
        """The best fit at TURN_SIDE of the FINER trials that rank best at COARSE_SIDE (coarse's)."""
        ranked = sorted(ranked, key=lambda t: -t[0])[:FINER]
        return max((fit(shape, k, seen, whole=whole) for _, shape, seen, whole in ranked), key=lambda c: c[0])

    candidates = []
    pulled_back = (-np.inf, None)  # (value, H) of the best page pulled back, over the turns
    for k in range(4):
        tried = []
        if cut:
            # The page extended past each cut side in turn, by each amount, from the best so far.
            best = coarse(quad, k)
            trials = [best]
            for edge in cut:
                base = best[1]
                for amount in EXTENSIONS:
                    trials.append(coarse(extended(base, edge, amount), k))
                    best = max(best, trials[-1], key=lambda t: t[0])
            tried.append(finest(trials, k))
            # The page pulled back short of each cut side, where the search leaves it wholly in view:
            # the best of these over the turns is registered (a page in view tells its turns apart).
            short = [coarse(extended(quad, edge, amount), k, whole=True) for edge in cut for amount in RETRACTIONS]
            if any(t[0] > -np.inf for t in short):
                pulled_back = max(pulled_back, finest(short, k), key=lambda c: c[0])
            if past_border:  # the pages built from the edges in view compete with these, registered too
                tried.append(finest([coarse(shape, k, seen) for shape, seen in past_border], k))
        else:
            tried.append(fit(quad, k))
        for value, H in tried:
            if value > -np.inf and not geometry.degenerate(H, page.area, size):
                candidates.append((value, k, H))
    # A regular pattern turned and moved by one period can look almost right: unless the best
    # turn, registered, explains the photo nearly perfectly, the next best is registered too and
    # the one with the better evidence wins. A cut page's best CUT_REGISTERED candidates are all
    # registered: judged on the part in view, a page a row off passes the median tile as well as
    # the right one, so the one that explains the photo best wins (most_explaining).
    registered = []
    # A cut page's candidates are registered at the coarse level only, which tells them apart; the
    # one chosen is registered at the finer levels afterwards (most of the cost is in the fine level).
    levels = pose.ECC_LEVELS[:1] if cut else registration_levels(page)
    for _, _, H in sorted(candidates, key=lambda c: -c[0])[:CUT_REGISTERED if cut else REGISTERED]:
        H, evidence = registered_pose(gray, page, H, levels)
        if geometry.degenerate(H, page.area, size):
            continue
        registered.append((-1.0 if evidence is None else evidence, H, evidence))
        if not cut and evidence is not None and evidence >= CLEAR_FIT:
            break
    best, evidence = None, None
    if registered:
        registered.sort(key=lambda c: -c[0])
        judged = [c for c in registered if c[2] is not None] or registered[:1]
        _, best, evidence = judged[most_explaining(gray, page, [c[1] for c in judged]) if cut else 0]
    if pulled_back[0] > -np.inf:
        H, shorter = registered_pose(gray, page, pulled_back[1], pose.ECC_LEVELS[:1])
        if not geometry.degenerate(H, page.area, size) and pulled_back_wins(gray, page, H, shorter, best, evidence):
            best, evidence = H, shorter
    if best is None:
        return None, None
    if cut and len(pose.ECC_LEVELS) > 1:
        finer, finer_evidence = registered_pose(gray, page, best, pose.ECC_LEVELS[1:])
        if not geometry.degenerate(finer, page.area, size) and finer_evidence is not None \
                and (evidence is None or finer_evidence >= evidence):
            best, evidence = finer, finer_evidence
    return best, evidence


def registered_pose(gray, page, H, levels):
    """(H registered at `levels` (pose.register), its evidence_for); where the evidence is under
    CLEAR_FIT, part of the page may be covered: registered again without it (pose.covered), and
    the better of the two kept."""
    H, _ = pose.register(gray, page.picture, page.size, H, levels=levels)
    evidence = evidence_for(gray, page, H)
    if evidence is None or evidence < CLEAR_FIT:
        covered = pose.covered(gray, page.picture, page.size, H)
        if covered is not None:
            again, _ = pose.register(gray, page.picture, page.size, H, levels=levels, mask=covered)
            evidence_again = evidence_for(gray, page, again)
            if evidence_again is not None and (evidence is None or evidence_again > evidence):
                H, evidence = again, evidence_again
    return H, evidence


def in_view_match(gray, page, H, side=TURN_SIDE):
    """How well the page's small picture (`side` pixels), posed by H, matches the photo: the median
    tile of those in view, or -1 where fewer than JUDGED are. Quick, for ranking poses."""
    tiles = pose.match(gray, page.picture, page.size, H, side=side)
    return float(np.median(tiles)) if len(tiles) >= JUDGED else -1.0


def pose_from_corners(gray, page, component):
    """(A page placed through the points OpenCV's detectors find in view, registered, its
    evidence_for), or (None, None): a chessboard's corners (here, below), a ChArUco board's
    corners its markers name (pose.charuco_placements), a marker's corners (pose.marker_placements).

    Where the board runs out of frame or its mask stops short of the outer squares, the search
    from the mask's quad can settle on a wrong perspective: the part in view then says little
    about the rest. The corners themselves say it exactly. pose.chessboard_placements places
    the page at every position where the grid of corners found fits; of those whose picture
    matches the photo at all, the one that explains it best (most_explaining) is fitted to the
    corners around it, registered, and judged. Only pages
    over the candidate `component` (a bool mask) count, its centre inside them: another board
    elsewhere is another candidate's. With `component` None (a ChArUco board or a marker the masks
    missed), all of them count.
    """
    size = (gray.shape[1], gray.shape[0])
    if page.charuco:
        candidates = pose.charuco_placements(gray, page.points, page.charuco)
    elif page.marker:
        candidates = pose.marker_placements(gray, page.points, page.marker)
    else:
        candidates = pose.chessboard_placements(gray, page.points, page.grid)
    placements = [H for H in candidates if not geometry.degenerate(H, page.area, size)]
    if component is not None:
        ys, xs = np.nonzero(component)
        centre = (float(xs.mean()), float(ys.mean()))
        placements = [H for H in placements
                      if cv2.pointPolygonTest(np.float32(geometry.project(H, page.area)), centre, False) >= 0]
    # Ranked as the turns are (a small picture, the tiles in view), for speed: a grid of windows
    # in a facade fits in the page at a hundred places. A placement whose picture runs against
    # the photo (the squares' colours swapped) is not the page.
    judged = sorted(((in_view_match(gray, page, H), H) for H in placements), key=lambda c: -c[0])
    judged = [H for value, H in judged if value > 0]
    if not judged:
        return None, None
    # They all pass through the same corners: what tells them apart is the rest of the page in
    # view (its margin, its other rows), which the median tile can overlook.
    H = judged[most_explaining(gray, page, judged)]
    if page.grid:
        H = pose.fitted_to_corners(gray, H, page.points, page.grid, page.corner_window)
    # A marker a few pixels wide is placed better by its corners than registered: both are judged.
    registered, _ = pose.register(gray, page.picture, page.size, H, levels=registration_levels(page))
    if page.grid:
        registered = pose.fitted_to_corners(gray, registered, page.points, page.grid, page.corner_window)
    best, best_evidence = None, None
    for H in ([H, registered] if page.marker else [registered]):
        if geometry.degenerate(H, page.area, size):
            continue
        evidence = evidence_for(gray, page, H)
        if evidence is not None and (best_evidence is None or evidence > best_evidence):
            best, best_evidence = H, evidence
    return best, best_evidence


def placed_surely(gray, page, H, evidence, calibration, present=None):
    """Whether a cut chessboard placed through the corners OpenCV follows in view (pose_from_corners)
    needs no other pose: the pose isn't doubtful (its evidence alone would pass), and OpenCV
    followed at least FOLLOWED of the inner corners it puts in the photo (half a square or more
    from its border). A few corners at one end of the board, extended over the rest, can place it
    a row off or tilted and still explain what is in view."""
    size = (gray.shape[1], gray.shape[0])
    if H is None or page.charuco or page.marker or doubtful(evidence, calibration, page, H, size, present):
        return False
    seen = pose.corners_in_view(gray, page.grid)
    points = geometry.project(H, page.points)
    half = 0.5 * pose.grid_step(points.reshape(*page.grid, 2))
    inside = (points >= half).all(axis=1) & (points < np.float64(size) - half).all(axis=1)
    return seen is not None and bool(len(seen[0]) >= FOLLOWED * inside.sum())


def pieces_outline(probs, thresholds, component):
    """The candidate `component` and the full-pattern mask's other pieces of at least MIN_AREA of
    the photo, filled to their convex hull (a bool mask): the outline of a board that an occluder
    splits in pieces or bites into, where the component's own outline is of one piece, or bent."""
    binary = probs[..., 0] > thresholds[0]
    _, labels, stats = geometry.components(binary)
    large = 1 + np.nonzero(stats[1:, cv2.CC_STAT_AREA] >= MIN_AREA * binary.size)[0]
    pieces = (np.isin(labels, large) | component).astype(np.uint8)
    outline = np.zeros_like(pieces)
    cv2.fillConvexPoly(outline, cv2.convexHull(cv2.findNonZero(pieces)), 1)
    return outline.astype(bool)


def pose_from_pieces(gray, page, probs, thresholds, component, quad):
    """(The page posed from the quad of pieces_outline, its evidence_for) as pose_from_quad poses
    it, or (None, None) where that quad is the one the pose started from (`quad`)."""
    size = (gray.shape[1], gray.shape[0])
    outline = pieces_outline(probs, thresholds, component)
    start = start_quad(probs, outline, size)
    if np.allclose(start, quad, atol=1.0):
        return None, None
    past = geometry.pages_past_border(geometry.sides_in_view(outline, size), page.aspect) \
        if cut_edges(start, size) else None
    return pose_from_quad(gray, page, start, past)


def the_better(gray, page, cut, pose, other):
    """The better of two (H, evidence) poses, `pose` unless `other` has evidence above it. A cut
    page's two are compared over the pixels both place the page on (better_explained), not by
    their evidence: a page a row off passes the median tile too."""
    (H, evidence), (other_H, other_evidence) = pose, other
    if other_evidence is None:
        return pose
    better = evidence is None or other_evidence > evidence
    if evidence is not None and cut:
        better = better_explained(gray, page, other_H, H, better)
    return other if better else pose


def most_explaining(gray, page, poses):
    """The index of the pose (of a list, best first by another measure) that best explains the
    photo: each is compared with the best so far (better_explained)."""
    best = 0
    for i in range(1, len(poses)):
        if better_explained(gray, page, poses[i], poses[best], False):
            best = i
    return best


def pulled_back_wins(gray, page, H, evidence, cut, cut_evidence):
    """Whether a page pulled back wholly into view (H, its evidence_for) replaces a cut page's pose
    (pose_from_quad): where there is no cut pose, or it has no evidence; else only with both more
    evidence and a better account of the photo (better_explained), since a smaller board in view
    (a chessboard two squares short, the rest behind an occluder) can explain the pixels it
    covers as well."""
    if evidence is None:
        return False
    if cut is None or cut_evidence is None:
        return True
    return evidence > cut_evidence and better_explained(gray, page, H, cut, True)


def better_explained(gray, page, H, other, otherwise):
    """Whether pose H explains the photo better than `other` over the pixels both place the page
    on (pose.explained), or `otherwise` where they share too few to tell."""
    scores = pose.explained(gray, page.picture, page.size, [H, other])
    return otherwise if scores is None else scores[0] > scores[1]


def registration_levels(page):
    """The levels of pose.register for a page: a chessboard's corners, found to sub-pixel precision
    afterwards (refined_points), make the finest level redundant, and it costs the most."""
    return pose.ECC_LEVELS[:1] if page.refine == "chessboard" and page.grid else pose.ECC_LEVELS


def pose_from_prior(gray, page, prior, calibration, present=None):
    """(The page posed from where it was a moment ago, its evidence_for), or (None, None) when
    that no longer explains the photo (the calibrated decision, with the masks' `present`).

    A chessboard's corners near where the prior puts them place it first (refined_points): a
    frame moves it by a fraction of a square, and that costs a third of a registration. Where
    they don't fit, or the pose they give doesn't explain the photo, the page is registered."""
    H, _, usable = refined_points(gray, page, prior)  # none usable but on a chessboard
    evidence = _explaining(gray, page, H, calibration, present) if usable.any() else None
    if evidence is not None:
        return H, evidence
    H, _ = pose.register(gray, page.picture, page.size, prior, levels=registration_levels(page)[-1:])
    evidence = _explaining(gray, page, H, calibration, present)
    return (H, evidence) if evidence is not None else (None, None)


def _explaining(gray, page, H, calibration, present=None):
    """The evidence_for a pose H that explains the photo (the calibrated decision), else None."""
    size = (gray.shape[1], gray.shape[0])
    if geometry.degenerate(H, page.area, size):
        return None
    evidence = evidence_for(gray, page, H)
    return evidence if passes(evidence, calibration, page, H, size, present) else None


def passes(evidence, calibration, page, H, size, present=None, cut=None):
    """Whether the page posed by H, with this evidence_for (and the masks' `present`), is a find by
    the calibrated decision: its score at least `cut`, by default the calibration's min_score."""
    in_view = geometry.in_view(geometry.project(H, page.area), size)
    cut = min_score(calibration) if cut is None else cut
    return score_of(evidence, calibration or UNCALIBRATED, in_view, present) >= cut


def min_score(calibration):
    """The score a find needs: the user's "min_score" where the calibration holds one, else 0.5,
    the calibrated threshold."""
    return (calibration or {}).get("min_score", FOUND)


def doubtful(evidence, calibration, page, H, size, present=None):
    """Whether a pose is worth posing again another way (the mask's pieces, the pattern's own
    corners): the page's evidence alone would not pass (the calibration's "page_alone" thresholds,
    where the masks' `present` is weighed). A decision that weighs sure masks heavily passes a page
    the photo explains poorly, posed half a board off, say: the masks vouch for the board, not for
    its pose. A calibration without "page_alone" is judged as the decision judges."""
    if evidence is None:
        return True
    # Judged at the calibrated threshold, whatever score the user asks of a find: this is about
    # how sure the pose is, not what to report.
    alone = (calibration or {}).get("page_alone")
    if alone is None:
        return not passes(evidence, calibration, page, H, size, present, cut=FOUND)
    return not passes(evidence, alone, page, H, size, cut=FOUND)


def cut_edges(quad, size, tolerance=NEAR_BORDER):
    """The sides of a quad (i: corner i to corner i + 1) that run along the photo's border."""
    w, h = size
    near = tolerance * max(w, h)
    cut = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        # At the border or past it: a fitted quad's cut side may stray a little out of the photo.
        if (max(a[0], b[0]) < -0.5 + near or min(a[0], b[0]) > w - 0.5 - near
                or max(a[1], b[1]) < -0.5 + near or min(a[1], b[1]) > h - 0.5 - near):
            cut.append(i)
    return cut


def extended(quad, edge, amount):
    """The quad with side `edge` pushed out along its two neighbouring sides by `amount` of their
    lengths (pulled in where `amount` is negative)."""
    out = np.array(quad, np.float64)
    i, j = edge, (edge + 1) % 4
    out[i] = quad[i] + amount * (quad[i] - quad[(i - 1) % 4])
    out[j] = quad[j] + amount * (quad[j] - quad[(j + 1) % 4])
    return out


def refined_points(gray, page, H):
    """(H fitted through the sub-pixel corners, points, usable mask) for a chessboard page;
    (H, projected points, all False) where too few corners could be refined."""
    grid = page.grid
    points = geometry.project(H, page.points)
    usable = np.zeros(len(points), bool)
    if page.refine != "chessboard" or grid is None:
        return H, points, usable
    fitted, found, refined, agree = pose.fit_to_corners(gray, H, page.points, grid, page.corner_window)
    if refined.sum() < max(6, 0.3 * len(points)) or fitted is None or agree.mean() < 0.8:
        return H, points, usable
    usable[np.nonzero(refined)[0][agree]] = True
    points = np.where(usable[:, None], found, geometry.project(fitted, page.points))
    return fitted, points, usable


def in_photo(xy, size):
    w, h = size
    return bool(-0.5 <= xy[0] <= w - 0.5 and -0.5 <= xy[1] <= h - 0.5)


def evidence_for(gray, page, H):
    """How well the page, posed by H, explains the photo, -1..1, or None where too little of it is
    in view to judge (fewer than a quarter of the tiles its picture can be judged on, of
    page.tiles x page.tiles):
    the median correlation of the pattern area's tiles (pose.match), or, if lower, the median
    score of the page's border around the pattern area (pose.border), which tells the pattern from
    a larger grid of it. The tiles leave the border out: a plain card of the pattern's shape would
    match the page's outline in every tile that holds a stretch of it."""
    tiles = pose.match(gray, page.picture, page.size, H, tiles=page.tiles, area=page.area)
    if len(tiles) < max(1, pose.textured_tiles(page.picture, page.size, page.tiles, area=page.area) // 4):
        return None
    evidence = float(np.median(tiles))
    around = pose.border(gray, page.picture, page.size, page.area, H)
    return round(min(evidence, float(np.median(around))) if len(around) else evidence, 4)


def weighed(evidence, present, calibration):
    """The evidence the decision cuts: the page's (evidence_for), less the calibration's
    "present_weight" times how far the masks' `present` falls short of sure (1 - present).

    The page's evidence can't tell a pattern from a near-copy of it (a window grid is a grid of
    squares, border and all); the model, trained against such copies, may. How much its word
    counts is measured with the threshold (calibrate.py), 0 where it doesn't help. Without
    `present` (no model run saw the page: a ChArUco board or a marker its detector named where
    the masks missed it) the page's evidence alone is cut."""
    weight = calibration.get("present_weight", 0.0)
    return evidence - weight * (1.0 - present) if weight and present is not None else evidence


def score_of(evidence, calibration, in_view=None, present=None):
    """The decision's confidence from a find's evidence (see calibrate.py): 0..1, 0.5 at its threshold.

    A calibration may hold a threshold of its own for pages partly out of the photo ("partly":
    in_view < WHOLE), judged on fewer tiles; in_view None takes the stricter one. With a
    "present_weight", the masks' `present` counts too (weighed)."""
    if evidence is None:
        return 0.0
    evidence = weighed(evidence, present, calibration)
    cut = calibration
    partly = calibration.get("partly")
    if partly is not None and (in_view is None and partly["threshold"] > calibration["threshold"]
                               or in_view is not None and in_view < WHOLE):
        cut = partly
    t, s = cut["threshold"], max(cut["scale"], 1e-6)
    return 1.0 / (1.0 + math.exp(-np.clip((evidence - t) / s, -50, 50)))


# ---------------------------------------------------------------- the decision

def decide(gray, probs, thresholds, page=None, calibration=None, coverage=None, picture=None, intrinsics=None,
           prior=None):
    """The Find for one photo (see the module docstring).

    Args:
        gray: uint8 H x W, the photo in gray.
        probs: float H x W x K, the masks' probabilities at the photo's size.
        thresholds: K floats, where each mask is cut.
        page: page.Page or None; without it there is no pose, only the quad of the mask.
        calibration: {"threshold", "scale"} of the evidence (calibrate.py), or None: a model trained
            before the calibration keeps the masks' decision (PRESENT, AGREEMENT, LIKENESS).
        coverage: K floats or None, each mask's share of a true find (the masks' decision).
        picture: uint8 2D array or None, the pattern's small picture (the masks' decision).
        intrinsics: (camera matrix, distortion) or None, for `camera_pose`.
        prior: 3 x 3 homography or None: where the page was a moment ago (the last video frame).
            Registered from there first; the search from the mask's quad runs only if that fails.
    """
    size = (gray.shape[1], gray.shape[0])
    component, present, agreement = mask_evidence(probs, thresholds, coverage)
    nothing = Find(found=False, score=0.0, size=size, present=present, agreement=agreement,
                   symmetry=page.symmetry if page else 1)
    if component is None or component.sum() < MIN_AREA * component.size:
        if page is not None and page.named and calibration is not None:
            # Where the masks miss a ChArUco board or a marker (dark, blurred, small), OpenCV's
            # detector may still name its corners: a pose the evidence then decides on, as any other.
            H, evidence = pose_from_corners(gray, page, None)
            if H is not None:  # judged on the page alone: the masks never saw it (weighed)
                return posed(dataclasses.replace(nothing, present=None), gray, page, H, evidence, calibration,
                             intrinsics, None)
        return nothing
    nothing.bbox = list(cv2.boundingRect(component.astype(np.uint8)))
    quad = None
    if calibration is None:  # the masks decide, as they did before models carried a calibration
        quad = quad_from_masks(probs[..., 0], component)
        similar = likeness(gray.astype(np.float32), quad, picture) if picture is not None else None
        nothing.likeness, nothing.score = similar, present
        if not (present >= PRESENT and (agreement is None or agreement >= AGREEMENT)
                and not (similar is not None and similar < LIKENESS and agreement is not None
                         and agreement < CONFIRM_BELOW)):
            return nothing
        if page is None:  # no page, no pose: the quad of the mask
            return dataclasses.replace(nothing, found=True, quad=geometry.clockwise_from_top_left(quad),
                                       in_view=geometry.in_view(quad, size))
    elif page is None:
        return nothing
    H, evidence = pose_from_prior(gray, page, prior, calibration, present) if prior is not None else (None, None)
    if H is None:
        if quad is None:
            quad = start_quad(probs, component, size)
        cut = cut_edges(quad, size)
        # A cut page is placed through the points OpenCV finds in view first, where it can be: a
        # chessboard's pose from them, where it is sure, is the pose, without the search past the
        # border that takes most of a cut page's time.
        corners = pose_from_corners(gray, page, component) if cut and page.placeable else None
        if corners is not None and placed_surely(gray, page, *corners, calibration, present):
            H, evidence = corners
        else:
            past = geometry.pages_past_border(geometry.sides_in_view(component, size), page.aspect) if cut else None
            H, evidence = pose_from_quad(gray, page, quad, past)
            # Where the pose is doubtful, the outline of all the mask's pieces (an occluder splits a
            # board's mask, or bites into it), and then a chessboard's own corners, and also where the
            # page runs on out of view.
            if doubtful(evidence, calibration, page, H, size, present):
                H, evidence = the_better(gray, page, cut, (H, evidence), pose_from_pieces(gray, page, probs, thresholds,
                                                                                           component, quad))
            if page.placeable and (cut or doubtful(evidence, calibration, page, H, size, present)):
                other = corners if corners is not None else pose_from_corners(gray, page, component)
                H, evidence = the_better(gray, page, cut, (H, evidence), other)
    if H is None or geometry.degenerate(H, page.area, size):
        return nothing
    return posed(nothing, gray, page, H, evidence, calibration, intrinsics, present)


def posed(nothing, gray, page, H, evidence, calibration=None, intrinsics=None, present=None):
    """The Find of a page posed by H with its evidence_for: `nothing` (the Find without a pose)
    with the decision, the quad, the points refined where the page allows it and the camera
    pose. The masks' `present` is weighed with the evidence (weighed), or None where they never
    saw the page; without a calibration the masks have decided (`present` is the score)."""
    size = nothing.size
    if page.symmetry > 1:  # turned to the stable one of the equivalent poses, and judged there
        H = pose.canonical_turn(H, page.size, page.symmetry)
        evidence = evidence_for(gray, page, H)
    H, points, usable = refined_points(gray, page, H)
    quad = pose.local_corners(page.area, page.points, points, usable, H) if usable.any() \
        else geometry.project(H, page.area)
    in_view = geometry.in_view(quad, size)
    if calibration is None:
        found, score = True, present
    else:
        score = score_of(evidence, calibration, in_view, present)
        found = score >= min_score(calibration)
    found_points = [Point(name, (float(x), float(y)), in_photo((x, y), size), bool(u))
                    for name, (x, y), u in zip(page.point_names, points, usable)]
    camera = None
    if intrinsics is not None and page.mm_per_pixel:
        use = usable if usable.sum() >= 4 else None
        page_xy = page.points[use] if use is not None else page.area
        photo_xy = points[use] if use is not None else geometry.project(H, page.area)
        camera = pose.camera_pose(page_xy, photo_xy, page.mm_per_pixel, *intrinsics)
    return dataclasses.replace(nothing, found=found, score=score, quad=quad, homography=H, points=found_points,
                               in_view=in_view, likeness=evidence, camera_pose=camera)
