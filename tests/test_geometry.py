import cv2
import numpy as np

from segmenty import evaluate, geometry


def test_components_are_opencvs_default_ones():
    # Grana's algorithm is named for speed; the labels, their order and their stats must not change.
    rng = np.random.default_rng(5)
    for density in (0.3, 0.6, 0.9):
        smooth = cv2.GaussianBlur(rng.uniform(0, 1, (90, 120)).astype(np.float32), (0, 0), 2)
        binary = smooth > np.quantile(smooth, density)  # blobs, a few or many, of all sizes
        n, labels, stats = geometry.components(binary)
        default = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
        assert n == default[0] > 2
        np.testing.assert_array_equal(labels, default[1])
        np.testing.assert_array_equal(stats, default[2])


def test_fit_quad_follows_perspective():
    quad = np.float32([[30, 20], [170, 40], [150, 130], [20, 110]])
    mask = np.zeros((160, 200), np.uint8)
    cv2.fillPoly(mask, [quad.astype(np.int32)], 1)
    fitted = geometry.fit_quad(mask.astype(bool))
    np.testing.assert_allclose(fitted, quad, atol=2)


def wavering_find(shape=(160, 200)):
    """(true quad, probabilities): a quad whose edge dips inward at 'white border squares' and bulges once."""
    quad = np.float64([[30, 20], [170, 40], [150, 130], [20, 110]])
    prob = geometry.quad_coverage(quad, shape).astype(np.float32) / 255
    for (x0, y0), (x1, y1) in zip(quad, np.roll(quad, -1, axis=0)):
        for t in (0.2, 0.45, 0.7):  # dents, as the model leaves where a white square meets the paper
            cv2.circle(prob, (round(x0 + t * (x1 - x0)), round(y0 + t * (y1 - y0))), 6, 0.3, -1)
    cv2.circle(prob, (95, 30), 5, 0.9, -1)  # a bulge into the margin
    return quad, cv2.GaussianBlur(prob, (0, 0), 1.5)


def test_refine_quad_puts_straight_edges_through_a_wavering_mask():
    quad, prob = wavering_find()
    truth = geometry.quad_coverage(quad, prob.shape) > 127
    component, _ = geometry.largest_component(prob > 0.75)
    fitted = geometry.fit_quad(component)
    refined = geometry.refine_quad(prob, fitted)
    iou = lambda m: (m & truth).sum() / (m | truth).sum()
    # Measured: the thresholded mask 0.906, fit_quad's quad 0.913 (corners up to 6 px off), refined 0.967.
    assert iou(geometry.quad_coverage(refined, prob.shape) > 127) > 0.95 > iou(component)
    assert iou(geometry.quad_coverage(fitted, prob.shape) > 127) < 0.93
    np.testing.assert_allclose(refined, quad, atol=3)


def test_a_quad_is_scored_on_a_box_around_it_as_on_the_whole_photo():
    # refine_quad sums only a box around the quad: the pixels outside it, anti-aliased edges
    # included, would add nothing; a quad running out of the photo is clipped there alike.
    rng = np.random.default_rng(4)
    gain = rng.normal(size=(120, 160)).astype(np.float32)
    for quad in (np.float64([[30, 20], [120, 35], [110, 100], [25, 90]]),
                 np.float64([[-20, -10], [60, 5], [50, 70], [-15, 60]]),
                 np.float64([[100, 60], [190, 70], [180, 150], [95, 140]])):
        box = geometry._box_around(quad, 2, gain.shape)
        gains = np.ascontiguousarray(gain[box[1]:box[3], box[0]:box[2]]).ravel()
        terms = geometry.quad_coverage(quad, gain.shape).astype(np.float64) * gain
        assert abs(geometry._coverage_score(quad, box, gains) - terms.sum()) < 1e-5 * np.abs(terms).sum()
        assert (box[2] - box[0]) * (box[3] - box[1]) < gain.size  # and the box is smaller


def test_refine_quad_follows_a_corner_far_past_where_it_started():
    # The box the quad is scored on must grow as its corners travel past it (its margin is ~15 px).
    quad = np.float64([[30, 20], [170, 40], [150, 130], [20, 110]])
    prob = geometry.quad_coverage(quad, (160, 200)).astype(np.float32) / 255
    start = quad + [[10, 45], [0, 25], [0, 0], [0, 0]]  # its top edge 25-45 px under where it belongs
    np.testing.assert_allclose(geometry.refine_quad(prob, start), quad, atol=1.5)


def test_snapped_redraws_the_find_as_its_quad_and_leaves_the_rest():
    quad, prob = wavering_find()
    prob[140:150, 180:190] = 0.9  # something else, elsewhere
    component, _ = geometry.largest_component(prob > 0.5)
    out = geometry.snapped(prob, component, quad)
    raster = geometry.quad_coverage(quad, prob.shape)
    inside, outside = raster == 255, cv2.dilate(raster, np.ones((21, 21), np.uint8)) == 0
    assert (out[inside] == 1).all()  # the dents are filled
    assert out[25:35, 90:100][raster[25:35, 90:100] == 0].max() == 0  # the bulge is gone
    np.testing.assert_array_equal(out[140:150, 180:190], np.float32(0.9))  # the other find is kept
    np.testing.assert_array_equal(out[outside & (prob < 0.5)], prob[outside & (prob < 0.5)])


def test_in_view_and_overlap_of_a_quad_running_out_of_the_photo():
    half_out = geometry.rectangle(-50.5, -0.5, 49.5, 99.5)  # 100 x 100, its left half outside a 100 x 100 photo
    assert geometry.in_view(half_out, (100, 100)) == 0.5
    assert geometry.convex_overlap(half_out, geometry.rectangle(-0.5, -0.5, 99.5, 99.5)) == 5000
    assert geometry.signed_area(half_out) == 10000 and geometry.signed_area(half_out[::-1]) == -10000


def test_page_turns_rename_the_corners():
    size = (11, 7)
    corners = geometry.rectangle(0, 0, 10, 6)
    np.testing.assert_allclose(geometry.project(geometry.page_turn(2, size), corners), np.roll(corners, 2, axis=0))
    square = geometry.rectangle(0, 0, 10, 10)
    np.testing.assert_allclose(geometry.project(geometry.page_turn(1, (11, 11)), square), np.roll(square, -1, axis=0))
    np.testing.assert_allclose(geometry.page_turn(4, size), np.eye(3))


def test_project_takes_no_points():
    assert geometry.project(np.eye(3), []).shape == (0, 2)


def _cut_page(quad, box, rounded=0):
    """The component of a quad seen through a photo cropped to box (x0, y0, x1, y1): (component, size, quad there).
    With `rounded`, its corners rounded to about that radius, as a model's mask rounds them."""
    x0, y0, x1, y1 = box
    whole = np.zeros((400, 400), np.uint8)
    cv2.fillPoly(whole, [np.int32(np.round(quad))], 1)
    if rounded:
        whole = cv2.morphologyEx(whole, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rounded + 1,) * 2))
    return whole[y0:y1, x0:x1].astype(bool), (x1 - x0, y1 - y0), np.asarray(quad, np.float64) - (x0, y0)


def _best_iou(quads, truth):
    return max((evaluate.quad_iou(q.tolist(), truth.tolist()) for q, _ in quads), default=0.0)


def test_a_page_cut_across_two_sides_is_rebuilt_from_the_three_in_view():
    # A 10 x 7 page, turned 30 degrees, its right 40% cut off by the photo's border.
    centre, (w, h), angle = np.array([200.0, 200.0]), (200.0, 140.0), np.radians(30)
    r = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    quad = centre + np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]]) @ r.T
    component, size, truth = _cut_page(quad, (0, 0, 230, 400))
    runs = geometry.sides_in_view(component, size)
    assert [len(run) for run in runs] == [3]
    pages = geometry.pages_past_border(runs, aspect=w / h)
    # The outline fitted as a quad covers what is in view (IoU 0.66 with the page); one of the
    # pages built is the page.
    assert evaluate.quad_iou(geometry.fit_quad(component).tolist(), truth.tolist()) < 0.7
    assert _best_iou(pages, truth) > 0.95
    assert pages[0][1] == [1, 2]  # three sides first: two corners in view


def test_a_page_with_a_corner_cut_off_is_where_its_four_sides_meet():
    quad = np.float64([[60, 80], [300, 110], [280, 300], [40, 260]])
    component, size, truth = _cut_page(quad, (0, 0, 400, 270))  # the bottom-right corner cut off
    runs = geometry.sides_in_view(component, size)
    assert [len(run) for run in runs] == [4]
    pages = geometry.pages_past_border(runs, aspect=240 / 190)
    assert _best_iou(pages[:1], truth) > 0.97  # the first is where the four meet
    assert pages[0][1] == [1, 2, 3]


def test_a_page_with_rounded_corners_is_rebuilt_though_its_outline_has_more_than_four_sides():
    # A model's mask rounds the corners: the outline in view breaks into five or more sides, which
    # are merged back into four (and three, and two) before the page is rebuilt.
    quad = np.float64([[60, 80], [300, 110], [280, 300], [40, 260]])
    component, size, truth = _cut_page(quad, (0, 0, 400, 270), rounded=30)
    runs = geometry.sides_in_view(component, size)
    assert [len(run) > 4 for run in runs] == [True]
    assert _best_iou(geometry.pages_past_border(runs, aspect=240 / 190), truth) > 0.95
    assert [len(geometry.fewer_sides(runs[0], n)) for n in (4, 3, 2)] == [4, 3, 2]


def test_a_page_in_view_or_cut_on_two_sides_gets_no_pages_past_the_border():
    quad = np.float64([[60, 80], [300, 110], [280, 300], [40, 260]])
    whole, size, _ = _cut_page(quad, (0, 0, 400, 400))
    assert geometry.sides_in_view(whole, size) == []  # nothing cut
    across, size, _ = _cut_page(quad, (100, 0, 250, 400))  # cut left and right: two runs
    assert geometry.pages_past_border(geometry.sides_in_view(across, size), aspect=1.3) == []
