import dataclasses

import numpy as np
import pytest
from PIL import Image

from segmenty import find, model as models
from segmenty.errors import InvalidArgument, SegmentyError
from segmenty.segmenter import Segmenter
from tests.helpers import NAMES, constant_model, write_photo


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    rng = np.random.default_rng(1)
    net = models.build_model(models.preset_config("tiny"), NAMES)
    # Variances stay positive: a negative one is NaN (in Keras 3.15 as in ONNX), not an asymmetric net.
    net.set_weights([np.abs(w) if v.path.endswith("moving_variance") else w for w, v in
                     zip((rng.normal(0, 0.3, w.shape).astype(np.float32) for w in net.get_weights()), net.weights)])
    path = str(tmp_path_factory.mktemp("m") / "random.keras")
    models.save(net, path, {"preset": "tiny", "image_size": 32, "mask_names": NAMES, "epochs": 0,
                            "config": models.preset_config("tiny")})
    return path


def test_flip_makes_the_predictor_mirror_equivariant(random_model):
    x = np.random.default_rng(2).uniform(0, 255, (32, 32, 3)).astype(np.float32)
    mirror = np.ascontiguousarray(x[:, ::-1])
    one = Segmenter.load(random_model, batch_size=2, flip=False)
    probs = lambda seg, image: seg._predict([image])[0]
    assert np.abs(probs(one, mirror)[:, ::-1] - probs(one, x)).max() > 1e-3  # the net alone is not symmetric
    both = Segmenter.load(random_model, batch_size=2, flip=True)
    np.testing.assert_allclose(probs(both, mirror)[:, ::-1], probs(both, x), atol=1e-5)
    np.testing.assert_allclose(probs(both, x), (probs(one, x) + probs(one, mirror)[:, ::-1]) / 2, atol=1e-5)
    # A batch and its mirrors go through in one pass: each photo still gets its own mirror's masks.
    photos = [x, mirror, x[::-1].copy()]
    for alone, batched in zip([probs(both, p) for p in photos], both._predict(photos)):
        np.testing.assert_allclose(batched, alone, atol=1e-5)


@pytest.mark.parametrize("fixed", [True, False])
def test_batches_are_padded_only_for_a_predictor_that_compiles_each_shape(fixed):
    # A Keras backend compiles each batch shape once, so its batches go full; onnxruntime runs
    # any size, and the closer looks at 3 photos of 8 should cost 3 (6 with their mirrors).
    from tests.test_video import BoardFinder

    class Recording(BoardFinder):
        batch_size, fixed_batches = 8, fixed

        def __init__(self):
            super().__init__()
            self.sizes = []

        def __call__(self, batch):
            self.sizes.append(len(batch))
            return super().__call__(batch)

    finder = Recording()
    seg = Segmenter(finder, finder.info, flip=True)
    finder.sizes.clear()  # what loading asked of it
    inputs = [np.full((64, 64, 3), 255, np.float32)] * 11
    assert len(seg._predict(inputs)) == 11 and len(seg._predict(inputs[:1])) == 1
    assert finder.sizes == ([16, 16, 2] if fixed else [16, 6, 2])


def test_model_thresholds_are_used_unless_overridden(tmp_path):
    path = constant_model(tmp_path / "m.keras")
    assert Segmenter.load(path).thresholds == [0.5] * 4
    info = models.read_info(path)
    net, _ = models.load(path, compile=False)
    models.save(net, path, {**info, "thresholds": [0.7, 0.4, 0.4, 0.9]})
    assert Segmenter.load(path).thresholds == [0.7, 0.4, 0.4, 0.9]
    assert Segmenter.load(path, threshold=0.6).thresholds == [0.6] * 4
    with pytest.raises(InvalidArgument, match=r"`threshold`. Received: threshold=1.5"):
        Segmenter.load(path, threshold=1.5)


def test_arrays_paths_and_pil_images_give_the_same_find(random_model, tmp_path):
    write_photo(tmp_path / "photo.png", 48, 40)
    seg = Segmenter.load(random_model)
    rgb = np.asarray(Image.open(tmp_path / "photo.png").convert("RGB"))
    finds = [seg.find(str(tmp_path / "photo.png")), seg.find(rgb), seg.find(Image.open(tmp_path / "photo.png")),
             seg.find(np.ascontiguousarray(rgb[..., ::-1]), channels="bgr")]
    for f in finds[1:]:
        assert f.to_json() == finds[0].to_json()
    assert finds[0].masks is None and seg.find(rgb, masks=True).masks.shape == (40, 48, 4)
    assert [f.size for f in seg.find_all([rgb, rgb[:20]])] == [(48, 40), (48, 20)]


@pytest.mark.parametrize("image,message", [
    (np.zeros((10, 10, 3), np.float32), r"`image`. Received: image='an array of dtype float32.*Expected uint8"),
    (np.zeros((10, 10, 5), np.uint8), r"`image`. Received: image='an array of shape \(10, 10, 5\)'"),
    (np.zeros((3000, 3000, 3), np.uint8), r"at most 1,000,000 pixels \(raise max_pixels\)"),
])
def test_a_wrong_image_gets_a_keras_style_error(random_model, image, message):
    seg = Segmenter.load(random_model, max_pixels=1_000_000)
    with pytest.raises(InvalidArgument, match=message):
        seg.find(image)
    with pytest.raises(InvalidArgument, match="`channels`"):
        seg.find(np.zeros((8, 8, 3), np.uint8), channels="rbg")


def test_pattern_folder_must_match_the_models_masks(random_model, tmp_path):
    from segmenty.patterns import make_patterns
    make_patterns(str(tmp_path / "chess"), preset="chessboard", cols=10, rows=7)
    seg = Segmenter.load(random_model, pattern=str(tmp_path / "chess"))
    assert seg.page.grid == (6, 9) and seg.page.refine == "chessboard"
    make_patterns(str(tmp_path / "one"), from_image=str(tmp_path / "chess" / "full.png"))
    with pytest.raises(SegmentyError, match=r"`pattern`.*\['mask', 'vertical', 'horizontal', 'middle'\]"):
        Segmenter.load(random_model, pattern=str(tmp_path / "one"))


def test_import_segmenty_registers_the_layers_for_keras(random_model):
    import subprocess
    import sys
    code = ("import keras, segmenty; m = keras.models.load_model(%r, compile=False); "
            "print(type(m.get_layer('up0_deconv')).__name__)" % random_model)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "SubPixelConv2DTranspose", out.stderr[-2000:]


def test_a_small_pattern_in_a_large_frame_is_found_by_the_tiled_look(tmp_path):
    import cv2
    from segmenty.patterns import make_patterns
    from tests.test_video import BoardFinder
    make_patterns(str(tmp_path / "chess"), "chessboard", 10, 7, square=20)
    full = cv2.imread(str(tmp_path / "chess" / "full.png"))
    frame = np.full((720, 1280, 3), 150, np.uint8)
    frame[300:300 + 88, 900:900 + 121] = cv2.resize(full, (121, 88), interpolation=cv2.INTER_AREA)  # 1.2% of it
    finder = BoardFinder()
    found = {small: Segmenter(finder, finder.info, flip=False, pattern=str(tmp_path / "chess"), small=small).find(frame)
             for small in (False, True)}
    assert not found[False].found  # at 64 x 64 the whole frame shows the board as a few pixels
    assert found[True].found and found[True].zoom is not None
    truth = np.float64([[905, 305], [1015, 305], [1015, 383], [905, 383]])  # the squares, without the margin
    assert np.abs(found[True].quad - truth).max() < 2


def test_a_larger_rejected_component_does_not_hide_the_pattern(tmp_path):
    # A plain dark panel the masks mistake for the pattern, larger than the board beside it:
    # the panel is posed first and rejected, then the board is found.
    import cv2
    from segmenty.patterns import make_patterns
    from tests.test_video import BoardFinder
    make_patterns(str(tmp_path / "chess"), "chessboard", 10, 7, square=20)
    full = cv2.imread(str(tmp_path / "chess" / "full.png"))
    photo = np.full((300, 400, 3), 160, np.uint8)
    photo[20:280, 10:190] = 30  # the panel
    photo[80:226, 210:410 - 10] = cv2.resize(full, (190, 146), interpolation=cv2.INTER_AREA)
    probs = np.zeros((300, 400, 4), np.float32)
    probs[20:280, 10:190, 0] = 0.9
    probs[95:211, 225:385, 0] = 0.9

    class Masks(BoardFinder):
        def __call__(self, batch):
            return np.stack([cv2.resize(probs, (64, 64), interpolation=cv2.INTER_AREA)] * len(batch))

    finder = Masks()
    info = {**finder.info, "decision": {"threshold": 0.5, "scale": 0.1}}  # the page's evidence decides
    seg = Segmenter(finder, info, flip=False, zoom=False, pattern=str(tmp_path / "chess"))
    found = seg.find(photo, masks=True)
    assert found.found and 210 <= found.quad[:, 0].min() and found.quad[:, 0].max() <= 400
    assert found.masks[150, 100, 0] > 0.5  # the masks are what the model saw, the panel included


def test_the_tiled_look_runs_where_the_whole_look_found_something_else(tmp_path):
    # A dark panel the whole look sees (and the decision turns down) beside a board too small for it.
    import cv2
    from segmenty.patterns import make_patterns
    from tests.test_video import BoardFinder
    make_patterns(str(tmp_path / "chess"), "chessboard", 10, 7, square=20)
    full = cv2.imread(str(tmp_path / "chess" / "full.png"))
    frame = np.full((720, 1280, 3), 150, np.uint8)
    frame[100:400, 100:500] = 20  # the panel
    frame[300:300 + 88, 900:900 + 121] = cv2.resize(full, (121, 88), interpolation=cv2.INTER_AREA)
    finder = BoardFinder()
    info = {**finder.info, "decision": {"threshold": 0.5, "scale": 0.1}}
    found = {small: Segmenter(finder, info, flip=False, pattern=str(tmp_path / "chess"), small=small).find(frame)
             for small in (False, True)}
    assert not found[False].found and found[False].bbox is not None  # the panel, turned down
    assert found[True].found
    truth = np.float64([[905, 305], [1015, 305], [1015, 383], [905, 383]])
    assert np.abs(found[True].quad - truth).max() < 2


def test_a_charuco_board_the_model_misses_is_found_by_its_markers_with_its_masks(tmp_path):
    # A blind model (no mask at all): the answer comes from the markers; the snapped mask is its quad.
    import cv2
    from segmenty.patterns import make_patterns
    from tests.test_video import BoardFinder
    make_patterns(str(tmp_path / "charuco"), "charuco", 10, 7, square=40)
    full = cv2.imread(str(tmp_path / "charuco" / "full.png"))
    photo = np.full((360, 480, 3), 150, np.uint8)
    photo[40:40 + 256, 60:60 + 352] = cv2.resize(full, (352, 256), interpolation=cv2.INTER_AREA)

    class Blind(BoardFinder):
        def __call__(self, batch):
            return np.zeros(batch.shape[:3] + (4,), np.float32)

    finder = Blind()
    info = {**finder.info, "decision": {"threshold": 0.5, "scale": 0.1}}
    found = Segmenter(finder, info, flip=False, pattern=str(tmp_path / "charuco")).find(photo, masks=True)
    truth = np.float64([[60, 40], [412, 40], [412, 296], [60, 296]]) + [[16, 16], [-16, 16], [-16, -16], [16, -16]]
    assert found.found and found.bbox is None and np.abs(found.quad - truth).max() < 1.5
    assert found.masks[168, 236, 0] == 1.0 and found.masks[10, 10, 0] == 0.0
    assert sum(p.refined for p in found.points) == len(found.points)


def test_worker_processes_give_the_same_finds_and_masks(tmp_path):
    # The answers (pose, decision, the snapped mask) made in spawned processes, sent back as
    # Finds and packed components, are the ones this process makes.
    import cv2
    from segmenty.patterns import make_patterns
    from tests.test_video import BoardFinder
    make_patterns(str(tmp_path / "chess"), "chessboard", 10, 7, square=20)
    full = cv2.imread(str(tmp_path / "chess" / "full.png"))
    rng = np.random.default_rng(3)
    photos = []
    for i in range(5):
        photo = cv2.GaussianBlur(rng.integers(70, 190, (240, 320, 3), dtype=np.uint8), (0, 0), 2)
        quad = np.float32([[60, 50], [200, 58], [196, 160], [56, 152]]) + 6 * i
        H = cv2.getPerspectiveTransform(np.float32([[0, 0], [full.shape[1], 0], [full.shape[1], full.shape[0]],
                                                    [0, full.shape[0]]]), quad)
        if i != 2:  # one photo without the board
            cv2.warpPerspective(full, H, (320, 240), dst=photo, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_TRANSPARENT)
        photos.append(photo)
    finder = BoardFinder(calibrated=True)
    finds = {}
    for workers in (0, 2):
        with Segmenter(finder, finder.info, flip=False, pattern=str(tmp_path / "chess"), workers=workers) as seg:
            finds[workers] = list(seg.find_all(photos, masks=True, batch_size=2))
    assert [f.found for f in finds[0]] == [True, True, False, True, True]
    for a, b in zip(finds[0], finds[2]):
        assert a.to_json() == b.to_json()
        assert np.array_equal(a.masks, b.masks)
    assert (finds[2][0].masks[..., 0] == 1.0).sum() > 1000  # snapped to the quad's raster


def test_workers_must_be_a_count():
    from tests.test_video import BoardFinder
    finder = BoardFinder()
    with pytest.raises(InvalidArgument, match="workers.*-1.*0 or more"):
        Segmenter(finder, finder.info, workers=-1)


def test_a_caller_that_stops_early_leaves_no_shared_memory(tmp_path):
    # The workers read each photo's masks from shared memory: a generator dropped half-way still
    # collects the batch under way, so no block outlives the call but those kept for the next
    # call, and close() removes those.
    import glob
    from tests.test_video import BoardFinder
    finder = BoardFinder(calibrated=True)
    photos = [np.full((120, 160, 3), 128, np.uint8)] * 6
    before = set(glob.glob("/dev/shm/psm_*"))
    with Segmenter(finder, finder.info, flip=False, workers=2) as seg:
        finds = seg.find_all(photos, batch_size=2)
        assert not next(finds).found
        finds.close()
        kept = {f"/dev/shm/{block.name.lstrip('/')}" for block in seg._blocks}
        assert kept and set(glob.glob("/dev/shm/psm_*")) - before == kept
    assert set(glob.glob("/dev/shm/psm_*")) <= before


def test_the_workers_shared_memory_is_reused_across_batches_and_calls():
    # A new block costs its pages' first touch: the next photos reuse the last ones'.
    import glob
    from tests.test_video import BoardFinder
    finder = BoardFinder(calibrated=True)
    photos = [np.full((120, 160, 3), 128, np.uint8)] * 8
    before = set(glob.glob("/dev/shm/psm_*"))
    with Segmenter(finder, finder.info, flip=False, workers=2) as seg:
        assert not any(f.found for f in seg.find_all(photos, batch_size=2))
        first = set(glob.glob("/dev/shm/psm_*")) - before
        assert 0 < len(first) <= 4  # two batches in flight at most, not one block per photo
        assert not any(f.found for f in seg.find_all(photos, batch_size=2))
        assert set(glob.glob("/dev/shm/psm_*")) - before == first
    assert set(glob.glob("/dev/shm/psm_*")) <= before


def test_an_error_in_a_worker_reaches_the_caller_as_itself(monkeypatch):
    # The worker lets go of the photo's block and the error travels back as raised.
    from segmenty import segmenter

    def fails(gray, probs, masks):
        raise ValueError("the answer failed")
    monkeypatch.setattr(segmenter, "_worker_answerer", fails)
    block, shared = segmenter._shared((np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)), [])
    try:
        with pytest.raises(ValueError, match="the answer failed"):
            segmenter._answer_in_worker(shared, False)
    finally:
        segmenter._unlink([block])


def test_min_score_decides_what_is_found_and_keeps_the_pose_and_score(tmp_path):
    import cv2
    from segmenty.patterns import make_patterns
    from tests.test_video import BoardFinder
    make_patterns(str(tmp_path / "chess"), "chessboard", 10, 7, square=20)
    full = cv2.imread(str(tmp_path / "chess" / "full.png"))
    photo = np.full((300, 400, 3), 150, np.uint8)
    photo[60:60 + 146, 100:100 + 200] = cv2.resize(full, (200, 146), interpolation=cv2.INTER_AREA)
    finder = BoardFinder()
    # A threshold above this board's evidence: the calibrated decision turns it down (score < 0.5).
    info = {**finder.info, "decision": {"threshold": 1.0, "scale": 0.1}}
    answers = {s: Segmenter(finder, info, flip=False, pattern=str(tmp_path / "chess"), min_score=s).find(photo)
               for s in (None, 0.05)}
    assert 0.05 < answers[None].score < 0.5 and not answers[None].found
    assert answers[0.05].found and answers[0.05].score == answers[None].score
    np.testing.assert_allclose(answers[0.05].quad, answers[None].quad)
    strict = Segmenter(finder, {**info, "decision": {"threshold": 0.0, "scale": 0.1}}, flip=False,
                       pattern=str(tmp_path / "chess"), min_score=0.9999999)
    answer = strict.find(photo)
    assert not answer.found and answer.quad is not None and 0.5 < answer.score < 0.9999999


@pytest.mark.parametrize("min_score", [0, 1, 1.5, "high"])
def test_min_score_must_be_a_score(tmp_path, min_score):
    from tests.test_video import BoardFinder
    finder = BoardFinder()
    info = {**finder.info, "decision": {"threshold": 0.5, "scale": 0.1}}
    with pytest.raises(InvalidArgument, match="min_score"):
        Segmenter(finder, info, flip=False, min_score=min_score)


def test_min_score_needs_a_calibrated_model():
    from tests.test_video import BoardFinder
    finder = BoardFinder()
    with pytest.raises(InvalidArgument, match="calibrate_segmenter"):
        Segmenter(finder, {**finder.info, "decision": None}, flip=False, min_score=0.3)


def test_a_find_is_judged_on_the_tiles_its_calibration_was_measured_on(tmp_path):
    # Thresholds measured on one tiling's evidence don't hold for another's: a model calibrated
    # before the calibration recorded its tiling keeps the 4 x 4 evidence it was measured on.
    import cv2
    from segmenty import pose
    from segmenty.page import from_pattern
    from segmenty.patterns import make_patterns
    from tests.test_video import BoardFinder
    make_patterns(str(tmp_path / "chess"), "chessboard", 10, 7, square=20)
    full = cv2.imread(str(tmp_path / "chess" / "full.png"))
    photo = np.full((300, 400, 3), 150, np.uint8)
    photo[60:60 + 146, 100:100 + 200] = cv2.resize(full, (200, 146), interpolation=cv2.INTER_AREA)
    photo[60:140, 110:220] = 240  # a card over a corner of the board: the evidence differs by tiling
    finder = BoardFinder()
    found = {}
    for decision in ({"threshold": 0.5, "scale": 0.1}, {"threshold": 0.5, "scale": 0.1, "tiles": 8}):
        segmenter = Segmenter(finder, {**finder.info, "decision": decision}, flip=False, pattern=str(tmp_path / "chess"))
        found[segmenter.page.tiles] = segmenter.find(photo)
    assert sorted(found) == [pose.FIRST_EVIDENCE_TILES, pose.EVIDENCE_TILES]
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    for tiles, f in found.items():
        page = dataclasses.replace(from_pattern(str(tmp_path / "chess")), tiles=tiles)
        # (the reported homography is fitted again through the corners after the evidence is taken)
        assert f.likeness == pytest.approx(find.evidence_for(gray, page, f.homography), abs=0.005)
    assert found[4].likeness < found[8].likeness - 0.05
