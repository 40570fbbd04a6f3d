"""The Keras callbacks of a training run (train.py): stopping, the learning rate, what is saved after each epoch, logs.

Files written after each epoch (train.py names them from its config):

    checkpoint                  the model, with its info and calibrated thresholds (model.save)
    OUTPUT.backup/model.keras   the same, for a run killed with kill -9 to resume from (Backup)
    OUTPUT.backup/state.json    {"epochs": done, "target_epochs": the run's last epoch or null}
    snapshots/IIIIII_EEEEEE_in.jpg, IIIIII_EEEEEE_out<k>.jpg   wild photo I, after epoch E (WildSnapshots)
"""

import json
import math
import os
import shutil
import signal
import sys
import time

import cv2
import keras
import numpy as np

from segmenty import images, model as models
from segmenty.evaluate import best_thresholds, mask_coverage


class StopControl(keras.callbacks.Callback):
    """Ends training at a batch boundary on the first SIGINT/SIGTERM or at the time limit.

    A second SIGINT raises KeyboardInterrupt at once.
    """

    def __init__(self, time_limit_s=None):
        super().__init__()
        self.deadline = None if time_limit_s is None else time.monotonic() + time_limit_s
        self.reason = None
        self.cut = None  # (batches run, batches planned) of an epoch stopped before its end

    def install(self):
        self._previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}

    def uninstall(self):
        for s, h in getattr(self, "_previous", {}).items():
            signal.signal(s, h)

    def _handle(self, signum, frame):
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.reason = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        print(f"\n{self.reason}: stopping after this batch and saving (Ctrl-C again to abort at once)",
              file=sys.stderr, flush=True)
        if self.model is not None:
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        if self.deadline is not None and time.monotonic() > self.deadline and self.reason is None:
            self.reason = "time limit"
        if self.reason is not None:
            self.model.stop_training = True
            steps = self.params.get("steps") if self.params else None
            if self.cut is None and steps and batch + 1 < steps:
                self.cut = (batch + 1, steps)

    def describe(self):
        """Why training ended, and where: Keras's bar shows a cut epoch as complete."""
        why = self.reason or "done"
        return why if self.cut is None else f"{why}; the last one stopped after {self.cut[0]} of {self.cut[1]} batches"


class CosineSchedule(keras.callbacks.Callback):
    """Learning rate from its start down to 1/50 of it along a half cosine, over the run's time or steps.

    Short runs end better when the rate falls towards their end; a run without a time
    limit or an epoch count keeps a constant rate, as the original does.
    """

    def __init__(self, start, seconds=None, steps=None):
        super().__init__()
        self.start, self.seconds, self.steps = start, seconds, steps
        self.began, self.step = time.monotonic(), 0

    def rate(self, fraction):
        floor = self.start / 50
        return floor + (self.start - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, fraction)))

    def on_train_batch_begin(self, batch, logs=None):
        fractions = [(time.monotonic() - self.began) / self.seconds if self.seconds else 0.0,
                     self.step / self.steps if self.steps else 0.0]
        self.model.optimizer.learning_rate = self.rate(max(fractions))
        self.step += 1


# ---------------------------------------------------------------- saving

class Calibration:
    """Per-mask thresholds that maximise IoU on held-out synthetic samples, stored with the model.

    The balanced loss weighs a mask's few inside pixels as much as its many outside ones, so
    0.5 is not where its probabilities are best cut; this finds where, without real photos.

    Args:
        data: keras.utils.PyDataset of (images, masks) batches the model never trains on.
        limit: int, samples to read from it.
    """

    def __init__(self, data, limit):
        xs, ys = [], []
        for i in range(len(data)):
            x, y = data[i]
            xs.append(x.astype(np.uint8))
            ys.append(y > 0.5)
            if sum(len(b) for b in xs) >= limit:
                break
        self.images, self.masks = np.concatenate(xs)[:limit], np.concatenate(ys)[:limit]

    def __call__(self, net, batch_size=25):
        """{"thresholds": per mask, "coverage": per mask, its share of a true find (see find.mask_evidence)}."""
        probs = np.concatenate([np.asarray(net.predict_on_batch(self.images[i:i + batch_size].astype(np.float32)))
                                for i in range(0, len(self.images), batch_size)])
        thresholds = best_thresholds(self.masks, probs)
        with_pattern = self.masks[..., 0].any(axis=(1, 2))
        return {"thresholds": thresholds, "coverage": mask_coverage(probs[with_pattern], thresholds)}


class Backup:
    """Crash recovery, as keras.callbacks.BackupAndRestore: a run killed at any point resumes from its last epoch.

    `save` keeps the model and the run's target in OUTPUT.backup/ after each epoch, `restore`
    reads them back when a run starts with the same `output`, and `remove` deletes the folder
    once the run has saved `output` (a clean exit: the end, Ctrl-C, SIGTERM, the time limit).

    Args:
        output: str, the model file the run saves at its end.
    """

    def __init__(self, output):
        self.folder = os.path.normpath(output) + ".backup"
        self.target_epochs = None

    def restore(self):
        """(keras.Model, info, target epochs or None) of an interrupted run, or None if there is none."""
        state_path = os.path.join(self.folder, "state.json")
        if not os.path.exists(state_path):
            return None
        with open(state_path) as f:
            self.target_epochs = json.load(f).get("target_epochs")
        net, info = models.load(os.path.join(self.folder, "model.keras"))
        print(f"resuming an interrupted run from {self.folder}/ at epoch {info['epochs']}", file=sys.stderr)
        return net, info, self.target_epochs

    def save(self, net, info):
        os.makedirs(self.folder, exist_ok=True)
        models.save(net, os.path.join(self.folder, "model.keras"), info)
        images.write_json(os.path.join(self.folder, "state.json"),
                          {"epochs": info["epochs"], "target_epochs": self.target_epochs})

    def remove(self):
        shutil.rmtree(self.folder, ignore_errors=True)


class EpochSaver(keras.callbacks.Callback):
    """After each epoch: the info saved with the model (epochs done, calibrated thresholds), then the model
    to the checkpoint and to the backup.

    Args:
        info: dict, the model's info (model.save) when the run starts; its "epochs" count on.
        checkpoint: str or None, a model file rewritten after each epoch.
        backup: Backup or None.
        calibration: Calibration or None.
    """

    def __init__(self, info, checkpoint=None, backup=None, calibration=None):
        super().__init__()
        self.checkpoint, self.backup, self.calibration = checkpoint, backup, calibration
        self.epochs_done = info["epochs"]
        self.info, self._latest = info, None  # _latest: the info of the last saved epoch

    def current_info(self):
        """The info to save with the model as it is now; calibrated once per epoch."""
        if self._latest is not None and self._latest["epochs"] == self.epochs_done:
            return self._latest
        info = {**self.info, "epochs": self.epochs_done}
        if self.calibration is not None:
            info.update(self.calibration(self.model))
        self._latest = info
        return info

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_done = epoch + 1
        info = self.current_info()
        if self.checkpoint:
            models.save(self.model, self.checkpoint, info)
        if self.backup is not None:
            self.backup.save(self.model, info)


# ---------------------------------------------------------------- watching

def wild_photos(folder):
    """The photos in `folder`, sorted; none if it is unset or missing."""
    if not folder or not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, n) for n in os.listdir(folder) if images.is_photo_name(n))


def load_photo(path, image_size):
    """A photo as the model sees it (images.model_input), or None if unreadable."""
    try:
        return images.model_input(images.read_photo(path), image_size)
    except ValueError:
        return None


class WildSnapshots(keras.callbacks.Callback):
    """Run the model on real photos after every epoch and write its masks beside them to `folder`.

    Args:
        photos: list of str, photo files; unreadable ones are left out.
        folder: str.
        image_size: int, the model's input size.
    """

    def __init__(self, photos, folder, image_size):
        super().__init__()
        self.folder, self.photos = folder, []
        for path in photos:
            img = load_photo(path, image_size)
            if img is not None:
                self.photos.append(img)

    def on_epoch_end(self, epoch, logs=None):
        if not self.photos:
            return
        os.makedirs(self.folder, exist_ok=True)
        batch = np.stack(self.photos)
        out = np.asarray(self.model.predict(batch, batch_size=8, verbose=0))
        for i, (img, masks) in enumerate(zip(batch, out)):
            stem = os.path.join(self.folder, f"{i:06d}_{epoch:06d}")
            cv2.imwrite(f"{stem}_in.jpg", cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_RGB2BGR))
            for k in range(masks.shape[-1]):
                cv2.imwrite(f"{stem}_out{k}.jpg", np.clip(masks[..., k] * 255, 0, 255).astype(np.uint8))


class ProgressLog(keras.callbacks.ProgbarLogger):
    """Keras's progress bar on a terminal; in a file (verbose=2), one line per epoch, without carriage returns.

    Either way an epoch reads 'Epoch 7' rather than 'Epoch 7/1000000' when training runs until stopped.

    Args:
        unlimited: bool, the run has no last epoch.
    """

    def __init__(self, unlimited):
        super().__init__()
        self.unlimited = unlimited

    def title(self, epoch):
        return f"Epoch {epoch + 1}" + (" (until Ctrl-C)" if self.unlimited else f"/{self.epochs}")

    def on_epoch_begin(self, epoch, logs=None):
        self.began = time.monotonic()
        if self.verbose == 1 and self.unlimited:
            self._reset_progbar()
            self._maybe_init_progbar()
            print(self.title(epoch), flush=True)
        elif self.verbose == 1:
            super().on_epoch_begin(epoch, logs)
        else:
            self._reset_progbar()

    def on_epoch_end(self, epoch, logs=None):
        if self.verbose != 2:
            return super().on_epoch_end(epoch, logs)
        seconds = time.monotonic() - self.began
        steps = f"{self.seen}/{self.target}" if self.target else str(self.seen)
        metrics = "".join(f" - {k}: {_number(v)}" for k, v in (logs or {}).items())
        print(f"{self.title(epoch)}: {steps} steps - {seconds:.0f}s - "
              f"{1000 * seconds / max(1, self.seen):.0f}ms/step{metrics}", flush=True)


def _number(value):
    value = float(value)
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"
