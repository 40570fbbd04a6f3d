#!/usr/bin/env python3
"""Inference speed: photos/s on test_segmenter.py's file path, frames/s on a video, per stage.

    python bench/bench_infer.py [--model M.keras ...] [--photos DIR ...] [--repeats 3] [--frames 200]
        [--no-photos] [--no-video] [--no-reference] [--reference-photos 16] [--reference-frames 20]
        [--pattern DIR] [--work DIR] [--workers N]

Every row is the median over --repeats runs, with the range (min-max) in brackets; the machine
is noisy (+-25%), so compare medians taken on a quiet one. It prints figures; it asserts nothing.

1. The file path: outputs.segment, what test_segmenter.py runs on photos (batches of
   --batch-size: read, find, write masks, overlays and results.json), over each --photos folder.
   Issue 19's target: at least 10 photos/s with `lite`.
2. A video of 640x480 frames, made by the bench from the photos of the first --photos folder:
   each photo, scaled to cover the frame, is held for HOLD frames while it drifts and turns a
   little, as in a hand-held camera, then the next one cuts in. It is written once (mp4v) into
   the work folder, never into the project. Timed end to end through video.run (read, find,
   draw, write the annotated video and the jsonl) and through a bare Segmenter.track loop over
   the frames, decoded beforehand, with tracking on and off (--no-track), for the model as
   .keras (TensorFlow) and as .onnx (onnxruntime, written by export.export). Issue 19's targets
   with `lite`: at least 30 frames/s with onnxruntime, 20 with TensorFlow.
3. The same rows for the `segmenty` preset, for reference: an untrained one unless a model of
   that preset is among --model (--no-reference leaves it out). It takes seconds a frame on a
   CPU, so its rows run only the first --reference-photos photos of each folder and the first
   --reference-frames frames of the video.

Without --model, untrained lite and segmenty models are timed. Their output layer is biased to
say "nothing here", so they find nothing, as a trained model finds nothing in a photo without
the pattern: one look (and its mirror view) per photo, no closer look, no quad, no pose. (Left
at random, their masks cover whole photos, and the decision then spends its time checking
noise.) A trained model that finds the pattern takes the closer look and the pose, and is
slower. The found and posed columns (of the last run) say how many photos or frames took
that path; a row where the pose ran is followed by the pose's split by function.

The per-stage times, in ms per photo or frame, come from timing wrappers that the bench
installs around the library's functions while it runs (the library is not edited; cProfile is
not used, its overhead would distort the small functions):
    decode    images.read_photo; for video.run, its VideoCapture's grab and retrieve
    model     Segmenter._looks and Segmenter._predict: the model's looks, with the mirror view,
              the closer look and the tracking window, and their resizing
    decision  find.decide less the pose inside it
    pose      find.pose_from_quad + find.pose_from_corners + find.refined_points + find.pose_from_prior
    drawing   outputs.write_photo (input, masks, overlay), or video.run's drawing.draw_find
    rest      video rows: the wall time less the stages (encoding the video, the jsonl, colour
              conversions, the bench's loop)
Before each row's timing, WARMUP frames or photos run through it (the model's first calls, and the
worker processes' start, a one-off of about half a second). A stage's time is the sum over its calls.
Each video.run row is followed by where its CPU went, per frame (of its last run): this process's
CPU (decoding, the model, drawing, writing; all its threads), the model's share of it (the looks it
took per frame, mirror views and closer looks counted, times what one look costs alone: the model on
batches of 2 x --batch-size random images), and the worker processes' (the answers; Linux only).
Their sum bounds the frames/s: cores x 1000 / (CPU ms a frame), however the work is spread.
Each Segmenter.track loop row is followed by how its time is spread over the frames (of its last
run): the median frame's, and the share of the whole that the slowest tenth of the frames take.
On the file path, and in video.run without tracking (a file's frames found 8 at a time), photos
are decoded, decided and written by several threads at once, so there the stages can add up to
more than the wall time, and no rest is shown. There, as test_segmenter.py does, --workers
processes (default: one per core, up to 8) pose and decide the photos: their decision and pose
happen in those processes, which the wrappers don't reach, so those columns show '-' (--workers 0
keeps them in this process, on threads, and times them).
"""

import collections
import contextlib
import functools
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
PHOTOS = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "real"))

FRAME_SIZE = (640, 480)
FPS = 30
HOLD = 10  # frames each photo is held for in the video (a third of a second)
DRIFT = 1.5  # px per frame the view drifts by, at most, as a hand-held camera does
TURN = 0.15  # degrees per frame it turns by, at most
JITTER = 0.4  # px of hand shake per frame
WARMUP = 5  # frames or photos run before the timing, not counted
STAGES = ["decode", "model", "decision", "pose", "drawing", "rest"]
# the pose stage's functions
POSE_PARTS = ["pose_from_quad", "pose_from_corners", "refined_points", "pose_from_prior"]
TARGETS = {("photos", "lite"): "target >= 10 photos/s", ("keras", "lite"): "target >= 20 frames/s",
           ("onnx", "lite"): "target >= 30 frames/s"}


class StageTimer:
    """Seconds per stage, summed over the calls of the functions wrapped for it, over all threads.

    A call's time excludes the time of wrapped calls nested inside it (the pose inside the
    decision), so the stages never count a second twice.
    """

    def __init__(self):
        self.seconds = collections.Counter()  # per stage
        self.by_function = collections.Counter()  # per wrapped function, to split the pose
        self._lock = threading.Lock()
        self._local = threading.local()

    def reset(self):
        self.seconds, self.by_function = collections.Counter(), collections.Counter()

    def wrap(self, stage, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            stack = self._local.__dict__.setdefault("stack", [])
            stack.append(0.0)  # the nested stages' seconds
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                nested = stack.pop()
                if stack:
                    stack[-1] += spent
                with self._lock:
                    self.seconds[stage] += spent - nested
                    self.by_function[function.__name__] += spent - nested
        return timed


class _TimedCapture:
    """A cv2.VideoCapture whose grab and retrieve (the decoding) count as the decode stage."""

    def __init__(self, capture, timer):
        self._capture = capture
        self.grab = timer.wrap("decode", capture.grab)
        self.retrieve = timer.wrap("decode", capture.retrieve)

    def __getattr__(self, name):
        return getattr(self._capture, name)


@contextlib.contextmanager
def stages_timed(timer):
    """Install the timing wrappers around the library's functions (see the docstring); undone on exit."""
    from segmenty import find, images, outputs, video
    from segmenty.segmenter import Segmenter
    open_source = video.open_source

    def timed_source(source):
        capture, name = open_source(source)
        return _TimedCapture(capture, timer), name

    targets = [(images, "read_photo", "decode"), (Segmenter, "_looks", "model"), (Segmenter, "_predict", "model"),
               (find, "decide", "decision"), (find, "pose_from_quad", "pose"), (find, "pose_from_corners", "pose"),
               (find, "refined_points", "pose"), (find, "pose_from_prior", "pose"), (outputs, "write_photo", "drawing"),
               (video, "draw_find", "drawing")]
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in targets] + [(video, "open_source", open_source)]
    try:
        for owner, name, stage in targets:
            setattr(owner, name, timer.wrap(stage, owner.__dict__[name]))
        video.open_source = timed_source
        yield timer
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


# ---------------------------------------------------------------- inputs

def untrained(preset, folder):
    """An untrained model of a preset that finds nothing (see the docstring), saved as train_segmenter.py does."""
    from segmenty import model as models
    names = ["mask", "vertical", "horizontal", "middle"]
    config = models.preset_config(preset)
    path = os.path.join(folder, f"untrained_{preset}.keras")
    net = models.build_model(config, names)
    head = net.get_layer("masks")
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 0, bias - 10])  # sigmoid(-10): no mask anywhere
    models.save(net, path,
                {"preset": preset, "image_size": config["image_size"], "mask_names": names, "epochs": 0,
                 "config": config})
    return path


def make_clip(photos, path, frames, seed=0):
    """Write a video of `frames` FRAME_SIZE frames from the photos in `photos` (see the docstring)."""
    import cv2
    import numpy as np
    from segmenty import images
    sources = images.list_images([photos], 0)
    rng = np.random.default_rng(seed)
    W, H = FRAME_SIZE
    with images.replacing(path) as tmp:
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), FPS, FRAME_SIZE)
        try:
            for i in range(frames):
                held, t = divmod(i, HOLD)
                if t == 0:
                    bgr = cv2.cvtColor(images.read_photo(sources[held % len(sources)]), cv2.COLOR_RGB2BGR)
                    h, w = bgr.shape[:2]
                    cover = 1.06 * max(W / w, H / h)  # a little larger than the frame, so it can drift
                    velocity = rng.uniform(-DRIFT, DRIFT, 2)
                    turn = rng.uniform(-TURN, TURN)
                shift = velocity * (t - HOLD / 2) + rng.normal(0, JITTER, 2)
                M = cv2.getRotationMatrix2D((w / 2, h / 2), turn * (t - HOLD / 2), cover)
                M[:, 2] += [W / 2 - w / 2 + shift[0], H / 2 - h / 2 + shift[1]]
                writer.write(cv2.warpAffine(bgr, M, FRAME_SIZE, flags=cv2.INTER_LINEAR,
                                            borderMode=cv2.BORDER_REFLECT101))
        finally:
            writer.release()
    return path


def read_frames(path):
    """Every frame of a video, BGR, as video.run's reader gives them."""
    import cv2
    capture, frames = cv2.VideoCapture(path), []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


# ---------------------------------------------------------------- the runs
# Each returns {"rate": per second, "ms": {stage: ms per item}, "items", "found", "posed"}.

def time_photos(segmenter, folder, out, timer, limit=0):
    from segmenty import outputs
    timer.reset()
    results = outputs.segment(segmenter, [folder], out, limit=limit)
    done = [e for e in results["images"] if "error" not in e]
    n = max(len(done), 1)
    return {"rate": len(done) / results["seconds"], "ms": _per_item(timer, n), "items": len(done),
            "found": sum(e["found"] for e in done), "posed": sum(e["homography"] is not None for e in done)}


def time_video_run(segmenter, clip, out, track, timer, limit=0):
    from segmenty import video
    timer.reset()
    counting = segmenter.predictor = CountingPredictor(segmenter.predictor)
    cpu = CpuClock()
    try:
        done = video.run(segmenter, clip, out, track=track, show=False, limit=limit)
    finally:
        segmenter.predictor = counting.predictor
    main_cpu, workers_cpu = cpu.read()
    with open(done["jsonl"]) as f:
        lines = [json.loads(line) for line in f]
    posed = sum(e.get("homography") is not None for e in lines)
    # Without tracking a file's frames are found 8 at a time, side by side: the stages overlap, no rest to tell.
    result = _with_rest(done["frames"], done["seconds"], timer, done["found"], posed, overlapping=not track)
    n = max(done["frames"], 1)
    result["cpu"] = {"main": 1000 * main_cpu / n, "workers": None if workers_cpu is None else 1000 * workers_cpu / n,
                     "looks": counting.images / n}
    return result


# ---------------------------------------------------------------- where the CPU goes

class CountingPredictor:
    """A Segmenter's predictor that counts the images it is given: the model's looks per frame,
    mirror views and closer looks included."""

    def __init__(self, predictor):
        self.predictor, self.images = predictor, 0

    def __call__(self, batch):
        self.images += len(batch)
        return self.predictor(batch)

    def __getattr__(self, name):  # batch_size, fixed_batches, info
        return getattr(self.predictor, name)


def process_cpu_seconds(pid):
    """User + system CPU seconds a process has used so far, from Linux's /proc; None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # the name, in brackets, may hold spaces
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14 and 15


class CpuClock:
    """CPU seconds since it was made, of this process (all its threads) and of its worker processes
    (the Segmenter's, alive then and at read(); None where /proc can't tell)."""

    def __init__(self):
        import multiprocessing
        self._children = multiprocessing.active_children
        self._main = time.process_time()
        self._workers = {p.pid: process_cpu_seconds(p.pid) for p in self._children()}

    def read(self):
        main = time.process_time() - self._main
        spent = [(process_cpu_seconds(p.pid), self._workers.get(p.pid)) for p in self._children()]
        if any(now is None or then is None for now, then in spent):
            return main, None
        return main, sum(now - then for now, then in spent)


def model_cpu_ms(predictor, image_size, batch, repeats=5):
    """CPU ms the model takes per image, in batches of `batch` (all of this process's threads)."""
    import numpy as np
    images = np.random.default_rng(0).uniform(0, 255, (batch, image_size, image_size, 3)).astype(np.float32)
    predictor(images)
    start = time.process_time()
    for _ in range(repeats):
        predictor(images)
    return 1000 * (time.process_time() - start) / (repeats * batch)


def cpu_line(cpu, model_ms, cores):
    """Where a video's CPU went, per frame, and the frames/s it allows on `cores` (see --help)."""
    looks = f"the model {cpu['looks']:.1f} looks x {model_ms:.1f} = {cpu['looks'] * model_ms:.0f}"
    if cpu["workers"] is None:
        return f"CPU ms a frame: this process {cpu['main']:.0f} ({looks}); the workers' not measurable here"
    total = cpu["main"] + cpu["workers"]
    return (f"CPU ms a frame: this process {cpu['main']:.0f} ({looks}) + the workers {cpu['workers']:.0f} = "
            f"{total:.0f}: at most {1000 * cores / total:.1f} frames/s on {cores} cores")


def time_track_loop(segmenter, frames, track, timer):
    """Segmenter.track over frames in memory, looking at the whole frame as video.run does."""
    from segmenty import video
    timer.reset()
    previous, found, posed, each = None, 0, 0, []
    start = time.perf_counter()
    for index, frame in enumerate(frames):
        whole = not track or index % video.EVERY == 0
        began = time.perf_counter()
        result = segmenter.track(frame, None if whole else previous, channels="bgr")
        each.append(time.perf_counter() - began)
        previous = result if result.found else None
        found += result.found
        posed += result.homography is not None
    result = _with_rest(len(frames), time.perf_counter() - start, timer, found, posed)
    result["frames_ms"] = [1000 * t for t in each]
    return result


def slowest_line(frames_ms, share=0.1):
    """How a loop's time is spread over its frames: the median frame's, and what part of the whole
    the slowest `share` of the frames take (a few frames that cost ten times the rest are where to look)."""
    ordered = sorted(frames_ms, reverse=True)
    slowest = ordered[:max(1, round(share * len(ordered)))]
    return (f"a frame: median {statistics.median(ordered):.0f} ms; the slowest {len(slowest)} of {len(ordered)} "
            f"(from {slowest[-1]:.0f} ms) take {100 * sum(slowest) / max(sum(ordered), 1e-9):.0f}% of the time")


def _per_item(timer, n):
    """ms per item of each stage, and of each pose function (POSE_PARTS)."""
    ms = {s: 1000 * v / n for s, v in timer.seconds.items()}
    ms.update({f: 1000 * timer.by_function[f] / n for f in POSE_PARTS if f in timer.by_function})
    return ms


def _with_rest(n, seconds, timer, found, posed, overlapping=False):
    ms = _per_item(timer, n)
    if not overlapping:
        ms["rest"] = 1000 * seconds / n - sum(ms.get(s, 0) for s in STAGES)
    return {"rate": n / seconds, "ms": ms, "items": n, "found": found, "posed": posed}


def repeated(run, repeats):
    runs = [run() for _ in range(repeats)]
    return {"rate": [r["rate"] for r in runs], "ms": {s: [r["ms"].get(s) for r in runs] for s in STAGES + POSE_PARTS},
            "items": runs[0]["items"], "found": runs[-1]["found"], "posed": runs[-1]["posed"],
            "cpu": runs[-1].get("cpu"), "frames_ms": runs[-1].get("frames_ms")}


# ---------------------------------------------------------------- printing

def spread(values):
    """'12.3 [11.0-13.1]': the median and the range; '-' where a stage didn't run."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    digits = lambda v: f"{v:.1f}" if abs(v) < 100 else f"{v:.0f}"
    median = digits(statistics.median(values))
    return median if len(values) == 1 else f"{median} [{digits(min(values))}-{digits(max(values))}]"


LABEL, CELL = 34, 17


def header(title, unit):
    print(f"\n{title}", flush=True)
    print(f"{'':{LABEL}s} {unit + '/s':>{CELL}s} " + " ".join(f"{s + ' ms':>{CELL}s}" for s in STAGES)
          + "  found posed", flush=True)


def row(label, result, target=None):
    cells = [spread(result["rate"])] + [spread(result["ms"][s]) for s in STAGES]
    print(f"{label:{LABEL}s} " + " ".join(f"{c:>{CELL}s}" for c in cells)
          + f"  {result['found']:>3d}/{result['items']} {result['posed']:>3d}" + (f"  {target}" if target else ""),
          flush=True)
    parts = [f"{f} {spread(result['ms'][f])}" for f in POSE_PARTS if any(v is not None for v in result["ms"][f])]
    if parts:
        print(f"{'':{LABEL}s}   pose ms = " + " + ".join(parts), flush=True)


# ---------------------------------------------------------------- main

def main():
    from segmenty import cli
    p = cli.parser(__doc__)
    p.add_argument("--model", nargs="+", default=None,
                   help="models to time, .keras or .onnx (default: untrained lite and segmenty)")
    p.add_argument("--photos", nargs="+", default=[os.path.join(PHOTOS, s) for s in ("opencv-stereo", "phone-table")],
                   help="folders of photos for the file path; the first one's photos make the video")
    p.add_argument("--repeats", type=cli.positive_int, default=3,
                   help="runs per row: the median and range are printed")
    p.add_argument("--frames", type=cli.positive_int, default=200, help="frames in the video")
    p.add_argument("--no-photos", dest="photos_rows", action="store_false", help="skip the file path (default: off)")
    p.add_argument("--no-video", dest="video_rows", action="store_false", help="skip the video (default: off)")
    p.add_argument("--no-reference", dest="reference", action="store_false",
                   help="with --model, no untrained segmenty preset for reference (default: off)")
    p.add_argument("--reference-photos", type=cli.positive_int, default=16,
                   help="photos per folder for the segmenty preset")
    p.add_argument("--reference-frames", type=cli.positive_int, default=20,
                   help="frames of the video for the segmenty preset")
    p.add_argument("--batch-size", type=cli.positive_int, default=8,
                   help="as test_segmenter.py --batch-size (the file path, and video.run's --no-track rows)")
    p.add_argument("--pattern", default=None,
                   help="as test_segmenter.py --pattern: a page to pose with for models that carry none")
    p.add_argument("--workers", type=cli.non_negative_int, default=None,
                   help="as test_segmenter.py --workers (default: the same, one per core up to 8)")
    p.add_argument("--no-zoom", dest="zoom", action="store_false", help="as test_segmenter.py --no-zoom (default: off)")
    p.add_argument("--no-flip", dest="flip", action="store_false", help="as test_segmenter.py --no-flip (default: off)")
    p.add_argument("--work", default=None, help="folder for the video, the exported models and the outputs; kept, "
                                                "and its video reused (default: a temporary folder, removed)")
    args = p.parse_args()
    cli.hide_gpus()
    cli.start_keras_quietly()
    import cv2
    import keras
    from segmenty import export, images, model as models
    from segmenty.errors import SegmentyError
    from segmenty.segmenter import Segmenter

    work = os.path.abspath(args.work) if args.work else tempfile.mkdtemp(prefix="bench_infer_")
    os.makedirs(work, exist_ok=True)
    try:
        ort = __import__("onnxruntime").__version__
    except ImportError:
        ort = "not installed"
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; Keras {keras.__version__} "
          f"({keras.backend.backend()}), onnxruntime {ort}, OpenCV {cv2.__version__}; "
          f"medians [ranges] over {args.repeats} runs; work folder {work}", flush=True)

    paths = list(args.model or [])
    given = {models.read_info(m)["preset"] for m in paths if not m.lower().endswith(".onnx")}
    extra = ["lite", "segmenty"] if not paths else ["segmenty"] if args.reference and "segmenty" not in given else []
    made = [untrained(preset, work) for preset in extra]
    paths += made
    if made:
        print("untrained models are biased to find nothing: no closer look, no pose (see --help); a trained model "
              "that finds the pattern is slower", flush=True)

    timer = StageTimer()
    from segmenty.segmenter import default_workers
    workers = default_workers() if args.workers is None else args.workers
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    print(f"{workers} worker processes pose and decide the file path's photos and video.run's frames without "
          "tracking" if workers else "no worker processes: the file path and video.run without tracking pose and "
          "decide on threads", flush=True)
    options = dict(zoom=args.zoom, flip=args.flip, pattern=args.pattern, workers=workers)
    clip = frames = None
    if args.video_rows:
        clip = os.path.join(work, f"clip_{args.frames}.mp4")
        if not os.path.exists(clip):
            make_clip(args.photos[0], clip, args.frames)
        frames = read_frames(clip)
        print(f"video: {clip}, {len(frames)} frames {FRAME_SIZE[0]}x{FRAME_SIZE[1]} from "
              f"{os.path.basename(os.path.normpath(args.photos[0]))}, each photo held {HOLD} frames, drifting",
              flush=True)

    with stages_timed(timer):
        for path in paths:
            untrained_note = " untrained" if path in made else ""
            if args.photos_rows:
                segmenter = Segmenter.load(path, batch_size=args.batch_size, **options)
                preset = segmenter.info["preset"]
                limit = args.reference_photos if preset == "segmenty" else 0
                header(f"{preset}{untrained_note} ({os.path.basename(path)}): the file path, outputs.segment, "
                       f"batch {args.batch_size}, model input {segmenter.image_size}"
                       + (f", the first {limit} photos of each folder" if limit else ""), "photos")
                for folder in args.photos:
                    list(segmenter.find_all(images.list_images([folder], WARMUP)))
                    out = os.path.join(work, "photos_out")
                    result = repeated(lambda: time_photos(segmenter, folder, out, timer, limit), args.repeats)
                    row(f"  {os.path.basename(os.path.normpath(folder))}", result, TARGETS.get(("photos", preset)))
                segmenter.close()
            if not args.video_rows:
                continue
            formats = [("onnx", path)] if path.lower().endswith(".onnx") else [("keras", path)]
            if formats[0][0] == "keras":
                exported = os.path.join(work, os.path.splitext(os.path.basename(path))[0] + ".onnx")
                try:
                    if not os.path.exists(exported) or os.path.getmtime(exported) < os.path.getmtime(path):
                        export.export(path, exported)
                    formats.append(("onnx", exported))
                except SegmentyError as e:
                    print(f"no onnxruntime rows for {path}: {e}", flush=True)
            for kind, model_path in formats:
                # As test_segmenter.py loads it: a tracked frame is one look at a time anyway.
                segmenter = Segmenter.load(model_path, batch_size=args.batch_size, **options)
                preset = segmenter.info["preset"]
                limit = args.reference_frames if preset == "segmenty" and args.reference_frames < len(frames) else 0
                runtime = "TensorFlow" if kind == "keras" else "onnxruntime"
                header(f"{preset}{untrained_note} ({os.path.basename(model_path)}, {runtime}): the video, "
                       f"batch {args.batch_size} (--no-track), model input {segmenter.image_size}" + (f", its first {limit} frames" if limit else ""), "frames")
                time_track_loop(segmenter, frames[:WARMUP], True, timer)
                list(segmenter.find_all(frames[:WARMUP], channels="bgr"))  # starts the workers, as for the photos
                model_ms = model_cpu_ms(segmenter.predictor, segmenter.image_size, 2 * args.batch_size)
                out = os.path.join(work, "video_out")
                for track in (True, False):
                    tracking = "tracking" if track else "--no-track"
                    result = repeated(lambda: time_video_run(segmenter, clip, out, track, timer, limit), args.repeats)
                    row(f"  video.run, {tracking}", result, TARGETS.get((kind, preset)))
                    print(f"{'':{LABEL}s}   {cpu_line(result['cpu'], model_ms, cores)}", flush=True)
                    result = repeated(lambda: time_track_loop(segmenter, frames[:limit or None], track, timer),
                                      args.repeats)
                    row(f"  Segmenter.track loop, {tracking}", result, TARGETS.get((kind, preset)))
                    print(f"{'':{LABEL}s}   {slowest_line(result['frames_ms'])}", flush=True)
                segmenter.close()
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end", flush=True)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
