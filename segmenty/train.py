"""Stage 4: training (train_segmenter.py), configured by a TrainConfig.

Files, by the TrainConfig field that names them (the original's names, with Keras 3's .keras suffix):

    model       root.keras          start from this model if it exists
    output      save.keras          saved at the end: its last epoch, the first Ctrl-C, SIGTERM, the time limit
    checkpoint  /tmp/model.keras    written after every epoch
    log         training.log        CSV of loss, tpr, tnr, mse and val_* per epoch; appended on resume
    snapshots   snapshots/          the model's masks on each `wild` photo after each epoch (callbacks.WildSnapshots)
                OUTPUT.backup/      the model after every epoch; a run killed with kill -9 resumes from it
                                    when started again with the same `output` (callbacks.Backup)

Every model file is written to a temp file and moved into place: never truncated.
"""

import dataclasses
import functools
import os
import sys
import time

import keras

from segmenty import calibrate, callbacks, dataset, model as models
from segmenty.devices import Distribution, gpu_count, set_precision
from segmenty.errors import InvalidArgument, SegmentyError
from segmenty.losses import balanced_loss, mse, tnr, tpr
from segmenty.page import from_pattern
from segmenty.patterns import mask_names, pattern_picture
from segmenty.samples import make_context
from segmenty.segmenter import KerasPredictor, default_workers

UNTIL_STOPPED = 10**9  # the last epoch of a run without one


def _option(default, help, **meta):
    """A TrainConfig field: its default, its help text, and how the command line reads it (cli.add_config_flags)."""
    return dataclasses.field(default=default, metadata={"help": help, **meta})


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run takes, each with its default: the original's (batch 25, Adam, root/save/checkpoint).

    train_segmenter.py makes one flag of each field (`image_size` is --image-size) from this class,
    and checks nothing itself: a value out of range raises InvalidArgument naming its field.
    """

    train: str = _option("training.json", "training sample index")
    validation: str = _option("validation.json", "validation sample index (skipped if missing)")
    preset: str = _option(None, "segmenty, lite or tiny (default: segmenty; a resumed model keeps its own)")
    image_size: int = _option(None, "model input size (default: the preset's)", type=int)
    batch_size: int = _option(25, "samples per step")
    epochs: int = _option(None, "epochs to train in this run (default: until stopped)", type=int)
    steps_per_epoch: int = _option(None, "batches per epoch (default: samples // batch size; 3000 // batch size "
                                         "on the fly)", type=int)
    time_limit: float = _option(None, "stop and save after this long", type=float, metavar="MINUTES")
    learning_rate: float = _option(1e-3, "Adam's learning rate")
    lr_schedule: str = _option("constant", "cosine: fall to 1/50 by the end of the time limit or the epochs",
                               choices=["constant", "cosine"])
    model: str = _option("root.keras", "start from this model if the file exists")
    output: str = _option("save.keras", "where the model is saved on exit")
    checkpoint: str = _option("/tmp/model.keras", "written after every epoch")
    log: str = _option("training.log", "CSV of metrics per epoch (appended)")
    wild: str = _option("wild", "folder of real photos to snapshot after every epoch")
    snapshots: str = _option("snapshots", "where the wild snapshots go")
    on_the_fly: bool = _option(False, "generate samples in memory instead of reading the training index")
    pattern: str = _option("pattern", "pattern folder (mask names; the pattern drawn on the fly)")
    backgrounds: str = _option("background", "background folder (on the fly)")
    recipe: str = _option("segmenty", "sample recipe on the fly: segmenty or robust")
    blank_prob: float = _option(0.2, "share of samples without the pattern, on the fly")
    sample_size: int = _option(None, "sample size on the fly (default: the model's)", type=int)
    workers: int = _option(None, "processes drawing samples on the fly, else threads reading them (default: on "
                                 "the fly, half the CPU cores, else 1 per 4; with a GPU, all cores but one, else up "
                                 "to 8)", type=int)
    seed: int = _option(None, "shuffling / on-the-fly seed (default: random)", type=int)
    mixed_precision: str = _option("auto", "auto (bf16 on a GPU or on a CPU with AMX bf16 units, else float32), "
                                           "on (bf16) or off (float32)")
    distribute: bool = _option(False, "use all visible GPUs (TensorFlow or JAX backend)")
    tensorboard: str = _option(None, "also write TensorBoard logs here", metavar="DIR")
    decision_samples: int = _option(calibrate.CALIBRATION_COUNT, "synthetic samples with the pattern, and as many without, in each "
                                         f"of the {calibrate.DRAWS} draws that the find decision is calibrated on when "
                                         "training ends (0: none; needs --pattern and --backgrounds)", type=int)
    # For Python callers only (train_segmenter.py has no flags for them):
    calibration_samples: int = _option(200, "held-out samples the thresholds are calibrated on (0: none)")
    config_overrides: dict = _option(None, "changes to the preset's model config, e.g. {\"filters\": [...]}")

    PYTHON_ONLY = ("calibration_samples", "config_overrides")

    def __post_init__(self):
        for name in ("batch_size", "epochs", "steps_per_epoch", "workers"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise InvalidArgument(name, value, "a positive integer")
        if self.time_limit is not None and not self.time_limit > 0:
            raise InvalidArgument("time_limit", self.time_limit, "minutes > 0")
        if not self.learning_rate > 0:
            raise InvalidArgument("learning_rate", self.learning_rate, "a number > 0")
        if self.lr_schedule not in ("constant", "cosine"):
            raise InvalidArgument("lr_schedule", self.lr_schedule, "constant or cosine")
        if self.sample_size is not None and (not isinstance(self.sample_size, int) or self.sample_size < 32):
            raise InvalidArgument("sample_size", self.sample_size, "an integer >= 32")
        for name in ("calibration_samples", "decision_samples"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidArgument(name, value, "an integer >= 0")


def compile_model(model, learning_rate=1e-3):
    # On a CPU, TensorFlow without XLA runs oneDNN kernels: lite trains about 3x faster than
    # with XLA on this project's 2-core machine. On a GPU, XLA helps.
    jit = gpu_count() > 0 if keras.config.backend() == "tensorflow" else "auto"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=balanced_loss, metrics=[tpr, tnr, mse],
                  jit_compile=jit)


def restores_dtype_policy(fn):
    """A train() that sets a precision for its run leaves the caller's dtype policy as it found it."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        previous = keras.config.dtype_policy()
        try:
            return fn(*args, **kwargs)
        finally:
            keras.config.set_dtype_policy(previous)
    return wrapper


@restores_dtype_policy
def train(config=None, verbose="auto"):
    """Train (or resume) a segmenter; see the module docstring for its files.

    Args:
        config: TrainConfig. Defaults to TrainConfig(), the original's run: training.json until Ctrl-C.
        verbose: "auto", 0, 1 or 2: 1 is Keras's progress bar, 2 one line per epoch (for log files),
            "auto" the bar when stdout is a terminal, else lines. Defaults to "auto".

    Returns:
        dict, the info saved with the model (see model.py).
    """
    config = config or TrainConfig()
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    seed = int.from_bytes(os.urandom(4), "little") if config.seed is None else config.seed
    keras.utils.set_random_seed(seed)  # weights and dropout too, so a seed reproduces a run
    policy = set_precision(config.mixed_precision)
    distribution = Distribution(config.distribute)

    samples = _samples(config)
    backup = callbacks.Backup(config.output)
    net, info = _model(config, samples, backup, distribution)
    batches = _batches(config, samples, info, seed)
    try:
        run = _callbacks(config, info, batches, backup, verbose)
        size = info["image_size"]
        print(f"training {info['preset']} ({net.count_params():,} parameters) at {size}x{size} on "
              f"{samples.n_masks} masks {samples.names}, batch {config.batch_size}, {policy}, "
              f"{distribution.devices} device(s); {run.goal}", file=sys.stderr, flush=True)
        _fit(net, batches, run, verbose)
    finally:
        batches.close()  # the sample processes, on the fly: also on Ctrl-C, the time limit and errors
    return _save(net, config, run, backup)


# ---------------------------------------------------------------- the steps of a run

@dataclasses.dataclass
class _Samples:
    """What the training data says: its masks, and where batches come from."""
    names: list
    n_masks: int
    context: object = None  # synth.Context on the fly
    entries: list = None    # the index's entries otherwise


def _samples(config):
    """The masks of the training data: from the on-the-fly context, or from the index."""
    if config.on_the_fly:
        default_size = models.PRESETS.get(config.preset or "segmenty", {}).get("image_size", 256)
        ctx = make_context(config.backgrounds, config.pattern, config.sample_size or config.image_size or default_size,
                           config.blank_prob, config.recipe)
        return _Samples(ctx.mask_names, len(ctx.mask_names), context=ctx)
    entries = dataset.load_entries(config.train)
    n_masks = dataset.mask_count(entries, config.train)
    return _Samples(mask_names_for(entries, config.pattern, n_masks), n_masks, entries=entries)


def mask_names_for(train_index_entries, pattern_folder, n_masks):
    """Mask names from the pattern folder when it matches the index, else from the files' suffixes."""
    try:
        names = mask_names(pattern_folder)
        if len(names) == n_masks:
            return names
    except SegmentyError:
        pass
    first = train_index_entries[0]["y"]
    return [os.path.splitext(os.path.basename(y))[0].split("_", 3)[-1] for y in first]


def pattern_info(pattern_folder, names):
    """{"picture", "page"} of the pattern folder for a model's info (patterns.pattern_picture,
    page.from_pattern), or {} when the folder's masks are not `names` or it can't be read."""
    try:
        if mask_names(pattern_folder) != list(names):
            return {}
        return {"picture": pattern_picture(pattern_folder).tolist(), "page": from_pattern(pattern_folder).to_info()}
    except SegmentyError:
        return {}


def _model(config, samples, backup, distribution):
    """(model, info) to train: an interrupted run's backup, else `model` if it exists, else a new one."""
    with distribution.scope():
        restored = backup.restore()
        if restored is not None:
            net, info, _ = restored
        elif config.model and os.path.exists(config.model):
            net, info = models.load(config.model)
            print(f"starting from {config.model} ({info['preset']}, {info['image_size']}px, "
                  f"{info['epochs']} epochs so far)", file=sys.stderr)
        else:
            model_config = models.preset_config(config.preset or "segmenty", config.image_size,
                                                config.config_overrides)
            net = models.build_model(model_config, samples.names)
            info = {"preset": model_config["preset"], "image_size": model_config["image_size"],
                    "mask_names": samples.names, "epochs": 0, "config": model_config}
            compile_model(net, config.learning_rate)
        if net.output_shape[-1] != samples.n_masks:
            raise SegmentyError(f"the training data has {samples.n_masks} masks per sample but the model has "
                                f"{net.output_shape[-1]} outputs; train a new model (another `model` and `output`) "
                                "or use matching samples")
        if distribution.strategy is not None:
            net.jit_compile = False  # XLA can't compile variables mirrored across devices
    # A resumed model keeps its architecture: it wins over a conflicting config.
    for name in ("preset", "image_size"):
        asked = getattr(config, name)
        if asked is not None and asked != info[name]:
            print(f"warning: `{name}`={asked!r} ignored: the model being resumed has {info[name]!r}", file=sys.stderr)
    if backup.target_epochs is None and config.epochs:
        backup.target_epochs = info["epochs"] + config.epochs
    if "picture" not in info or "page" not in info:  # test_segmenter.py poses and checks finds with them
        info = {**pattern_info(config.pattern, info["mask_names"]), **info}
    return net, info


@dataclasses.dataclass
class _Batches:
    train: object
    validation: object = None
    held_out: object = None  # samples never trained on, for the calibration

    def close(self):
        """Stop the on-the-fly sample processes, if any."""
        if isinstance(self.train, dataset.OnTheFlyDataset):
            self.train.close()

    def failure(self):
        """Why the sample processes stopped (a worker died or failed), or None."""
        processes = getattr(self.train, "processes", None)
        return None if processes is None else processes.failure


def _batches(config, samples, info, seed):
    """The training batches, the validation batches if `validation` exists, and held-out ones.

    An index whose files are gone fails here, before training starts (dataset.check_files).
    """
    size, workers = info["image_size"], config.workers or dataset.default_workers(gpu_count())
    if samples.context is not None:
        steps = config.steps_per_epoch or max(1, 3000 // config.batch_size)
        train_data = dataset.OnTheFlyDataset(samples.context, config.batch_size, steps, seed=seed + info["epochs"],
                                             image_size=size,
                                             processes=config.workers or dataset.default_processes(gpu_count()))
    else:
        dataset.check_files(samples.entries, config.train)
        train_data = dataset.IndexDataset(config.train, config.batch_size, size, samples.n_masks,
                                          steps=config.steps_per_epoch, seed=seed, workers=workers,
                                          use_multiprocessing=False)
    val_data = None
    if config.validation and os.path.exists(config.validation):
        val_entries = dataset.load_entries(config.validation)
        dataset.check_files(val_entries, config.validation)
        if dataset.mask_count(val_entries, config.validation) != samples.n_masks:
            raise SegmentyError(f"{config.validation} has {len(val_entries[0]['y'])} masks per sample, "
                                f"the training data {samples.n_masks}")
        val_data = dataset.IndexDataset(config.validation, config.batch_size, size, samples.n_masks, shuffle=False,
                                        workers=workers, use_multiprocessing=False)
    # Thresholds are calibrated on samples the model never trains on: validation, else fresh ones.
    held_out = val_data
    if held_out is None and samples.context is not None:
        held_out = dataset.OnTheFlyDataset(samples.context, config.batch_size, 10**6, seed=seed + 7919, image_size=size)
    return _Batches(train_data, val_data, held_out)


@dataclasses.dataclass
class _Run:
    callbacks: list
    stop: object     # callbacks.StopControl
    saver: object    # callbacks.EpochSaver
    first_epoch: int
    last_epoch: int
    goal: str  # e.g. "to epoch 10 or 30 min"


def _callbacks(config, info, batches, backup, verbose):
    """The run's callbacks, in the order they act after each batch and each epoch."""
    first, target = info["epochs"], backup.target_epochs
    time_limit_s = None if config.time_limit is None else config.time_limit * 60
    stop = callbacks.StopControl(time_limit_s)
    calibration = None
    if batches.held_out is not None and config.calibration_samples:
        calibration = callbacks.Calibration(batches.held_out, config.calibration_samples)
    saver = callbacks.EpochSaver(info, config.checkpoint, backup, calibration)
    schedule = None
    if config.lr_schedule == "cosine":
        steps_left = None if target is None else (target - first) * len(batches.train)
        if time_limit_s is None and steps_left is None:
            raise SegmentyError("`lr_schedule` cosine needs `time_limit` or `epochs` to know where the run ends")
        schedule = callbacks.CosineSchedule(config.learning_rate, time_limit_s, steps_left)
    photos = callbacks.wild_photos(config.wild)
    chosen = [stop, schedule, saver,
              keras.callbacks.CSVLogger(config.log, append=True) if config.log else None,
              callbacks.WildSnapshots(photos, config.snapshots, info["image_size"]) if photos else None,
              keras.callbacks.TensorBoard(config.tensorboard) if config.tensorboard else None,
              callbacks.ProgressLog(unlimited=target is None) if verbose else None]
    goal = "until Ctrl-C" if target is None else f"to epoch {target}"
    if config.time_limit:
        goal += f" or {config.time_limit:g} min"
    return _Run([c for c in chosen if c is not None], stop, saver, first, UNTIL_STOPPED if target is None else target,
                goal)


def _fit(net, batches, run, verbose):
    """Train from the first epoch to the last, or until a stop; signals stop at a batch's end."""
    run.stop.install()
    try:
        if run.first_epoch < run.last_epoch:
            # On the fly, batches are drawn ahead in order; they are all alike, so shuffling adds nothing.
            net.fit(batches.train, validation_data=batches.validation, epochs=run.last_epoch,
                    initial_epoch=run.first_epoch, callbacks=run.callbacks, verbose=verbose,
                    shuffle=isinstance(batches.train, dataset.IndexDataset))
    except Exception:
        failure = batches.failure()
        if failure is not None:  # said plainly, not from inside the backend's data pipeline
            raise type(failure)(*failure.args) from None
        raise
    finally:
        run.stop.uninstall()


def _save(net, config, run, backup):
    """Save `output` with the info of the last epoch and the find decision calibrated (calibrate.py),
    then remove the backup: the run ended cleanly."""
    run.saver.set_model(net)  # also when fit had nothing left to do
    final = dict(run.saver.current_info())
    models.save(net, config.output, final)  # first: a calibration that fails must not cost the run
    backup.remove()
    decision = _calibrate_decision(net, final, config)
    if decision is not None:
        final["decision"] = decision
        models.save(net, config.output, final)
    print(f"saved {config.output} after {run.saver.epochs_done} epochs ({run.stop.describe()}); "
          "to continue from it, pass it as `model`", file=sys.stderr)
    return final


def _calibrate_decision(net, info, config):
    """The find decision measured on held-out synthetic samples and board-free photos, or None
    where the run has no page, no backgrounds or no samples for it."""
    if not config.decision_samples or not info.get("page") or not os.path.isdir(config.backgrounds):
        return None
    started = time.monotonic()
    print(f"calibrating the find decision on {calibrate.DRAWS} draws of {2 * config.decision_samples} synthetic "
          f"samples and board-free photos ...", file=sys.stderr, flush=True)
    net = models.with_policy(net, info, "float32")  # as test_segmenter.py runs it on a CPU
    decision = calibrate.calibrate_model(KerasPredictor(net, info), info, config.pattern, config.backgrounds,
                                         config.decision_samples, progress=calibrate.print_draw,
                                         workers=default_workers())["decision"]
    if decision is None:
        print("warning: no synthetic sample was posed right, so the decision is not calibrated: the model "
              "decides from its masks (train longer)", file=sys.stderr)
        return None
    print(f"decision: {calibrate.describe(decision)}; {decision['true_finds']} true finds, "
          f"{decision['false_finds']} false of {decision['false_candidates']} candidates; "
          f"{calibrate.describe_draws(decision)} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    print(calibrate.describe_trades(decision), file=sys.stderr)
    return decision
