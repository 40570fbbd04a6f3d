import cv2
import numpy as np
import pytest

from segmenty import transforms


def test_shade_gradient():
    page = np.full((5, 4, 3), 255, np.uint8)
    out = transforms.shade(page, [[1.0, 0.5, 0.0], [0.0, 0.0, 1.0]])  # RGB top, bottom
    assert out[0, 0].tolist() == [0, 128, 255]  # BGR of the top colour
    assert out[4, 3].tolist() == [255, 0, 0]
    assert out[2, 1].tolist() == [128, 64, 128]

@pytest.mark.parametrize("length", [4, 5])
@pytest.mark.parametrize("direction", range(8))
def test_line_blur_matches_convolution(direction, length):
    img = np.random.default_rng(direction).integers(0, 255, (20, 24, 3), dtype=np.uint8)
    kernel = np.zeros((5, 5), np.float32)  # centred on (2, 2); an even length drops the far end's last step
    dx, dy = [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)][direction]
    for k in range(-2, 3 if length % 2 else 2):
        kernel[2 + k * dy, 2 + k * dx] = 1 / length
    expected = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    assert np.abs(transforms.line_blur(img, length, direction).astype(int) - expected).max() <= 1

def test_undistort_map_and_undistort_points_agree():
    # The image is remapped with the map, pts moved with undistort_points: a pixel's map entry
    # (where its colour comes from) must undistort back onto that pixel.
    for focal, principal, k1 in [(16.0, (128.0, 120.0), 0.002), (4.5, (30.2, 33.9), -0.001)]:
        size = 256 if focal > 10 else 64
        xy_map = transforms.undistort_map(size, focal, principal, k1)
        pixels = np.float64([[0, 0], [size - 1, 7], [size // 2, size // 3], [5, size - 1]])
        sources = xy_map[pixels[:, 1].astype(int), pixels[:, 0].astype(int)]
        assert np.abs(sources - pixels).max() > 1  # the lens moves them
        # cv2.undistortPoints inverts iteratively: up to 0.4 px off at these strong lenses' corners.
        np.testing.assert_allclose(transforms.undistort_points(sources, focal, principal, k1), pixels, atol=0.5)

def test_page_facing_the_camera_keeps_its_aspect():
    pose = {"focal": 100.0, "extent": 0.5, "tilt": np.zeros(2), "turn": 0.0, "centre": np.array([64.0, 64.0])}
    corners = transforms.project_pose(pose, 128, aspect=1.5)
    np.testing.assert_allclose(corners, [[32, 42.667], [96, 42.667], [96, 85.333], [32, 85.333]], atol=1e-3)
    turned = transforms.project_pose({**pose, "turn": np.pi / 2}, 128, aspect=1.5)
    np.testing.assert_allclose(np.ptp(turned, 0), [42.667, 64], atol=1e-3)  # a quarter turn swaps the sides

def test_paper_padding_maps_back_to_the_page():
    page = np.zeros((10, 20, 3), np.uint8)
    padded, to_page = transforms.with_paper(page, [0.1, 0.2, 0.0, 0.5], 200, [1, 1, 1])
    assert padded.shape == (10 + 2 + 5, 20 + 2, 3)
    assert padded[0, 0].tolist() == [200, 200, 200] and padded[2, 2].tolist() == [0, 0, 0]
    np.testing.assert_allclose(to_page @ [2, 2, 1], [0, 0, 1])  # the page's corner in padded coordinates

def test_motion_blur_is_a_normalised_line():
    img = np.zeros((31, 31), np.float32)
    img[15, 15] = 1
    out = transforms.motion_blur(img, 9, 90)  # vertical
    assert out.sum() == pytest.approx(1, abs=1e-4)
    assert out[:, 15].sum() > 0.9 and out[15, :].sum() < 0.3

def test_grid_distractor_draws_lines_in_perspective():
    image = np.zeros((64, 64, 3), np.uint8)
    square = np.float32([[8, 8], [56, 8], [56, 56], [8, 56]])
    transforms.draw_distractor(image, {"kind": "grid", "corners": square, "cells": np.array([4, 4]), "width": 0.05,
                                   "color": np.array([255.0, 255.0, 255.0])})
    column = image[30, :, 0] > 128  # a row across the grid crosses its 5 vertical lines
    assert np.count_nonzero(np.diff(column.astype(int)) == 1) == 5
    assert image[26, 26].max() == 0  # inside a cell (lines at 8, 20, 32, ...): untouched

def test_repeat_period_finds_a_grids_step():
    x = np.arange(64)
    stripes = np.tile(((x % 8) < 3) * 255.0, (20, 1))  # a period of 8 across, none down
    assert transforms.repeat_period(stripes, axis=1) == pytest.approx(8, abs=0.05)
    assert transforms.repeat_period(stripes, axis=0) is None
    board = ((x[:, None] // 6 + x[None, :] // 6) % 2) * 255.0  # squares of 6: repeats every 12
    assert transforms.repeat_period(board, axis=0) == pytest.approx(12, abs=0.05)
    noise = np.random.default_rng(0).uniform(0, 255, (40, 40))
    assert transforms.repeat_period(noise, axis=1) is None

def test_mirror_symmetry():
    board = np.kron((np.add.outer(np.arange(7), np.arange(10)) % 2) * 255, np.ones((20, 20))).astype(np.uint8)
    assert transforms.mirror_symmetric(board)  # mirrored = turned half a turn
    letter = np.zeros((60, 40), np.uint8)
    letter[10:50, 10:16] = letter[10:16, 10:30] = 255  # a "Г"
    assert not transforms.mirror_symmetric(letter)

def test_tile_window_crops_tiles_and_mirrors():
    page = np.random.default_rng(1).integers(0, 255, (12, 16, 3), dtype=np.uint8)
    np.testing.assert_array_equal(transforms.tile_window(page, (0, 0, 16, 12), (1, 1)), page)
    np.testing.assert_array_equal(transforms.tile_window(page, (0, 0, 16, 12), (1, 1), mirror=True), page[:, ::-1])
    np.testing.assert_array_equal(transforms.tile_window(page, (4, 2, 10, 5), (1, 1)), page[2:5, 4:10])
    tiled = transforms.tile_window(page, (4, 2, 10, 5), (2.5, 2), phase=(3, 0))  # 15 x 6, starting 3 px into it
    cell = np.roll(page[2:5, 4:10], -3, axis=1)
    np.testing.assert_array_equal(tiled, np.tile(cell, (2, 3, 1))[:, :15])

@pytest.mark.parametrize("kind", transforms.STRUCTURES)
def test_structures_stay_on_their_plane(kind):
    s = {"kind": kind, "cells": (6, 4), "colors": np.float64([[200, 60, 40], [40, 200, 60], [90, 90, 90]]),
         "jitter": 10.0, "texture": 0.1, "light": np.float64([0.3, -0.2]), "seed": 5, "gap": 0.1, "checker": True,
         "fill": (0.5, 0.6), "mullions": True, "stagger": 0.25, "board": 0.1, "post": 0.3, "rail": 0.4,
         "font": 1, "x_height": 0.5, "stroke": 2, "margin": 0.05, "aspect": 0.8,
         "corners": np.float32([[10, 12], [50, 8], [54, 40], [12, 50]])}
    image = np.zeros((64, 64, 3), np.uint8)
    transforms.draw_structure(image, s)
    plane = np.zeros((64, 64), np.uint8)
    cv2.fillConvexPoly(plane, np.int32(s["corners"]), 1)
    grown = cv2.dilate(plane, np.ones((3, 3), np.uint8)).astype(bool)
    assert not image[~grown].any()
    covered = (image[plane.astype(bool)].max(-1) > 0).mean()
    assert covered > 0.95 if kind != "fence" else 0.2 < covered < 0.9  # a fence is bars, the scene between them
    assert len(np.unique(image[plane.astype(bool)].reshape(-1, 3), axis=0)) > 20  # elements, texture and light


def test_a_fence_is_posts_and_rails_with_the_scene_between():
    s = {"kind": "fence", "cells": (4, 2), "colors": np.float64([[200, 60, 40], [40, 200, 60], [0, 0, 0]]),
         "jitter": 0.0, "texture": 0.0, "light": np.float64([0.0, 0.0]), "seed": 1, "post": 0.2, "rail": 0.2,
         "corners": np.float32([[0, 0], [128, 0], [128, 128], [0, 128]])}
    scene = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    image = scene.copy()
    transforms.draw_structure(image, s)
    changed = (image != scene).any(-1)
    # Posts 0.2 of a 32 px bay wide at x = 0, 32, ..., 128; rails 0.2 of their 64 px spacing thick at y = 32, 96.
    assert changed[:, 62:67].all() and changed[29:36, :].all() and changed[93:100, :].all()
    assert not changed[40:88, 40:56].any()  # the scene shows through a bay
    np.testing.assert_array_equal(image[64, 64], [200, 60, 40])  # a post, in front of ...
    np.testing.assert_array_equal(image[32, 48], [40, 200, 60])  # ... a rail


def test_print_is_dark_lines_on_light_paper():
    s = {"kind": "print", "cells": (1, 12), "colors": np.float64([[230, 225, 220], [30, 30, 40], [230, 225, 220]]),
         "texture": 0.0, "light": np.float64([0.0, 0.0]), "seed": 2, "font": 0, "x_height": 0.5, "stroke": 1,
         "margin": 0.05, "aspect": 1.0, "corners": np.float32([[0, 0], [127, 0], [127, 127], [0, 127]])}
    image = np.zeros((128, 128, 3), np.uint8)
    transforms.draw_structure(image, s)
    g = image.mean(-1)
    assert np.median(g) > 200 and 0.02 < (g < 128).mean() < 0.4  # mostly paper, some ink
    rows = (g < 128).mean(1)
    assert (rows < 0.01).mean() > 0.3  # the gaps between the lines stay paper
