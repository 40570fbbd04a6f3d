"""segmenty: train a segmentation network on synthetic images to find a printed pattern.

The pipeline, one module per stage:

    backgrounds.py  ->  background/<group>/*.jpg          (fetch_backgrounds.py)
    patterns.py     ->  pattern/{full,<masks>}.{svg,png}  (make_patterns.py)
    synth.py        ->  one synthetic image + masks        (pure functions)
    samples.py      ->  training/, training.json           (make_samples.py, freshen_samples.py)
    dataset.py      ->  batches for Keras                  (PyDataset over the index, or on the fly)
    model.py, losses.py, train.py -> save.keras            (train_segmenter.py)
    infer.py        ->  scratch/ masks, overlays, metrics  (test_segmenter.py)
    animate.py      ->  animation_NNNNNN.gif               (animate_snapshots.py)
"""

__version__ = "0.1.0"

import os as _os

# OpenCV logs a WARN line for every unreadable file; segmenty reports those itself, once.
_os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
# TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) hides the lines users need.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
