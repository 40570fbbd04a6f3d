import json
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from segmenty import images, infer, model as models, samples
from tests.helpers import NAMES, constant_model, make_workspace, write_photo


@pytest.fixture(scope="module")
def full_model(tmp_path_factory):
    return constant_model(tmp_path_factory.mktemp("m") / "ones.keras")


def test_outputs_at_the_photos_resolution_and_schema(full_model, tmp_path):
    write_photo(tmp_path / "wide.jpg", 80, 48)
    results, _ = infer.test_segmenter(full_model, [str(tmp_path / "wide.jpg")], str(tmp_path / "out"))
    entry = results["images"][0]
    assert entry["size"] == [80, 48]
    for k, (path, name) in enumerate(zip(entry["masks"], NAMES)):
        assert path == str(tmp_path / "out" / f"wide_out{k}_{name}.png")
        mask = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        assert mask.shape == (48, 80) and mask.dtype == np.uint8
        assert mask.min() == (255 if k == 0 else 0)
    assert cv2.imread(entry["input"]).shape == (32, 32, 3)  # what the model saw
    assert cv2.imread(entry["overlay"]).shape == (48, 80, 3)
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(on_disk) == {"model", "mask_names", "image_size", "thresholds", "images"}
    assert on_disk["thresholds"] == [0.5] * 4  # a model without calibrated thresholds
    assert on_disk["mask_names"] == NAMES
    e = on_disk["images"][0]
    assert set(e) == {"source", "input", "masks", "overlay", "size", "present", "agreement", "likeness", "area",
                      "bbox", "quad", "zoom"}
    assert e["zoom"] is None  # the find fills the photo: nothing to look at again
    assert e["agreement"] is None  # a model without calibrated coverage: nothing to check
    assert e["likeness"] is None  # nor a picture of its pattern
    assert e["present"] == pytest.approx(1.0) and e["area"] == [1.0, 0.0, 0.0, 0.0]
    assert e["bbox"] == [0, 0, 80, 48]
    # The find fills the photo, so the quad covers it all, its corners on or just past the edges.
    np.testing.assert_allclose(e["quad"], [[0, 0], [80, 0], [80, 48], [0, 48]], atol=2.5)
    assert infer.quad_coverage(e["quad"], (48, 80)).min() == 255


def test_exif_orientation_and_grayscale(full_model, tmp_path):
    img = Image.fromarray(np.zeros((48, 80, 3), np.uint8))
    exif = img.getexif()
    exif[0x0112] = 6  # rotated 90 degrees: shown 48 wide, 80 tall
    img.save(tmp_path / "turned.jpg", exif=exif)
    cv2.imwrite(str(tmp_path / "gray.png"), np.full((30, 40), 128, np.uint8))
    results, _ = infer.test_segmenter(full_model, [str(tmp_path)], str(tmp_path / "out"))
    sizes = {os.path.basename(e["source"]): e["size"] for e in results["images"]}
    assert sizes == {"turned.jpg": [48, 80], "gray.png": [40, 30]}




def test_corrupt_file_is_reported_and_the_run_goes_on(full_model, tmp_path, script):
    write_photo(tmp_path / "good.jpg", 40, 30)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    proc = script("test_segmenter.py", full_model, tmp_path, tmp_path / "out", check=0)
    assert "warning:" in proc.stderr and "bad.jpg" in proc.stderr and "Traceback" not in proc.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    by_name = {os.path.basename(e["source"]): e for e in results["images"]}
    assert "error" in by_name["bad.jpg"] and "error" not in by_name["good.jpg"]
    assert os.path.exists(tmp_path / "out" / "good_overlay.jpg")


def test_sample_folder_inputs_only_and_limit(tmp_path):
    for i in range(12):
        write_photo(tmp_path / f"{i:06d}_i.jpg", 8, 8)
        write_photo(tmp_path / f"{i:06d}_o_0_mas.png", 8, 8)
    found = images.list_images([str(tmp_path)])
    assert len(found) == 10 and all("_o_" not in p for p in found)
    assert len(images.list_images([str(tmp_path)], limit=0)) == 12


@pytest.mark.parametrize("case,message", [
    ("missing model", r"^error: no model at .*nothing\.keras$"),
    ("plain keras model", r"^error: .*plain\.keras is a Keras model but not a segmenty model"),
    ("empty folder", r"^error: no images in .*empty"),
    ("truth matches nothing", r"^error: none of the 1 photos has an entry in --truth"),
])
def test_bad_input(full_model, tmp_path, script, case, message):
    import keras
    (tmp_path / "empty").mkdir()
    write_photo(tmp_path / "photos.jpg", 8, 8)
    (tmp_path / "gt.json").write_text(json.dumps({"other.jpg": {"size": [8, 8], "quad": None}}))
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    plain.save(tmp_path / "plain.keras")
    args = {"missing model": [tmp_path / "nothing.keras", tmp_path / "photos.jpg"],
            "plain keras model": [tmp_path / "plain.keras", tmp_path / "photos.jpg"],
            "empty folder": [full_model, tmp_path / "empty"],
            "truth matches nothing": [full_model, tmp_path / "photos.jpg", "--truth", tmp_path / "gt.json"]}[case]
    proc = script("test_segmenter.py", *args[:2], tmp_path / "out", *args[2:])
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and __import__("re").match(message, lines[0]), proc.stderr


def test_fit_quad_follows_perspective():
    quad = np.float32([[30, 20], [170, 40], [150, 130], [20, 110]])
    mask = np.zeros((160, 200), np.uint8)
    cv2.fillPoly(mask, [quad.astype(np.int32)], 1)
    fitted = infer.fit_quad(mask.astype(bool))
    np.testing.assert_allclose(fitted, quad, atol=2)


def wavering_find(shape=(160, 200)):
    """(true quad, probabilities): a quad whose edge dips inward at 'white border squares' and bulges once."""
    quad = np.float64([[30, 20], [170, 40], [150, 130], [20, 110]])
    prob = infer.quad_coverage(quad, shape).astype(np.float32) / 255
    for (x0, y0), (x1, y1) in zip(quad, np.roll(quad, -1, axis=0)):
        for t in (0.2, 0.45, 0.7):  # dents, as the model leaves where a white square meets the paper
            cv2.circle(prob, (round(x0 + t * (x1 - x0)), round(y0 + t * (y1 - y0))), 6, 0.3, -1)
    cv2.circle(prob, (95, 30), 5, 0.9, -1)  # a bulge into the margin
    return quad, cv2.GaussianBlur(prob, (0, 0), 1.5)


def test_refine_quad_puts_straight_edges_through_a_wavering_mask():
    quad, prob = wavering_find()
    truth = infer.quad_coverage(quad, prob.shape) > 127
    component, _ = infer.largest_component(prob > 0.75)
    fitted = infer.fit_quad(component)
    refined = infer.refine_quad(prob, fitted)
    iou = lambda m: (m & truth).sum() / (m | truth).sum()
    # Measured: the thresholded mask 0.906, fit_quad's quad 0.913 (corners up to 6 px off), refined 0.967.
    assert iou(infer.quad_coverage(refined, prob.shape) > 127) > 0.95 > iou(component)
    assert iou(infer.quad_coverage(fitted, prob.shape) > 127) < 0.93
    np.testing.assert_allclose(refined, quad, atol=3)


def test_snapped_redraws_the_find_as_its_quad_and_leaves_the_rest():
    quad, prob = wavering_find()
    prob[140:150, 180:190] = 0.9  # something else, elsewhere
    component, _ = infer.largest_component(prob > 0.5)
    out = infer.snapped(prob, component, quad)
    raster = infer.quad_coverage(quad, prob.shape)
    inside, outside = raster == 255, cv2.dilate(raster, np.ones((21, 21), np.uint8)) == 0
    assert (out[inside] == 1).all()  # the dents are filled
    assert out[25:35, 90:100][raster[25:35, 90:100] == 0].max() == 0  # the bulge is gone
    np.testing.assert_array_equal(out[140:150, 180:190], np.float32(0.9))  # the other find is kept
    np.testing.assert_array_equal(out[outside & (prob < 0.5)], prob[outside & (prob < 0.5)])


def test_snap_changes_the_written_mask_not_the_quad(tmp_path):
    _, prob = wavering_find()
    probs = np.stack([prob, np.zeros_like(prob)], -1)
    rgb = np.zeros(prob.shape + (3,), np.uint8)
    names, thresholds = ["mask", "lines"], [0.75, 0.5]
    entries = {}
    for snap in (True, False):
        entry, written = infer.write_outputs(str(tmp_path), f"s{snap}", rgb, rgb, probs, names, thresholds, snap=snap)
        entries[snap] = entry
        png = cv2.imread(entry["masks"][0], cv2.IMREAD_GRAYSCALE)
        np.testing.assert_array_equal(png, np.clip(written[..., 0] * 255 + 0.5, 0, 255).astype(np.uint8))
        expected = infer.snapped(prob, infer.largest_component(prob > 0.75)[0], entry["quad"]) if snap else prob
        np.testing.assert_allclose(written[..., 0], expected, atol=1e-6)
    assert entries[True]["quad"] == entries[False]["quad"]
    assert entries[True]["area"][0] > entries[False]["area"][0]  # the dents, filled


def test_flip_makes_the_predictor_mirror_equivariant(tmp_path):
    rng = np.random.default_rng(1)
    net = models.build_model(models.preset_config("tiny"), NAMES)
    net.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in net.get_weights()])
    path = str(tmp_path / "random.keras")
    models.save(net, path, {"preset": "tiny", "image_size": 32, "mask_names": NAMES, "epochs": 0,
                            "config": models.preset_config("tiny")})
    x = np.random.default_rng(2).uniform(0, 255, (32, 32, 3)).astype(np.float32)
    mirror = np.ascontiguousarray(x[:, ::-1])
    one, _ = infer.load_segmenter(path, batch_size=2, flip=False)
    assert np.abs(one([mirror])[0][:, ::-1] - one([x])[0]).max() > 1e-3  # the net alone is not symmetric
    both, _ = infer.load_segmenter(path, batch_size=2, flip=True)
    np.testing.assert_allclose(both([mirror])[0][:, ::-1], both([x])[0], atol=1e-5)
    np.testing.assert_allclose(both([x])[0], (one([x])[0] + one([mirror])[0][:, ::-1]) / 2, atol=1e-5)


def test_zoom_window_frames_a_small_find_square_and_inside_the_photo():
    probs = np.zeros((32, 32, 2), np.float32)
    assert infer.zoom_window(probs, 0.5, (320, 160)) is None  # nothing found
    probs[8:12, 4:8, 0] = 0.9  # photo pixels (x10, x5): x 40..80, y 40..60
    # Centre (60, 50); side 1.5 x 40 = 60; kept inside the photo's top edge.
    assert infer.zoom_window(probs, 0.5, (320, 160)) == (30, 20, 90, 80)
    probs[:, :, 0] = 0
    probs[0:4, 28:32, 0] = 0.9  # in the top-right corner: x 280..320, y 0..20
    assert infer.zoom_window(probs, 0.5, (320, 160)) == (260, 0, 320, 60)
    probs[0:20, 0:20, 0] = 0.9  # large: a window would cover most of the photo
    assert infer.zoom_window(probs, 0.5, (320, 160)) is None


def test_zoomed_puts_the_second_look_over_its_window():
    full = np.full((40, 60, 2), 0.25, np.float32)
    second = np.zeros((8, 8, 2), np.float32)
    second[..., 1] = 1.0
    out = infer.zoomed(full, (10, 5, 26, 21), second)
    assert out.shape == full.shape and full[0, 0, 0] == 0.25  # the input is left alone
    np.testing.assert_array_equal(out[5:21, 10:26, 0], 0)
    np.testing.assert_array_equal(out[5:21, 10:26, 1], 1)
    assert out[4, 10, 1] == 0.25 and out[5, 26, 1] == 0.25


def test_a_second_look_is_kept_only_if_the_find_keeps_its_area():
    before = np.zeros((50, 50, 1), np.float32)
    before[10:30, 10:30] = 0.9  # 400 px
    after = before.copy()
    after[10:12, 10:30] = 0.1  # 360 px: the edges moved a little
    assert infer.confirmed(before, after, 0.5)
    after[10:20, 10:30] = 0.1  # 200 px: the close-up lost half of it
    assert not infer.confirmed(before, after, 0.5)
    assert not infer.confirmed(before, np.full_like(before, 0.9), 0.5)  # grown to the whole photo


def test_describe_pattern_ignores_specks():
    probs = np.zeros((100, 100, 1), np.float32)
    probs[10:13, 10:13] = 0.9  # 9 pixels: under MIN_AREA of the photo
    d = infer.describe_pattern(probs, [0.5])
    assert d["quad"] is None and 0 < d["present"] < infer.PRESENT
    probs[40:80, 30:90] = 0.8
    d = infer.describe_pattern(probs, [0.5])
    assert d["present"] == pytest.approx(0.8) and d["bbox"] == [30, 40, 60, 40]


def test_describe_pattern_rejects_a_find_whose_inner_masks_disagree():
    probs = np.zeros((100, 100, 3), np.float32)
    probs[20:80, 20:80, 0] = 0.9  # a confident page...
    probs[20:80, 20:35, 1] = 0.9  # ...whose line mask covers a quarter of it
    coverage = [1.0, 0.8, 0.05]  # a true find: lines over 80%; channel 2 is too small to check
    d = infer.describe_pattern(probs, [0.5] * 3, coverage)
    assert d["quad"] is None and d["agreement"] == pytest.approx(0.25 / 0.8, abs=1e-3)
    probs[20:80, 20:70, 1] = 0.9  # now 5/6 of it: more than a true find, capped at 1
    d = infer.describe_pattern(probs, [0.5] * 3, coverage)
    assert d["quad"] is not None and d["agreement"] == 1.0




def test_model_thresholds_are_used_unless_overridden(tmp_path):
    path = constant_model(tmp_path / "m.keras")
    info = models.read_info(path)
    assert infer.model_thresholds(info) == [0.5] * 4
    assert infer.model_thresholds({**info, "thresholds": [0.7, 0.4, 0.4, 0.9]}) == [0.7, 0.4, 0.4, 0.9]
    assert infer.model_thresholds({**info, "thresholds": [0.7, 0.4, 0.4, 0.9]}, 0.6) == [0.6] * 4


def test_with_policy_runs_a_bf16_model_in_float32_with_its_weights():
    import keras
    from segmenty import model as models
    config, names = models.preset_config("tiny"), ["a", "b"]
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        trained = models.build_model(config, names)
    finally:
        keras.config.set_dtype_policy("float32")
    info = {"config": config, "mask_names": names}
    plain = models.with_policy(trained, info, "float32")
    assert plain is not trained and {layer.dtype_policy.name for layer in plain.layers[1:]} == {"float32"}
    for a, b in zip(plain.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    # Back in bf16 it is the trained model again, exactly; in float32 it is close everywhere but
    # where bf16 rounding flips a pixel of an untrained net.
    again = models.with_policy(plain, info, "mixed_bfloat16")
    np.testing.assert_array_equal(np.asarray(again(x), np.float32), np.asarray(trained(x), np.float32))
    assert np.abs(np.asarray(plain(x)) - np.asarray(trained(x), np.float32)).mean() < 0.02
    assert models.with_policy(plain, info, "float32") is plain  # nothing to change: no rebuild


# ---------------------------------------------------------------- likeness

def chessboard_picture(tmp_path):
    from segmenty.patterns import make_patterns, pattern_picture
    make_patterns(str(tmp_path / "chess"), preset="chessboard", cols=10, rows=7)
    return pattern_picture(str(tmp_path / "chess"))


def photo_with(picture, quad, size=(480, 360), seed=0):
    """A noisy gray photo with `picture` warped into `quad` (clockwise from the picture's top left)."""
    h, w = picture.shape
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    photo = cv2.warpPerspective(picture.astype(np.float32), cv2.getPerspectiveTransform(src, np.float32(quad)),
                                size, borderValue=128)
    return photo + np.random.default_rng(seed).normal(0, 10, photo.shape[:2]).astype(np.float32)


def test_pattern_picture_is_what_mask_0_covers(tmp_path):
    picture = chessboard_picture(tmp_path)
    assert picture.shape == (42, 60)  # 10 x 7 squares of 6 px, without the paper margin
    assert picture[3, 3] < 60 and picture[3, 9] > 200 and picture[9, 3] > 200 and picture[9, 9] < 60


def test_likeness_tells_the_pattern_from_stripes_and_skips_what_it_cant_judge(tmp_path):
    picture = chessboard_picture(tmp_path)
    quad = [[120, 80], [380, 100], [360, 280], [100, 260]]
    assert infer.likeness(photo_with(picture, quad), quad, picture) > 0.8
    # The same board upside down and seen from its other corner: any of the four corner mappings.
    turned = np.rot90(picture, 2)
    assert infer.likeness(photo_with(turned, quad), quad, picture) > 0.8
    assert infer.likeness(photo_with(picture, quad), quad[1:] + quad[:1], picture) > 0.8
    fence = np.tile(np.repeat([60.0, 200.0], 13), 20)[:480][None].repeat(360, 0).astype(np.float32)
    assert infer.likeness(fence, quad, picture) < infer.LIKENESS
    out_of_frame = [[-40, 80], [380, 100], [360, 280], [-60, 260]]
    assert infer.likeness(photo_with(picture, quad), out_of_frame, picture) is None
    assert infer.likeness(photo_with(picture, quad), quad, np.full_like(picture, 200)) is None


def test_a_doubtful_find_must_look_like_the_pattern(tmp_path):
    picture = chessboard_picture(tmp_path)
    probs = np.zeros((360, 480, 2), np.float32)
    probs[100:260, 120:360, 0] = 0.9
    probs[100:260, 120:300, 1] = 0.9  # the inner mask covers 3/4 of the find
    quad = [[120, 100], [360, 100], [360, 260], [120, 260]]
    board, fence = photo_with(picture, quad), np.tile(np.repeat([60.0, 200.0], 13), 20)[:480][None].repeat(360, 0)
    doubtful, sure = [1.0, 1.0], [1.0, 0.75]  # agreement 0.75 (< CONFIRM_BELOW), then 1.0
    d = infer.describe_pattern(probs, [0.5, 0.5], doubtful, board.astype(np.float32), picture)
    assert d["quad"] is not None and d["likeness"] > 0.8
    d = infer.describe_pattern(probs, [0.5, 0.5], doubtful, fence.astype(np.float32), picture)
    assert d["quad"] is None and d["likeness"] < infer.LIKENESS
    d = infer.describe_pattern(probs, [0.5, 0.5], sure, fence.astype(np.float32), picture)
    assert d["quad"] is not None and d["agreement"] == 1.0  # the masks agree: no check needed
    d = infer.describe_pattern(probs, [0.5, 0.5], doubtful)  # no picture: the masks decide
    assert d["quad"] is not None and d["likeness"] is None


def test_pattern_folder_must_match_the_models_masks(tmp_path):
    from segmenty.errors import SegmentyError
    picture = chessboard_picture(tmp_path)
    info = {"mask_names": NAMES, "picture": picture.tolist()}
    assert np.array_equal(infer.pattern_picture_for(info), picture)
    assert np.array_equal(infer.pattern_picture_for(info, str(tmp_path / "chess")), picture)
    assert infer.pattern_picture_for({"mask_names": NAMES}) is None
    with pytest.raises(SegmentyError, match=r"`pattern`.*\['a', 'b'\]"):
        infer.pattern_picture_for({"mask_names": ["a", "b"]}, str(tmp_path / "chess"))
