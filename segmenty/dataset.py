"""Batches for Keras: a PyDataset over a sample index, or samples generated on the fly.

Inputs are RGB float32 in 0..255 (the model's first BatchNorm standardises them, as in the
original); targets are masks / 255 in 0..1, one channel per mask. Both datasets are
keras.utils.PyDataset, so they work with every Keras backend.
"""

import os
import sys
import time

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
    """Batches generated in place by synth.py: no disk, no freshener; seeded per epoch and batch.

    Args:
        ctx: synth.Context (its size is the sample size; images are resized to image_size if different).
        batch_size: int.
        steps: int, batches per epoch.
        seed: int.
        image_size: int or None. Defaults to ctx.size.
    """

    def __init__(self, ctx, batch_size, steps, seed=0, image_size=None, **kwargs):
        super().__init__(**kwargs)
        self.ctx, self.batch_size, self.steps, self.seed = ctx, batch_size, steps, seed
        self.image_size = image_size or ctx.size
        self.epoch = 0

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        xs, ys = [], []
        for k in range(self.batch_size):
            rng = np.random.default_rng([self.seed, self.epoch, index, k])
            image, masks, _, _ = synth.generate(rng, self.ctx)
            if self.image_size != self.ctx.size:
                image = cv2.resize(image, (self.image_size,) * 2, interpolation=cv2.INTER_AREA)
                masks = cv2.resize(masks, (self.image_size,) * 2, interpolation=cv2.INTER_LINEAR).reshape(
                    self.image_size, self.image_size, -1)
            x, y = to_arrays(image, masks)
            xs.append(x)
            ys.append(y)
        return np.stack(xs), np.stack(ys)

    def on_epoch_end(self):
        self.epoch += 1


def default_workers(gpus=0):
    """Loader threads: on a CPU the model already uses every core, so few; with a GPU, many."""
    cpus = os.cpu_count() or 2
    return max(1, min(8, cpus - 1)) if gpus else max(1, cpus // 4)
