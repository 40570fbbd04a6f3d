import json
import os
import shutil

import cv2
import numpy as np

from segmenty.page import from_pattern
from segmenty.patterns import make_patterns
from tests.helpers import bench_module


def test_a_charuco_set_s_board_becomes_a_charuco_pattern(tmp_path):
    # A set's board/ as the shared sets give it (full.png, mask.png, board.json with the grid and the
    # squares' outline): its pattern gets the ChArUco board and the inner corners --preset charuco writes.
    made = make_patterns(str(tmp_path / "made"), "charuco", 10, 7, square=40)
    board_dir = tmp_path / "set" / "board"
    os.makedirs(board_dir)
    shutil.copy(tmp_path / "made" / "full.png", board_dir / "full.png")
    shutil.copy(tmp_path / "made" / "mask.png", board_dir / "mask.png")
    m = 20  # half a square of paper around the squares
    (board_dir / "board.json").write_text(json.dumps({
        "pattern": "ChArUco board", "grid": {"columns": 10, "rows": 7, "dictionary": "DICT_4X4_50", "marker_ratio": 0.7},
        "quad_in_full_png": [[m, m], [m + 400, m], [m + 400, m + 280], [m, m + 280]]}))
    (tmp_path / "set" / "gt.json").write_text("{}")
    patterns = bench_module("bench_real").find_patterns([str(tmp_path / "set")], str(tmp_path / "work"))
    page = from_pattern(patterns["set"]["folder"])
    assert page.charuco == {"cols": 10, "rows": 7, "dictionary": "DICT_4X4_50", "marker_ratio": 0.7}
    assert page.grid == (6, 9) and page.point_names == [p["name"] for p in made["points"]]
    np.testing.assert_allclose(page.points, [p["xy"] for p in made["points"]], atol=0.5)  # edges vs pixel centres
    assert cv2.imread(os.path.join(patterns["set"]["folder"], "full.png")).shape == (320, 440, 3)


def test_another_board_stays_a_one_mask_pattern_without_points():
    assert bench_module("bench_real").pattern_json({"pattern": "symmetric circle grid", "quad_in_full_png": [[0, 0]] * 4}) == \
        {"full": "full.png", "masks": ["mask"]}


def test_a_marker_set_s_board_becomes_a_marker_pattern(tmp_path):
    made = make_patterns(str(tmp_path / "made"), "aruco", marker_id=3, square=40)
    board = {"pattern": "one ArUco marker", "dictionary": "DICT_4X4_50", "marker_id": 3,
             "quad_in_full_png": [p["xy"] for p in made["points"]]}
    module = bench_module("bench_real")
    meta = module.pattern_json(board)
    os.makedirs(tmp_path / "p")
    for f in ("full.png", "mask.png"):
        shutil.copy(tmp_path / "made" / f, tmp_path / "p" / f)
    (tmp_path / "p" / "pattern.json").write_text(json.dumps(meta))
    page = from_pattern(str(tmp_path / "p"))
    assert page.marker == {"dictionary": "DICT_4X4_50", "marker_id": 3} and page.point_names == ["tl", "tr", "br", "bl"]
    name, detect = module.opencv_detector({"board": board})
    full = cv2.imread(str(tmp_path / "made" / "full.png"), cv2.IMREAD_GRAYSCALE)
    answer = detect(full)
    assert name == "ArucoDetector" and answer["found"]
    np.testing.assert_allclose(answer["quad"], board["quad_in_full_png"], atol=1.0)


def test_a_plain_chessboard_board_gets_its_inner_corners(tmp_path):
    made = make_patterns(str(tmp_path / "made"), "chessboard", 6, 5, square=40)
    for f in ("full.png", "mask.png"):
        shutil.copy(tmp_path / "made" / f, tmp_path / f)
    meta = bench_module("bench_real").pattern_json({"pattern": "a chessboard"}, str(tmp_path))
    assert meta["refine"] == "chessboard" and [p["name"] for p in meta["points"]] == [p["name"] for p in made["points"]]
    np.testing.assert_allclose([p["xy"] for p in meta["points"]], [p["xy"] for p in made["points"]], atol=0.1)
