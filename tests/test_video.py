import json
import os
import re

import cv2
import numpy as np
import pytest

from segmenty import find, geometry, model as models, video
from segmenty.page import from_pattern
from segmenty.patterns import make_patterns
from segmenty.segmenter import Segmenter

SIZE = (320, 240)


class BoardFinder:
    """A stand-in for a trained model: the board's area is where dark squares crowd together."""

    batch_size = 1
    calls = 0

    def __init__(self, calibrated=False):
        config = models.preset_config("tiny", 64)
        self.info = {"preset": "tiny", "image_size": 64, "mask_names": ["mask", "vertical", "horizontal", "middle"], "epochs": 1, "config": config}
        if calibrated:
            self.info["decision"] = {"threshold": 0.5, "scale": 0.1}

    def __call__(self, batch):
        self.calls += 1
        out = np.zeros(batch.shape[:3] + (4,), np.float32)
        for i, image in enumerate(batch):
            dark = (image.mean(-1) < 40).astype(np.uint8)
            out[i, ..., 0] = cv2.morphologyEx(dark, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
        return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """(pattern folder, a 20-frame video of the board sliding across a noisy background, true quads)."""
    root = tmp_path_factory.mktemp("clip")
    pattern = str(root / "chess")
    make_patterns(pattern, "chessboard", 10, 7, square=20)
    page = from_pattern(pattern)
    full = cv2.imread(os.path.join(pattern, "full.png"))
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(70, 190, (SIZE[1], SIZE[0], 3), dtype=np.uint8), (0, 0), 2)
    writer = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, SIZE)
    quads = []
    for t in range(20):
        quad = np.float64([[80, 60], [180, 66], [177, 136], [77, 130]]) + [2.5 * t, 1.0 * t]
        H = cv2.getPerspectiveTransform(np.float32(page.area), np.float32(quad))
        frame = background.copy()
        cv2.warpPerspective(full, H, SIZE, dst=frame, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_TRANSPARENT)
        writer.write(frame)
        quads.append(quad)
    writer.release()
    return pattern, str(root / "clip.mp4"), quads


def segmenter(pattern, calibrated=False):
    finder = BoardFinder(calibrated)
    return Segmenter(finder, finder.info, flip=False, pattern=pattern)


@pytest.mark.parametrize("track", [True, False], ids=["tracking", "whole looks"])
def test_a_video_gives_one_line_per_frame_and_an_annotated_video(clip, tmp_path, track):
    pattern, path, quads = clip
    done = video.run(segmenter(pattern), path, str(tmp_path / "out"), track=track, show=False)
    assert done["frames"] == 20 and done["errors"] == 0 and done["found"] == 20
    lines = [json.loads(line) for line in (tmp_path / "out" / "clip.jsonl").read_text().splitlines()]
    assert [e["frame"] for e in lines] == list(range(20)) and lines[3]["time"] == pytest.approx(0.3)
    for entry, quad in zip(lines, quads):
        assert entry["found"] and np.abs(np.float64(entry["quad"]) - quad).max() < 2.0
        assert len(entry["points"]) == 54 and np.shape(entry["homography"]) == (3, 3)
    annotated = cv2.VideoCapture(str(tmp_path / "out" / "clip_annotated.mp4"))
    assert int(annotated.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    assert (int(annotated.get(cv2.CAP_PROP_FRAME_WIDTH)), int(annotated.get(cv2.CAP_PROP_FRAME_HEIGHT))) == SIZE
    assert sorted(os.listdir(tmp_path / "out")) == ["clip.jsonl", "clip_annotated.mp4"]  # no temporary files


@pytest.mark.parametrize("calibrated", [False, True], ids=["masks decide", "calibrated"])
def test_tracking_finds_what_whole_looks_find(clip, calibrated):
    # With a calibrated decision, the last pose registered on the frame is judged without a
    # model run; with the masks' decision, the model looks only around the last find.
    pattern, path, quads = clip
    seg = segmenter(pattern, calibrated)
    capture = cv2.VideoCapture(path)
    previous = None
    for quad in quads[:6]:
        _, frame = capture.read()
        whole = seg.find(frame, channels="bgr")
        calls = seg.predictor.calls
        tracked = seg.track(frame, previous, channels="bgr")
        assert tracked.found and np.abs(tracked.quad - whole.quad).max() < 0.5
        if previous is not None and calibrated:
            # No model run: no bbox, and the masks' word is the last look's, carried (find.weighed).
            assert seg.predictor.calls == calls and tracked.bbox is None and tracked.to_json()["bbox"] is None
            assert tracked.present == previous.present > 0
        elif previous is not None:
            assert tracked.zoom == find.tracking_window(previous.quad, SIZE)  # only around it
        previous = tracked
    assert geometry.in_view(previous.quad, SIZE) == pytest.approx(1.0, abs=1e-4)


def test_tracking_a_chessboard_follows_its_corners_without_registering(clip, monkeypatch):
    # A frame moves the board by a fraction of a square: its corners near the last pose place it.
    pattern, path, quads = clip
    seg = segmenter(pattern, calibrated=True)
    capture = cv2.VideoCapture(path)
    previous = seg.find(capture.read()[1], channels="bgr")
    registered = []
    monkeypatch.setattr(find.pose, "register", lambda *a, **k: registered.append(1) or (a[3], None))
    for quad in quads[1:6]:
        frame = capture.read()[1]
        tracked = seg.track(frame, previous, channels="bgr")
        assert tracked.found and tracked.bbox is None and np.abs(tracked.quad - quad).max() < 1.0
        assert tracked.present == previous.present
        previous = tracked
    assert registered == []
    monkeypatch.undo()
    assert np.abs(tracked.quad - seg.find(frame, channels="bgr").quad).max() < 0.5  # as a whole look places it


def test_a_page_the_tracking_window_cuts_is_looked_for_in_the_whole_frame(clip, monkeypatch):
    # After a cut to another shot, the window around the last find holds only part of the board,
    # and its masks pose that part as if it were all of it: a page that runs on past the window.
    # The whole frame is looked at instead.
    import dataclasses
    pattern, path, quads = clip
    seg = segmenter(pattern, calibrated=True)
    frame = cv2.VideoCapture(path).read()[1]
    whole = seg.find(frame, channels="bgr")
    away = np.float64([[1, 0, -60], [0, 1, 25], [0, 0, 1]])  # where the board was in the shot before
    before = dataclasses.replace(whole, quad=geometry.project(away, whole.quad), homography=away @ whole.homography)
    window = find.tracking_window(before.quad, SIZE)
    short = dataclasses.replace(whole, quad=np.clip(whole.quad, 0, window[2] - 0.5))  # cut at the window's right side
    answer = seg._answer
    monkeypatch.setattr(seg, "_answer", lambda photo, full, zoom, masks, prior=None:
                        short if zoom == window else answer(photo, full, zoom, masks, prior))
    tracked = seg.track(frame, before, channels="bgr")
    assert tracked.found and np.abs(tracked.quad - whole.quad).max() < 0.5


def test_within_window_lets_a_page_run_on_only_past_the_photo_s_border():
    window = (0, 20, 100, 120)  # its left side on the photo's border
    assert find.within_window([[-30, 30], [90, 30], [90, 110], [-30, 110]], window, (320, 240))
    assert not find.within_window([[10, 30], [130, 30], [130, 110], [10, 110]], window, (320, 240))
    assert not find.within_window([[10, 10], [90, 10], [90, 110], [10, 110]], window, (320, 240))


def test_tracking_looks_again_where_the_last_pose_no_longer_explains_the_frame(clip):
    pattern, path, quads = clip
    seg = segmenter(pattern, calibrated=True)
    capture = cv2.VideoCapture(path)
    frames = [capture.read()[1] for _ in range(20)]
    first = seg.find(frames[0], channels="bgr")
    calls = seg.predictor.calls
    jumped = seg.track(frames[19], first, channels="bgr")  # the board moved 50 px since: too far to register
    assert seg.predictor.calls > calls
    assert jumped.found and np.abs(jumped.quad - quads[19]).max() < 2.0


def test_bad_videos_get_one_line_and_nothing_written(clip, tmp_path, script):
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video at all")
    cv2.VideoWriter(str(tmp_path / "empty.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, SIZE).release()
    from tests.helpers import constant_model
    model = constant_model(tmp_path / "m.keras")
    cases = [([tmp_path / "broken.mp4"], r"^error: can't read .*broken\.mp4 as a video"),
             ([tmp_path / "empty.mp4"], r"^error: (can't read .*empty\.mp4 as a video|.*empty\.mp4 has no frames)"),
             (["--camera", "57"], r"^error: Invalid value for --camera. Received: camera=57")]
    for args, message in cases:
        out = tmp_path / "out"
        inputs = [str(a) for a in args if not str(a).startswith("--") and a != "57"]
        flags = [str(a) for a in args if str(a).startswith("--") or a == "57"]
        proc = script("test_segmenter.py", model, *inputs, out, *flags, "--no-show")
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and re.match(message, lines[0]), proc.stderr
        assert not out.exists() or not os.listdir(out)


@pytest.mark.parametrize("track, workers", [(True, 0), (False, 0), (False, 2)],
                         ids=["tracking", "whole looks, in batches", "whole looks, answered by 2 processes"])
def test_a_corrupt_frame_is_an_error_line_and_the_run_goes_on(clip, tmp_path, track, workers):
    pattern, _, _ = clip
    path = str(tmp_path / "mj.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, SIZE)
    for i in range(8):
        writer.write(np.full((SIZE[1], SIZE[0], 3), 30 * i, np.uint8))
    writer.release()
    data = bytearray(open(path, "rb").read())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]  # each frame's JPEG
    data[starts[4] + 2:starts[4] + 400] = bytes(398)  # frame 4 no longer decodes
    open(path, "wb").write(bytes(data))
    seg = segmenter(pattern)
    seg.workers = workers
    with seg:
        done = video.run(seg, path, str(tmp_path / "out"), track=track, show=False)
    lines = [json.loads(line) for line in (tmp_path / "out" / "mj.jsonl").read_text().splitlines()]
    assert [e["frame"] for e in lines] == list(range(8)) and done["errors"] == 1 and done["frames"] == 8
    assert lines[4] == {"frame": 4, "time": 0.4, "error": "unreadable frame"}
    assert "found" in lines[5]


def test_worker_processes_answer_a_video_as_this_process_does(clip, tmp_path):
    # Without tracking, the frames stream through find_all: answered by two spawned processes
    # while the model looks at the next batch, line for line what threads answer.
    pattern, path, _ = clip
    lines = {}
    for workers in (0, 2):
        seg = segmenter(pattern, calibrated=True)
        seg.workers = workers
        with seg:
            video.run(seg, path, str(tmp_path / str(workers)), track=False, show=False)
            assert (seg._pool is not None) == (workers > 0)  # the processes did the answering
        assert seg._pool is None  # closed with the block
        lines[workers] = (tmp_path / str(workers) / "clip.jsonl").read_text().splitlines()
    assert len(lines[2]) == 20 and lines[2] == lines[0]
