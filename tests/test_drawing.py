import numpy as np

from segmenty.drawing import OUTLINE, POINT, draw_find
from segmenty.find import Find, Point

QUAD = [[20, 20], [100, 25], [95, 70], [25, 65]]


def colour_count(img, bgr):
    """Pixels of about that colour (the lines are anti-aliased)."""
    return int((np.abs(img.astype(int) - bgr).max(axis=2) < 40).sum() - (img.max(axis=2) == 0).sum() * (max(bgr) < 40))


def test_a_find_is_drawn_with_its_outline_and_points_in_view():
    img = np.zeros((90, 120, 3), np.uint8)
    f = Find(found=True, score=0.9, size=(120, 90), quad=np.float64(QUAD),
             points=[Point("a", (60.0, 45.0), True), Point("b", (500.0, 45.0), False)])
    draw_find(img, f)
    assert colour_count(img, OUTLINE) > 100 and colour_count(img, POINT) > 3
    assert colour_count(img[12:29, 12:29], OUTLINE) > 30  # the pattern's first corner: a dot, not a thin line
    assert img[45, 5].sum() == 0  # outside the outline, nothing


def test_a_rejected_quad_is_grey_and_no_quad_draws_nothing():
    img = np.zeros((90, 120, 3), np.uint8)
    draw_find(img, Find(found=False, score=0.1, size=(120, 90), quad=np.float64(QUAD)))
    assert colour_count(img, OUTLINE) == 0 and colour_count(img, (128, 128, 128)) > 100
    blank = np.zeros((90, 120, 3), np.uint8)
    assert not draw_find(blank, Find(found=False, score=0.0, size=(120, 90))).any()
