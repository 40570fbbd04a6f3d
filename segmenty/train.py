"""Stage 4: training (train_segmenter.py).

Files (the original's names, with Keras 3's .keras suffix):

    --model root.keras          start from this model if it exists
    --output save.keras         saved on normal completion, first Ctrl-C, SIGTERM, --time-limit
    --checkpoint /tmp/model.keras   written after every epoch
    --log training.log          CSV of loss, tpr, tnr, mse and val_* per epoch; appended on resume
    --snapshots snapshots/      IIIIII_EEEEEE_in.jpg, IIIIII_EEEEEE_out<k>.jpg for each --wild photo, each epoch
    OUTPUT.backup/              model + state after every epoch; a run killed with kill -9 resumes
                                from it when started again with the same arguments; removed on a clean exit

Every model file is written to a temp file and moved into place: never truncated.
"""

import functools
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

from segmenty import dataset, images, model as models
from segmenty.devices import Distribution, gpu_count, set_precision
from segmenty.errors import InvalidArgument, SegmentyError
from segmenty.losses import balanced_loss, mse, tnr, tpr


# ---------------------------------------------------------------- callbacks

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


class Calibration:
    """Per-mask thresholds that maximise IoU on held-out synthetic samples, stored with the model.

    The balanced loss weighs a mask's few inside pixels as much as its many outside ones, so
    0.5 is not where its probabilities are best cut; this finds where, without real photos.
    """

    def __init__(self, data, limit):
        images, masks = [], []
        for i in range(len(data)):
            x, y = data[i]
            images.append(x.astype(np.uint8))
            masks.append(y > 0.5)
            if sum(len(b) for b in images) >= limit:
                break
        self.images, self.masks = np.concatenate(images)[:limit], np.concatenate(masks)[:limit]

    def __call__(self, net, batch_size=25):
        """{"thresholds": per mask, "coverage": per mask, its share of a true find (see infer)}."""
        from segmenty.evaluate import best_thresholds, mask_coverage
        probs = np.concatenate([np.asarray(net.predict_on_batch(self.images[i:i + batch_size].astype(np.float32)))
                                for i in range(0, len(self.images), batch_size)])
        thresholds = best_thresholds(self.masks, probs)
        with_pattern = self.masks[..., 0].any(axis=(1, 2))
        return {"thresholds": thresholds, "coverage": mask_coverage(probs[with_pattern], thresholds)}


class EpochSaver(keras.callbacks.Callback):
    """After each epoch: calibrated thresholds, the checkpoint, and the backup a restarted run resumes from."""

    def __init__(self, checkpoint, backup_dir, info, target_epochs, calibration=None):
        super().__init__()
        self.checkpoint, self.backup_dir, self.info, self.target_epochs = checkpoint, backup_dir, info, target_epochs
        self.calibration = calibration
        self.epochs_done = info["epochs"]

    def current_info(self):
        info = {**self.info, "epochs": self.epochs_done}
        if self.calibration is not None:
            info.update(self.calibration(self.model))
        return info

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_done = epoch + 1
        info = self.current_info()
        if self.checkpoint:
            models.save(self.model, self.checkpoint, info)
        os.makedirs(self.backup_dir, exist_ok=True)
        models.save(self.model, os.path.join(self.backup_dir, "model.keras"), info)
        images.write_json(os.path.join(self.backup_dir, "state.json"),
                          {"epochs": self.epochs_done, "target_epochs": self.target_epochs})


def wild_photos(folder):
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
    """Run the model on the --wild photos after every epoch and write them to --snapshots."""

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


class EpochCounter(keras.callbacks.ProgbarLogger):
    """Keras's progress bar, but 'Epoch 7' rather than 'Epoch 7/1000000' when training runs until stopped."""

    def __init__(self, unlimited):
        super().__init__()
        self.unlimited = unlimited

    def on_epoch_begin(self, epoch, logs=None):
        if self.unlimited:
            self._reset_progbar()
            self._maybe_init_progbar()
            print(f"Epoch {epoch + 1} (until Ctrl-C)", flush=True)
        else:
            super().on_epoch_begin(epoch, logs)


# ---------------------------------------------------------------- the run

def mask_names_for(train_index_entries, pattern_folder, n_masks):
    """Mask names from the pattern folder when it matches the index, else from the files' suffixes."""
    try:
        from segmenty.patterns import mask_names
        names = mask_names(pattern_folder)
        if len(names) == n_masks:
            return names
    except SegmentyError:
        pass
    first = train_index_entries[0]["y"]
    return [os.path.splitext(os.path.basename(y))[0].split("_", 3)[-1] for y in first]


def picture_for(pattern_folder, names):
    """The pattern's picture (patterns.pattern_picture) when the folder's masks are `names`, else None."""
    from segmenty.patterns import mask_names, pattern_picture
    try:
        if mask_names(pattern_folder) != list(names):
            return None
        return pattern_picture(pattern_folder)
    except SegmentyError:
        return None


def compile_model(model, learning_rate=1e-3):
    # On a CPU, TensorFlow without XLA runs oneDNN kernels: lite trains at 77 img/s on this
    # 2-core machine, against 27 with XLA. On a GPU, XLA helps.
    jit = gpu_count() > 0 if keras.config.backend() == "tensorflow" else "auto"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=balanced_loss, metrics=[tpr, tnr, mse],
                  jit_compile=jit)


def restores_dtype_policy(fn):
    """A train() that sets --mixed-precision for its run leaves the caller's dtype policy as it found it."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        previous = keras.config.dtype_policy()
        try:
            return fn(*args, **kwargs)
        finally:
            keras.config.set_dtype_policy(previous)
    return wrapper


@restores_dtype_policy
def train(train_index="training.json", validation_index="validation.json", preset=None, image_size=None,
          batch_size=25, epochs=None, steps_per_epoch=None, time_limit=None, model_path="root.keras",
          output="save.keras", checkpoint="/tmp/model.keras", log="training.log", wild="wild",
          snapshots="snapshots", on_the_fly=False, pattern="pattern", backgrounds="background", workers=None,
          seed=None, mixed_precision="auto", distribute=False, tensorboard=None, learning_rate=1e-3,
          recipe="segmenty", sample_size=None, config_overrides=None, verbose=1, lr_schedule="constant",
          blank_prob=0.2, calibration_samples=200):
    """Train (or resume) a segmenter; see the module docstring for files. Returns the final info dict."""
    if lr_schedule not in ("constant", "cosine"):
        raise InvalidArgument("lr_schedule", lr_schedule, "constant or cosine")
    for name, value in (("batch_size", batch_size), ("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise InvalidArgument(name, value, "a positive integer")
    if time_limit is not None and time_limit <= 0:
        raise InvalidArgument("time_limit", time_limit, "minutes > 0")
    workers = workers or dataset.default_workers(gpu_count())
    seed = int.from_bytes(os.urandom(4), "little") if seed is None else seed
    keras.utils.set_random_seed(seed)  # weights and dropout too, so --seed reproduces a run
    policy = set_precision(mixed_precision)
    dist = Distribution(distribute)

    # What the data says: the number of masks and their names.
    if on_the_fly:
        from segmenty.samples import make_context
        default_size = models.PRESETS.get(preset or "segmenty", {}).get("image_size", 256)
        ctx = make_context(backgrounds, pattern, sample_size or image_size or default_size, blank_prob, recipe)
        names, n_masks = ctx.mask_names, len(ctx.mask_names)
    else:
        entries = dataset.load_entries(train_index)
        n_masks = dataset.mask_count(entries, train_index)
        names = mask_names_for(entries, pattern, n_masks)

    # Where to start: an interrupted run's backup, else --model, else a new model.
    backup_dir = os.path.normpath(output) + ".backup"
    state_path = os.path.join(backup_dir, "state.json")
    target_epochs = None
    with dist.scope():
        if os.path.exists(state_path):
            with open(state_path) as f:
                target_epochs = json.load(f).get("target_epochs")
            net, info = models.load(os.path.join(backup_dir, "model.keras"))
            print(f"resuming an interrupted run from {backup_dir}/ at epoch {info['epochs']}", file=sys.stderr)
        elif model_path and os.path.exists(model_path):
            net, info = models.load(model_path)
            print(f"starting from {model_path} ({info['preset']}, {info['image_size']}px, "
                  f"{info['epochs']} epochs so far)", file=sys.stderr)
        else:
            config = models.preset_config(preset or "segmenty", image_size, config_overrides)
            net = models.build_model(config, names)
            info = {"preset": config["preset"], "image_size": config["image_size"], "mask_names": names,
                    "epochs": 0, "config": config}
            compile_model(net, learning_rate)
        if net.output_shape[-1] != n_masks:
            raise SegmentyError(f"the training data has {n_masks} masks per sample but the model has "
                            f"{net.output_shape[-1]} outputs; train a new model (another --model/--output) "
                            "or use matching samples")
        if dist.strategy is not None:
            net.jit_compile = False  # XLA can't compile variables mirrored across devices
        # A resumed model keeps its architecture: it wins over conflicting flags.
        for flag, asked, actual in (("--preset", preset, info["preset"]), ("--image-size", image_size, info["image_size"])):
            if asked is not None and asked != actual:
                print(f"warning: {flag} {asked} ignored: the model being resumed is {flag[2:]} {actual}",
                      file=sys.stderr)

    if "picture" not in info:  # test_segmenter.py checks doubtful finds against it
        picture = picture_for(pattern, info["mask_names"])
        if picture is not None:
            info["picture"] = picture.tolist()

    size = info["image_size"]
    start_epoch = info["epochs"]
    if target_epochs is None:
        target_epochs = start_epoch + epochs if epochs else None
    unlimited = target_epochs is None
    final_epoch = target_epochs if target_epochs is not None else 10**9

    if on_the_fly:
        steps = steps_per_epoch or max(1, 3000 // batch_size)
        train_data = dataset.OnTheFlyDataset(ctx, batch_size, steps, seed=seed + start_epoch, image_size=size,
                                             workers=workers, use_multiprocessing=False)
    else:
        train_data = dataset.IndexDataset(train_index, batch_size, size, n_masks, steps=steps_per_epoch, seed=seed,
                                          workers=workers, use_multiprocessing=False)
    val_data = None
    if validation_index and os.path.exists(validation_index):
        val_entries = dataset.load_entries(validation_index)
        if dataset.mask_count(val_entries, validation_index) != n_masks:
            raise SegmentyError(f"{validation_index} has {len(val_entries[0]['y'])} masks per sample, "
                            f"the training data {n_masks}")
        val_data = dataset.IndexDataset(validation_index, batch_size, size, n_masks, shuffle=False,
                                        workers=workers, use_multiprocessing=False)

    # Thresholds are calibrated on samples the model never trains on: validation, else fresh ones.
    held_out = val_data
    if held_out is None and on_the_fly:
        held_out = dataset.OnTheFlyDataset(ctx, batch_size, 10**6, seed=seed + 7919, image_size=size)
    calibration = Calibration(held_out, calibration_samples) if held_out is not None and calibration_samples else None
    stop = StopControl(None if time_limit is None else time_limit * 60)
    saver = EpochSaver(checkpoint, backup_dir, info, target_epochs, calibration)
    schedule = None
    if lr_schedule == "cosine":
        steps_left = None if target_epochs is None else (target_epochs - start_epoch) * len(train_data)
        if time_limit is None and steps_left is None:
            raise SegmentyError("`lr_schedule` cosine needs `time_limit` or `epochs` to know where the run ends")
        schedule = CosineSchedule(learning_rate, None if time_limit is None else time_limit * 60, steps_left)
    callbacks = [stop, schedule, saver, keras.callbacks.CSVLogger(log, append=True) if log else None,
                 WildSnapshots(wild_photos(wild), snapshots, size) if wild_photos(wild) else None]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(tensorboard))
    if verbose:
        callbacks.append(EpochCounter(unlimited))
    callbacks = [c for c in callbacks if c is not None]

    print(f"training {info['preset']} ({net.count_params():,} parameters) at {size}x{size} on {n_masks} masks "
          f"{names}, batch {batch_size}, {policy}, {dist.devices} device(s); "
          f"{'until Ctrl-C' if unlimited else f'to epoch {final_epoch}'}"
          f"{f' or {time_limit:g} min' if time_limit else ''}", file=sys.stderr, flush=True)
    stop.install()
    try:
        if start_epoch < final_epoch:
            net.fit(train_data, validation_data=val_data, epochs=final_epoch, initial_epoch=start_epoch,
                    callbacks=callbacks, verbose=verbose)
    finally:
        stop.uninstall()
    saver.set_model(net)  # also when fit had nothing left to do
    final = saver.current_info()
    models.save(net, output, final)
    shutil.rmtree(backup_dir, ignore_errors=True)
    print(f"saved {output} after {saver.epochs_done} epochs ({stop.describe()}); "
          f"to continue from it: --model {output}", file=sys.stderr)
    return final
