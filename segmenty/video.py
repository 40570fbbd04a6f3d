"""Video and cameras: the pattern found in every frame (test_segmenter.py CLIP.mp4 OUT, or --camera N).

Writes, for a video CLIP.mp4 (or camera N, named `camera<N>`):

    OUT/CLIP_annotated.mp4   every frame with the find drawn on it (drawing.draw_find)
    OUT/CLIP.jsonl           one line per frame: {"frame", "time" (s), **find.Find.to_json()},
                             or {"frame", "time", "error"} for a frame that could not be decoded

Both files are written under temporary names and moved into place at the end, also when the run
is stopped with Ctrl-C or the camera goes away, so they are never left half-written.

Tracking: where the pattern was found in the last frame, the next one is looked at first around
it (Segmenter.track), which is faster and steadier; the whole frame is looked at every
`every` frames, and whenever the pattern is lost.

OpenCV's VideoCapture reads and VideoWriter writes; a window shows the frames live where a display
exists (`show`), and Esc or q there ends the run as Ctrl-C does.
"""

import collections
import json
import os
import sys
import time

import cv2

from segmenty import images
from segmenty.errors import InvalidArgument, SegmentyError
from segmenty.drawing import draw_find

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg")
EVERY = 30  # a whole look at least this often, even while tracking
FOURCC = "mp4v"  # what OpenCV's own FFmpeg writes everywhere without extra codecs
MAX_FAILURES = 10  # this many unreadable frames in a row end a video
BATCH = 8  # frames of a file found together without tracking


def is_video_name(name):
    return str(name).lower().endswith(VIDEO_EXTENSIONS)


def has_display():
    """Whether a window can be shown: not on a headless Linux machine (no DISPLAY, no Wayland)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def open_source(source):
    """(cv2.VideoCapture, name) for a video file or a camera number; SegmentyError if it can't be opened."""
    if isinstance(source, int):
        # OpenCV logs its own line for a camera that isn't there; the error below says it once.
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            capture, name = cv2.VideoCapture(source), f"camera{source}"
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not capture.isOpened():
            raise InvalidArgument("camera", source, "the number of a camera this machine has (0 is the first)")
        return capture, name
    if not os.path.isfile(source):
        raise InvalidArgument("inputs", source, "a video file")
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise SegmentyError(f"can't read {source} as a video (expected {', '.join(VIDEO_EXTENSIONS)} that "
                            "OpenCV's FFmpeg decodes)")
    ok, _ = capture.read()
    if not ok:
        capture.release()
        raise SegmentyError(f"{source} has no frames")
    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return capture, os.path.splitext(os.path.basename(source))[0]


def run(segmenter, source, out, track=True, every=EVERY, show=None, limit=0, log=None):
    """Find the pattern in every frame of a video or camera and write OUT's two files (see above).

    Args:
        segmenter: segmenter.Segmenter.
        source: str, a video file, or int, a camera number.
        out: str, output folder (created; an existing file of that name is an error).
        track: bool, look first where the pattern was in the frame before. Defaults to True.
        every: int, a whole look at least every this many frames while tracking. Defaults to EVERY.
        show: bool or None, show the frames in a window; None for "where a display exists".
        limit: int, stop after this many frames; 0 for all. Defaults to 0.
        log: callable(str) or None, for a progress line now and then.

    Returns:
        dict {"frames", "found", "errors", "seconds", "video", "jsonl"}.
    """
    if not isinstance(every, int) or every <= 0:
        raise InvalidArgument("every", every, "a positive integer")
    if os.path.exists(out) and not os.path.isdir(out):
        raise InvalidArgument("out", out, "a folder to write into (a file of that name exists)")
    capture, name = open_source(source)
    show = has_display() if show is None else show
    os.makedirs(out, exist_ok=True)
    video_path, jsonl_path = os.path.join(out, f"{name}_annotated.mp4"), os.path.join(out, f"{name}.jsonl")
    fps = capture.get(cv2.CAP_PROP_FPS) or 0
    fps = fps if 1 <= fps <= 240 else 30.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    # Without tracking, a file's frames don't depend on one another: they stream through find_all in
    # batches (with the segmenter's workers, one batch answered while the model looks at the next).
    # A camera's are answered as they come.
    streamed = not track and not isinstance(source, int)
    counts = {"frames": 0, "found": 0, "errors": 0}
    started = time.monotonic()
    writer = None
    try:
        with images.replacing(video_path) as video_tmp, images.replacing(jsonl_path) as jsonl_tmp, \
                open(jsonl_tmp, "w") as lines:
            frames = _frames(capture, isinstance(source, int), total, limit)
            answered = _streamed(segmenter, frames) if streamed else _tracked(segmenter, frames, track, every)
            try:
                for index, frame, found in answered:
                    seconds = round(index / fps, 4)
                    counts["frames"] += 1
                    if frame is None:
                        _write_line(lines, {"frame": index, "time": seconds, "error": "unreadable frame"})
                        counts["errors"] += 1
                        continue
                    counts["found"] += found.found
                    _write_line(lines, {"frame": index, "time": seconds, **found.to_json()})
                    annotated = draw_find(frame.copy(), found)
                    if writer is None:
                        writer = cv2.VideoWriter(video_tmp, cv2.VideoWriter_fourcc(*FOURCC), fps,
                                                 (frame.shape[1], frame.shape[0]))
                    writer.write(annotated)
                    if show:
                        cv2.imshow(f"segmenty: {name} (Esc to stop)", annotated)
                        if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                            raise KeyboardInterrupt
                    if log and counts["frames"] % 100 == 0:
                        log(f"{counts['frames']} frames, {counts['found']} found, "
                            f"{counts['frames'] / (time.monotonic() - started):.1f} frames/s")
            except KeyboardInterrupt:  # the usual end of a camera run: keep what was written
                pass
            finally:
                if writer is not None:
                    writer.release()
            if writer is None:  # no frame decoded: an empty but valid video file is not possible
                open(video_tmp, "wb").close()
    finally:
        capture.release()
        if show:
            cv2.destroyAllWindows()
    return {**counts, "seconds": round(time.monotonic() - started, 3), "video": video_path, "jsonl": jsonl_path}


def _tracked(segmenter, frames, track, every):
    """(index, frame, Find) per frame, one frame after the other: with `track`, looked at first
    where the last frame's find was (Segmenter.track), wholly every `every` frames."""
    previous = None
    for index, frame in frames:
        if frame is None:
            yield index, None, None
            continue
        whole = not track or index % every == 0
        found = segmenter.track(frame, None if whole else previous, channels="bgr")
        previous = found if found.found else None
        yield index, frame, found


def _streamed(segmenter, frames):
    """(index, frame, Find) per frame, the readable frames found in batches of BATCH (Segmenter.find_all),
    which reads ahead of the answers it gives: the frames read wait here until theirs comes."""
    waiting = collections.deque()

    def readable():
        for index, frame in frames:
            waiting.append((index, frame))
            if frame is not None:
                yield frame
    for found in segmenter.find_all(readable(), channels="bgr", batch_size=BATCH):
        while waiting[0][1] is None:
            yield *waiting.popleft(), None
        yield *waiting.popleft(), found
    while waiting:  # unreadable frames after the last readable one
        yield *waiting.popleft(), None


def _frames(capture, camera, total, limit):
    """Yield (index, BGR frame, or None for a frame that could not be decoded), up to `limit` (0: all)."""
    index, failures = 0, 0
    while not limit or index < limit:
        if not capture.grab():
            # A frame that won't decode mid-file is an error line; past the last frame, or after a
            # run of them (a cut-off file), the video ends.
            failures += 1
            if camera or index >= total or failures > MAX_FAILURES:
                return
            yield index, None
            index += 1
            continue
        failures = 0
        ok, frame = capture.retrieve()
        yield index, frame if ok and frame is not None else None
        index += 1


def _write_line(lines, entry):
    lines.write(json.dumps(entry) + "\n")
    lines.flush()
