"""Batches for Keras: a PyDataset over a sample index, or samples generated on the fly.

Inputs are RGB float32 in 0..255 (the model's first BatchNorm standardises them, as in the
original); targets are masks / 255 in 0..1, one channel per mask. Both datasets are
keras.utils.PyDataset, so they work with every Keras backend.

On the fly, batches are drawn by worker processes (SampleProcesses) ahead of training, or in the
calling thread; batch i of epoch e is the same either way, for a given seed.
"""

import collections
import mmap
import multiprocessing
import multiprocessing.connection
import multiprocessing.util
import os
import signal
import sys
import threading
import time
import traceback
import warnings

import cv2
import keras
import numpy as np

from segmenty import samples, synth
from segmenty.errors import SegmentyError


def read_sample(entry, image_size, n_masks):
    """(image RGB float32, masks float32 0..1) of one index entry, resized if needed; None if unreadable."""
    image = cv2.imread(entry["x"], cv2.IMREAD_COLOR)
    if image is None or len(entry["y"]) != n_masks:
        return None
    masks = []
    for path in entry["y"]:
        m = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if m is None:
            return None
        masks.append(m)
    masks = np.dstack(masks)
    if image.shape[:2] != (image_size, image_size):
        image = cv2.resize(image, (image_size, image_size), interpolation=cv2.INTER_AREA)
        masks = cv2.resize(masks, (image_size, image_size), interpolation=cv2.INTER_LINEAR).reshape(
            image_size, image_size, n_masks)
    return to_arrays(image, masks)


def to_arrays(image_bgr, masks):
    return (cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB).astype(np.float32),
            masks.astype(np.float32) * np.float32(1 / 255))


def _resolve(p, base):
    # The original writes paths relative to where make_samples ran; also accept the index's folder.
    if os.path.isabs(p) or os.path.exists(p):
        return p
    return os.path.join(base, p)


def load_entries(path):
    """Index entries with paths that resolve from here, checked to be usable. Raises SegmentyError."""
    entries = samples.read_index(path)
    if not entries:
        raise SegmentyError(f"the sample index {path} is empty (run make_samples.py with COUNT > 0)")
    base = os.path.dirname(os.path.abspath(path))
    return [{**e, "x": _resolve(e["x"], base), "y": [_resolve(y, base) for y in e["y"]]} for e in entries]


def check_files(entries, path):
    """Raises SegmentyError if none of the samples an index lists is on disk; warns if some are missing.

    An index whose folder was moved or deleted would otherwise fail only after every sample's retries.
    """
    missing = [e for e in entries if not all(map(os.path.exists, [e["x"], *e["y"]]))]
    if len(missing) == len(entries):
        raise SegmentyError(f"none of the {len(entries)} samples listed in {path} exists (e.g. {entries[0]['x']}); "
                            "was the sample folder moved or deleted? Run make_samples.py again")
    if missing:
        print(f"warning: {len(missing)} of the {len(entries)} samples listed in {path} are missing "
              f"(e.g. {missing[0]['x']}); they will be skipped", file=sys.stderr)


def mask_count(entries, path):
    counts = {len(e["y"]) for e in entries}
    if len(counts) != 1:
        raise SegmentyError(f"corrupt sample index {path}: entries have different numbers of masks {sorted(counts)}")
    return counts.pop()


class IndexDataset(keras.utils.PyDataset):
    """Batches from a sample index (samples.py), re-read at every epoch to pick up freshened samples.

    A sample that can't be read is retried (the freshener may be replacing it), then skipped
    with a counted warning; the batch is filled with its other samples. Only a batch that
    misses more than half its samples is an error.

    Args:
        path: str, the index JSON.
        batch_size: int.
        image_size: int, the model's input size; samples of another size are resized.
        n_masks: int, expected masks per sample.
        steps: int or None, batches per epoch; None for len(index) // batch_size.
        shuffle: bool. Defaults to True.
        seed: int. Defaults to 0.
        retries: int, attempts per unreadable sample. Defaults to 5 (the original's).
        retry_delay: float, seconds between attempts. Defaults to 2 (the original's).
        **kwargs: workers, use_multiprocessing, max_queue_size for keras.utils.PyDataset.
    """

    def __init__(self, path, batch_size, image_size, n_masks, steps=None, shuffle=True, seed=0, retries=5,
                 retry_delay=2.0, **kwargs):
        super().__init__(**kwargs)
        self.path, self.batch_size, self.image_size, self.n_masks = path, batch_size, image_size, n_masks
        self.steps, self.shuffle, self.retries, self.retry_delay = steps, shuffle, retries, retry_delay
        self.rng = np.random.default_rng(seed)
        self.skipped = 0
        self.reload()

    def reload(self):
        entries = load_entries(self.path)
        if mask_count(entries, self.path) != self.n_masks:
            raise SegmentyError(f"the sample index {self.path} now has {len(entries[0]['y'])} masks per sample, "
                            f"but the model has {self.n_masks} outputs")
        self.entries = entries
        self.order = self.rng.permutation(len(entries)) if self.shuffle else np.arange(len(entries))

    def __len__(self):
        return self.steps or max(1, len(self.entries) // self.batch_size)

    def _read(self, entry):
        for attempt in range(self.retries):
            sample = read_sample(entry, self.image_size, self.n_masks)
            if sample is not None:
                return sample
            if attempt + 1 < self.retries:
                time.sleep(self.retry_delay)
        self.skipped += 1
        print(f"\nwarning: skipped unreadable sample {entry['x']} ({self.skipped} skipped so far)", file=sys.stderr)
        return None

    def __getitem__(self, index):
        picks = [self.entries[self.order[(index * self.batch_size + k) % len(self.order)]]
                 for k in range(self.batch_size)]
        batch = [s for s in (self._read(e) for e in picks) if s is not None]
        if len(batch) * 2 < self.batch_size:
            raise RuntimeError(f"{self.batch_size - len(batch)} of {self.batch_size} samples of a batch from "
                               f"{self.path} could not be read; is the sample folder being deleted?")
        while len(batch) < self.batch_size:  # keep the batch shape: repeat what was read
            batch.append(batch[len(batch) % max(1, len(batch))])
        return np.stack([b[0] for b in batch]), np.stack([b[1] for b in batch])

    def on_epoch_end(self):
        self.reload()


class OnTheFlyDataset(keras.utils.PyDataset):
    """Batches drawn by synth.py as training asks for them: no disk, no freshener; seeded per epoch and batch.

    With `processes`, that many worker processes draw the batches ahead of training (SampleProcesses),
    and a seed still gives the same batches, whatever their number. Call close() when done (train.py
    does); they also end with the trainer.

    Args:
        ctx: synth.Context (its size is the sample size; images are resized to image_size if different).
        batch_size: int.
        steps: int, batches per epoch.
        seed: int. Defaults to 0.
        image_size: int or None. Defaults to ctx.size.
        processes: int, worker processes; 0 draws in the calling thread. Defaults to 0.
    """

    def __init__(self, ctx, batch_size, steps, seed=0, image_size=None, processes=0):
        super().__init__(workers=1, use_multiprocessing=False)  # Keras asks in order; the processes draw ahead
        self.ctx, self.batch_size, self.steps, self.seed = ctx, batch_size, steps, seed
        self.image_size = image_size or ctx.size
        self.epoch = 0
        self.processes = None
        if processes:
            self.processes = SampleProcesses(ctx, batch_size, self.image_size, seed, processes)
            self.processes.prefetch(0, range(steps))

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        if self.processes is not None:
            return self.processes.get(self.epoch, index, ahead=range(index + 1, self.steps))
        images, masks = empty_batch(self.batch_size, self.image_size, len(self.ctx.mask_names))
        draw_batch(self.ctx, self.image_size, self.seed, self.epoch, index, images, masks)
        return as_inputs(images, masks)

    def on_epoch_end(self):
        self.epoch += 1
        if self.processes is not None:
            self.processes.prefetch(self.epoch, range(self.steps))

    def close(self):
        """Stop the worker processes, if any."""
        if self.processes is not None:
            self.processes.close()


def empty_batch(batch_size, image_size, n_masks):
    return (np.empty((batch_size, image_size, image_size, 3), np.uint8),
            np.empty((batch_size, image_size, image_size, n_masks), np.uint8))


def draw_batch(ctx, image_size, seed, epoch, index, images, masks):
    """Draw batch `index` of `epoch` into `images` (B x S x S x 3, RGB uint8) and `masks` (B x S x S x K, uint8).

    Sample k of it comes from numpy.random.default_rng([seed, epoch, index, k]): a batch is the
    same wherever it is drawn, in the trainer or in any of its sample processes.
    """
    for k in range(len(images)):
        image, mask, _, _ = synth.generate(np.random.default_rng([seed, epoch, index, k]), ctx)
        if image_size != ctx.size:
            image = cv2.resize(image, (image_size,) * 2, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, (image_size,) * 2, interpolation=cv2.INTER_LINEAR).reshape(
                image_size, image_size, -1)
        images[k] = image[..., ::-1]  # BGR -> RGB
        masks[k] = mask


def as_inputs(images, masks):
    """A drawn batch as the model trains on it (see the module docstring); new arrays."""
    return images.astype(np.float32), masks.astype(np.float32) * np.float32(1 / 255)


class _SharedBatch:
    """One batch's uint8 images and masks in anonymous shared memory: processes forked after it see it too.

    Anonymous, so nothing is named in /dev/shm: the memory goes when the last process using it ends,
    however it ends.
    """

    def __init__(self, batch_size, image_size, n_masks):
        self.images, self.masks = (np.frombuffer(mmap.mmap(-1, a.nbytes), np.uint8).reshape(a.shape)
                                   for a in empty_batch(batch_size, image_size, n_masks))


def _start_forked(worker):
    """Start a forked process without JAX's warning that a fork "will likely lead to a deadlock":
    the workers only draw samples with numpy and OpenCV and never call into JAX, whose threads
    are what the warning is about (15 of them ran 13 epochs beside JAX on an H200)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        worker.start()


class SampleProcesses:
    """Worker processes that draw on-the-fly batches (draw_batch) ahead of training, into memory shared with it.

    Processes, not threads: drawing a sample is Python and numpy that hold the GIL, so threads
    share one core. Forked, so each starts in milliseconds with the context in memory; the batches
    come back through shared memory (_SharedBatch), not pickled through a pipe. Each batch is one
    task, given to an idle process, the batch training asks for first.

    Stopping: the workers ignore SIGINT and SIGTERM, so a Ctrl-C at the terminal (sent to every
    process) stops the trainer cleanly, which then calls close(); they exit on their own within
    a second if the trainer is killed. A worker that dies or fails makes get() raise RuntimeError
    (also kept as `failure`) rather than wait for a batch that will never come.

    Args:
        ctx: synth.Context.
        batch_size: int.
        image_size: int.
        seed: int.
        processes: int.
        slots: int or None, batches held at once (being drawn, drawn, or handed over). Defaults to
            2 per process, plus 2.
    """

    def __init__(self, ctx, batch_size, image_size, seed, processes, slots=None):
        self._slots = [_SharedBatch(batch_size, image_size, len(ctx.mask_names))
                       for _ in range(slots or 2 * processes + 2)]
        self._free = list(range(len(self._slots)))
        self._ready = {}                     # (epoch, index) -> slot: drawn, not yet handed over
        self._queued = collections.deque()   # ((epoch, index), slot) waiting for an idle process
        self._running = {}                   # process number -> ((epoch, index), slot)
        self._lock = threading.Lock()        # Keras may ask from a thread of its own (TensorFlow's tf.data)
        self._closing = False
        self.failure = None
        # A forked child must never touch a thread pool its parent started: OpenCV's, here.
        cv2.setNumThreads(1)
        fork = multiprocessing.get_context("fork")
        self._workers, self._pipes = [], []
        for number in range(processes):
            ours, theirs = fork.Pipe()
            worker = fork.Process(target=_draw_batches, args=(theirs, ctx, image_size, seed, self._slots, os.getpid()),
                                  name=f"segmenty-samples-{number}", daemon=True)
            _start_forked(worker)
            theirs.close()
            self._workers.append(worker)
            self._pipes.append(ours)
        # Also at the interpreter's exit, before multiprocessing joins its children.
        self._finalizer = multiprocessing.util.Finalize(self, _stop_processes, (self._workers, self._pipes),
                                                        exitpriority=10)

    @property
    def pids(self):
        """The worker processes' ids."""
        return [worker.pid for worker in self._workers]

    def prefetch(self, epoch, indices):
        """Have batches `indices` of `epoch` drawn, as far as free memory allows, in that order."""
        with self._lock:
            self._prefetch(epoch, indices)

    def get(self, epoch, index, ahead=()):
        """Batch `index` of `epoch` as the model takes it (as_inputs), waiting for it if need be.

        Args:
            epoch: int.
            index: int.
            ahead: the indices (of the same epoch) likely asked for next, drawn meanwhile.

        Raises:
            RuntimeError: if a worker process died or failed, or after close().
        """
        with self._lock:
            key = (epoch, index)
            queued = [item for item in self._queued if item[0] == key]
            if queued:  # asked for now: first in the queue
                self._queued.remove(queued[0])
                self._queued.appendleft(queued[0])
            elif not self._known(key):
                self._queued.appendleft((key, self._take_slot(epoch)))
            self._prefetch(epoch, ahead)
            while key not in self._ready:
                self._collect()
            slot = self._ready.pop(key)
            batch = as_inputs(self._slots[slot].images, self._slots[slot].masks)
            self._free.append(slot)
            self._prefetch(epoch, ahead)
            return batch

    def close(self):
        """Stop the processes; a get() in progress in another thread ends first, or fails."""
        self._closing = True
        acquired = self._lock.acquire(timeout=10)
        try:
            self._finalizer()
        finally:
            if acquired:
                self._lock.release()

    # The rest runs under self._lock.

    def _known(self, key):
        return key in self._ready or any(k == key for k, _ in self._running.values()) or any(
            k == key for k, _ in self._queued)

    def _prefetch(self, epoch, indices):
        for item in [item for item in self._queued if item[0][0] < epoch]:  # an earlier epoch's, not begun
            self._queued.remove(item)
            self._free.append(item[1])
        for index in indices:
            key = (epoch, index)
            if self._known(key):
                continue
            if not self._free and not self._evict_stale(epoch):
                break
            self._queued.append((key, self._free.pop()))
        self._dispatch()

    def _evict_stale(self, epoch):
        """Free the slot of a drawn batch of an earlier epoch, never to be asked for; True if there was one."""
        for key in sorted(self._ready):
            if key[0] < epoch:
                self._free.append(self._ready.pop(key))
                return True
        return False

    def _take_slot(self, epoch):
        """A slot for a batch asked for now: a free one, else a queued or drawn batch's, else the next one drawn."""
        while True:
            if self._free or self._evict_stale(epoch):
                return self._free.pop()
            if self._queued:
                return self._queued.pop()[1]  # the batch queued last is asked for last
            if self._ready:
                return self._ready.pop(max(self._ready))
            self._collect()

    def _dispatch(self):
        for number in range(len(self._workers)):
            if not self._queued:
                return
            if number not in self._running:
                key, slot = self._queued.popleft()
                self._running[number] = (key, slot)
                try:
                    self._pipes[number].send((slot, *key))
                except OSError:  # it died
                    self._fail(number, None)

    def _collect(self):
        """Wait for the next batch drawn (or a process that ends) and file it."""
        self._check()
        pipes = {self._pipes[number]: number for number in self._running}
        for ready in multiprocessing.connection.wait([*pipes, *(w.sentinel for w in self._workers)], timeout=1.0):
            if ready in pipes:
                number = pipes[ready]
                try:
                    answer = ready.recv()
                except (EOFError, OSError):
                    answer = None
                key, slot = self._running.pop(number)
                if answer != slot:
                    self._fail(number, answer)
                self._ready[key] = slot
        self._check()
        self._dispatch()

    def _check(self):
        if self._closing and self.failure is None:
            self.failure = RuntimeError("the sample processes were closed")
        for number, worker in enumerate(self._workers):
            if self.failure is None and worker.exitcode is not None:
                self._fail(number, None)
        if self.failure is not None:
            raise self.failure

    def _fail(self, number, answer):
        worker = self._workers[number]
        if isinstance(answer, str):  # the worker's traceback
            why = f"failed:\n{answer}"
        else:
            worker.join(timeout=1)
            code = worker.exitcode
            how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit status {code}"
            why = f"died ({how}{'; out of memory?' if code == -signal.SIGKILL else ''})"
        self.failure = RuntimeError(f"on-the-fly sample process {worker.name} (pid {worker.pid}) {why}")
        raise self.failure


def _draw_batches(pipe, ctx, image_size, seed, slots, parent):
    """A sample process: draw each batch asked for into its slot, until told to stop or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the trainer stops, saves, then stops us
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        try:
            if not pipe.poll(1.0):
                if os.getppid() != parent:  # the trainer was killed
                    return
                continue
            task = pipe.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        slot, epoch, index = task
        try:
            draw_batch(ctx, image_size, seed, epoch, index, slots[slot].images, slots[slot].masks)
        except Exception:
            pipe.send(traceback.format_exc())
            return
        pipe.send(slot)


def _stop_processes(workers, pipes):
    for pipe in pipes:
        try:
            pipe.send(None)
        except (OSError, ValueError):
            pass
    for worker in workers:
        worker.join(timeout=5)
        if worker.exitcode is None:
            worker.kill()
            worker.join()
    for pipe in pipes:
        pipe.close()


def default_workers(gpus=0):
    """Loader threads for an index: on a CPU the model already uses every core, so few; with a GPU, many."""
    cpus = os.cpu_count() or 2
    return max(1, min(8, cpus - 1)) if gpus else max(1, cpus // 4)


def default_processes(gpus=0):
    """Sample processes on the fly: with a GPU, every core but the trainer's; on a CPU, half (the model takes the rest)."""
    cpus = os.cpu_count() or 2
    return max(1, cpus - 1) if gpus else max(1, cpus // 2)
