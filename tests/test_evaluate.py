import json
import os

import cv2
import numpy as np
import pytest

from segmenty import infer, samples
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
    _, metrics = infer.test_segmenter(full_model, [str(tmp_path)], str(tmp_path / "out"), truth=str(tmp_path / "gt.json"))
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
    assert json.loads((tmp_path / "out" / "metrics.json").read_text()) == metrics


def test_truth_from_a_sample_index(tmp_path):
    ws = make_workspace(tmp_path / "ws", n_backgrounds=4)
    entries, _ = samples.make_samples(str(tmp_path / "val"), 6, size=32, seed=3, workers=1,
                                      backgrounds=f"{ws}/background", pattern=f"{ws}/pattern")
    model = constant_model(tmp_path / "ones.keras")
    _, metrics = infer.test_segmenter(model, [str(tmp_path / "val")], str(tmp_path / "out"),
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
