import importlib.util
import re

import cv2
import numpy as np
import pytest

from segmenty import cli, export, model as models
from segmenty.errors import InvalidArgument, SegmentyError
from segmenty.segmenter import Segmenter
from tests.helpers import NAMES

# What a trained model carries beyond its config (model.py), and an entry no reader knows yet:
# the ONNX file must keep all of it.
EXTRA_INFO = {"thresholds": [0.45, 0.5, 0.5, 0.6], "coverage": [0.9, 0.1, 0.1, 0.02],
              "decision": {"threshold": 0.4, "scale": 0.1}, "later": {"text": "ünïcode", "nested": [[1, 2.5], None]}}


def _random_weights(net, rng):
    """Weights like a trained model's in scale: the first BatchNorm standardises 0..255, positive
    variances (a negative one is NaN in ONNX), kernels ~ sqrt(2 / fan in) (He). Larger ones saturate
    the sigmoid, where float32 rounding alone moves outputs by 1e-2."""
    weights = []
    for w, v in zip(net.get_weights(), net.weights):
        if v.path.endswith("moving_mean"):
            w = np.full(w.shape, 128.0) if v.path.startswith("down0") else rng.normal(0, 0.3, w.shape)
        elif v.path.endswith("moving_variance"):
            w = np.full(w.shape, 75.0 ** 2) if v.path.startswith("down0") else rng.uniform(0.5, 2, w.shape)
        elif v.path.endswith("gamma"):
            w = rng.uniform(0.5, 1.5, w.shape)
        elif w.ndim > 1:
            w = rng.normal(0, np.sqrt(2 / np.prod(w.shape[:-1])), w.shape)
        else:
            w = rng.normal(0, 0.1, w.shape)
        weights.append(w.astype(np.float32))
    net.set_weights(weights)


def _bright_model(path, gain=4.0):
    """A tiny model whose first mask is sigmoid(gain x the pixel's standardised brightness): it finds
    light cards on dark desks, with soft edges. Only the skip from the standardised image counts."""
    net = models.build_model(models.preset_config("tiny"), NAMES)
    net.set_weights([np.zeros_like(w) for w in net.get_weights()])
    net.get_layer("down0_bn").set_weights([np.ones(3), np.zeros(3), np.full(3, 128.0), np.full(3, 75.0 ** 2)])
    conv5 = np.zeros((5, 5, 11, 8), np.float32)  # input channels: 8 from below, then the image's 3
    conv5[2, 2, 8:, 0], conv5[2, 2, 8:, 1] = 1 / 3, -1 / 3  # relu(brightness), relu(-brightness)
    net.get_layer("up4_conv5").set_weights([conv5, np.zeros(8)])
    keep_two = np.zeros((8, 8), np.float32)
    keep_two[0, 0] = keep_two[1, 1] = 1
    centre = np.pad(keep_two[None, None], ((1, 1), (1, 1), (0, 0), (0, 0)))  # a 3x3 kernel that copies
    net.get_layer("up4_conv3").set_weights([centre, np.zeros(8)])
    for name in ("head_conv0", "head_conv1"):
        net.get_layer(name).set_weights([keep_two[None, None], np.zeros(8)])
    head = np.zeros((1, 1, 8, 4), np.float32)
    head[0, 0, 0, 0], head[0, 0, 1, 0] = gain, -gain
    net.get_layer("masks").set_weights([head, np.array([0, -30, -30, -30], np.float32)])
    models.save(net, str(path), {"preset": "tiny", "image_size": 32, "mask_names": NAMES, "epochs": 0,
                                 "config": models.preset_config("tiny")})


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """random.keras (random weights), bright.keras (see _bright_model) and their .onnx exports."""
    folder = tmp_path_factory.mktemp("export")
    net = models.build_model(models.preset_config("tiny"), NAMES)
    _random_weights(net, np.random.default_rng(1))
    models.save(net, str(folder / "random.keras"), {"preset": "tiny", "image_size": 32, "mask_names": NAMES,
                                                    "epochs": 0, "config": models.preset_config("tiny"),
                                                    **EXTRA_INFO})
    _bright_model(folder / "bright.keras")
    for name in ("random", "bright"):
        export.export(str(folder / f"{name}.keras"), str(folder / f"{name}.onnx"))
    return folder


@pytest.mark.parametrize("shape", [(3, 32, 32, 3), (1, 64, 96, 3)])  # any batch, any multiple of 32
def test_onnx_outputs_agree_with_keras(models_dir, shape):
    net, _ = models.load(str(models_dir / "random.keras"), compile=False)
    batch = np.random.default_rng(2).uniform(0, 255, shape).astype(np.float32)
    expected = np.asarray(net.predict_on_batch(batch))
    got = export.OnnxPredictor(str(models_dir / "random.onnx"), batch_size=3)(batch)
    assert got.dtype == np.float32 and got.shape == shape[:3] + (4,)
    # Outputs that vary, and off the sigmoid's flat ends, so agreeing means something.
    assert expected.std() > 0.05 and np.mean((expected > 0.05) & (expected < 0.95)) > 0.5
    np.testing.assert_allclose(got, expected, atol=1e-3)


def test_the_onnx_file_carries_the_models_whole_info(models_dir):
    predictor = export.OnnxPredictor(str(models_dir / "random.onnx"), batch_size=5)
    assert predictor.info == models.read_info(str(models_dir / "random.keras"))
    assert predictor.info["thresholds"] == EXTRA_INFO["thresholds"] and predictor.batch_size == 5


CARD = [[12, 8], [70, 14], [64, 52], [8, 44]]


def _photos():
    """A light card on a dark desk, light paper with a dark hole, noise: finds of several kinds."""
    rng = np.random.default_rng(4)
    card = np.full((60, 80, 3), 40, np.uint8)
    cv2.fillConvexPoly(card, np.array(CARD, np.int32), (230, 220, 200))
    paper = np.full((96, 64, 3), 220, np.uint8)
    cv2.rectangle(paper, (20, 30), (44, 70), (20, 20, 20), -1)
    return [card, paper, rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)]


@pytest.mark.parametrize("name", ["random", "bright"])
def test_onnx_and_keras_models_find_the_same(models_dir, name):
    keras_finds = list(Segmenter.load(str(models_dir / f"{name}.keras"), batch_size=2).find_all(_photos()))
    onnx_finds = list(Segmenter.load(str(models_dir / f"{name}.onnx"), batch_size=2).find_all(_photos()))
    for k, o in zip(keras_finds, onnx_finds):
        assert o.found == k.found
        assert (o.quad is None) == (k.quad is None)
        if k.quad is not None:
            np.testing.assert_allclose(o.quad, k.quad, atol=0.5)
        assert (o.score, o.present) == pytest.approx((k.score, k.present), abs=1e-3)
    if name == "bright":  # the light card, where it was drawn
        np.testing.assert_allclose(onnx_finds[0].quad, CARD, atol=2)


def test_an_onnx_file_without_segmenty_metadata_is_refused(models_dir, tmp_path):
    import onnx
    proto = onnx.load(str(models_dir / "bright.onnx"))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "bare.onnx"))
    with pytest.raises(SegmentyError, match=r"^\S+bare.onnx is an ONNX model but not a segmenty model .*"
                                            r"export_segmenter.py\)$"):
        Segmenter.load(str(tmp_path / "bare.onnx"))
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(SegmentyError, match=r"junk.onnx is not an ONNX model \(") as caught:
        export.OnnxPredictor(str(tmp_path / "junk.onnx"))
    assert "\n" not in str(caught.value)


def test_missing_onnxruntime_says_what_to_install(models_dir, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(SegmentyError, match=r"needs onnxruntime: pip install -r requirements-onnx.txt$"):
        Segmenter.load(str(models_dir / "bright.onnx"))


def test_export_refuses_a_folder_or_another_suffix(models_dir, tmp_path):
    with pytest.raises(InvalidArgument, match=r"`out_path`.*not an existing folder"):
        export.export(str(models_dir / "bright.keras"), str(tmp_path))
    with pytest.raises(InvalidArgument, match=r"`out_path`.*ending in .onnx"):
        export.export(str(models_dir / "bright.keras"), str(tmp_path / "bright.keras"))
    assert list(tmp_path.iterdir()) == []


def test_export_script(models_dir, tmp_path, script):
    out = script("export_segmenter.py", models_dir / "bright.keras", tmp_path / "bright.onnx", check=0)
    assert "wrote" in out.stdout and export.OnnxPredictor(str(tmp_path / "bright.onnx")).info["mask_names"] == NAMES


@pytest.mark.parametrize("bad,message", [
    (["none.keras", "x.onnx"], r"error: no model at \S*none.keras$"),
    (["bright.keras", "."], r"error: Invalid value for OUT. Received: out_path='.'.*not an existing folder.$"),
])
def test_export_script_refuses_bad_input_in_one_line(models_dir, monkeypatch, capsys, bad, message):
    import export_segmenter
    monkeypatch.chdir(models_dir)
    with pytest.raises(SystemExit) as exit:
        cli.run(export_segmenter.main, bad)
    assert exit.value.code == 2
    assert re.match(message, capsys.readouterr().err.strip())
