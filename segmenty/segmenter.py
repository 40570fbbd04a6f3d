"""The Python API: load a model, give it photos or video frames, get Finds back.

    from segmenty import Segmenter
    seg = Segmenter.load("save.keras")          # or an exported "model.onnx"
    found = seg.find(frame_rgb)                  # a find.Find: found, score, quad, homography, points
    for f in seg.find_all(paths_or_frames): ...  # batched

Nothing is written: test_segmenter.py (outputs.py) writes masks, overlays and results.json
from the same Finds. An image is a path, a PIL image, or a numpy array H x W x 3 uint8 in RGB
order (`channels="bgr"` for OpenCV's frames) or H x W gray.

Each look at a photo runs the model on it resized to the model's input (image_size square);
with `flip`, the mask probabilities are averaged with the model's view of the mirror image
(the pattern looks the same either way, the model's mistakes mostly don't). A pattern found
small gets a second, closer look (find.zoom_window). Then find.decide answers, for the largest
of the masks' components and, until one is found, the next ones; where a large photo shows no
find at first, it is looked at again in tiles (find.tile_windows).

The answers (the decision and the pose) are mostly Python, which one process runs on one core at
a time: with `workers`, a batch's answers run in that many spawned worker processes (an Answerer,
pickled to each once; each photo's masks through shared memory), while the model looks at the
next batch in this one.
"""

import concurrent.futures
import contextlib
import dataclasses
import multiprocessing
import os
import signal
import weakref
from multiprocessing import shared_memory

import cv2
import numpy as np

from segmenty import find, geometry, images, pose
from segmenty.errors import InvalidArgument
from segmenty.page import Page



class KerasPredictor:
    """A Keras model as a function of a batch of model inputs: probabilities, float32 numpy."""

    fixed_batches = True  # a backend compiles each batch shape once: batches are sent full

    def __init__(self, net, info, batch_size=8):
        self.net, self.info, self.batch_size = net, info, batch_size

    @classmethod
    def from_file(cls, path, batch_size=8):
        from segmenty import devices, model as models
        net, info = models.load(path, compile=False)
        # bf16 on a GPU, float32 on any CPU, whatever it was trained in: a laptop has no bf16 units.
        return cls(models.with_policy(net, info, "mixed_bfloat16" if devices.gpu_count() else "float32"), info,
                   batch_size)

    def __call__(self, batch):
        return np.asarray(self.net.predict_on_batch(batch), np.float32)


class Answerer:
    """The answer for one look at a photo, from its masks: find.decide over the masks' components
    with what the Segmenter was loaded with, without the model. Plain data, so that worker
    processes can answer side by side."""

    def __init__(self, thresholds, page, calibration, coverage, picture, intrinsics, snap):
        self.thresholds, self.page, self.calibration, self.coverage = thresholds, page, calibration, coverage
        self.picture, self.intrinsics, self.snap = picture, intrinsics, snap

    def __call__(self, gray, probs, masks=False, prior=None):
        """(The Find, without masks; the mask component a find was made in where `masks` and
        `snap` will redraw it, else None). A look's components are posed largest first, up to
        find.CANDIDATES of them, until one is found (a facade beside the pattern may be larger);
        when none is, the answer that came closest (the highest score)."""
        result = None
        for _ in range(find.CANDIDATES):
            answer = find.decide(gray, probs, self.thresholds, self.page, self.calibration, self.coverage,
                                 self.picture, self.intrinsics, prior)
            if result is None or answer.found or answer.score > result.score:
                result = answer
            if answer.found or answer.bbox is None:  # found, or nothing (left) large enough to be a find
                break
            probs = probs.copy()
            probs[find.largest_component(probs[..., 0] > self.thresholds[0])[0]] = 0  # decide's candidate
            prior = None
        component = None
        if masks and self.snap and result.found and result.quad is not None:
            component, _ = find.largest_component(probs[..., 0] > self.thresholds[0])  # the one found
        return result, component


def default_workers():
    """The scripts' worker processes: one per core, up to 8 (each holds its own copy of the page), or
    none on a single core, where they would only take turns with the model."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(cores, 8) if cores > 1 else 0


_worker_answerer = None  # a worker process's Answerer (_start_worker)


def _start_worker(answerer):
    global _worker_answerer
    _worker_answerer = answerer
    cv2.setNumThreads(1)  # the workers are the parallelism: one OpenCV thread each
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle: it stops them


KEPT_BYTES = 256 * 2 ** 20  # shared memory kept for the next photos' masks


def _shared(arrays, free):
    """(SharedMemory holding the arrays, what _answer_in_worker needs to read them): a photo's masks
    are megabytes, and through shared memory they are copied once, not pickled through a pipe. The
    block is the smallest of `free` (a list of blocks, taken from) that holds them, else a new one:
    a new block costs its pages' first touch (4 ms for a 640x480 photo's), a kept one a copy (0.1 ms)."""
    need = max(1, sum(a.nbytes for a in arrays))
    fits = [b for b in free if b.size >= need]
    if fits:
        block = min(fits, key=lambda b: b.size)
        free.remove(block)
    else:
        block = shared_memory.SharedMemory(create=True, size=need)
    specs, offset = [], 0
    for a in arrays:
        np.ndarray(a.shape, a.dtype, buffer=block.buf, offset=offset)[...] = a
        specs.append((a.shape, a.dtype.str, offset))
        offset += a.nbytes
    return block, (block.name, specs)


def _unlink(blocks):
    """Close and remove shared-memory blocks (a list, emptied)."""
    while blocks:
        block = blocks.pop()
        block.close()
        with contextlib.suppress(FileNotFoundError):
            block.unlink()


def _answer_in_worker(shared, masks):
    # Mapped for this photo only: keeping the mappings saved 0.3 ms a 640x480 frame, and a worker
    # would hold on to blocks the main process has let go.
    block = shared_memory.SharedMemory(name=shared[0])
    arrays = [np.ndarray(shape, np.dtype(dtype), buffer=block.buf, offset=offset)
              for shape, dtype, offset in shared[1]]
    try:
        result, component = _worker_answerer(*arrays, masks)
    finally:
        arrays.clear()  # the block can't close while arrays look into it
        block.close()
    # A find's component goes back as bits: an eighth of a bool image.
    return result, None if component is None else (np.packbits(component), component.shape)


class Segmenter:
    """A trained model, ready to find its pattern in photos (see the module docstring).

    Use Segmenter.load(path, ...) rather than the constructor.
    """

    def __init__(self, predictor, info, zoom=True, flip=True, snap=True, threshold=None, pattern=None,
                 check_likeness=True, intrinsics=None, image_size=None, max_pixels=images.MAX_PIXELS, small=True,
                 workers=0, min_score=None):
        if not isinstance(workers, int) or workers < 0:
            raise InvalidArgument("workers", workers, "a count of processes, 0 or more (0: answer in this one)")
        self.predictor, self.info = predictor, info
        self.zoom, self.flip, self.snap, self.max_pixels, self.small = zoom, flip, snap, max_pixels, small
        self.workers, self._pool = workers, None
        self._blocks = []  # shared memory the workers' inputs went through, for the next ones
        weakref.finalize(self, _unlink, self._blocks)
        self.mask_names = list(info["mask_names"])
        self.image_size = image_size or info["image_size"]
        multiple = 2 ** len(info["config"]["filters"])  # the model halves its input this many times
        if self.image_size % multiple:
            raise InvalidArgument("image_size", self.image_size, f"a multiple of {multiple} for this model")
        if threshold is not None and not 0 < threshold < 1:
            raise InvalidArgument("threshold", threshold, "0 < t < 1")
        n = len(self.mask_names)
        self.thresholds = [threshold] * n if threshold is not None else list(info.get("thresholds") or [0.5] * n)
        # The agreement check only holds at the thresholds the coverage was measured with.
        self.coverage = info.get("coverage") if threshold is None else None
        self.page = _page(info, pattern)
        self.picture = _picture(info, pattern) if check_likeness else None
        self.calibration = info.get("decision")
        if self.page is not None and self.calibration:  # judged on the tiles its thresholds were measured on
            self.page = dataclasses.replace(self.page, tiles=self.calibration.get("tiles", pose.FIRST_EVIDENCE_TILES))
        if min_score is not None:
            check_min_score(min_score)
            if not self.calibration:
                raise InvalidArgument("min_score", min_score, "None for a model without a calibrated decision "
                                                              "(calibrate it with calibrate_segmenter.py)")
            self.calibration = {**self.calibration, "min_score": float(min_score)}
        self.intrinsics = intrinsics
        self._input_shape = (self.image_size, self.image_size, 3)
        # Compile the batch shapes now, not in the middle of the photos (a tracked frame's window
        # is looked at once, without its mirror).
        self._predict([np.zeros(self._input_shape, np.float32)] * min(2, predictor.batch_size))
        self._predict([np.zeros(self._input_shape, np.float32)])
        if self.flip:
            self._predict([np.zeros(self._input_shape, np.float32)], flip=False)

    @classmethod
    def load(cls, path, zoom=True, flip=True, snap=True, threshold=None, pattern=None, check_likeness=True,
             intrinsics=None, batch_size=8, image_size=None, max_pixels=images.MAX_PIXELS, small=True, workers=0,
             min_score=None):
        """A Segmenter from a model file written by train_segmenter.py (.keras) or export_segmenter.py (.onnx).

        Args:
            path: str, the model file.
            zoom: bool, take a second, closer look at a pattern found small. Defaults to True.
            flip: bool, average each look's masks with the mirror image's. Defaults to True.
            snap: bool, redraw a found pattern's full-pattern mask as its quad. Defaults to True.
            threshold: float or None, one probability cut for every mask instead of the model's
                calibrated ones. Defaults to None.
            pattern: str or None, a pattern folder to pose and check finds against instead of the
                page the model carries (needed for a pose from models trained before it carried one).
            check_likeness: bool, models without coordinates: check doubtful finds against the
                pattern's picture. Defaults to True.
            intrinsics: (camera matrix 3 x 3, distortion coefficients) or None, for `camera_pose`.
            batch_size: int, photos per forward pass (with the mirror view, twice as many images go
                through the model at once). Defaults to 8.
            image_size: int or None, the model's input size; None for the size it was trained at.
            max_pixels: int, larger images are refused before decoding. Defaults to images.MAX_PIXELS.
            small: bool, where a whole look finds no pattern in a large photo, look again in tiles,
                for patterns a few percent of the photo. Defaults to True.
            workers: int, processes that pose and decide a batch's photos side by side (find_all),
                while the model looks at the next batch; 0 answers in this process, on threads.
                They start (in a second or so) at the first batch of two or more photos, and pay
                where cores would idle: on 2 cores about 1.1-1.2 times the frames/s of a video
                without tracking and the photos/s of 640x480 photos (none for larger ones); twice
                the calibration's speed on 16 (docs/benchmarks.md). Call close() when done, or use the Segmenter in a `with`
                block. A program that sets workers must start from an `if __name__ == "__main__":`
                block (the workers are spawned). Defaults to 0.
            min_score: float or None, the `score` a find needs, instead of 0.5 (the calibrated
                threshold): higher for fewer false finds, lower for more finds of covered, dark or
                blurred patterns. Every Find keeps its pose and score either way. Defaults to None.
        """
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise InvalidArgument("batch_size", batch_size, "a positive integer")
        if str(path).lower().endswith(".onnx"):
            from segmenty.export import OnnxPredictor
            predictor = OnnxPredictor(path, batch_size)
        else:
            predictor = KerasPredictor.from_file(path, batch_size)
        return cls(predictor, predictor.info, zoom, flip, snap, threshold, pattern, check_likeness, intrinsics,
                   image_size, max_pixels, small, workers, min_score)

    def close(self):
        """Stop the worker processes, if any were started; later finds start them again."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        _unlink(self._blocks)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ the model

    def _predict(self, inputs, flip=None):
        """Mask probabilities per input (model size), with the mirror view where `flip` (default:
        the segmenter's). A Keras model's batches are always full, or of one (twice that with the
        mirror): a backend compiles each batch shape once, and a single photo (a video frame)
        shouldn't pay for eight. A predictor whose `fixed_batches` is False (onnxruntime's) gets
        the inputs there are: the closer looks at a few of a batch's photos cost those few."""
        flip = self.flip if flip is None else flip
        out, size = [], self.predictor.batch_size
        fixed = getattr(self.predictor, "fixed_batches", True)
        for first in range(0, len(inputs), size):
            chunk = inputs[first:first + size]
            batch = np.zeros((size if fixed and len(chunk) > 1 else len(chunk),) + self._input_shape, np.float32)
            batch[:len(chunk)] = np.stack(chunk)
            if flip:  # one pass over the batch and its mirror: a third faster than two (lite, 2 cores)
                both = self.predictor(np.concatenate([batch, batch[:, :, ::-1]]))
                probs = (both[:len(batch)] + both[len(batch):, :, ::-1]) / 2
            else:
                probs = self.predictor(batch)
            out += list(probs[:len(chunk)])
        return out

    def _looks(self, photos, tiled=False, run=map):
        """Per photo: (mask probabilities at its size, the closer look's window that was kept, or None).

        A first look at each whole photo; with `tiled`, a look at each of its tiles too
        (find.tile_windows), in which a pattern a few percent of the photo is as large as the
        model learned patterns to be; then a closer look at what was found small (find.zoom_window).
        `run` maps the work per photo around the model's passes (a pool's map runs it side by side).
        """
        size = self.image_size
        sizes = [(p.shape[1], p.shape[0]) for p in photos]
        seen = lambda photo, window=None: images.model_input(photo if window is None else _crop(photo, window), size)
        fulls = list(run(find.to_photo_size, self._predict(list(run(seen, photos))), sizes))
        if tiled:
            tiles = [(i, w) for i, s in enumerate(sizes) for w in find.tile_windows(s, size)]
            for (i, window), probs in zip(tiles, self._predict(list(run(lambda t: seen(photos[t[0]], t[1]), tiles)))):
                fulls[i] = find.zoomed(fulls[i], window, probs, keep=np.maximum)
        windows = (list(run(lambda full, s: find.zoom_window(full, self.thresholds[0], s), fulls, sizes)) if self.zoom
                   else [None] * len(photos))
        wanted = [i for i, w in enumerate(windows) if w]
        second = dict(zip(wanted, self._predict(list(run(lambda i: seen(photos[i], windows[i]), wanted)))))

        def closer(i, full):
            window = windows[i]
            if not window:
                return full, None
            close = find.zoomed(full, window, second[i])
            return (close, window) if find.confirmed(full, close, self.thresholds[0]) else (full, None)

        return list(run(closer, range(len(fulls)), fulls))

    # ------------------------------------------------------------ the answer

    def _answerer(self):
        return Answerer(self.thresholds, self.page, self.calibration, self.coverage, self.picture, self.intrinsics,
                        self.snap)

    def _answer(self, photo, full, window, masks, prior=None):
        """The Find for one look at a photo (Answerer), in this process."""
        gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
        return self._finish(*self._answerer()(gray, full, masks, prior), full, window, masks)

    def _finish(self, result, component, full, window, masks):
        """An Answerer's Find with its look's window and, where asked for, the masks (the full-pattern
        mask of a find redrawn as its quad where `snap`)."""
        result.zoom = window
        if masks:
            if self.snap and result.found and result.quad is not None:  # component None: found without one
                full = full.copy()
                full[..., 0] = geometry.snapped(full[..., 0], component, result.quad)
            result.masks = full
        return result

    def _answers(self, photos, looks, masks, run):
        """A function that returns the Finds for a batch's looks ((full, window) per photo): answered
        in the worker processes, which start on them at once, where there are any and more than one
        photo; else on this process's threads (`run`) before this returns."""
        if self.workers < 1 or len(photos) < 2:
            finds = list(run(lambda p, look: self._answer(p, *look, masks), photos, looks))
            return lambda: finds
        grays = list(run(lambda p: cv2.cvtColor(p, cv2.COLOR_RGB2GRAY), photos))
        pool = self._processes()
        blocks, answering = [], []

        def release(answered):
            """The blocks kept for the next batch once every photo is answered, up to KEPT_BYTES;
            else removed (a worker still reading one keeps its mapping, and no later photo shares it)."""
            while answered and blocks and sum(b.size for b in self._blocks) + blocks[-1].size <= KEPT_BYTES:
                self._blocks.append(blocks.pop())
            _unlink(blocks)
        try:
            for gray, (full, _) in zip(grays, looks):
                block, shared = _shared((gray, full), self._blocks)
                blocks.append(block)
                answering.append(pool.submit(_answer_in_worker, shared, masks))
        except BaseException:
            release(answered=False)
            raise

        def finds():
            answered = False
            try:
                done = []
                for future, (full, window) in zip(answering, looks):
                    try:
                        result, packed = future.result()
                    except concurrent.futures.BrokenExecutor:
                        self._pool = None  # a worker died (out of memory, killed): the next batch starts new ones
                        raise
                    component = None if packed is None else \
                        np.unpackbits(packed[0], count=int(np.prod(packed[1]))).reshape(packed[1]).astype(bool)
                    done.append(self._finish(result, component, full, window, masks))
                answered = True
                return done
            finally:  # also after an error or Ctrl-C
                release(answered)
        return finds

    def _processes(self):
        """The worker processes, started at the first call. Spawned, not forked: a process that
        runs TensorFlow or JAX threads can't be forked safely."""
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                initargs=(self._answerer(),))
            weakref.finalize(self, self._pool.shutdown, wait=False, cancel_futures=True)
        return self._pool

    def find(self, image, masks=False, channels="rgb"):
        """The Find for one image (see find.Find).

        Args:
            image: a path, a PIL image, or a numpy array H x W x 3 uint8 (or H x W gray).
            masks: bool, also return the masks' probabilities at the image's size. Defaults to False.
            channels: str, "rgb" or "bgr": the order of a numpy array's channels. Defaults to "rgb".
        """
        return next(self.find_all([image], masks=masks, channels=channels))

    def find_all(self, images_or_paths, masks=False, channels="rgb", batch_size=None):
        """Finds for many images, batched: a generator, in order. See find()."""
        batch_size = batch_size or self.predictor.batch_size
        items = list(images_or_paths) if not hasattr(images_or_paths, "__next__") else images_or_paths
        def batches():
            batch = []
            for item in items:
                batch.append(self.as_rgb(item, channels))
                if len(batch) == batch_size:
                    yield batch
                    batch = []
            if batch:
                yield batch

        pending = None
        try:
            with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
                for batch in batches():
                    # With worker processes, a batch is answered there while the model looks at the next.
                    previous, pending = pending, self._start(batch, masks, pool)
                    if previous:
                        yield from previous()
                last, pending = pending, None
                if last:
                    yield from last()
        finally:
            if pending is not None and self.workers:  # stopped early: collect what the workers hold
                with contextlib.suppress(Exception):
                    pending()

    def _run(self, photos, masks, pool=None):
        """Finds for a batch of photos (see _start)."""
        return self._start(photos, masks, pool)()

    def _start(self, photos, masks, pool=None):
        """A function that returns the Finds for a batch of photos: a whole look at each now, then,
        where that finds nothing in a large photo and `small` is on, a tiled look (see _looks)."""
        # OpenCV releases the GIL: the looks' resizes (and, without workers, the poses) run side by side.
        run = pool.map if pool is not None and len(photos) > 1 else map
        answering = self._answers(photos, self._looks(photos, run=run), masks, run)

        def finds():
            answered = answering()
            again = [i for i, (p, f) in enumerate(zip(photos, answered))
                     if self.small and not f.found and find.tile_windows((p.shape[1], p.shape[0]), self.image_size)]
            if again:
                tiled = self._looks([photos[i] for i in again], tiled=True, run=run)
                for i, f in zip(again, self._answers([photos[i] for i in again], tiled, masks, run)()):
                    if f.found:
                        answered[i] = f
            return answered
        return finds

    def track(self, image, previous=None, masks=False, channels="rgb"):
        """The Find for one video frame, looking first where the pattern was in the frame before.

        With `previous` (the last frame's Find) found, the last pose is registered on this frame
        first: where it still explains the frame (the calibrated decision), that is the answer,
        without a model run: its `bbox` is None, and its `present` is the last frame's, the masks'
        word from the last look that saw the page (find.weighed). Otherwise
        the model looks only at a square window around it (find.tracking_window), without the
        mirror view; if that finds nothing, or a page that runs on past the window (the window
        saw only part of it), a whole look follows. Both are faster and steadier than whole
        looks. Masks, when asked for, always come from a model run.

        Args:
            image: the frame, as for find().
            previous: Find or None, the last frame's answer.
        """
        photo = self.as_rgb(image, channels)
        if previous is None or not previous.found or previous.quad is None:
            return self._run([photo], masks)[0]
        size = (photo.shape[1], photo.shape[0])
        prior = previous.homography
        if not masks and self.page is not None and self.calibration is not None and prior is not None:
            gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
            H, evidence = find.pose_from_prior(gray, self.page, prior, self.calibration, previous.present)
            if H is not None:
                nothing = find.Find(found=False, score=0.0, size=size, present=previous.present,
                                    symmetry=self.page.symmetry)
                result = find.posed(nothing, gray, self.page, H, evidence, self.calibration, self.intrinsics,
                                    previous.present)
                if result.found:
                    return result
            prior = None  # registered from it already, in vain: the window's masks place the page
        window = find.tracking_window(previous.quad, size)
        if window is not None:
            # The last pose, not these masks, places the page: one view of the window is enough.
            probs = self._predict([images.model_input(_crop(photo, window), self.image_size)], flip=False)[0]
            full = find.zoomed(np.zeros((size[1], size[0], probs.shape[-1]), np.float32), window, probs)
        else:  # the pattern filled most of the frame: look at all of it, and start the pose where it was
            full, _ = self._looks([photo])[0]
        result = self._answer(photo, full, window, masks, prior=prior)
        if result.found and (window is None or find.within_window(result.quad, window, size)):
            return result
        return self._run([photo], masks)[0]

    def as_rgb(self, image, channels="rgb"):
        """An image as an RGB uint8 array; InvalidArgument (Keras-style) for anything else."""
        if channels not in ("rgb", "bgr"):
            raise InvalidArgument("channels", channels, '"rgb" or "bgr"')
        if isinstance(image, (str, os.PathLike)):
            return images.read_photo(image, self.max_pixels)
        if type(image).__module__.startswith("PIL."):
            return np.asarray(image.convert("RGB"))
        array = np.asarray(image) if not isinstance(image, np.ndarray) else image
        if array.dtype != np.uint8:
            raise InvalidArgument("image", f"an array of dtype {array.dtype} and shape {array.shape}",
                                  "uint8 values 0..255 (convert with .astype(np.uint8) after scaling)")
        if array.ndim == 2:
            return np.repeat(array[..., None], 3, axis=2)
        if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) < 1:
            raise InvalidArgument("image", f"an array of shape {array.shape}", "H x W x 3 (RGB) or H x W (gray)")
        if array.shape[0] * array.shape[1] > self.max_pixels:
            raise InvalidArgument("image", f"an array of {array.shape[1]}x{array.shape[0]} pixels",
                                  f"at most {self.max_pixels:,} pixels (raise max_pixels)")
        if channels == "bgr":  # OpenCV's swap is several times faster than numpy's reversed copy
            return cv2.cvtColor(array, cv2.COLOR_BGRA2RGB if array.shape[2] == 4 else cv2.COLOR_BGR2RGB)
        return np.ascontiguousarray(array[..., :3])


def check_min_score(min_score):
    """InvalidArgument unless min_score is None or a score 0 < s < 1 (Segmenter.load's min_score)."""
    if min_score is not None and not (isinstance(min_score, (int, float)) and 0 < min_score < 1):
        raise InvalidArgument("min_score", min_score, "a score 0 < s < 1 (0.5 is the calibrated threshold)")


def _crop(rgb, window):
    x0, y0, x1, y1 = window
    return rgb[y0:y1, x0:x1]


def _page(info, pattern):
    """The page to pose finds with: the pattern folder's if given, else the one the model carries."""
    if pattern is None:
        return Page.from_info(info["page"]) if info.get("page") else None
    from segmenty.page import from_pattern
    from segmenty.patterns import mask_names
    names = mask_names(pattern)
    if names != list(info["mask_names"]):
        raise InvalidArgument("pattern", pattern, f"a pattern folder with the model's masks {info['mask_names']}, "
                                                  f"not {names}")
    return from_pattern(pattern)


def _picture(info, pattern):
    """The small picture models without coordinates check doubtful finds against."""
    if pattern is None:
        return np.asarray(info["picture"], np.uint8) if info.get("picture") else None
    from segmenty.patterns import pattern_picture
    return pattern_picture(pattern)
