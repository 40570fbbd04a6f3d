"""Small shared fixtures' builders: a pattern folder, offline backgrounds, photos and a constant model."""

import importlib.util
import os

import cv2
import numpy as np

from segmenty.backgrounds import fetch_backgrounds
from segmenty.patterns import make_patterns

NAMES = ["mask", "vertical", "horizontal", "middle"]


def make_workspace(root, n_backgrounds=12, preset="segmenty"):
    """root/pattern and root/background (synthetic); returns root as str."""
    root = str(root)
    make_patterns(os.path.join(root, "pattern"), preset)
    import contextlib
    import io
    with contextlib.redirect_stderr(io.StringIO()):
        fetch_backgrounds(out=os.path.join(root, "background"), synthetic=n_backgrounds, seed=3)
    return root


def constant_model(path, channel0=1.0):
    """A tiny segmenty model whose outputs ignore the photo: channel 0 = channel0, others 0."""
    from segmenty import model as models
    config = models.preset_config("tiny")
    net = models.build_model(config, NAMES)
    head = net.get_layer("masks")
    kernel, bias = head.get_weights()
    logit = 30.0 if channel0 >= 1 else -30.0
    head.set_weights([np.zeros_like(kernel), np.array([logit, -30, -30, -30], np.float32)])
    models.save(net, str(path), {"preset": "tiny", "image_size": 32, "mask_names": NAMES, "epochs": 0,
                                 "config": config})
    return str(path)


def write_photo(path, w, h, seed=0):
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))


def bench_module(name):
    """A script of bench/ (not a package) imported as a module, e.g. bench_module("bench_real")."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(name, os.path.join(root, "bench", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
