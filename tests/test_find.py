import cv2
import numpy as np
import pytest

from segmenty import find, geometry


def test_zoom_window_frames_a_small_find_square_and_inside_the_photo():
    probs = np.zeros((32, 32, 2), np.float32)
    assert find.zoom_window(probs, 0.5, (320, 160)) is None  # nothing found
    probs[8:12, 4:8, 0] = 0.9  # photo pixels (x10, x5): x 40..80, y 40..60
    # Centre (60, 50); side 1.5 x 40 = 60; kept inside the photo's top edge.
    assert find.zoom_window(probs, 0.5, (320, 160)) == (30, 20, 90, 80)
    probs[:, :, 0] = 0
    probs[0:4, 28:32, 0] = 0.9  # in the top-right corner: x 280..320, y 0..20
    assert find.zoom_window(probs, 0.5, (320, 160)) == (260, 0, 320, 60)
    probs[0:20, 0:20, 0] = 0.9  # large: a window would cover most of the photo
    assert find.zoom_window(probs, 0.5, (320, 160)) is None


def test_windows_of_any_size_and_place_stay_whole_and_inside_the_photo():
    size = (512, 343)  # odd sides: half-pixel centres and sides round either way
    for cx in np.linspace(-20, 530, 57):
        for side in np.linspace(8, 342.9, 31):
            x0, y0, x1, y1 = find.square_window(cx, 171.3, side, size)
            assert 0 <= x0 and x1 <= 512 and 0 <= y0 and y1 <= 343 and x1 - x0 == y1 - y0 == round(side)


def test_zoomed_puts_the_second_look_over_its_window():
    full = np.full((40, 60, 2), 0.25, np.float32)
    second = np.zeros((8, 8, 2), np.float32)
    second[..., 1] = 1.0
    out = find.zoomed(full, (10, 5, 26, 21), second)
    assert out.shape == full.shape and full[0, 0, 0] == 0.25  # the input is left alone
    np.testing.assert_array_equal(out[5:21, 10:26, 0], 0)
    np.testing.assert_array_equal(out[5:21, 10:26, 1], 1)
    assert out[4, 10, 1] == 0.25 and out[5, 26, 1] == 0.25


def test_a_second_look_is_kept_only_if_the_find_keeps_its_area():
    before = np.zeros((50, 50, 1), np.float32)
    before[10:30, 10:30] = 0.9  # 400 px
    after = before.copy()
    after[10:12, 10:30] = 0.1  # 360 px: the edges moved a little
    assert find.confirmed(before, after, 0.5)
    after[10:20, 10:30] = 0.1  # 200 px: the close-up lost half of it
    assert not find.confirmed(before, after, 0.5)
    assert not find.confirmed(before, np.full_like(before, 0.9), 0.5)  # grown to the whole photo


def gray(shape=(100, 100)):
    return np.full(shape, 128, np.uint8)


def test_specks_are_not_finds():
    probs = np.zeros((100, 100, 1), np.float32)
    probs[10:13, 10:13] = 0.9  # 9 pixels: under MIN_AREA of the photo
    d = find.decide(gray(), probs, [0.5])
    assert not d.found and d.quad is None and 0 < d.present < find.PRESENT
    probs[40:80, 30:90] = 0.8
    d = find.decide(gray(), probs, [0.5])
    assert d.found and d.present == pytest.approx(0.8) and d.bbox == [30, 40, 60, 40]
    assert d.homography is None and d.points is None  # a model without a page: the mask's quad only


def test_a_find_whose_inner_masks_disagree_is_rejected():
    probs = np.zeros((100, 100, 3), np.float32)
    probs[20:80, 20:80, 0] = 0.9  # a confident page...
    probs[20:80, 20:35, 1] = 0.9  # ...whose line mask covers a quarter of it
    coverage = [1.0, 0.8, 0.05]  # a true find: lines over 80%; channel 2 is too small to check
    d = find.decide(gray(), probs, [0.5] * 3, coverage=coverage)
    assert not d.found and d.quad is None and d.agreement == pytest.approx(0.25 / 0.8, abs=1e-3)
    probs[20:80, 20:70, 1] = 0.9  # now 5/6 of it: more than a true find, capped at 1
    d = find.decide(gray(), probs, [0.5] * 3, coverage=coverage)
    assert d.found and d.quad is not None and d.agreement == 1.0


def test_a_page_partly_in_view_is_scored_by_its_own_threshold():
    calibration = {"threshold": 0.4, "scale": 0.1, "partly": {"threshold": 0.6, "scale": 0.05}}
    assert find.score_of(0.4, calibration, in_view=1.0) == pytest.approx(0.5)
    assert find.score_of(0.6, calibration, in_view=0.5) == pytest.approx(0.5)
    assert find.score_of(0.5, calibration, in_view=0.5) < 0.5 < find.score_of(0.5, calibration, in_view=1.0)
    assert find.score_of(0.6, calibration) == pytest.approx(0.5)  # in_view unknown: the stricter one
    assert find.score_of(0.4, {"threshold": 0.4, "scale": 0.1}, in_view=0.5) == pytest.approx(0.5)  # older models


def test_the_masks_present_counts_as_much_as_the_calibration_weighs_it():
    calibration = {"threshold": 0.6, "scale": 0.1, "present_weight": 2.0}
    assert find.weighed(0.8, 0.9, calibration) == pytest.approx(0.6)  # 0.8 - 2 x (1 - 0.9)
    assert find.score_of(0.8, calibration, present=0.9) == pytest.approx(0.5)
    assert find.score_of(0.8, calibration, present=0.8) < 0.5 < find.score_of(0.8, calibration, present=1.0)
    assert find.weighed(0.8, None, calibration) == 0.8  # no model run saw the page: the page alone
    assert find.weighed(0.8, 0.5, {"threshold": 0.6, "scale": 0.1}) == 0.8  # older models: the page alone


def test_a_pose_the_page_alone_would_turn_down_is_doubtful_though_the_masks_vouch_for_it():
    from types import SimpleNamespace
    page = SimpleNamespace(area=np.float64([[0, 0], [100, 0], [100, 100], [0, 100]]))
    alone = {"threshold": 0.4, "scale": 0.05}
    weighed = {"threshold": -0.2, "scale": 0.05, "present_weight": 4.0, "page_alone": alone}
    args = (page, np.eye(3), (200, 200))
    # Sure masks (0.95) pass a page explained poorly (0.15 - 4 x 0.05 >= -0.2) ...
    assert find.passes(0.15, weighed, *args, present=0.95)
    # ... but its pose is doubtful: checked against the corners, as without the masks.
    assert find.doubtful(0.15, weighed, *args, present=0.95)
    assert not find.doubtful(0.5, weighed, *args, present=0.95)
    assert find.doubtful(None, weighed, *args, present=0.95)
    # A calibration without the page alone's thresholds is judged as the decision judges.
    older = {k: v for k, v in weighed.items() if k != "page_alone"}
    assert not find.doubtful(0.15, older, *args, present=0.95)
    assert find.doubtful(0.15, older, *args, present=0.5)


def test_a_doubtful_chessboard_pose_that_passes_the_weighed_decision_is_checked_against_its_corners(
        tmp_path, monkeypatch):
    from segmenty.page import from_pattern
    from segmenty.patterns import make_patterns
    make_patterns(str(tmp_path / "chess"), preset="chessboard", cols=10, rows=7)
    page = from_pattern(str(tmp_path / "chess"))
    size = (320, 240)
    fitted = cv2.getPerspectiveTransform(np.float32(page.area), np.float32([[60, 40], [260, 40], [260, 200], [60, 200]]))
    half = cv2.getPerspectiveTransform(np.float32(page.area), np.float32([[60, 40], [260, 40], [260, 120], [60, 120]]))
    monkeypatch.setattr(find, "pose_from_quad", lambda gray, page, quad, past=None: (half, 0.15))
    asked = []
    monkeypatch.setattr(find, "pose_from_corners", lambda gray, page, component: asked.append(1) or (fitted, 0.8))
    monkeypatch.setattr(find, "refined_points", lambda gray, page, H: (H, geometry.project(H, page.points),
                                                                       np.zeros(len(page.points), bool)))
    probs = np.zeros((size[1], size[0], 1), np.float32)
    probs[40:200, 60:260] = 0.98
    gray = np.full((size[1], size[0]), 128, np.uint8)
    calibration = {"threshold": -0.2, "scale": 0.05, "present_weight": 4.0,
                   "page_alone": {"threshold": 0.4, "scale": 0.05}}
    f = find.decide(gray, probs, [0.5], page, calibration)
    assert asked and f.found and f.likeness == 0.8
    assert np.allclose(f.homography, fitted)


def test_the_calibrated_score_is_a_half_at_the_threshold():
    calibration = {"threshold": 0.4, "scale": 0.1}
    assert find.score_of(0.4, calibration) == pytest.approx(0.5)
    assert find.score_of(0.9, calibration) == pytest.approx(1 / (1 + np.exp(-5)))
    assert find.score_of(None, calibration) == 0.0


# ---------------------------------------------------------------- likeness (models without coordinates)

def chessboard_picture(tmp_path):
    from segmenty.patterns import make_patterns, pattern_picture
    make_patterns(str(tmp_path / "chess"), preset="chessboard", cols=10, rows=7)
    return pattern_picture(str(tmp_path / "chess"))


def photo_with(picture, quad, size=(480, 360), seed=0):
    """A noisy gray photo with `picture` warped into `quad` (clockwise from the picture's top left)."""
    h, w = picture.shape
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    photo = cv2.warpPerspective(picture.astype(np.float32), cv2.getPerspectiveTransform(src, np.float32(quad)),
                                size, borderValue=128)
    return np.clip(photo + np.random.default_rng(seed).normal(0, 10, photo.shape[:2]), 0, 255).astype(np.uint8)


FENCE = np.tile(np.repeat([60, 200], 13), 20)[:480][None].repeat(360, 0).astype(np.uint8)


def test_likeness_tells_the_pattern_from_stripes_and_skips_what_it_cant_judge(tmp_path):
    picture = chessboard_picture(tmp_path)
    quad = [[120, 80], [380, 100], [360, 280], [100, 260]]
    board = photo_with(picture, quad).astype(np.float32)
    assert find.likeness(board, quad, picture) > 0.8
    # The same board upside down and seen from its other corner: any of the four corner mappings.
    assert find.likeness(photo_with(np.rot90(picture, 2), quad).astype(np.float32), quad, picture) > 0.8
    assert find.likeness(board, quad[1:] + quad[:1], picture) > 0.8
    assert find.likeness(FENCE.astype(np.float32), quad, picture) < find.LIKENESS
    out_of_frame = [[-40, 80], [380, 100], [360, 280], [-60, 260]]
    assert find.likeness(board, out_of_frame, picture) is None
    assert find.likeness(board, quad, np.full_like(picture, 200)) is None


def test_a_doubtful_find_must_look_like_the_pattern(tmp_path):
    picture = chessboard_picture(tmp_path)
    probs = np.zeros((360, 480, 2), np.float32)
    probs[100:260, 120:360, 0] = 0.9
    probs[100:260, 120:300, 1] = 0.9  # the inner mask covers 3/4 of the find
    quad = [[120, 100], [360, 100], [360, 260], [120, 260]]
    board = photo_with(picture, quad)
    doubtful, sure = [1.0, 1.0], [1.0, 0.75]  # agreement 0.75 (< CONFIRM_BELOW), then 1.0
    d = find.decide(board, probs, [0.5, 0.5], coverage=doubtful, picture=picture)
    assert d.found and d.likeness > 0.8
    d = find.decide(FENCE, probs, [0.5, 0.5], coverage=doubtful, picture=picture)
    assert not d.found and d.likeness < find.LIKENESS
    d = find.decide(FENCE, probs, [0.5, 0.5], coverage=sure, picture=picture)
    assert d.found and d.agreement == 1.0  # the masks agree: no check needed
    d = find.decide(FENCE, probs, [0.5, 0.5], coverage=doubtful)  # no picture: the masks decide
    assert d.found and d.likeness is None


def test_to_json_is_plain_and_complete():
    f = find.Find(found=True, score=0.91234567, size=(64, 48), quad=np.float64([[1, 2], [3, 4], [5, 6], [7, 8]]),
                  homography=np.eye(3), points=[find.Point("r0c0", (1.234, 5.678), True, True)], in_view=1.0)
    j = f.to_json()
    assert j["score"] == 0.9123 and j["homography"] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert j["points"] == [{"name": "r0c0", "xy": [1.23, 5.68], "in_view": True, "refined": True}]
    assert {"found", "score", "quad", "homography", "in_view", "symmetry", "points", "camera_pose", "present",
            "agreement", "likeness", "bbox", "size", "zoom"} == set(j)


def test_the_pose_starts_from_the_page_not_from_its_smear():
    # Motion blur smears a page's mask sideways at a probability just over the cut: the outline
    # takes the smear in, the quad that agrees with the probabilities leaves it out.
    probs = np.zeros((200, 200, 1), np.float32)
    probs[50:150, 40:140] = 0.95
    probs[50:150, 140:180] = 0.55
    component = probs[..., 0] > 0.5
    start = find.start_quad(probs, component, (200, 200))
    outline = cv2.boundingRect(np.int32(geometry.fit_quad(component)))
    assert outline[2] > 130  # the smear, in
    assert abs(np.ptp(start[:, 0]) - 100) < 5 and abs(np.ptp(start[:, 1]) - 100) < 5  # the page alone
    # Along the photo's border the outline marks where the page is cut, and is kept.
    probs = np.zeros((200, 200, 1), np.float32)
    probs[50:150, 0:100] = 0.95
    probs[50:150, 100:140] = 0.55
    component = probs[..., 0] > 0.5
    assert np.allclose(find.start_quad(probs, component, (200, 200)), geometry.fit_quad(component))


def test_a_page_in_the_photo_keeps_its_outline_where_the_fit_runs_a_corner_out(monkeypatch):
    # Pixels outside the photo cost the fit nothing, so it can pull a corner far out of it
    # (a dark board near the photo's top edge did); the mask's outline, clear of the border, says
    # the page is inside.
    probs = np.zeros((200, 200, 1), np.float32)
    probs[30:150, 40:160] = 0.95
    component = probs[..., 0] > 0.5
    outline = geometry.fit_quad(component)
    away = outline + np.float64([[0, -120], [0, 0], [0, 0], [0, 0]])  # its top-left corner 90 px above the photo
    monkeypatch.setattr(geometry, "refine_quad", lambda prob, quad: away)
    assert np.allclose(find.start_quad(probs, component, (200, 200)), outline)
    near = outline + np.float64([[0, -31], [0, 0], [0, 0], [0, 0]])  # 0.5 px above it: within the tolerance
    monkeypatch.setattr(geometry, "refine_quad", lambda prob, quad: near)
    assert np.allclose(find.start_quad(probs, component, (200, 200)), near)
