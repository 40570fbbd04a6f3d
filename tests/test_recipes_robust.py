import cv2
import numpy as np
import pytest

from segmenty import samples, synth, transforms
from segmenty.recipes import robust
from tests.helpers import make_workspace


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    root = make_workspace(tmp_path_factory.mktemp("ws"), preset="chessboard")
    return samples.make_context(f"{root}/background", f"{root}/pattern", size=64, recipe="robust")


@pytest.fixture(scope="module")
def many(ctx):
    return [synth.generate(np.random.default_rng([21, i]), ctx) for i in range(300)]


def test_same_rng_same_sample(ctx):
    seed = next(i for i in range(200) if (lambda p: p["structure"] and p["own_distractor"] and not p["blank"])(
        synth.sample_params(np.random.default_rng([1, i]), ctx)))
    a = synth.generate(np.random.default_rng([1, seed]), ctx)
    b = synth.generate(np.random.default_rng([1, seed]), ctx)
    for x, y in zip(a[:3], b[:3]):
        np.testing.assert_array_equal(x, y)
    assert a[3]["recipe"] == "robust"


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
        clear, clear_masks, _ = synth.render({**params, "occluders": []}, ctx)
        np.testing.assert_array_equal(clear_masks, masks)
        checked += not np.array_equal(clear, image)
    assert checked >= 10


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


@pytest.fixture(scope="module")
def aruco(tmp_path_factory):
    """A pattern that is neither a grid nor mirror-symmetric."""
    root = make_workspace(tmp_path_factory.mktemp("ws"), n_backgrounds=3, preset="aruco")
    return samples.make_context(f"{root}/background", f"{root}/pattern", size=48, recipe="robust")


def test_what_the_patterns_own_distractors_can_be(ctx, aruco):
    grid = ctx.own["grid"]  # a 10 x 7 chessboard on 11 x 8 squares of paper: repeats every 2 squares
    assert grid["counts"] == (5, 7) and not ctx.own["mirror"]  # its mirror image is itself turned
    np.testing.assert_allclose(grid["unit"], (2 / 11, 1 / 8))
    np.testing.assert_allclose(grid["period"], (2 / 11, 2 / 8))
    assert (6, 9) in grid["recounts"] and (4, 5) in grid["recounts"] and (5, 7) not in grid["recounts"]
    assert aruco.own == {"mirror": True, "grid": None}


def drawn(context, key, kind, count=1, n=600):
    """The params of the first `count` of n robust samples (seeded) with a page whose `key` is of `kind`."""
    found = []
    for i in range(n):
        params = synth.sample_params(np.random.default_rng([33, i]), context)
        if params[key] and params[key]["kind"] == kind and not params["blank"]:
            found.append(params)
            if len(found) == count:
                return found if count > 1 else found[0]
    raise AssertionError(f"{len(found)} {kind} in {n} samples")


@pytest.mark.parametrize("pattern,key,kind", [("ctx", "structure", k) for k in transforms.STRUCTURES]
                         + [("ctx", "own_distractor", k) for k in ("fragment", "recount")]
                         + [("aruco", "own_distractor", k) for k in ("fragment", "tiled", "mirror")])
def test_new_distractors_change_the_image_not_the_masks(pattern, key, kind, request):
    context = request.getfixturevalue(pattern)
    changed = 0
    for params in drawn(context, key, kind, count=4):
        (image, masks, _), (plain, plain_masks, _) = (synth.render(p, context) for p in (params, {**params, key: None}))
        changed += not np.array_equal(image, plain)  # the page may hide one behind it
        np.testing.assert_array_equal(masks, plain_masks)
        blank_masks = synth.render({**params, "blank": True}, context)[1]
        assert not blank_masks.any()
    assert changed >= 2


def test_new_distractors_are_drawn_often(many):
    params = [p for *_, p in many]
    for key in ("structure", "own_distractor"):
        assert 0.3 < np.mean([p[key] is not None for p in params]) < 0.5  # 0.4, +- 3.5 sd of 300 draws
    kinds = {p["structure"]["kind"] for p in params if p["structure"]}
    assert kinds == set(transforms.STRUCTURES)


def test_a_mirrored_copy_is_mirrored(aruco):
    d = {**drawn(aruco, "own_distractor", "mirror")["own_distractor"], "margin": np.zeros(4)}
    page = aruco.pattern_fine
    np.testing.assert_array_equal(robust.own_sheet(d, page), page[:, ::-1])
    # And so it lands in a sample: drawn facing the camera, it matches the mirrored page, not the page.
    image = np.zeros((48, 48, 3), np.uint8)
    robust.draw_own_distractor(image, {**d, "corners": np.float32([[8, 8], [39, 8], [39, 39], [8, 39]])}, page,
                               255, np.ones(3))
    seen = image[8:40, 8:40].astype(float)
    flat = lambda p: cv2.resize(p, (32, 32), interpolation=cv2.INTER_AREA).astype(float)
    assert np.abs(seen - flat(page[:, ::-1])).mean() < 0.3 * np.abs(seen - flat(page)).mean()


def test_a_recount_has_another_count_of_squares(ctx):
    d = {**drawn(ctx, "own_distractor", "recount")["own_distractor"], "phase": (0.0, 0.0)}
    (ux, uy), (px, py) = ctx.own["grid"]["unit"], ctx.own["grid"]["period"]
    sheet = robust.own_sheet({**d, "repeats": (6 * ux / px, 9 * uy / py)}, ctx.pattern_fine)  # 6 x 9 units
    gray = cv2.cvtColor(sheet, cv2.COLOR_BGR2GRAY) > 127
    changes = lambda line: int(np.count_nonzero(np.diff(line.astype(int))))
    h, w = gray.shape
    assert changes(gray[h // 2 + 2]) == 12 - 1 and changes(gray[:, w // 2 + 2]) == 9 - 1  # a 12 x 9 checkerboard
