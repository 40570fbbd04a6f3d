import json
import os

import cv2
import numpy as np

from segmenty import geometry
from segmenty.page import from_pattern
from segmenty.patterns import make_patterns
from tests.helpers import bench_module
from tests.test_pose import photo_of, pose_at


def test_a_cut_sample_loses_the_share_of_its_pattern_degrade_real_cuts():
    bench = bench_module("bench_pose")
    gray = np.zeros((400, 500), np.uint8)
    quad = np.float64([[100, 50], [300, 50], [300, 250], [100, 250]])
    for side in range(4):
        photo, moved = bench.cut_sample(gray, quad, side)
        assert abs(geometry.in_view(moved, (photo.shape[1], photo.shape[0])) - (1 - bench.CUT)) < 0.01
        np.testing.assert_allclose(np.ptp(moved, axis=0), [200, 200])  # the truth moves with the crop, whole


def test_a_covered_sample_hides_the_share_of_its_pattern_degrade_real_covers():
    bench = bench_module("bench_pose")
    photo = np.zeros((400, 500, 3), np.uint8)
    quad = np.float64([[100, 50], [300, 50], [300, 250], [100, 250]])
    for seed in range(5):
        out = bench.covered_sample(photo, quad, np.full((30, 40, 3), 255, np.uint8), np.random.default_rng(seed))
        ys, xs = np.nonzero(out[..., 0])
        assert len(ys) == int(bench.COVER * 200) ** 2  # the patch, whole
        assert xs.min() >= 100 and xs.max() < 300 and ys.min() >= 50 and ys.max() < 250  # inside the box
    assert not photo.any()  # the sample itself is left as it was


def _one_board_set(tmp_path):
    """(page, folder): a 10 x 7 chessboard pattern and a set of one photo of it with its gt.json."""
    make_patterns(str(tmp_path / "chess"), "chessboard", 10, 7)
    page = from_pattern(str(tmp_path / "chess"))
    quad = [[120, 90], [500, 110], [480, 380], [140, 400]]
    os.makedirs(tmp_path / "set")
    cv2.imwrite(str(tmp_path / "set" / "a.png"), photo_of(page, pose_at(page, quad)))
    (tmp_path / "set" / "gt.json").write_text(json.dumps({"a.png": {"quad": quad, "size": [640, 480]}}))
    return page, str(tmp_path / "set")


def test_a_set_s_photos_are_posed_from_their_truth_quads(tmp_path):
    page, folder = _one_board_set(tmp_path)
    records, times = bench_module("bench_pose").real_set(folder, page, {"threshold": 0.5, "scale": 0.05}, 0.0)
    assert len(records) == len(times) == 1
    assert records[0]["found"] and records[0]["quad_iou"] > 0.98 and max(records[0]["corner_px"]) < 1.5


def test_with_a_model_the_answer_comes_from_its_masks_not_the_truth(tmp_path):
    # A model that sees nothing anywhere: the same photo the truth mask poses is not found.
    from segmenty.segmenter import Segmenter
    from tests.helpers import constant_model
    page, folder = _one_board_set(tmp_path)
    blind = Segmenter.load(constant_model(tmp_path / "none.keras", channel0=0.0), pattern=str(tmp_path / "chess"))
    records, _ = bench_module("bench_pose").real_set(folder, page, None, 0.0, blind)
    assert len(records) == 1 and not records[0]["found"]
