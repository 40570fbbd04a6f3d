"""Stage 3 on disk: sample folders and their index (make_samples.py, freshen_samples.py).

Layout, as the original's (OUT is e.g. `training`):

    OUT/NNNNNN_i.jpg          the input image (JPEG)
    OUT/NNNNNN_o_K_abc.png    mask K (single channel, inside = 255); abc = first 3 letters of its name
    OUT.json                  the index: a list of
                              {"x": "OUT/NNNNNN_i.jpg", "y": [mask paths in channel order],
                               "pts": [[x, y] x 5] or null,   # page centre, then corners TL TR BR BL
                               "n": number of masks, "id": NNNNNN, "seed": S, "index": i}

A sample is reproducible: it is drawn from numpy.random.default_rng([seed, index]),
whatever the number of workers; `index` is its position in its round.

Rewriting safely while training reads (freshen_samples.py):

- Every file is written to a temp name in OUT and moved into place with os.replace.
- A new round never reuses a name: its numbers continue after the highest number in OUT.
  So an image and its masks always come from the same sample, whichever index a reader holds.
- The index is written last, atomically: a reader sees the old round or the new one, whole.
- Files that no index lists any more are deleted at the end of a later round, once they
  are older than the grace period (`grace`, 300 s). A reader still holding an older index
  after that finds a missing file, never a wrong one; dataset.py then re-reads the index.
  At the end, not the start: on ext4 without a journal, each file created within a minute
  or so of many deletions scans past the deleted inodes (seconds of kernel time per round);
  the freshener's wait between rounds lets them age.
"""

import dataclasses
import json
import multiprocessing
import os
import re
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from segmenty import recipes, synth
from segmenty.errors import InvalidArgument, SegmentyError
from segmenty.images import is_image_name, write_bytes, write_json
from segmenty.patterns import load_pattern

JPEG_QUALITY = 95
# Grey pictures (probability maps): "up" filtering with run-length coding is 2x faster than the default, as small.
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP,
              cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
# Masks are flat runs of 0 and 255: no filter at all is faster still (25%) and 30% smaller.
MASK_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE,
                   cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
GRACE_SECONDS = 300
_NUMBERED = re.compile(r"^(\d{6,})_(i\.jpg|o_\d+_\w+\.png)$")


def _option(default, help, **more):
    """A config field: its default, its help text, and what else its flag needs (type, metavar)."""
    return dataclasses.field(default=default, metadata={"help": help, **more})


@dataclasses.dataclass
class SampleConfig:
    """How samples are drawn and written: the defaults and help texts of make_samples.py and freshen_samples.py."""

    size: int = _option(256, "sample width = height in pixels (>= 32)")  # the original's
    seed: int | None = _option(None, "random seed (default: a fresh one, printed)", type=int)
    workers: int | None = _option(None, "processes (default: number of CPUs)", type=int)
    backgrounds: str = _option("background", "background folder (photos in its subfolders)")
    pattern: str = _option("pattern", "pattern folder with pattern.json")
    blank_prob: float = _option(synth.BLANK_PROB, "share of samples without the pattern")
    recipe: str = _option(recipes.DEFAULT, "segmenty (the original's steps) or robust (for real photos)")
    grace: float = _option(float(GRACE_SECONDS), "seconds before files of a replaced round may be deleted")


@dataclasses.dataclass
class MakeSamplesConfig(SampleConfig):
    """make_samples.py's own: a contact sheet."""

    preview: str | None = _option(None, "contact sheet of the first 8 samples", metavar="FILE.png")


@dataclasses.dataclass
class FreshenConfig(SampleConfig):
    """freshen_samples.py's own: the original's freshener, 3000 training samples every 2 minutes."""

    out: str = _option("training", "sample folder; the index is OUT.json")
    count: int = _option(3000, "samples per round")
    interval: float = _option(120.0, "seconds to sleep between rounds")
    once: bool = _option(False, "make one round and exit")


def background_paths(folder):
    """The image files (images.IMAGE_EXTENSIONS) in the subfolders of `folder`, sorted."""
    paths = []
    for group in _listdir(folder):
        sub = os.path.join(folder, group)
        if not group.startswith(".") and os.path.isdir(sub):
            # Dot files are writes in progress (images.replacing).
            paths += [os.path.join(sub, n) for n in _listdir(sub) if is_image_name(n) and not n.startswith(".")]
    return sorted(paths)


def _listdir(folder):
    try:
        return os.listdir(folder)
    except OSError:
        return []


def read_background(path, size):
    """Decode one background and resize it to size x size (bicubic), or None if unreadable."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        return None
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC)


def load_backgrounds(folder, size):
    """All backgrounds as one uint8 array N x size x size x 3 (BGR), decoded and resized once.

    Returns:
        tuple (array, paths kept, unreadable paths).
    """
    paths = background_paths(folder)
    images, kept, bad = [], [], []
    # Decoding releases the GIL: threads cut the start-up that no number of workers shortens.
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:  # 4: few full-size photos in memory at once
        decoded = list(pool.map(lambda path: read_background(path, size), paths))
    for path, img in zip(paths, decoded):
        if img is None:
            bad.append(path)
        else:
            images.append(img)
            kept.append(path)
    if not images:
        raise SegmentyError(f"no background images found in {folder}/*/ "
                        "(run fetch_backgrounds.py, or fetch_backgrounds.py --synthetic 200)")
    return np.stack(images), kept, bad


_S = SampleConfig  # each default once: in the config


def make_context(backgrounds=_S.backgrounds, pattern=_S.pattern, size=_S.size, blank_prob=_S.blank_prob,
                 recipe=_S.recipe):
    """Load backgrounds and pattern into a synth.Context; validates the arguments first."""
    if size < 32:
        raise InvalidArgument("size", size, "an integer >= 32")
    if not 0 <= blank_prob <= 1:
        raise InvalidArgument("blank_prob", blank_prob, "a probability between 0 and 1")
    recipes.get(recipe)  # an unknown name fails here, before the backgrounds load
    full, masks, names = load_pattern(pattern)
    bgs, _, bad = load_backgrounds(backgrounds, size)
    ctx = synth.Context(bgs, full, masks, names, size, blank_prob, recipe)
    ctx.unreadable = bad
    return ctx


# ---------------------------------------------------------------- files

def sample_names(number, mask_names):
    """(image name, [mask names]) of sample `number`."""
    stem = f"{number:06d}"
    return f"{stem}_i.jpg", [f"{stem}_o_{k}_{name[:3]}.png" for k, name in enumerate(mask_names)]


def _encode(ext, img, params):
    ok, buf = cv2.imencode(ext, img, params)
    assert ok, ext
    return buf.tobytes()


_empty_png = {}  # shape -> encoded all-black mask: blank samples and empty channels are common


def encode_mask(mask):
    if mask.any():
        return _encode(".png", mask, MASK_PNG_PARAMS)
    if mask.shape not in _empty_png:
        _empty_png[mask.shape] = _encode(".png", mask, MASK_PNG_PARAMS)
    return _empty_png[mask.shape]


def encode_sample(image, masks):
    """(JPEG bytes of the image, [PNG bytes of each mask])."""
    return (_encode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]),
            [encode_mask(mask) for mask in cv2.split(masks)])


def write_sample(out, number, encoded, mask_names):
    """Write one encoded sample's files atomically; returns (image name, mask names)."""
    x, ys = sample_names(number, mask_names)
    jpeg, pngs = encoded
    for y, png in zip(ys, pngs):  # masks first: the image's presence marks a finished sample
        write_bytes(os.path.join(out, y), png)
    write_bytes(os.path.join(out, x), jpeg)
    return x, ys


def index_path(out):
    return os.path.normpath(out) + ".json"


def read_index(path):
    """The list of entries of an index file. Raises SegmentyError if missing or corrupt."""
    try:
        with open(path) as f:
            entries = json.load(f)
    except FileNotFoundError:
        raise SegmentyError(f"no sample index at {path} (run make_samples.py first)") from None
    except (OSError, ValueError) as e:
        raise SegmentyError(f"corrupt sample index {path}: {e}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "x" in e and "y" in e for e in entries):
        raise SegmentyError(f"corrupt sample index {path}: expected a list of {{\"x\": ..., \"y\": [...]}} entries")
    return entries


def write_index(out, entries):
    write_json(index_path(out), entries)


def next_number(out):
    numbers = [int(m.group(1)) for m in map(_NUMBERED.match, os.listdir(out)) if m]
    return max(numbers, default=-1) + 1


def remove_stale(out, grace=GRACE_SECONDS, now=None):
    """Delete sample and temp files that the current index doesn't list and that are older than `grace`."""
    now = time.time() if now is None else now
    listed = set()
    if os.path.exists(index_path(out)):
        try:
            for e in read_index(index_path(out)):
                listed.add(os.path.basename(e["x"]))
                listed.update(os.path.basename(y) for y in e["y"])
        except SegmentyError:
            return 0  # never delete anything on the strength of a corrupt index
    removed = 0
    for name in os.listdir(out):
        if name in listed or not (_NUMBERED.match(name) or ".tmp" in name):
            continue
        path = os.path.join(out, name)
        try:
            if now - os.path.getmtime(path) > grace:
                os.remove(path)
                removed += 1
        except OSError:
            pass
    return removed


# ---------------------------------------------------------------- generating

_job = {}  # set in the parent before forking: workers inherit the Context without pickling it


def _make_one(i):
    """Draw and encode sample i of the round: (index entry, encoded files, number)."""
    ctx, out, seed, first = _job["ctx"], _job["out"], _job["seed"], _job["first"]
    rng = np.random.default_rng([seed, i])
    image, masks, pts, _ = synth.generate(rng, ctx)
    x, ys = sample_names(first + i, ctx.mask_names)
    entry = {"x": os.path.join(out, x), "y": [os.path.join(out, y) for y in ys],
             "pts": None if pts is None else np.round(pts.astype(float), 3).tolist(),
             "n": len(ys), "id": first + i, "seed": seed, "index": i}
    return entry, encode_sample(image, masks), first + i


def _made(indices):
    """Make samples `indices` in order, yielding each one's index entry once its files exist.

    Files are written in-line, not on a helper thread: one worker uses one core, so `--workers N`
    scales with N and a freshener with `--workers 1` leaves the other cores to training.
    """
    for i in indices:
        entry, encoded, number = _make_one(i)
        write_sample(_job["out"], number, encoded, _job["ctx"].mask_names)
        yield entry


def _chunks(count, workers):
    """Ranges of sample indices for the workers: up to 64 at a time, fewer at the start and the end.

    Each chunk handed back costs the parent ~1 ms of CPU that the workers need, so chunks are
    large. They double from 1 at the start, so that a stop soon after it still finds finished
    samples to index, and shrink as the round nears its end, so the workers finish together.
    """
    start, ramp = 0, 1
    while start < count:
        step = max(1, min(ramp, 64, (count - start) // (4 * workers)))
        yield range(start, start + step)
        start += step
        ramp *= 2


def _make_chunk(indices):
    return list(_made(indices))


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _start_pool(workers):
    """A pool of forked workers that ignore SIGINT (the parent stops them) and die on SIGTERM.

    They start with both signals blocked, until _init_worker has set them: a terminate() that
    reached a worker still holding the parent's handler (StopRequest) was lost, and the round hung.
    """
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        return multiprocessing.get_context("fork").Pool(workers, initializer=_init_worker)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _init_worker():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


class Progress:
    def __init__(self, total, label, stream=sys.stderr):
        self.total, self.label, self.stream = total, label, stream
        self.start = self.last = time.monotonic()
        self.tty = stream.isatty()

    def rate(self, done):
        return done / max(1e-9, time.monotonic() - self.start)

    def update(self, done):
        now = time.monotonic()
        if self.tty and (now - self.last > 0.2 or done == self.total):
            self.last = now
            self.stream.write(f"\r{self.label}: {done}/{self.total} samples, {self.rate(done):.1f} samples/s ")
            self.stream.flush()

    def close(self, done):
        if self.tty:
            self.stream.write("\n")


class StopRequest:
    """SIGINT and SIGTERM set a flag instead of raising anywhere; loops poll `requested`.

    A second signal raises KeyboardInterrupt at once, for a user who really means it.
    """

    def __enter__(self):
        self.requested = False
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def generate_round(ctx, out, count, seed, workers=1, keep_previous_on_interrupt=False, progress=True,
                   grace=GRACE_SECONDS, stop=None):
    """Generate `count` samples into `out` under fresh names, then switch the index to them.

    On a stop request (SIGINT, SIGTERM): the index lists exactly the samples finished so far,
    or, with keep_previous_on_interrupt (the freshener), the previous index stays. Then it
    raises KeyboardInterrupt.

    Returns:
        list of index entries.
    """
    if stop is None:
        with StopRequest() as stop:
            return generate_round(ctx, out, count, seed, workers, keep_previous_on_interrupt, progress, grace, stop)
    os.makedirs(out, exist_ok=True)
    first = next_number(out)
    _job.update(ctx=ctx, out=out, seed=seed, first=first)
    bar = Progress(count, out) if progress else None
    entries = []
    # One process per core scales better than OpenCV's own threads. Set before forking:
    # a forked child must never touch a thread pool its parent started.
    cv2.setNumThreads(1)
    try:
        if workers <= 1:
            for entry in _made(range(count)):
                entries.append(entry)
                bar and bar.update(len(entries))
                if stop.requested:
                    break
        else:
            with _start_pool(workers) as pool:
                results = pool.imap_unordered(_make_chunk, _chunks(count, workers))
                while len(entries) < count and not stop.requested:
                    try:
                        entries += results.next(timeout=0.2)
                    except multiprocessing.TimeoutError:
                        continue
                    bar and bar.update(len(entries))
                # Leaving the with-block terminates the workers, finished or not.
    finally:
        _job.clear()
        bar and bar.close(len(entries))
    entries.sort(key=lambda e: e["id"])
    if stop.requested:
        if not keep_previous_on_interrupt and entries:
            write_index(out, entries)
        raise KeyboardInterrupt
    write_index(out, entries)
    remove_stale(out, grace)
    return entries


def write_preview(path, entries, rows=8, tile=128):
    """Contact sheet: one row per sample, the input then each mask (the original README's figure)."""
    sheet = []
    for e in entries[:rows]:
        tiles = [cv2.imread(e["x"], cv2.IMREAD_COLOR)]
        tiles += [cv2.cvtColor(cv2.imread(y, cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2BGR) for y in e["y"]]
        tiles = [cv2.resize(t, (tile, tile), interpolation=cv2.INTER_AREA) for t in tiles]
        sheet.append(np.hstack([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in tiles]))
    if sheet:
        cv2.imwrite(path, np.vstack(sheet))


def random_seed():
    return int.from_bytes(os.urandom(4), "little")


_M = MakeSamplesConfig  # each default once: in the config


def make_samples(out, count, size=_M.size, seed=_M.seed, workers=_M.workers, backgrounds=_M.backgrounds,
                 pattern=_M.pattern, blank_prob=_M.blank_prob, preview=_M.preview, recipe=_M.recipe, grace=_M.grace):
    """Generate a sample folder and its index (see the module docstring).

    Args:
        out: str, sample folder; the index goes to `out + ".json"`.
        count: int, number of samples.
        size: int, width = height of the samples.
        seed: int or None, None for a fresh random seed.
        workers: int or None, processes; None for the number of CPUs.
        backgrounds: str, background folder.
        pattern: str, pattern folder.
        blank_prob: float, share of samples without the pattern.
        preview: str or None, PNG contact sheet of the first 8 samples.
        recipe: str, a recipe's name (recipes.names()).
        grace: float, seconds before the files of a replaced round may be deleted.
        The defaults are MakeSamplesConfig's.

    Returns:
        tuple (entries, context).
    """
    _check_counts(count, workers)
    workers = os.cpu_count() if workers is None else workers
    ctx = make_context(backgrounds, pattern, size, blank_prob, recipe)
    seed = random_seed() if seed is None else seed
    started = time.monotonic()
    entries = generate_round(ctx, out, count, seed, workers, grace=grace)
    seconds = time.monotonic() - started
    if preview:
        write_preview(preview, entries)
    blank = sum(e["pts"] is None for e in entries)
    print(f"wrote {len(entries)} samples to {out}/ and {index_path(out)} in {seconds:.1f} s "
          f"({len(entries) / max(seconds, 1e-9):.0f} samples/s, {blank} blank, seed {seed})")
    report_unreadable(ctx)
    return entries, ctx


def report_unreadable(ctx):
    if ctx.unreadable:
        shown = ", ".join(ctx.unreadable[:3]) + (" ..." if len(ctx.unreadable) > 3 else "")
        print(f"skipped {len(ctx.unreadable)} unreadable background file(s): {shown}", file=sys.stderr)


def _check_counts(count, workers):
    if not isinstance(count, int) or count <= 0:
        raise InvalidArgument("count", count, "a positive integer")
    if workers is not None and (not isinstance(workers, int) or workers <= 0):
        raise InvalidArgument("workers", workers, "a positive integer")


_F = FreshenConfig


def freshen(out=_F.out, count=_F.count, interval=_F.interval, once=_F.once, size=_F.size, seed=_F.seed,
            workers=_F.workers, backgrounds=_F.backgrounds, pattern=_F.pattern, blank_prob=_F.blank_prob,
            recipe=_F.recipe, grace=_F.grace, log=print):
    """Regenerate `out` every `interval` seconds, forever (or once); see the module docstring.

    SIGINT and SIGTERM stop it within about 2 s, leaving the current index in place. The
    arguments are make_samples's, plus those below; the defaults are FreshenConfig's.

    Args:
        out: str, sample folder.
        count: int, samples per round.
        interval: float, seconds to sleep between rounds.
        once: bool, make one round and return.
        log: function that prints a line.

    Returns:
        int, the number of rounds started.
    """
    _check_counts(count, workers)
    if interval < 0:
        raise InvalidArgument("interval", interval, "a number of seconds >= 0")
    workers = os.cpu_count() if workers is None else workers
    ctx = make_context(backgrounds, pattern, size, blank_prob, recipe)
    report_unreadable(ctx)
    base = random_seed() if seed is None else seed

    round_no = 0
    with StopRequest() as stop:
        try:
            while not stop.requested:
                round_no += 1
                started = time.monotonic()
                entries = generate_round(ctx, out, count, (base + round_no) % 2**32, workers,
                                         keep_previous_on_interrupt=True, progress=False, grace=grace, stop=stop)
                log(f"round {round_no}: {len(entries)} samples in {time.monotonic() - started:.1f} s")
                if once:
                    return round_no
                deadline = time.monotonic() + interval
                while time.monotonic() < deadline and not stop.requested:
                    time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        except KeyboardInterrupt:
            pass
    log(f"stopped during round {round_no}; {index_path(out)} lists the last finished round")
    return round_no
