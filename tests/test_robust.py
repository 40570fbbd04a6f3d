import cv2
import numpy as np
import pytest

from segmenty import robust, samples, synth
from tests.helpers import make_workspace


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    root = make_workspace(tmp_path_factory.mktemp("ws"), preset="chessboard")
    return samples.make_context(f"{root}/background", f"{root}/pattern", size=64, recipe="robust")


@pytest.fixture(scope="module")
def many(ctx):
    return [synth.generate(np.random.default_rng([21, i]), ctx) for i in range(300)]


def test_same_rng_same_sample(ctx):
    a = synth.generate(np.random.default_rng([1, 2]), ctx)
    b = synth.generate(np.random.default_rng([1, 2]), ctx)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[3]["recipe"] == "robust"


def test_page_facing_the_camera_keeps_its_aspect():
    pose = {"focal": 100.0, "extent": 0.5, "tilt": np.zeros(2), "turn": 0.0, "centre": np.array([64.0, 64.0])}
    corners = robust.project_pose(pose, 128, aspect=1.5)
    np.testing.assert_allclose(corners, [[32, 42.667], [96, 42.667], [96, 85.333], [32, 85.333]], atol=1e-3)
    turned = robust.project_pose({**pose, "turn": np.pi / 2}, 128, aspect=1.5)
    np.testing.assert_allclose(np.ptp(turned, 0), [42.667, 64], atol=1e-3)  # a quarter turn swaps the sides


def test_blank_fraction_and_masks(many, ctx):
    blank = [pts is None for _, _, pts, _ in many]
    assert 0.13 < np.mean(blank) < 0.27
    for _, masks, pts, _ in many:
        assert masks.shape == (64, 64, 4) and masks.dtype == np.uint8
        if pts is None:
            assert not masks.any()


def test_pts_consistent_with_mask(many):
    ratios = []
    for _, masks, pts, params in many:
        if pts is None or params["pose"] is None:
            continue
        quad = pts[1:5]
        if not ((quad >= 2).all() and (quad <= 61).all()) or abs(params["k1"]) > 0.0005:
            continue
        area = cv2.contourArea(quad.astype(np.float32))
        if area > 150:
            # The chessboard's mask is the squares, without the half-square margin: 10 x 7 of 11 x 8.
            ratios.append((masks[..., 0] > 127).sum() / area)
    assert len(ratios) >= 5
    assert 0.7 < np.median(ratios) < 0.9, np.median(ratios)


def test_conditions_of_real_photos_occur(many):
    """Grayscale, dark, blurred, occluded, filling the frame, partly out of view: each in a fair share."""
    params = [p for *_, p in many]
    share = lambda flags: np.mean(list(flags))
    assert 0.12 < share(p["gray"] for p in params) < 0.28
    assert 0.15 < share(p["exposure"] < 0.35 for p in params) < 0.35
    assert 0.25 < share(p["motion_blur"] is not None for p in params) < 0.45
    with_page = [(img, m, p) for img, m, pts, p in many if pts is not None]
    big = [(m[..., 0] > 127).mean() > 0.4 for _, m, _ in with_page]
    cut = [p["pose"] is not None and (np.any(p["corners"] < 0) or np.any(p["corners"] > 63)) for *_, p in with_page]
    assert 0.03 < np.mean(big) and 0.1 < np.mean(cut)
    gray = [img for img, _, _, p in many if p["gray"]]
    assert all((g[..., 0] == g[..., 1]).all() for g in gray)
    dark = [img.mean() for img, _, _, p in many if p["exposure"] < 0.2]
    assert np.median(dark) < 40


def test_occluders_change_the_image_not_the_masks(many, ctx):
    checked = 0
    for image, masks, pts, params in many:
        if pts is None or not params["occluders"]:
            continue
        clear = synth.render({**params, "occluders": []}, ctx)
        np.testing.assert_array_equal(clear[1], masks)
        checked += not np.array_equal(clear[0], image)
    assert checked >= 10


def test_paper_padding_maps_back_to_the_page():
    page = np.zeros((10, 20, 3), np.uint8)
    padded, to_page = robust.with_paper(page, [0.1, 0.2, 0.0, 0.5], 200, [1, 1, 1])
    assert padded.shape == (10 + 2 + 5, 20 + 2, 3)
    assert padded[0, 0].tolist() == [200, 200, 200] and padded[2, 2].tolist() == [0, 0, 0]
    np.testing.assert_allclose(to_page @ [2, 2, 1], [0, 0, 1])  # the page's corner in padded coordinates


def test_motion_blur_is_a_normalised_line():
    img = np.zeros((31, 31), np.float32)
    img[15, 15] = 1
    out = robust.motion_blur(img, 9, 90)  # vertical
    assert out.sum() == pytest.approx(1, abs=1e-4)
    assert out[:, 15].sum() > 0.9 and out[15, :].sum() < 0.3


def test_make_samples_robust_recipe(tmp_path, script):
    ws = make_workspace(tmp_path / "ws", n_backgrounds=4, preset="chessboard")
    proc = script("make_samples.py", tmp_path / "s", 6, "--size", 48, "--recipe", "robust", "--seed", 1,
                  "--backgrounds", f"{ws}/background", "--pattern", f"{ws}/pattern", check=0)
    assert "wrote 6 samples" in proc.stdout
    proc = script("make_samples.py", tmp_path / "s", 6, "--recipe", "fancy", "--backgrounds", f"{ws}/background",
                  "--pattern", f"{ws}/pattern")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: Invalid value for --recipe. Received: recipe='fancy'. Expected one of segmenty, robust."


def test_distractors_change_the_image_not_the_masks(many, ctx):
    with_one = [(img, m, p) for img, m, _, p in many if p["distractor"] is not None]
    assert 0.25 < len(with_one) / len(many) < 0.45
    changed = 0
    for image, masks, params in with_one[:20]:
        plain = synth.render({**params, "distractor": None}, ctx)
        np.testing.assert_array_equal(plain[1], masks)
        changed += not np.array_equal(plain[0], image)
    assert changed >= 15


def test_grid_distractor_draws_lines_in_perspective():
    image = np.zeros((64, 64, 3), np.uint8)
    square = np.float32([[8, 8], [56, 8], [56, 56], [8, 56]])
    robust.draw_distractor(image, {"kind": "grid", "corners": square, "cells": np.array([4, 4]), "width": 0.05,
                                   "color": np.array([255.0, 255.0, 255.0])})
    column = image[30, :, 0] > 128  # a row across the grid crosses its 5 vertical lines
    assert np.count_nonzero(np.diff(column.astype(int)) == 1) == 5
    assert image[26, 26].max() == 0  # inside a cell (lines at 8, 20, 32, ...): untouched
