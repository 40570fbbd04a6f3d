import json

import numpy as np
import pytest

from segmenty import page as pages
from segmenty.errors import SegmentyError
from segmenty.patterns import make_patterns


def test_a_chessboard_page_knows_its_area_points_and_grid(tmp_path):
    make_patterns(str(tmp_path / "chess"), "chessboard", 10, 7)
    page = pages.from_pattern(str(tmp_path / "chess"))
    assert page.size == (1100, 800) and page.refine == "chessboard" and page.grid == (6, 9)
    # The squares run from 50 to 1050 in SVG units: their outline is half a pixel outside the pixels.
    np.testing.assert_allclose(page.area, [[49.5, 49.5], [1049.5, 49.5], [1049.5, 749.5], [49.5, 749.5]])
    np.testing.assert_allclose(page.points[0], [149.5, 149.5])
    assert page.point_names[:2] == ["r0c0", "r0c1"] and len(page.points) == 54
    assert page.symmetry == 1  # half a turn swaps black and white
    assert max(page.picture.shape) == pages.PAGE_SIDE


def test_page_info_round_trips_through_json(tmp_path):
    make_patterns(str(tmp_path / "chess"), "chessboard", 10, 7)
    page = pages.from_pattern(str(tmp_path / "chess"))
    again = pages.Page.from_info(json.loads(json.dumps(page.to_info())))
    assert np.array_equal(again.picture, page.picture) and again.size == page.size
    np.testing.assert_allclose(again.points, page.points)
    assert (again.point_names, again.refine, again.symmetry) == (page.point_names, page.refine, page.symmetry)


@pytest.mark.parametrize("points,message", [
    ([{"name": "a", "xy": [1, 2, 3]}], r"invalid points .*pattern.json"),
    ([{"name": "a"}], r"invalid points .*pattern.json"),
    ([{"name": "far", "xy": [5000, 10]}], r"outside full.png"),
])
def test_malformed_or_outside_points_get_one_line(tmp_path, points, message):
    make_patterns(str(tmp_path / "p"), "chessboard", 4, 3)
    meta = json.loads((tmp_path / "p" / "pattern.json").read_text())
    meta["points"] = points
    (tmp_path / "p" / "pattern.json").write_text(json.dumps(meta))
    with pytest.raises(SegmentyError, match=message) as caught:
        pages.from_pattern(str(tmp_path / "p"))
    assert "\n" not in str(caught.value)
