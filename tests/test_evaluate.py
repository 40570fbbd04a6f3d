import json
import os

import cv2
import numpy as np
import pytest

from segmenty import outputs, samples
from tests.helpers import constant_model, make_workspace, write_photo


@pytest.fixture(scope="module")
def full_model(tmp_path_factory):
    return constant_model(tmp_path_factory.mktemp("m") / "ones.keras")


def test_truth_quads_hand_computed(full_model, tmp_path):
    for name in ("half.jpg", "all.jpg", "none.jpg"):
        write_photo(tmp_path / name, 80, 48)
    gt = {"half.jpg": {"size": [160, 96], "quad": [[0, 0], [80, 0], [80, 96], [0, 96]]},  # left half, 2x scale
          "all.jpg": {"size": [80, 48], "quad": [[0, 0], [80, 0], [80, 48], [0, 48]]},
          "none.jpg": {"size": [80, 48], "quad": None}}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    _, metrics = outputs.test_segmenter(full_model, [str(tmp_path)], str(tmp_path / "out"), truth=str(tmp_path / "gt.json"))
    ious = {os.path.basename(im["source"]): im["iou"] for im in metrics["images"]}
    # The model says "pattern everywhere": IoU = quad area / photo area; other channels have no truth.
    assert ious == {"half.jpg": [0.5, None, None, None], "all.jpg": [1.0, None, None, None],
                    "none.jpg": [0.0, None, None, None]}
    s = metrics["summary"]
    assert s == {"with_pattern": 2, "found": 2, "found_rate": 1.0, "mean_iou": 0.75, "without_pattern": 1,
                 "false_positives": 1}
    assert list(metrics["per_mask"]) == ["mask"]
    # pooled: (1920 + 3840) inside of 3 x 3840 pixels
    assert metrics["per_mask"]["mask"] == {"iou": 0.5, "tpr": 1.0, "tnr": 0.0}
    # The answers (results.json's quads) are scored too; score_answer's own test has the figures.
    assert {k: metrics["answers"][k] for k in ("boards", "board_free")} == {"boards": 2, "board_free": 1}
    assert all("answer" in im for im in metrics["images"])
    assert json.loads((tmp_path / "out" / "metrics.json").read_text()) == metrics


def test_truth_from_a_sample_index(tmp_path):
    ws = make_workspace(tmp_path / "ws", n_backgrounds=4)
    entries, _ = samples.make_samples(str(tmp_path / "val"), 6, size=32, seed=3, workers=1,
                                      backgrounds=f"{ws}/background", pattern=f"{ws}/pattern")
    model = constant_model(tmp_path / "ones.keras")
    _, metrics = outputs.test_segmenter(model, [str(tmp_path / "val")], str(tmp_path / "out"),
                                      truth=str(tmp_path / "val.json"))
    truth = [np.stack([cv2.imread(y, cv2.IMREAD_GRAYSCALE) > 127 for y in e["y"]], -1) for e in entries]
    inside = sum(t[..., 0].sum() for t in truth)
    assert metrics["per_mask"]["mask"]["iou"] == pytest.approx(inside / (6 * 32 * 32), abs=1e-4)
    assert metrics["per_mask"]["mask"]["tpr"] == 1.0
    if sum(t[..., 1].sum() for t in truth):
        assert metrics["per_mask"]["vertical"] == {"iou": 0.0, "tpr": 0.0, "tnr": 1.0}
    assert len(metrics["images"]) == 6 and all(len(im["iou"]) == 4 for im in metrics["images"])


def test_mask_coverage_hand_computed():
    from segmenty.evaluate import mask_coverage
    probs = np.zeros((2, 4, 4, 2), np.float32)
    probs[:, :2, :, 0] = 0.9  # 8 pixels per sample inside the pattern
    probs[0, 0, :, 1] = 0.9  # 4 of sample 0's, 0 of sample 1's
    probs[1, 3, :, 1] = 0.9  # outside the pattern: doesn't count
    assert mask_coverage(probs, [0.5, 0.5]) == [1.0, 0.25]
    assert mask_coverage(np.zeros_like(probs), [0.5, 0.5]) == []


def test_best_thresholds_hand_computed():
    from segmenty.evaluate import best_thresholds
    truth = np.zeros((1, 1, 10, 2), bool)
    truth[0, 0, :4, 0] = True
    probs = np.zeros((1, 1, 10, 2), np.float32)
    probs[0, 0, :, 0] = [0.9, 0.9, 0.8, 0.8, 0.6, 0.6, 0.6, 0.3, 0.3, 0.3]
    # inside: 4 pixels at 0.8-0.9; cutting anywhere in (0.6, 0.8) keeps exactly them (IoU 1)
    t = best_thresholds(truth, probs)
    assert 0.6 <= t[0] < 0.8 and t[1] == 0.5  # channel 1 has no inside pixels: left at 0.5


SQUARE = [[0, 0], [10, 0], [10, 10], [0, 10]]


@pytest.mark.parametrize("quad, truth, expected", [
    (SQUARE, [[-10, 0], [10, 0], [10, 10], [-10, 10]], 0.5),  # truth half out of a photo at x >= 0: judged whole
    (SQUARE, SQUARE[::-1], 1.0),  # either direction
    ([[0, 0], [10, 0], [5, 2], [0, 10]], SQUARE, 0.35),  # concave, area 35 (its hull's would be 50)
    ([[0, 0], [10, 10], [10, 0], [0, 10]], SQUARE, 0.0),  # a bow tie is no quad
    ([[20, 0], [30, 0], [30, 10], [20, 10]], SQUARE, 0.0),
    (None, SQUARE, 0.0),
])
def test_quad_iou_hand_computed(quad, truth, expected):
    from segmenty.evaluate import quad_iou
    assert quad_iou(quad, truth) == pytest.approx(expected, abs=1e-6)


def test_corner_errors_under_the_best_rotation_and_direction():
    from segmenty.evaluate import corner_errors
    turned_back = [[10, 10], [10, 0], [0, 0], [3, 14]]  # SQUARE from corner 2, counter-clockwise, one corner 5 px off
    assert corner_errors(turned_back, SQUARE).tolist() == [0, 0, 0, 5]


def test_point_errors_under_a_half_turn_over_the_corners_in_view():
    from segmenty.evaluate import point_errors
    truth = np.array([[[20, 20], [30, 20], [140, 20]], [[20, 40], [30, 40], [40, 40]]], float)  # [0][2] is out of view
    # Reported the other way round (r0c0 at truth[1][2]), each 0.5 px off.
    points = [{"name": f"r{r}c{c}", "xy": (truth[1 - r, 2 - c] + [0.3, 0.4]).tolist(), "in_view": True}
              for r in range(2) for c in range(3)]
    points.append({"name": "centre", "xy": [0, 0], "in_view": True})  # not a grid point: ignored
    assert point_errors(points, truth, (100, 80)) == pytest.approx([0.5] * 5)  # the 6th is out of view
    square = np.array([[[0, 0], [10, 0]], [[0, 10], [10, 10]]], float)
    quarter = [{"name": "r0c0", "xy": [10, 0]}, {"name": "r0c1", "xy": [10, 10]},
               {"name": "r1c0", "xy": [0, 0]}, {"name": "r1c1", "xy": [0, 10]}]
    assert point_errors(quarter, square, (20, 20)).tolist() == [0, 0, 0, 0]  # a square grid may turn a quarter


def test_score_and_summarize_answers_hand_computed():
    from segmenty.evaluate import score_answers, summarize_answers
    gt_quad = [[10, 10], [50, 10], [50, 50], [10, 50]]  # diagonal 40 * sqrt(2)
    corners = [[[20, 20], [30, 20], [140, 20]], [[20, 40], [30, 40], [40, 40]]]
    truth = {name: {"size": [100, 80], "quad": gt_quad} for name in "abcd"}
    truth["a"]["corners"] = corners
    truth.update({"e": {"size": [100, 80], "quad": None}, "f": {"size": None, "quad": None}})
    points = [{"name": f"r{r}c{c}", "xy": (np.array(corners[1 - r][2 - c]) + [0.3, 0.4]).tolist(), "in_view": True}
              for r in range(2) for c in range(3)]
    entries = [
        # found: gt from corner 3, counter-clockwise, one corner (3, 4) off: area 1460 of 1600, inside it
        {"source": "x/a", "size": [100, 80], "found": True, "quad": [[10, 50], [50, 50], [50, 10], [13, 14]],
         "points": points},
        {"source": "x/b", "size": [100, 80], "quad": [[11, 10], [51, 10], [51, 50], [11, 50]]},  # before `found`
        {"source": "x/c", "size": [100, 80], "found": False, "quad": gt_quad},  # the decision counts, not the quad
        {"source": "x/d", "error": "unreadable"},
        {"source": "x/e", "size": [100, 80], "found": True, "quad": gt_quad},  # a false find
        {"source": "x/f", "size": [100, 80], "quad": None},
        {"source": "x/g", "size": [100, 80], "quad": None},  # no truth: not scored
    ]
    records = score_answers(entries, truth)
    assert [r["source"] for r in records] == ["x/a", "x/b", "x/c", "x/d", "x/e", "x/f"]
    assert [r["quad_iou"] for r in records[:4]] == pytest.approx([1460 / 1600, 39 / 41, 0, 0], abs=1e-4)
    assert sorted(records[0]["corner_px"]) == [0, 0, 0, 5] and records[1]["corner_px"] == [1, 1, 1, 1]
    assert records[0]["point_px"] == pytest.approx([0.5] * 5) and records[1]["point_px"] == []
    s = summarize_answers(records)
    pct = 100 / (40 * 2 ** 0.5)  # 1 px in % of the diagonal
    # corners pooled over the found boards: 0, 0, 0, 1, 1, 1, 1, 5; p90 at 0.9 * 7 = 6.3 -> 1 + 0.3 * (5 - 1)
    assert s["corner_px"] == [1.0, 2.2]
    assert s["corner_pct"] == pytest.approx([pct, pct * 2.2], abs=1e-4)
    assert s["point_px"] == [0.5, 0.5] and s["point_boards"] == 1
    assert {k: s[k] for k in ("boards", "found", "found_rate", "board_free", "false_finds")} == \
        {"boards": 4, "found": 2, "found_rate": 0.5, "board_free": 2, "false_finds": 1}
    assert s["quad_iou"] == pytest.approx((1460 / 1600 + 39 / 41) / 4, abs=1e-4)
    assert summarize_answers([])["corner_px"] == [None, None]
