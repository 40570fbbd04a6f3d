import csv
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import keras
import numpy as np
import pytest

from segmenty import dataset, model as models, samples
from segmenty.train import train
from tests.conftest import ROOT
from tests.helpers import make_workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = make_workspace(tmp_path_factory.mktemp("ws"))
    old = os.getcwd()
    os.chdir(root)
    samples.make_samples("training", 100, size=32, seed=1, workers=1)
    samples.make_samples("validation", 25, size=32, seed=2, workers=1)
    os.makedirs("wild")
    for i in range(2):
        cv2.imwrite(f"wild/photo{i}.jpg", np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    os.chdir(old)
    return root


def run_args(ws, tmp_path, **kw):
    args = dict(train_index=f"{ws}/training.json", validation_index=f"{ws}/validation.json", preset="tiny",
                batch_size=10, model_path=str(tmp_path / "root.keras"), output=str(tmp_path / "save.keras"),
                checkpoint=str(tmp_path / "ck.keras"), log=str(tmp_path / "training.log"), wild=f"{ws}/wild",
                snapshots=str(tmp_path / "snapshots"), pattern=f"{ws}/pattern", seed=0, verbose=0)
    args.update(kw)
    return args


def read_log(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_one_epoch_writes_everything(ws, tmp_path):
    info = train(**run_args(ws, tmp_path, epochs=1))
    assert info["epochs"] == 1 and info["mask_names"] == ["mask", "vertical", "horizontal", "middle"]
    rows = read_log(tmp_path / "training.log")
    assert len(rows) == 1 and rows[0]["epoch"] == "0"
    for key in ("loss", "tpr", "tnr", "mse"):
        assert key in rows[0] and f"val_{key}" in rows[0]
        assert 0 <= float(rows[0][key]) <= 1
    assert sorted(os.listdir(tmp_path / "snapshots")) == sorted(
        f"{i:06d}_000000_{kind}.jpg" for i in range(2) for kind in ["in", "out0", "out1", "out2", "out3"])
    for name in ("ck.keras", "save.keras"):
        model = keras.models.load_model(tmp_path / name)  # plain load, no custom_objects
        assert model.output_shape[-1] == 4
    info = models.read_info(str(tmp_path / "save.keras"))
    assert info["preset"] == "tiny"
    assert len(info["thresholds"]) == 4 and all(0.2 <= t <= 0.95 for t in info["thresholds"])
    assert len(info["coverage"]) in (0, 4) and all(0 <= c <= 1 for c in info["coverage"])
    # The pattern's picture travels with the model, for test_segmenter's likeness check.
    from segmenty.patterns import pattern_picture
    assert np.array_equal(np.asarray(info["picture"], np.uint8), pattern_picture(f"{ws}/pattern"))
    assert not (tmp_path / "save.keras.backup").exists()


def test_resume_continues_numbering_and_appends(ws, tmp_path):
    train(**run_args(ws, tmp_path, epochs=2))
    info = train(**run_args(ws, tmp_path, epochs=1, model_path=str(tmp_path / "save.keras"),
                            output=str(tmp_path / "save2.keras")))
    assert info["epochs"] == 3
    rows = read_log(tmp_path / "training.log")
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]  # one header, appended
    assert open(tmp_path / "training.log").read().count("epoch") == 1
    assert "000001_000002_out3.jpg" in os.listdir(tmp_path / "snapshots")


def easy_index(folder, n=60, size=32):
    """Samples whose masks are a bright square on a dark image: learnable in a few epochs."""
    rng = np.random.default_rng(0)
    entries = []
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        x0, y0 = rng.integers(0, size // 2, 2)
        w = int(rng.integers(6, size // 2))
        mask = np.zeros((size, size), np.uint8)
        mask[y0:y0 + w, x0:x0 + w] = 255
        image = np.dstack([mask // 2 + 60] * 3) + rng.integers(0, 20, (size, size, 3), dtype=np.uint8)
        cv2.imwrite(f"{folder}/{i:06d}_i.jpg", image)
        ys = []
        for k in range(4):
            cv2.imwrite(f"{folder}/{i:06d}_o_{k}_m.png", mask)
            ys.append(f"{folder}/{i:06d}_o_{k}_m.png")
        entries.append({"x": f"{folder}/{i:06d}_i.jpg", "y": ys, "pts": None, "n": 4})
    with open(f"{folder}.json", "w") as f:
        json.dump(entries, f)
    return f"{folder}.json"


def test_loss_falls_on_an_easy_set(ws, tmp_path):
    index = easy_index(str(tmp_path / "easy"))
    train(**run_args(ws, tmp_path, epochs=6, steps_per_epoch=20, train_index=index, validation_index=None))
    losses = [float(r["loss"]) for r in read_log(tmp_path / "training.log")]
    assert losses[-1] < 0.7 * losses[0], losses


def test_preset_sizes():
    model = models.build_model(models.preset_config("segmenty"), ["a", "b", "c", "d"])
    assert model.count_params() == 6_480_196
    assert 75e9 < models.count_flops(models.preset_config("segmenty"), 4) < 76e9  # SPEC: 75.6 measured
    lite = models.build_model(models.preset_config("lite"), ["a", "b", "c", "d"])
    assert 300_000 <= lite.count_params() <= 1_000_000
    sys.path.insert(0, ROOT)
    import train_segmenter
    for preset, text in train_segmenter.PRESET_SIZES.items():
        assert models.describe(preset) == text


def test_skip_conv_is_concat_then_conv_in_less_memory(tmp_path):
    keras.utils.set_random_seed(0)
    config = models.preset_config("tiny")
    joined = models.build_model(config, ["a", "b"])
    split = models.build_model({**config, "skip_conv": True}, ["a", "b"])
    assert [w.shape for w in split.get_weights()] == [w.shape for w in joined.get_weights()]
    split.set_weights(joined.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    expected = joined.predict(x, verbose=0)
    # Two convolutions sum in another order than one: float32 rounding, ~1e-5 after 10 layers.
    np.testing.assert_allclose(split.predict(x, verbose=0), expected, atol=1e-4)
    split.save(tmp_path / "split.keras")
    loaded = keras.models.load_model(tmp_path / "split.keras")  # plain load: the layer is registered
    assert any(isinstance(layer, models.SkipConv2D) for layer in loaded.layers)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-4)


@pytest.mark.parametrize("size, channels_in, channels_out, activation", [((8, 8), 3, 5, None), ((5, 7), 4, 2, "relu")])
def test_subpixel_deconv_is_conv2d_transpose(size, channels_in, channels_out, activation):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *size, channels_in)).astype(np.float32)
    reference = keras.layers.Conv2DTranspose(channels_out, 3, strides=2, padding="same", activation=activation)
    subpixel = models.SubPixelConv2DTranspose(channels_out, 3, strides=2, padding="same", activation=activation)
    reference.build(x.shape)
    subpixel.build(x.shape)
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in reference.get_weights()]
    reference.set_weights(weights)
    subpixel.set_weights(weights)  # the same kernel layout: a .keras file of either loads into the other
    np.testing.assert_allclose(keras.ops.convert_to_numpy(subpixel(x)), keras.ops.convert_to_numpy(reference(x)), atol=1e-5)
    # The parity split is the only thing that differs: a kernel flipped in one axis must not match.
    flipped = models.SubPixelConv2DTranspose(channels_out, 3, strides=2, padding="same", activation=activation)
    flipped.build(x.shape)
    flipped.set_weights([weights[0][::-1].copy(), weights[1]])
    assert np.abs(keras.ops.convert_to_numpy(flipped(x)) - keras.ops.convert_to_numpy(reference(x))).max() > 1e-2


def test_subpixel_deconv_falls_back_for_other_shapes():
    x = np.random.default_rng(1).standard_normal((1, 6, 6, 2)).astype(np.float32)
    reference = keras.layers.Conv2DTranspose(3, 4, strides=2, padding="valid")
    other = models.SubPixelConv2DTranspose(3, 4, strides=2, padding="valid")
    reference.build(x.shape)
    other.build(x.shape)
    other.set_weights(reference.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(other(x)), keras.ops.convert_to_numpy(reference(x)), atol=1e-5)


def test_fully_convolutional():
    model = models.build_model(models.preset_config("tiny"), ["a"])
    assert model.predict(np.zeros((1, 64, 96, 3), np.float32), verbose=0).shape == (1, 64, 96, 1)


def test_mask_count_mismatch_names_both(ws, tmp_path):
    train(**run_args(ws, tmp_path, epochs=1))
    entries = json.load(open(f"{ws}/training.json"))
    three = [{**e, "y": e["y"][:3], "n": 3} for e in entries]
    (tmp_path / "three.json").write_text(json.dumps(three))
    with pytest.raises(models.SegmentyError, match=r"3 masks per sample but the model has 4 outputs"):
        train(**run_args(ws, tmp_path, epochs=1, train_index=str(tmp_path / "three.json"),
                         validation_index=None, model_path=str(tmp_path / "save.keras")))


def test_resumed_model_wins_with_a_warning(ws, tmp_path, capsys):
    train(**run_args(ws, tmp_path, epochs=1))
    info = train(**run_args(ws, tmp_path, epochs=1, preset="lite", image_size=64,
                            model_path=str(tmp_path / "save.keras"), output=str(tmp_path / "b.keras")))
    assert info["preset"] == "tiny" and info["image_size"] == 32
    err = capsys.readouterr().err
    assert "warning: --preset lite ignored" in err and "warning: --image-size 64 ignored" in err


def test_dataset_retries_then_skips(ws, tmp_path, capsys):
    entries = dataset.load_entries(f"{ws}/training.json")[:4]
    entries[1] = {**entries[1], "x": str(tmp_path / "gone.jpg")}
    (tmp_path / "idx.json").write_text(json.dumps(entries))
    data = dataset.IndexDataset(str(tmp_path / "idx.json"), 4, 32, 4, shuffle=False, retry_delay=0.01)
    x, y = data[0]
    assert x.shape == (4, 32, 32, 3) and y.shape == (4, 32, 32, 4)
    assert x.max() > 1 and y.max() <= 1  # RGB 0..255 in, masks 0..1 out
    assert data.skipped == 1 and "skipped unreadable sample" in capsys.readouterr().err
    entries[0] = entries[2] = {**entries[0], "x": str(tmp_path / "gone.jpg")}
    (tmp_path / "idx.json").write_text(json.dumps(entries))
    data = dataset.IndexDataset(str(tmp_path / "idx.json"), 4, 32, 4, shuffle=False, retry_delay=0.01)
    with pytest.raises(RuntimeError, match="3 of 4 samples"):
        data[0]


def test_dataset_reads_rgb(ws):
    entry = dataset.load_entries(f"{ws}/training.json")[0]
    x, _ = dataset.read_sample(entry, 32, 4)
    bgr = cv2.imread(entry["x"])
    np.testing.assert_array_equal(x[..., 0], bgr[..., 2])


def test_on_the_fly(ws, tmp_path):
    os.chdir(ws)
    info = train(**run_args(ws, tmp_path, epochs=1, on_the_fly=True, steps_per_epoch=3,
                            backgrounds=f"{ws}/background", validation_index=None))
    assert info["epochs"] == 1
    ctx = samples.make_context(f"{ws}/background", f"{ws}/pattern", size=32)
    a = dataset.OnTheFlyDataset(ctx, 2, 3, seed=5)
    b = dataset.OnTheFlyDataset(ctx, 2, 3, seed=5)
    np.testing.assert_array_equal(a[1][0], b[1][0])
    a.on_epoch_end()
    assert not np.array_equal(a[1][0], b[1][0])  # a new epoch draws new samples


def test_time_limit_mid_epoch_says_where_it_stopped(ws, tmp_path, capsys):
    # 6 ms: the first batch (compiling included) outlasts it, so epoch 1 stops after 1 of its 10.
    info = train(**run_args(ws, tmp_path, time_limit=1e-4, steps_per_epoch=10))
    err = capsys.readouterr().err
    assert "after 1 epochs (time limit; the last one stopped after 1 of 10 batches)" in err
    assert info["epochs"] == 1 and models.read_info(str(tmp_path / "save.keras"))["epochs"] == 1


def cli(ws, tmp_path, *extra):
    return [sys.executable, f"{ROOT}/train_segmenter.py", "--preset", "tiny", "--batch-size", "10",
            "--train", f"{ws}/training.json", "--validation", f"{ws}/validation.json", "--model",
            str(tmp_path / "root.keras"), "--output", str(tmp_path / "save.keras"), "--checkpoint",
            str(tmp_path / "ck.keras"), "--log", str(tmp_path / "training.log"), "--wild", "none",
            "--pattern", f"{ws}/pattern", *extra]


def wait_for(predicate, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_sigint_saves_a_model_that_loads(ws, tmp_path):
    proc = subprocess.Popen(cli(ws, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: (tmp_path / "ck.keras").exists())
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Ctrl-C" in err
    model, info = models.load(str(tmp_path / "save.keras"))
    assert info["epochs"] >= 1 and model.output_shape[-1] == 4


def test_kill_9_then_restart_resumes(ws, tmp_path):
    args = cli(ws, tmp_path, "--epochs", "4")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "save.keras.backup" / "state.json"
    assert wait_for(lambda: state.exists() and json.loads(state.read_text())["epochs"] >= 2)
    proc.kill()
    proc.wait()
    done = json.loads(state.read_text())["epochs"]
    rerun = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming an interrupted run from {tmp_path}/save.keras.backup/ at epoch {done}" in rerun.stderr
    assert models.read_info(str(tmp_path / "save.keras"))["epochs"] == 4  # the same target, not 4 more
    epochs = [int(r["epoch"]) for r in read_log(tmp_path / "training.log")]
    assert epochs[-1] == 3 and epochs[:done] == list(range(done))
    assert not (tmp_path / "save.keras.backup").exists()


@pytest.mark.parametrize("content,message", [
    (None, r"^error: no sample index at .*missing\.json \(run make_samples\.py first\)$"),
    ("{not json", r"^error: corrupt sample index"),
    ("[]", r"^error: the sample index .* is empty"),
])
def test_bad_index(tmp_path, script, content, message):
    path = tmp_path / ("missing.json" if content is None else "bad.json")
    if content is not None:
        path.write_text(content)
    proc = script("train_segmenter.py", "--train", path, "--preset", "tiny", cwd=tmp_path)
    assert proc.returncode == 2
    assert __import__("re").match(message, proc.stderr.strip().splitlines()[-1])
    assert "Traceback" not in proc.stderr


def test_train_leaves_the_callers_dtype_policy_alone(ws, tmp_path):
    assert keras.config.dtype_policy().name == "float32"
    train(**run_args(ws, tmp_path, epochs=1, mixed_precision="on", wild="none", validation_index=None))
    assert models.read_info(str(tmp_path / "save.keras"))["epochs"] == 1
    assert keras.config.dtype_policy().name == "float32"  # models built afterwards are float32 again


def test_distribute_on_two_logical_cpus(ws, tmp_path):
    code = f"""
import os, sys
os.environ["KERAS_BACKEND"] = "tensorflow"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, {ROOT!r})
from segmenty.train import train
info = train(train_index="{ws}/training.json", validation_index=None, preset="tiny", batch_size=10, epochs=1,
             model_path="none", output="{tmp_path}/d.keras", checkpoint=None, log=None, wild=None,
             pattern="{ws}/pattern", distribute=True, verbose=0)
print("epochs", info["epochs"])
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 device(s)" in proc.stderr and "epochs 1" in proc.stdout


def test_cosine_schedule_falls_to_a_fiftieth():
    from segmenty.train import CosineSchedule
    s = CosineSchedule(1e-3, steps=100)
    assert s.rate(0) == pytest.approx(1e-3)
    assert s.rate(0.5) == pytest.approx((1e-3 + 2e-5) / 2)
    assert s.rate(1) == pytest.approx(2e-5) and s.rate(3) == pytest.approx(2e-5)


def test_cosine_schedule_lowers_the_optimizers_rate(ws, tmp_path):
    info = train(**run_args(ws, tmp_path, epochs=2, lr_schedule="cosine"))
    net, _ = models.load(str(tmp_path / "save.keras"))
    assert float(np.asarray(net.optimizer.learning_rate)) < 1e-3 / 5
    with pytest.raises(models.SegmentyError, match="needs `time_limit` or `epochs`"):
        train(**run_args(ws, tmp_path, lr_schedule="cosine", output=str(tmp_path / "x.keras")))


def test_auto_precision_is_bf16_only_where_a_cpu_runs_it_natively(tmp_path, monkeypatch):
    from segmenty.devices import cpu_has_amx_bf16, gpu_count, set_precision
    amx, plain = tmp_path / "amx", tmp_path / "plain"
    amx.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n")
    plain.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")  # bf16 dot products, no AMX
    assert cpu_has_amx_bf16(str(amx)) == (keras.config.backend() == "tensorflow")
    assert not cpu_has_amx_bf16(str(plain))
    assert not cpu_has_amx_bf16(str(tmp_path / "missing"))
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")  # no oneDNN, no AMX kernels
    assert not cpu_has_amx_bf16(str(amx))
    assert set_precision("auto") == ("mixed_bfloat16" if gpu_count() else "float32")
    assert set_precision("on") == "mixed_bfloat16"
    assert set_precision("off") == "float32"  # conftest resets the policy after each test anyway
