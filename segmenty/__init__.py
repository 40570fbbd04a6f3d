"""segmenty: find a printed pattern in photos and video, with a network trained on synthetic images only.

    from segmenty import Segmenter
    seg = Segmenter.load("save.keras")
    found = seg.find(frame_rgb)        # found.found, .score, .quad, .homography, .points

The pipeline, one module per stage (layers only point down):

    backgrounds.py   ->  background/<group>/*.jpg             (fetch_backgrounds.py)
    patterns.py      ->  pattern/{full,<masks>}.{svg,png}     (make_patterns.py)
    transforms.py, recipes/, synth.py -> one synthetic sample  (pure functions)
    samples.py       ->  training/, training.json             (make_samples.py, freshen_samples.py)
    dataset.py       ->  batches for Keras                    (PyDataset over the index, or on the fly)
    model.py, losses.py, callbacks.py, calibrate.py, train.py -> save.keras   (train_segmenter.py)
    geometry.py, pose.py, page.py, find.py -> the answer for one photo (pure, no model)
    segmenter.py     ->  Segmenter: a model, looking at photos (the Python API)
    outputs.py       ->  scratch/ masks, overlays, results.json (test_segmenter.py)
    evaluate.py      ->  scores against ground truth           (test_segmenter.py --truth, bench/)
    animate.py       ->  animation_NNNNNN.gif                  (animate_snapshots.py)

At the bottom, every module may use errors.py, images.py and devices.py; cli.py and commands/
are the top.

Importing segmenty registers its Keras layers, loss and metrics as soon as Keras is imported
(before or after segmenty), so keras.models.load_model("save.keras") works in any program that
imported segmenty. segmenty itself imports Keras only where a model is needed, so the stages
that never touch one start quickly.
"""

__version__ = "0.2.0"

import importlib.abc as _abc
import importlib.util as _util
import os as _os
import sys as _sys

# OpenCV logs a WARN line for every unreadable file; segmenty reports those itself, once.
_os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
# ... and so does FFmpeg inside it, for every video it can't read ("moov atom not found").
_os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
# TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) hides the lines users need.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _register_with_keras():
    from segmenty import losses, model  # noqa: F401  their decorators register the classes


class _WhenKerasArrives(_abc.MetaPathFinder):
    """Registers segmenty's classes right after `import keras` finishes, wherever that happens."""

    def find_spec(self, name, path, target=None):
        if name != "keras":
            return None
        _sys.meta_path.remove(self)
        spec = _util.find_spec("keras")
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _register_with_keras()
        spec.loader.exec_module = exec_module
        return spec


if "keras" in _sys.modules:
    _register_with_keras()
elif not any(isinstance(f, _WhenKerasArrives) for f in _sys.meta_path):
    _sys.meta_path.insert(0, _WhenKerasArrives())


def __getattr__(name):
    # The API without importing it (and OpenCV) for the stages that don't need it.
    if name == "Segmenter":
        from segmenty.segmenter import Segmenter
        return Segmenter
    if name in ("Find", "Point"):
        from segmenty import find
        return getattr(find, name)
    raise AttributeError(f"module 'segmenty' has no attribute {name!r}")


__all__ = ["Segmenter", "Find", "Point"]
