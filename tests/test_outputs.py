import json
import os
import re

import cv2
import numpy as np
import pytest
from PIL import Image

from segmenty import geometry, outputs
from segmenty.segmenter import Segmenter
from tests.helpers import NAMES, constant_model, write_photo


@pytest.fixture(scope="module")
def full_model(tmp_path_factory):
    return constant_model(tmp_path_factory.mktemp("m") / "ones.keras")


def test_outputs_at_the_photos_resolution_and_schema(full_model, tmp_path):
    write_photo(tmp_path / "wide.jpg", 80, 48)
    results, _ = outputs.test_segmenter(full_model, [str(tmp_path / "wide.jpg")], str(tmp_path / "out"))
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
    assert set(on_disk) == {"model", "mask_names", "image_size", "thresholds", "decision", "images"}
    assert on_disk["thresholds"] == [0.5] * 4  # a model without calibrated thresholds
    assert on_disk["mask_names"] == NAMES
    e = on_disk["images"][0]
    assert set(e) == {"source", "input", "masks", "overlay", "size", "found", "score", "quad", "homography",
                      "in_view", "symmetry", "points", "camera_pose", "present", "agreement", "likeness", "area",
                      "bbox", "zoom"}
    assert e["zoom"] is None  # the find fills the photo: nothing to look at again
    assert e["agreement"] is None  # a model without calibrated coverage: nothing to check
    assert e["likeness"] is None  # nor a picture of its pattern
    assert e["found"] and e["present"] == pytest.approx(1.0) and e["area"] == [1.0, 0.0, 0.0, 0.0]
    assert e["homography"] is None and e["points"] is None  # a model that carries no page: no pose
    assert e["bbox"] == [0, 0, 80, 48]
    # The find fills the photo, so the quad covers it all, its corners on or just past the edges.
    np.testing.assert_allclose(e["quad"], [[0, 0], [80, 0], [80, 48], [0, 48]], atol=2.5)
    assert geometry.quad_coverage(e["quad"], (48, 80)).min() == 255


def test_exif_orientation_and_grayscale(full_model, tmp_path):
    img = Image.fromarray(np.zeros((48, 80, 3), np.uint8))
    exif = img.getexif()
    exif[0x0112] = 6  # rotated 90 degrees: shown 48 wide, 80 tall
    img.save(tmp_path / "turned.jpg", exif=exif)
    cv2.imwrite(str(tmp_path / "gray.png"), np.full((30, 40), 128, np.uint8))
    results, _ = outputs.test_segmenter(full_model, [str(tmp_path)], str(tmp_path / "out"))
    sizes = {os.path.basename(e["source"]): e["size"] for e in results["images"]}
    assert sizes == {"turned.jpg": [48, 80], "gray.png": [40, 30]}


def test_snap_changes_the_written_mask_not_the_quad(tmp_path):
    from tests.test_geometry import wavering_find
    _, prob = wavering_find()
    full = np.stack([prob, np.zeros_like(prob), np.zeros_like(prob), np.zeros_like(prob)], -1)
    photo = np.zeros(prob.shape + (3,), np.uint8)
    answers = {}
    for snap in (True, False):
        seg = Segmenter.load(constant_model(tmp_path / "m.keras"), snap=snap, threshold=0.75)
        answers[snap] = seg._answer(photo, full, None, masks=True)
    assert answers[True].to_json()["quad"] == answers[False].to_json()["quad"]
    component = geometry.largest_component(prob > 0.75)[0]
    np.testing.assert_allclose(answers[True].masks[..., 0], geometry.snapped(prob, component, answers[True].quad))
    np.testing.assert_array_equal(answers[False].masks[..., 0], prob)
    assert (answers[True].masks[..., 0] > 0.75).sum() > (prob > 0.75).sum()  # the dents, filled


def test_corrupt_file_is_reported_and_the_run_goes_on(full_model, tmp_path, script):
    write_photo(tmp_path / "good.jpg", 40, 30)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    proc = script("test_segmenter.py", full_model, tmp_path, tmp_path / "out", check=0)
    assert "warning:" in proc.stderr and "bad.jpg" in proc.stderr and "Traceback" not in proc.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    by_name = {os.path.basename(e["source"]): e for e in results["images"]}
    assert "error" in by_name["bad.jpg"] and "error" not in by_name["good.jpg"]
    assert os.path.exists(tmp_path / "out" / "good_overlay.jpg")


@pytest.mark.parametrize("case,message", [
    ("missing model", r"^error: no model at .*nothing\.keras$"),
    ("plain keras model", r"^error: .*plain\.keras is a Keras model but not a segmenty model"),
    ("empty folder", r"^error: no images in .*empty"),
    ("truth matches nothing", r"^error: none of the 1 photos has an entry in --truth"),
    ("out is a file", r"^error: Invalid value for OUT. Received: out='.*photos\.jpg'. Expected a folder"),
    ("bad intrinsics", r"^error: Invalid value for --intrinsics.*camera_matrix"),
])
def test_bad_input(full_model, tmp_path, script, case, message):
    import keras
    (tmp_path / "empty").mkdir()
    write_photo(tmp_path / "photos.jpg", 8, 8)
    (tmp_path / "gt.json").write_text(json.dumps({"other.jpg": {"size": [8, 8], "quad": None}}))
    (tmp_path / "K.json").write_text(json.dumps({"camera_matrix": [[1, 0], [0, 1]]}))
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    plain.save(tmp_path / "plain.keras")
    photo, out = tmp_path / "photos.jpg", tmp_path / "out"
    args = {"missing model": [tmp_path / "nothing.keras", photo, out],
            "plain keras model": [tmp_path / "plain.keras", photo, out],
            "empty folder": [full_model, tmp_path / "empty", out],
            "truth matches nothing": [full_model, photo, out, "--truth", tmp_path / "gt.json"],
            "out is a file": [full_model, photo, photo],
            "bad intrinsics": [full_model, photo, out, "--intrinsics", tmp_path / "K.json"]}[case]
    proc = script("test_segmenter.py", *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and re.match(message, lines[0]), proc.stderr


def test_photos_keep_their_order_across_batches(full_model, tmp_path):
    # Batches are read, found and written overlapping one another: the answers still come in order.
    names = [f"p{i}.jpg" for i in range(7)]
    for i, name in enumerate(names):
        write_photo(tmp_path / name, 40 + 8 * i, 30)
    (tmp_path / "p3.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    seen = []
    results = outputs.segment(Segmenter.load(full_model, batch_size=2), [str(tmp_path / n) for n in names],
                              str(tmp_path / "out"), limit=0, on_result=lambda entry, probs, t: seen.append(
                                  (os.path.basename(entry["source"]), probs.shape[1])))
    assert [os.path.basename(e["source"]) for e in results["images"]] == names
    assert "error" in results["images"][3]
    assert [e.get("size") for e in results["images"]] == [[40 + 8 * i, 30] if i != 3 else None for i in range(7)]
    assert seen == [(n, 40 + 8 * i) for i, n in enumerate(names) if i != 3]


@pytest.mark.parametrize("workers", [0, 2])
def test_the_file_path_keeps_the_photos_order_around_unreadable_ones(tmp_path, workers):
    # The photos stream through one find_all, read ahead and written behind: each entry, an
    # error or a find, lands where its photo is, also across batches and at either end.
    names = [f"{i:02d}.jpg" for i in range(9)]
    for i, name in enumerate(names):
        if i in (0, 4, 8):
            (tmp_path / name).write_bytes(b"\xff\xd8 not really a jpeg")
        else:
            write_photo(tmp_path / name, 40 + i, 30, seed=i)
    with Segmenter.load(constant_model(tmp_path / "m.keras", channel0=0.0), batch_size=2, workers=workers) as seg:
        results = outputs.segment(seg, [str(tmp_path)], str(tmp_path / "out"), limit=0)
    entries = results["images"]
    assert [os.path.basename(e["source"]) for e in entries] == names
    assert [i for i, e in enumerate(entries) if "error" in e] == [0, 4, 8]
    assert [e["size"][0] for e in entries if "error" not in e] == [41, 42, 43, 45, 46, 47]


def test_a_min_score_out_of_range_is_refused_before_the_model_is_read(tmp_path):
    from segmenty.errors import InvalidArgument
    with pytest.raises(InvalidArgument, match="min_score"):
        outputs.test_segmenter(str(tmp_path / "no_model.keras"), [str(tmp_path / "a.jpg")], str(tmp_path / "out"),
                               min_score=1.0)
    assert not (tmp_path / "out").exists()
