import dataclasses

import cv2
import numpy as np
import pytest

from segmenty import find, geometry, pose
from segmenty.page import from_pattern
from segmenty.patterns import make_patterns


@pytest.fixture(scope="module")
def chess(tmp_path_factory):
    folder = tmp_path_factory.mktemp("p") / "chess"
    make_patterns(str(folder), "chessboard", 10, 7)
    return from_pattern(str(folder))


def photo_of(page, H, size=(640, 480), seed=0):
    """The page's picture seen through H on a noisy grey background: a gray uint8 photo."""
    rng = np.random.default_rng(seed)
    photo = cv2.GaussianBlur(rng.integers(60, 200, (size[1], size[0]), dtype=np.uint8), (0, 0), 3)
    full = cv2.resize(page.picture, page.size, interpolation=cv2.INTER_CUBIC)  # back to full.png's pixels
    cv2.warpPerspective(full, H, size, dst=photo, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_TRANSPARENT)
    return photo


def mask_of(page, H, size, grow=1.03):
    """What a model's full-pattern mask says: the pattern area, a few percent too large, cut by the photo."""
    quad = geometry.project(H, page.area)
    quad = quad.mean(0) + grow * (quad - quad.mean(0))
    probs = np.zeros((size[1], size[0], 1), np.float32)
    cv2.fillPoly(probs, [np.int32(np.round(quad))], 1.0)
    return probs


def pose_at(page, quad):
    return cv2.getPerspectiveTransform(np.float32(page.area), np.float32(quad))


def corner_error(H, H_true, page):
    return np.linalg.norm(geometry.project(H, page.area) - geometry.project(H_true, page.area), axis=1).max()


CALIBRATED = {"threshold": 0.5, "scale": 0.1}
TILTED = [[150, 120], [470, 95], [500, 330], [120, 360]]
HALF_OUT = [[330, 100], [850, 120], [860, 420], [320, 400]]  # about half of the board right of the photo
CORNER_OUT = [[330, 60], [720, 260], [560, 540], [200, 330]]  # turned, its right and bottom corners out of the photo


# The stated tolerance: a pixel at the corners in view; out of frame, where the pose extrapolates,
# 0.5% of the board's diagonal (3 px here).
@pytest.mark.parametrize("quad,tolerance", [(TILTED, 1.0), (HALF_OUT, 3.0), (CORNER_OUT, 3.0)],
                         ids=["in view", "half out of frame", "corners out of frame"])
def test_the_pose_from_a_rough_mask_is_precise_for_the_whole_page(chess, quad, tolerance):
    H_true = pose_at(chess, quad)
    photo = photo_of(chess, H_true)
    probs = mask_of(chess, H_true, (640, 480))  # 3% too large, and cut by the border when out of frame
    result = find.decide(photo, probs, [0.5], chess, CALIBRATED)
    assert result.found and result.score > 0.9
    assert corner_error(result.homography, H_true, chess) < tolerance
    np.testing.assert_allclose(result.quad, geometry.project(H_true, chess.area), atol=tolerance)
    assert result.in_view == pytest.approx(geometry.in_view(geometry.project(H_true, chess.area), (640, 480)), abs=0.01)


def test_a_page_mostly_out_of_the_photo_is_not_judged(chess):
    # A tile or two in view would decide for the whole page: a quarter of its tiles must be seen.
    H_true = pose_at(chess, TILTED)
    photo = photo_of(chess, H_true)
    assert find.evidence_for(photo, chess, H_true) > 0.9
    far = pose_at(chess, np.float64(TILTED) + [440, 0])  # its left edge a little inside the photo
    in_view = len(pose.match(photo, chess.picture, chess.size, far, tiles=chess.tiles, area=chess.area))
    assert 0 < in_view < chess.tiles ** 2 // 4 == pose.textured_tiles(chess.picture, chess.size, chess.tiles,
                                                                       area=chess.area) // 4
    assert find.evidence_for(photo, chess, far) is None


def test_a_board_a_third_covered_keeps_its_evidence(chess):
    # A bright card over 0.55 of each side of the pattern area touches 9 of 4 x 4 tiles, one of
    # them wholly, and their median falls by a quarter; it touches 36 of 8 x 8 (pose.EVIDENCE_TILES),
    # 16 wholly, and the median tile is still one in view.
    H = pose_at(chess, TILTED)
    photo = photo_of(chess, H)
    (x0, y0), (x1, y1) = chess.area[0], chess.area[2]
    card = geometry.rectangle(x0 + 0.1 * (x1 - x0), y0 + 0.1 * (y1 - y0), x0 + 0.65 * (x1 - x0), y0 + 0.65 * (y1 - y0))
    cv2.fillConvexPoly(photo, np.int32(np.round(geometry.project(H, card))), 235)
    coarse = dataclasses.replace(chess, tiles=pose.FIRST_EVIDENCE_TILES)
    clean = photo_of(chess, H)
    assert chess.tiles == pose.EVIDENCE_TILES == 8
    assert find.evidence_for(photo, coarse, H) < find.evidence_for(clean, coarse, H) - 0.2  # measured 0.70, 0.98
    assert find.evidence_for(photo, chess, H) > find.evidence_for(clean, chess, H) - 0.1  # 0.92, 0.98


def test_a_plain_card_of_the_pattern_s_shape_is_no_evidence(chess):
    # A dark card on a light wall has the chessboard's outline and its paper margin: tiles of the
    # whole page, each with a stretch of that outline, match it; tiles of the pattern area don't.
    H = pose_at(chess, TILTED)
    card = np.full((chess.size[1], chess.size[0]), 230, np.uint8)
    (x0, y0), (x1, y1) = np.int32(chess.area[0] + 0.5), np.int32(chess.area[2] + 0.5)
    card[y0:y1, x0:x1] = 50
    rng = np.random.default_rng(1)
    photo = np.clip(rng.normal(225, 6, (480, 640)), 0, 255).astype(np.uint8)
    cv2.warpPerspective(card, H, (640, 480), dst=photo, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_TRANSPARENT)
    photo = np.clip(photo + rng.normal(0, 4, photo.shape), 0, 255).astype(np.uint8)
    assert np.median(pose.match(photo, chess.picture, chess.size, H)) > 0.3  # the page's tiles: fooled
    assert len(pose.border(photo, chess.picture, chess.size, chess.area, H)) and \
        np.median(pose.border(photo, chess.picture, chess.size, chess.area, H)) > 0.9  # so is the border
    assert find.evidence_for(photo, chess, H) < 0.15
    assert find.evidence_for(photo_of(chess, H), chess, H) > 0.9  # the board itself


def test_the_corners_in_view_place_the_chessboard_where_it_is(chess):
    # OpenCV follows the corners of the part in view; one of the places they fit in the page is right.
    H_true = pose_at(chess, HALF_OUT)
    photo = photo_of(chess, H_true)
    truth = geometry.project(H_true, chess.points)
    in_view = (truth[:, 0] > 10) & (truth[:, 0] < 630)
    placements = pose.chessboard_placements(photo, chess.points, chess.grid)
    assert len(placements) > 1  # the part in view fits in the page at more than one place
    errors = [np.median(np.linalg.norm(geometry.project(H, chess.points)[in_view] - truth[in_view], axis=1))
              for H in placements]
    assert min(errors) < 0.5
    assert pose.chessboard_placements(photo_of(chess, pose_at(chess, [[700, 0], [900, 0], [900, 100], [700, 100]])),
                                      chess.points, chess.grid) == []  # no board in view


STEEP = [[60, 200], [520, 90], [600, 250], [20, 420]]  # seen at a slant, its far side foreshortened


def test_a_few_corners_grow_over_the_rest_of_the_board(chess):
    # OpenCV may follow 3 x 3 corners of a board seen at a slant in dim light: grown from them,
    # every inner corner in view is found, where it is, in its row and column.
    H_true = pose_at(chess, STEEP)
    photo = photo_of(chess, H_true)
    truth = geometry.project(H_true, chess.points).reshape(*chess.grid, 2)
    seed = truth[2:5, 3:6] + np.random.default_rng(0).normal(0, 0.1, (3, 3, 2))
    index, xy = pose.grown_corners(photo, seed, chess.grid)
    assert len(index) == truth.size // 2  # all 54
    rows, cols = index[:, 0] - index[0, 0] + 2, index[:, 1] - index[0, 1] + 3  # the seed's first is (2, 3)
    assert np.median(np.linalg.norm(xy - truth[rows, cols], axis=1)) < 0.3
    assert np.linalg.norm(xy - truth[rows, cols], axis=1).max() < 1.0


def test_growing_drops_a_column_off_the_lattice_and_stops_at_the_board(chess):
    # A column OpenCV put a square off (seen in dim, steep views) is not grown from; and the
    # growth stops at the board's edge, not in the paper or the wall.
    H_true = pose_at(chess, TILTED)
    photo = photo_of(chess, H_true)
    truth = geometry.project(H_true, chess.points).reshape(*chess.grid, 2)
    seed = truth[1:4, 2:5].copy()
    seed[:, 0] = truth[1:4, 1]  # the seed's first column is really the board's second, a column left
    index, xy = pose.grown_corners(photo, seed, chess.grid)
    assert len(index) == truth.size // 2
    rows, cols = index[:, 0] - index[0, 0], index[:, 1] - index[0, 1]
    first = np.linalg.norm(xy - truth[0, 0], axis=1).argmin()  # the board's first corner is grown
    np.testing.assert_allclose(xy - xy[first], truth[rows - rows[first], cols - cols[first]] - truth[0, 0], atol=1.0)


def test_corners_followed_along_the_boards_edge_do_not_seed_it(chess):
    # In a dim view OpenCV may follow the board's outer edge as a row of corners (its light
    # squares as light as the paper): a page placed through them lands a row off. They are not
    # saddles, so growing starts from the rest, and every corner found is an inner one.
    H_true = pose_at(chess, STEEP)
    photo = photo_of(chess, H_true)
    page = chess.points.reshape(*chess.grid, 2)
    edge = geometry.project(H_true, page[-1] + (page[-1] - page[-2]))  # one row past the last inner row
    truth = geometry.project(H_true, chess.points).reshape(*chess.grid, 2)
    seed = np.concatenate([truth[-2:, 3:6], edge[None, 3:6]])
    index, xy = pose.grown_corners(photo, seed, chess.grid)
    assert len(index) == truth.size // 2
    nearest = np.linalg.norm(xy[:, None] - truth.reshape(1, -1, 2), axis=2).min(axis=1)
    assert nearest.max() < 1.0  # no point on the edge (a row away: 30-60 px here)


def test_a_cut_chessboard_whose_mask_stops_short_is_posed_through_its_corners(chess, monkeypatch):
    # Out of frame, and the mask a quarter short of the outer squares: the search from the mask
    # settles on a wrong perspective (measured: 280 px off at the corners); the corners OpenCV
    # finds in view place the whole page.
    quad = [[300, 150], [900, 60], [880, 560], [320, 420]]
    H_true = pose_at(chess, quad)
    photo = photo_of(chess, H_true)
    probs = mask_of(chess, H_true, (640, 480), grow=0.75)
    result = find.decide(photo, probs, [0.5], chess, CALIBRATED)
    assert result.found and corner_error(result.homography, H_true, chess) < 3.0
    monkeypatch.setattr(find, "pose_from_corners", lambda gray, page, component: (None, None))
    without = find.decide(photo, probs, [0.5], chess, CALIBRATED)
    assert corner_error(without.homography, H_true, chess) > 50


def test_a_cut_chessboard_placed_surely_through_its_corners_is_not_searched_past_the_border(chess, monkeypatch):
    # Half the board out of frame, every corner in view clear: OpenCV follows them all, and the
    # page they place explains the photo, so the search past the border (most of a cut page's
    # time) never runs.
    H_true = pose_at(chess, HALF_OUT)
    photo = photo_of(chess, H_true)
    probs = mask_of(chess, H_true, (640, 480))
    H, evidence = find.pose_from_corners(photo, chess, probs[..., 0] > 0.5)
    assert find.placed_surely(photo, chess, H, evidence, CALIBRATED)

    def searched(*args, **kwargs):
        raise AssertionError("searched past the border")
    monkeypatch.setattr(find, "pose_from_quad", searched)
    result = find.decide(photo, probs, [0.5], chess, CALIBRATED)
    assert result.found and corner_error(result.homography, H_true, chess) < 3.0


def test_a_few_corners_followed_at_one_end_of_a_cut_board_do_not_place_it_alone(chess, monkeypatch):
    # Extended from a few corners at one end, a page can sit a row off or tilted and still explain
    # what is in view: unless OpenCV followed FOLLOWED of the corners the pose puts in the photo,
    # the search past the border runs too, and the better of the two poses is kept.
    H_true = pose_at(chess, HALF_OUT)
    photo = photo_of(chess, H_true)
    probs = mask_of(chess, H_true, (640, 480))
    H, evidence = find.pose_from_corners(photo, chess, probs[..., 0] > 0.5)
    assert not find.placed_surely(photo, chess, H, 0.2, CALIBRATED)  # a doubtful pose never stands alone
    index, xy = pose.corners_in_view(photo, chess.grid)
    monkeypatch.setattr(pose, "corners_in_view", lambda gray, grid, least=(3, 3): (index[:9], xy[:9]))
    assert not find.placed_surely(photo, chess, H, evidence, CALIBRATED)  # the same pose, 9 corners followed
    searched = []
    original = find.pose_from_quad
    monkeypatch.setattr(find, "pose_from_quad", lambda *args: searched.append(1) or original(*args))
    result = find.decide(photo, probs, [0.5], chess, CALIBRATED)
    assert searched and result.found and corner_error(result.homography, H_true, chess) < 3.0


def test_a_cut_page_two_squares_off_is_told_apart_by_all_it_explains(chess):
    # The board's left 40% out of the photo: the page drawn two squares to the left passes
    # through the same corners in view and its median tile matches as well, but it puts its
    # margin where the photo shows the board's last two columns.
    H = pose_at(chess, [[-260, 120], [420, 90], [440, 400], [-240, 430]])
    off = H @ np.float64([[1, 0, 200], [0, 1, 0], [0, 0, 1]])  # full.png's squares are 100 px
    photo = photo_of(chess, H)
    assert abs(find.evidence_for(photo, chess, H) - find.evidence_for(photo, chess, off)) < 0.02
    right, wrong = pose.explained(photo, chess.picture, chess.size, [H, off])
    assert right > 0.99 and wrong < 0.95
    assert find.most_explaining(photo, chess, [off, H]) == 1
    assert find.better_explained(photo, chess, H, off, False) and not find.better_explained(photo, chess, off, H, True)
    # Poses that share too few pixels to compare: the caller's fallback answers.
    far = H @ np.float64([[1, 0, 5000], [0, 1, 0], [0, 0, 1]])
    assert pose.explained(photo, chess.picture, chess.size, [H, far]) is None
    assert find.better_explained(photo, chess, far, H, True)


def test_a_page_pulled_back_into_view_replaces_a_cut_pose_only_with_more_evidence_and_a_better_account(chess):
    # The two-squares-off page above stands in for a page pulled back: it passes the same corners.
    H = pose_at(chess, [[-260, 120], [420, 90], [440, 400], [-240, 430]])
    off = H @ np.float64([[1, 0, 200], [0, 1, 0], [0, 0, 1]])
    photo = photo_of(chess, H)
    assert find.pulled_back_wins(photo, chess, H, 0.9, off, 0.8)  # more evidence, and explains the photo better
    assert not find.pulled_back_wins(photo, chess, off, 0.9, H, 0.8)  # more evidence, but explains it worse
    assert not find.pulled_back_wins(photo, chess, H, 0.7, off, 0.8)  # explains it better, but less evidence
    assert find.pulled_back_wins(photo, chess, off, 0.5, None, None)  # nothing else posed: it stands
    assert find.pulled_back_wins(photo, chess, off, 0.5, H, None)
    assert not find.pulled_back_wins(photo, chess, H, None, off, 0.8)  # no evidence: never


def square_grid(tmp_path):
    """A page of the user's own: a 3 x 4 grid of squares on white paper, its margin narrower than
    its gaps, which OpenCV's chessboard detector can't place."""
    sheet = np.full((340, 260, 3), 255, np.uint8)
    for c in range(3):
        for r in range(4):
            sheet[30 + 80 * r:70 + 80 * r, 30 + 80 * c:70 + 80 * c] = 0
    cv2.imwrite(str(tmp_path / "grid.png"), sheet)
    make_patterns(str(tmp_path / "grid"), from_image=str(tmp_path / "grid.png"), area="30,30,230,310")
    return from_pattern(str(tmp_path / "grid"))


def test_a_cut_grid_one_period_off_is_told_apart_by_what_it_says_beyond_the_page_it_shares(tmp_path):
    # A 3 x 4 grid of squares whose paper margin is narrower than its gaps, its left part out of
    # the photo: the page drawn one period to the right predicts the very same picture where both
    # place the page (its margin falls on a gap), so only the column it puts on the desk beyond
    # the right page's edge tells them apart.
    grid = square_grid(tmp_path)
    H = pose_at(grid, [[-150, 60], [250, 80], [260, 500], [-140, 470]])
    off = H @ np.float64([[1, 0, 80], [0, 1, 0], [0, 0, 1]])
    photo = photo_of(grid, H)
    right, wrong = pose.explained(photo, grid.picture, grid.size, [H, off])
    assert right > wrong + 0.1
    assert find.most_explaining(photo, grid, [off, H]) == 1


def test_a_page_in_view_whose_mask_spills_to_the_border_is_posed_where_it_is(tmp_path):
    # The mask runs on over the desk from the page's left side to the photo's border, so its quad
    # looks cut there. Pages extended past the border only slide the grid a column out of frame;
    # the page pulled back short of it (find.RETRACTIONS) is the one the photo shows.
    grid = square_grid(tmp_path)
    H_true = pose_at(grid, [[64, 115], [214, 122], [217, 325], [70, 322]])
    photo = photo_of(grid, H_true)
    probs = mask_of(grid, H_true, (640, 480))
    cv2.fillPoly(probs, [np.int32([[0, 120], [69, 115], [75, 322], [0, 317]])], 1.0)  # 30% of its width
    quad = find.start_quad(probs, probs[..., 0] > 0.5, (640, 480))
    assert find.cut_edges(quad, (640, 480))  # the spilled mask's quad runs along the border
    result = find.decide(photo, probs, [0.5], grid, CALIBRATED)
    assert result.found and result.likeness > 0.9
    assert corner_error(result.homography, H_true, grid) < 3.0


def test_registration_brings_a_pose_a_few_pixels_off_to_within_a_pixel(chess):
    H_true = pose_at(chess, TILTED)
    photo = photo_of(chess, H_true)
    H0 = pose_at(chess, np.float64(TILTED) + [[4, -3], [-3, 4], [3, 3], [-4, -2]])
    H, correlation = pose.register(photo, chess.picture, chess.size, H0)
    assert correlation > 0.9 and corner_error(H, H_true, chess) < 1.0


def test_a_covered_part_of_the_page_is_left_out_of_registration(chess):
    H_true = pose_at(chess, TILTED)
    photo = photo_of(chess, H_true)
    cover = np.int32(geometry.project(H_true, geometry.rectangle(0, 0, chess.size[0] * 0.5, chess.size[1] * 0.5)))
    cv2.fillConvexPoly(photo, cover, 235)  # a bright patch over the page's top-left quarter
    mask = pose.covered(photo, chess.picture, chess.size, H_true)
    inside = lambda xy: mask[int(xy[1]), int(xy[0])]
    page_at = lambda u, v: geometry.project(H_true, [[u * chess.size[0], v * chess.size[1]]])[0]
    assert inside(page_at(0.3, 0.3)) == 0 and inside(page_at(0.75, 0.75)) == 255
    assert pose.covered(photo_of(chess, H_true), chess.picture, chess.size, H_true) is None  # nothing covered
    # From a pose a few pixels off, registering without the patch lands closer than with it.
    H0 = pose_at(chess, np.float64(TILTED) + [[4, -3], [-3, 4], [3, 3], [-4, -2]])
    masked, _ = pose.register(photo, chess.picture, chess.size, H0, mask=pose.covered(photo, chess.picture, chess.size, H0))
    unmasked, _ = pose.register(photo, chess.picture, chess.size, H0)
    assert corner_error(masked, H_true, chess) < 0.6 < corner_error(unmasked, H_true, chess)  # measured 0.42, 0.81


def test_decide_reports_the_pose_clockwise_from_the_patterns_top_left(chess):
    turned = np.roll(TILTED, 2, axis=0)  # the board upside down: its top-left corner at the bottom right
    H_true = pose_at(chess, turned)
    photo = photo_of(chess, H_true)
    result = find.decide(photo, mask_of(chess, H_true, (640, 480)), [0.5], chess, CALIBRATED)
    assert result.found and result.score > 0.9
    assert np.abs(result.quad - turned).max() < 1.0
    assert result.in_view == pytest.approx(1.0)
    assert result.symmetry == 1
    assert [p.name for p in result.points[:2]] == ["r0c0", "r0c1"] and all(p.refined for p in result.points)


def test_chessboard_points_are_sub_pixel(chess):
    H_true = pose_at(chess, TILTED)
    photo = photo_of(chess, H_true)
    start = pose_at(chess, np.float64(TILTED) + [[3, -2], [-2, 3], [2, 2], [-3, -1]])  # a few pixels off
    points, refined = pose.refine_chessboard(photo, start, chess.points, chess.grid)
    truth = geometry.project(H_true, chess.points)
    assert refined.all()
    assert np.median(np.linalg.norm(points - truth, axis=1)) < 0.3


@pytest.fixture(scope="module")
def charuco(tmp_path_factory):
    folder = tmp_path_factory.mktemp("p") / "charuco"
    make_patterns(str(folder), "charuco", 10, 7)
    return from_pattern(str(folder))


def test_charuco_corners_are_sub_pixel_and_its_markers_dont_pull_them(charuco):
    # Its inner corners are a chessboard's, by id; with a chessboard's wider window the markers'
    # edges pull them off (measured: 0.8 px median on such renderings).
    assert charuco.grid == (6, 9) and charuco.corner_window < pose.CHESSBOARD_WINDOW
    H_true = pose_at(charuco, TILTED)
    photo = photo_of(charuco, H_true)
    start = pose_at(charuco, np.float64(TILTED) + [[3, -2], [-2, 3], [2, 2], [-3, -1]])
    _, points, usable = find.refined_points(photo, charuco, start)
    truth = geometry.project(H_true, charuco.points)
    assert usable.all() and np.median(np.linalg.norm(points - truth, axis=1)) < 0.3


def test_a_cut_charuco_board_is_placed_by_its_corner_ids(charuco):
    # Its markers name the corners in view: one placement, the right one, with the board half out of frame.
    H_true = pose_at(charuco, HALF_OUT)
    photo = photo_of(charuco, H_true)
    placements = pose.charuco_placements(photo, charuco.points, charuco.charuco)
    assert len(placements) == 1 and corner_error(placements[0], H_true, charuco) < 3.0
    result = find.decide(photo, mask_of(charuco, H_true, (640, 480), grow=0.75), [0.5], charuco, CALIBRATED)
    assert result.found and corner_error(result.homography, H_true, charuco) < 3.0
    nothing = photo_of(charuco, pose_at(charuco, [[700, 0], [900, 0], [900, 100], [700, 100]]))
    assert pose.charuco_placements(nothing, charuco.points, charuco.charuco) == []


def test_a_charuco_board_the_masks_missed_is_found_by_its_markers(charuco):
    H_true = pose_at(charuco, TILTED)
    empty = np.zeros((480, 640, 1), np.float32)  # a dark or blurred photo: the masks saw nothing
    result = find.decide(photo_of(charuco, H_true), empty, [0.5], charuco, CALIBRATED)
    assert result.found and corner_error(result.homography, H_true, charuco) < 1.0 and result.bbox is None
    nothing = photo_of(charuco, pose_at(charuco, [[700, 0], [900, 0], [900, 100], [700, 100]]))
    assert not find.decide(nothing, empty, [0.5], charuco, CALIBRATED).found


def test_a_charuco_page_keeps_its_board_in_the_model(charuco):
    from segmenty.page import Page
    again = Page.from_info(charuco.to_info())
    assert again.charuco == charuco.charuco == {"cols": 10, "rows": 7, "dictionary": "DICT_4X4_50", "marker_ratio": 0.7}
    assert again.grid == (6, 9)


@pytest.mark.parametrize("quad,why", [
    ([[100, 100], [100, 300], [400, 300], [400, 100]], "mirrored"),  # corners anticlockwise: the page's back
    ([[100, 100], [400, 300], [400, 100], [100, 300]], "behind the camera"),  # a bow tie: the page folds
    ([[100, 100], [102, 100], [102, 103], [100, 103]], "collapsed"),
])
def test_a_degenerate_pose_is_rejected(chess, quad, why):
    H = pose_at(chess, quad)
    assert why in geometry.degenerate(H, chess.area, (640, 480))
    # A mask over a photo without the board: whatever pose the page takes there, no find.
    photo = np.random.default_rng(3).integers(0, 255, (480, 640), dtype=np.uint8)
    probs = np.zeros((480, 640, 1), np.float32)
    probs[100:300, 150:450] = 1
    result = find.decide(photo, probs, [0.5], chess, CALIBRATED)
    assert not result.found and result.score < 0.5


def test_canonical_turn_of_a_symmetric_page_is_stable():
    page = np.zeros((60, 80), np.uint8)
    page[10:20, 10:20] = page[40:50, 60:70] = 255  # two squares: the same after half a turn
    assert pose.page_symmetry(page) == 2
    size = (80, 60)
    H = np.float64([[2, 0.1, 100], [0.05, 2, 50], [0, 0, 1]])
    upside_down = H @ geometry.page_turn(2, size)
    a, b = pose.canonical_turn(H, size, 2), pose.canonical_turn(upside_down, size, 2)
    assert np.allclose(a, b)


def test_camera_pose_in_millimetres():
    K = np.float64([[800, 0, 320], [0, 800, 240], [0, 0, 1]])
    page = np.float64([[0, 0], [100, 0], [100, 70], [0, 70]])  # 1 px = 2 mm: 200 x 140 mm
    rvec, tvec = np.float64([0.1, -0.2, 0.05]), np.float64([-50, 30, 600])
    objects = np.c_[page * 2.0, np.zeros(4)]
    image, _ = cv2.projectPoints(objects, rvec, tvec, K, np.zeros(5))
    got = pose.camera_pose(page, image.reshape(-1, 2), 2.0, K, np.zeros(5))
    assert np.allclose(got["tvec"], tvec, atol=0.5) and np.allclose(got["rvec"], rvec, atol=1e-3)
    assert got["reprojection_error"] < 1e-3


def test_a_page_without_named_points_is_posed_and_answers_no_points(chess):
    import dataclasses
    bare = dataclasses.replace(chess, point_names=[], points=np.zeros((0, 2)), refine=None)  # a logo, say
    H_true = pose_at(bare, TILTED)
    photo = photo_of(bare, H_true)
    result = find.decide(photo, mask_of(bare, H_true, (640, 480)), [0.5], bare, CALIBRATED)
    assert result.found and result.points == []
    assert corner_error(result.homography, H_true, bare) < 1.0


@pytest.mark.parametrize("grow", [1.03, 0.97])
def test_a_circle_grid_is_not_posed_a_row_off(tmp_path, grow):
    # Rows of dots look alike: a pose slid by one matches the dots as well, and only the mask's
    # outline, a few percent off, says which one is right.
    make_patterns(str(tmp_path / "circles"), "circles", 6, 5)
    page = from_pattern(str(tmp_path / "circles"))
    H_true = pose_at(page, TILTED)
    photo = photo_of(page, H_true)
    result = find.decide(photo, mask_of(page, H_true, (640, 480), grow), [0.5], page, CALIBRATED)
    truth = geometry.project(H_true, page.area)
    off = min(np.abs(np.roll(result.quad, k, axis=0) - truth).max() for k in range(4))  # up to its symmetry
    assert result.found and off < 2.0


@pytest.fixture(scope="module")
def marker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("p") / "aruco"
    make_patterns(str(folder), "aruco", marker_id=7)
    return from_pattern(str(folder))


@pytest.mark.parametrize("side,corner", [(24, (600, 300)), (160, (600, 300)), (290, (900, 412))],
                         ids=["far away", "near", "close, at the frame's edge"])
def test_a_marker_the_masks_missed_is_found_by_the_detector(marker, side, corner):
    # One ArUco marker in a 1280 x 720 frame: the masks see nothing, ArucoDetector reads its id
    # (a large one, its border thicker than the detector's thresholding windows, at half size).
    assert marker.marker == {"dictionary": "DICT_4X4_50", "marker_id": 7} and marker.named
    corner = np.float64(corner)
    H_true = pose_at(marker, corner + side * np.float64([[0, 0], [1, 0.1], [0.95, 1.05], [-0.05, 0.95]]))
    photo = photo_of(marker, H_true, size=(1280, 720))
    empty = np.zeros((720, 1280, 1), np.float32)
    result = find.decide(photo, empty, [0.5], marker, CALIBRATED)
    assert result.found and corner_error(result.homography, H_true, marker) < 1.0
    other = photo_of(marker, H_true, size=(1280, 720))
    x, y = corner.astype(int)
    other[y - 20:y + int(1.1 * side), x - 20:x + int(1.1 * side)] = 128  # the marker covered
    assert not find.decide(other, empty, [0.5], marker, CALIBRATED).found


def test_each_tile_s_match_is_the_correlation_of_its_pixels(chess):
    # match_grid sums all tiles at once: each must still be the plain correlation of its tile of the
    # page picture with the photo there, and tiles of plain paper or out of the photo left out.
    H = pose_at(chess, HALF_OUT)
    photo = photo_of(chess, pose_at(chess, TILTED))  # another pose: tiles match a little, or not at all
    grid, xs, ys = pose.match_grid(photo, chess.picture, chess.size, H, area=chess.area)
    template, warped, valid, s = pose._in_page_frame(photo, chess.picture, chess.size, H, pose.ECC_SIDE // 2)
    cols, rows = np.round(xs * s).astype(int), np.round(ys * s).astype(int)
    judged = 0
    for i in range(pose.TILES):
        for j in range(pose.TILES):
            box = (slice(rows[i], rows[i + 1]), slice(cols[j], cols[j + 1]))
            if valid[box].mean() < 0.9 or template[box].std() < 8:
                assert np.isnan(grid[i, j])
            else:
                judged += 1
                assert grid[i, j] == pytest.approx(pose.correlation(template[box], warped[box]), abs=1e-6)
    assert 0 < judged < pose.TILES ** 2  # half the page is out of the photo


def test_a_cut_page_s_trials_are_ranked_coarse_and_only_the_best_fitted_fine(tmp_path, monkeypatch):
    # ~50 trials per turn (extended past the border, pulled back short of it, built from the edges
    # in view): each is ranked at COARSE_SIDE, and only the FINER best of each kind are searched
    # again at TURN_SIDE.
    make_patterns(str(tmp_path / "circles"), "circles", 6, 5)
    page = from_pattern(str(tmp_path / "circles"))
    H_true = pose_at(page, HALF_OUT)
    photo = photo_of(page, H_true)
    probs = mask_of(page, H_true, (640, 480))
    component = probs[..., 0] > 0.5
    quad = find.start_quad(probs, component, (640, 480))
    past = geometry.pages_past_border(geometry.sides_in_view(component, (640, 480)), page.aspect)
    sides, search = [], pose.search
    monkeypatch.setattr(pose, "search", lambda *a, side=96, **k: sides.append(side) or search(*a, side=side, **k))
    H, evidence = find.pose_from_quad(photo, page, quad, past)
    assert sides.count(find.COARSE_SIDE) > 4 * len(find.EXTENSIONS)
    assert sides.count(find.TURN_SIDE) <= 4 * 3 * find.FINER
    truth = geometry.project(H_true, page.area)
    off = min(np.abs(np.roll(geometry.project(H, page.area), k, axis=0) - truth).max() for k in range(4))
    assert evidence > 0.9 and off < 3.0


def test_a_board_whose_mask_an_occluder_splits_is_posed_whole(tmp_path):
    # A photo pasted across the board's middle splits its mask in two: the larger piece alone
    # outlines part of the board, and the page squeezed into it explains the photo poorly. The
    # outline of both pieces (find.pieces_outline) starts the pose from the whole board.
    grid = square_grid(tmp_path)
    H_true = pose_at(grid, TILTED)
    photo = photo_of(grid, H_true)
    w, h = grid.size
    band = np.int32(geometry.project(H_true, geometry.rectangle(0, 0.52 * h, w, 0.75 * h)))
    cv2.fillConvexPoly(photo, band, 90)
    probs = mask_of(grid, H_true, (640, 480))
    cv2.fillConvexPoly(probs, band, 0.0)
    probs[440:446, 600:606] = 1.0  # a speck far off, under find.MIN_AREA: noise, not a piece
    pieces = find.pieces_outline(probs, [0.5], find.largest_component(probs[..., 0] > 0.5)[0])
    middle = geometry.project(H_true, [[w / 2, 0.63 * h]])[0]
    assert pieces[int(middle[1]), int(middle[0])]  # the band between the pieces is inside the outline
    assert not pieces[443, 603] and not pieces[420, 560]
    # The page squeezed into the larger piece scores 0.58 (a grid's rows fit rows), under this cut.
    result = find.decide(photo, probs, [0.5], grid, {"threshold": 0.7, "scale": 0.05})
    assert result.found and np.abs(result.quad - TILTED).max() < 2.0  # (its homography turned: symmetric)
    assert result.likeness > 0.85  # measured 0.92
