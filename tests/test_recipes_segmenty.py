import cv2
import numpy as np
import pytest

from segmenty import samples, synth
from segmenty.recipes import segmenty as recipe
from tests.helpers import make_workspace


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    root = make_workspace(tmp_path_factory.mktemp("ws"))
    return samples.make_context(f"{root}/background", f"{root}/pattern", size=64)


@pytest.fixture(scope="module")
def many(ctx):
    return [synth.generate(np.random.default_rng([11, i]), ctx) for i in range(400)]


def test_shapes_and_types(many, ctx):
    image, masks, pts, _ = many[1]
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert masks.shape == (64, 64, 4) and masks.dtype == np.uint8
    assert ctx.mask_names == ["mask", "vertical", "horizontal", "middle"]


def test_same_rng_same_sample(ctx):
    a = synth.generate(np.random.default_rng([5, 7]), ctx)
    b = synth.generate(np.random.default_rng([5, 7]), ctx)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_blank_fraction(many):
    blank = [pts is None for _, _, pts, _ in many]
    assert 0.14 < np.mean(blank) < 0.26  # 0.2, +- 3 standard deviations of 400 draws
    for (_, masks, pts, params) in many:
        assert (pts is None) == params["blank"]
        if pts is None:
            assert not masks.any()


def test_motion_blur_in_about_half(many, ctx):
    flags = [params["motion_blur"] for *_, params in many]
    assert 0.42 < np.mean(flags) < 0.58
    # And it is really applied: re-rendering without it changes the image, masks untouched.
    for image, masks, _, params in many[:20]:
        if params["motion_blur"]:
            plain = synth.render({**params, "motion_blur": False}, ctx)
            assert not np.array_equal(plain[0], image)
            np.testing.assert_array_equal(plain[1], masks)


def test_pts_consistent_with_mask(many):
    ratios = []
    for _, masks, pts, params in many:
        if pts is None:
            continue
        quad = pts[1:5]
        inside = (quad >= 2).all() and (quad <= 61).all()
        if not inside or abs(params["k1"]) > 0.001:  # page fully in view, mild distortion
            continue
        quad_area = cv2.contourArea(quad.astype(np.float32))
        if quad_area < 200:
            continue
        ratios.append((masks[..., 0] > 127).sum() / quad_area)
        cx, cy = pts[0]  # the page centre lies inside the page mask
        assert masks[int(round(cy)), int(round(cx)), 0] > 127
    assert len(ratios) >= 5
    assert 0.9 < np.median(ratios) < 1.1


def test_masks_binary_apart_from_edges(many):
    masks = np.stack([m for _, m, pts, _ in many if pts is not None])
    assert (masks == 255).mean() > 0.05  # not empty
    assert ((masks > 0) & (masks < 255)).mean() < 0.1
    # In-between values lie along edges: near both sides of the 0.5 boundary. Extreme
    # perspective can stretch an edge's ramp, so this holds for almost all pixels, not all.
    kernel = np.ones((9, 9), np.uint8)
    stray = 0
    for m in masks[..., 0]:
        between = (m > 16) & (m < 240)
        edge = (cv2.dilate((m < 128).astype(np.uint8), kernel) > 0) & (cv2.dilate((m >= 128).astype(np.uint8), kernel) > 0)
        stray += (between & ~edge).sum()
    assert stray / masks[..., 0].size < 0.01


def test_sizes_scale(ctx):
    p = synth.sample_params(np.random.default_rng(0), ctx)
    assert 14 * 64 / 256 <= p["focal"] <= 20 * 64 / 256
    assert p["ellipses"]["axes"].max() <= 51 * 64 // 256
    corners = [recipe.sample_quad(np.random.default_rng(i), 64) for i in range(200)]
    spans = [np.linalg.norm(c[:, None] - c[None], axis=2).max() for c in corners]
    assert max(spans) <= 2 * 64 * 1.01  # corners lie on a circle of radius <= 256 * 64 / 256
    assert min(spans) >= 2 * 8 * np.sin(np.pi / 8) * 0.99  # and radius >= 32 * 64 / 256
