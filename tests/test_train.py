import csv
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time

import cv2
import keras
import numpy as np
import pytest

from segmenty import model as models, samples
from segmenty.errors import InvalidArgument
from segmenty.train import TrainConfig, train
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


def config(ws, tmp_path, **kw):
    args = dict(train=f"{ws}/training.json", validation=f"{ws}/validation.json", preset="tiny",
                batch_size=10, model=str(tmp_path / "root.keras"), output=str(tmp_path / "save.keras"),
                checkpoint=str(tmp_path / "ck.keras"), log=str(tmp_path / "training.log"), wild=f"{ws}/wild",
                snapshots=str(tmp_path / "snapshots"), pattern=f"{ws}/pattern", seed=0,
                decision_samples=0)  # calibrating the decision is tested once, below
    args.update(kw)
    return TrainConfig(**args)


def run(ws, tmp_path, verbose=0, **kw):
    return train(config(ws, tmp_path, **kw), verbose=verbose)


def read_log(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_one_epoch_writes_everything(ws, tmp_path):
    info = run(ws, tmp_path, epochs=1)
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
    run(ws, tmp_path, epochs=2)
    info = run(ws, tmp_path, epochs=1, model=str(tmp_path / "save.keras"), output=str(tmp_path / "save2.keras"))
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
    run(ws, tmp_path, epochs=6, steps_per_epoch=20, train=index, validation=None)
    losses = [float(r["loss"]) for r in read_log(tmp_path / "training.log")]
    assert losses[-1] < 0.7 * losses[0], losses


def test_mask_count_mismatch_names_both(ws, tmp_path):
    run(ws, tmp_path, epochs=1)
    entries = json.load(open(f"{ws}/training.json"))
    three = [{**e, "y": e["y"][:3], "n": 3} for e in entries]
    (tmp_path / "three.json").write_text(json.dumps(three))
    with pytest.raises(models.SegmentyError, match=r"3 masks per sample but the model has 4 outputs"):
        run(ws, tmp_path, epochs=1, train=str(tmp_path / "three.json"), validation=None,
            model=str(tmp_path / "save.keras"))


def test_resumed_model_wins_with_a_warning(ws, tmp_path, capsys):
    run(ws, tmp_path, epochs=1)
    info = run(ws, tmp_path, epochs=1, preset="lite", image_size=64, model=str(tmp_path / "save.keras"),
               output=str(tmp_path / "b.keras"))
    assert info["preset"] == "tiny" and info["image_size"] == 32
    err = capsys.readouterr().err
    assert "warning: `preset`='lite' ignored" in err and "warning: `image_size`=64 ignored" in err


def test_on_the_fly(ws, tmp_path):
    os.chdir(ws)
    info = run(ws, tmp_path, epochs=1, on_the_fly=True, steps_per_epoch=3, backgrounds=f"{ws}/background",
               validation=None, workers=2, time_limit=1e-4)
    assert info["epochs"] == 1
    assert not multiprocessing.active_children()  # the time limit stopped the sample processes too


def test_time_limit_mid_epoch_says_where_it_stopped(ws, tmp_path, capsys):
    # 6 ms: the first batch (compiling included) outlasts it, so epoch 1 stops after 1 of its 10.
    info = run(ws, tmp_path, time_limit=1e-4, steps_per_epoch=10)
    err = capsys.readouterr().err
    assert "after 1 epochs (time limit; the last one stopped after 1 of 10 batches)" in err
    assert info["epochs"] == 1 and models.read_info(str(tmp_path / "save.keras"))["epochs"] == 1


def cli(ws, tmp_path, *extra):
    return [sys.executable, f"{ROOT}/train_segmenter.py", "--preset", "tiny", "--batch-size", "10",
            "--train", f"{ws}/training.json", "--validation", f"{ws}/validation.json", "--model",
            str(tmp_path / "root.keras"), "--output", str(tmp_path / "save.keras"), "--checkpoint",
            str(tmp_path / "ck.keras"), "--log", str(tmp_path / "training.log"), "--wild", "none",
            "--pattern", f"{ws}/pattern", "--decision-samples", "0", *extra]  # a tiny model poses nothing


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


def children(pid):
    return [int(p) for p in subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                                           text=True).stdout.split()]


def held_open(names):
    """Which of these /dev/shm entries a live process maps or holds open: another program's
    (a bench beside the tests), not a leak of a process that has ended."""
    paths = {f"/dev/shm/{name}": name for name in names}
    held = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/maps") as maps:
                held.update(name for path, name in paths.items() if path in maps.read())
            held.update(paths.get(os.readlink(f"/proc/{pid}/fd/{fd}"), None) for fd in os.listdir(f"/proc/{pid}/fd"))
        except OSError:  # ended meanwhile, or not ours to read
            continue
    return held - {None}


def test_ctrl_c_on_the_fly_stops_the_sample_processes(ws, tmp_path):
    shared_memory = set(os.listdir("/dev/shm"))
    args = cli(ws, tmp_path, "--on-the-fly", "--workers", "2", "--steps-per-epoch", "3", "--backgrounds",
               f"{ws}/background", "--validation", "none")
    # A session of its own: Ctrl-C at a terminal signals every process of the foreground group.
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert wait_for(lambda: (tmp_path / "ck.keras").exists())
    workers = children(proc.pid)
    assert len(workers) == 2
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Ctrl-C" in err
    assert models.read_info(str(tmp_path / "save.keras"))["epochs"] >= 1
    assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}")]  # no orphans
    left = set(os.listdir("/dev/shm")) - shared_memory
    assert not left - held_open(left)  # nothing left behind that no live process holds


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
    # Its folder deleted: one line at the start, not a RuntimeError after every sample's retries.
    ('[{"x": "gone/0_i.jpg", "y": ["gone/0_o_0_mas.png"]}, {"x": "gone/1_i.jpg", "y": ["gone/1_o_0_mas.png"]}]',
     r"^error: none of the 2 samples listed in .*bad\.json exists \(e\.g\. .*gone/0_i\.jpg\)"),
])
def test_bad_index(tmp_path, script, content, message):
    path = tmp_path / ("missing.json" if content is None else "bad.json")
    if content is not None:
        path.write_text(content)
    proc = script("train_segmenter.py", "--train", path, "--preset", "tiny", cwd=tmp_path)
    assert proc.returncode == 2
    assert re.match(message, proc.stderr.strip())  # one line
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("field, value, expected", [
    ("batch_size", 0, "a positive integer"), ("epochs", 2.5, "a positive integer"), ("time_limit", -1, "minutes > 0"),
    ("lr_schedule", "linear", "constant or cosine"), ("sample_size", 16, "an integer >= 32"),
])
def test_config_names_the_field(field, value, expected):
    with pytest.raises(InvalidArgument, match=rf"^Invalid value for `{field}`. Received: {field}={value!r}. "
                                              rf"Expected {expected}.$"):
        TrainConfig(**{field: value})


def test_command_line_names_the_flag(script, tmp_path):
    proc = script("train_segmenter.py", "--batch-size", "0", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: Invalid value for --batch-size. Received: batch_size=0. "
                                   "Expected a positive integer.")


def test_help_shows_every_flag_and_default(capsys):
    sys.path.insert(0, ROOT)
    import train_segmenter
    with pytest.raises(SystemExit) as exit:
        train_segmenter.main(["--help"])
    assert exit.value.code == 0
    shown = capsys.readouterr().out
    flags = re.findall(r"^  (--[a-z-]+)", shown, re.M)
    assert flags == ["--train", "--validation", "--preset", "--image-size", "--batch-size", "--epochs",
                     "--steps-per-epoch", "--time-limit", "--learning-rate", "--lr-schedule", "--model", "--output",
                     "--checkpoint", "--log", "--wild", "--snapshots", "--on-the-fly", "--pattern", "--backgrounds",
                     "--recipe", "--blank-prob", "--sample-size", "--workers", "--seed", "--mixed-precision",
                     "--distribute", "--tensorboard", "--decision-samples"]
    one_line = " ".join(shown.split())
    for default in ("training.json", "validation.json", "(default: 25)", "(default: 0.001)", "(default: constant)",
                    "root.keras", "save.keras", "/tmp/model.keras", "training.log", "(default: wild)",
                    "(default: snapshots)", "(default: pattern)", "(default: background)", "(default: segmenty)",
                    "(default: 0.2)", "(default: auto)", "(default: random)", "(default: until stopped)"):
        assert default in one_line, default
    assert one_line.count("(default") == len(flags)  # each flag says what it does when left out


def test_a_log_file_gets_one_line_per_epoch(ws, tmp_path, capsys):
    run(ws, tmp_path, verbose="auto", epochs=2, steps_per_epoch=2, validation=None, wild=None)  # stdout: captured
    lines = capsys.readouterr().out.splitlines()
    assert "\r" not in "".join(lines) and len(lines) == 2, lines
    assert lines[0].startswith("Epoch 1/2: 2/2 steps - ") and lines[1].startswith("Epoch 2/2: 2/2 steps - ")
    assert " - loss: " in lines[1] and " - tpr: " in lines[1]


def test_train_leaves_the_callers_dtype_policy_alone(ws, tmp_path):
    assert keras.config.dtype_policy().name == "float32"
    run(ws, tmp_path, epochs=1, mixed_precision="on", wild="none", validation=None)
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
from segmenty.train import TrainConfig, train
info = train(TrainConfig(train="{ws}/training.json", validation=None, preset="tiny", batch_size=10, epochs=1,
                         model="none", output="{tmp_path}/d.keras", checkpoint=None, log=None, wild=None,
                         pattern="{ws}/pattern", distribute=True, decision_samples=0), verbose=0)
print("epochs", info["epochs"])
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 device(s)" in proc.stderr and "epochs 1" in proc.stdout


def test_cosine_schedule_lowers_the_optimizers_rate(ws, tmp_path):
    run(ws, tmp_path, epochs=2, lr_schedule="cosine")
    net, _ = models.load(str(tmp_path / "save.keras"))
    assert float(np.asarray(net.optimizer.learning_rate)) < 1e-3 / 5
    with pytest.raises(models.SegmentyError, match="needs `time_limit` or `epochs`"):
        run(ws, tmp_path, lr_schedule="cosine", output=str(tmp_path / "x.keras"))


def test_the_model_carries_its_page_and_the_decision_calibrated_when_training_ends(ws, tmp_path, monkeypatch):
    from segmenty import calibrate
    from segmenty.segmenter import default_workers
    seen = {}

    def measured(predictor, info, pattern, backgrounds, count, seed=0, progress=None, workers=0):
        seen.update(pattern=pattern, backgrounds=backgrounds, count=count, page=info.get("page"), progress=progress,
                    workers=workers)
        return {"page": info["page"], "decision": decision}
    decision = {"threshold": 0.42, "scale": 0.05, "true_finds": 3, "false_candidates": 4, "recall": 1.0,
                "false_finds": 0}
    monkeypatch.setattr(calibrate, "calibrate_model", measured)
    run(ws, tmp_path, epochs=1, backgrounds=f"{ws}/background", decision_samples=3)
    info = models.read_info(str(tmp_path / "save.keras"))
    assert info["decision"] == decision
    assert info["page"]["size"] == [850, 1100] and seen["count"] == 3 and seen["pattern"] == f"{ws}/pattern"
    assert seen["progress"] is calibrate.print_draw  # a line per draw: calibrating takes minutes
    assert seen["workers"] == default_workers()  # posed side by side, one process per core
    assert "decision" not in models.read_info(str(tmp_path / "ck.keras"))  # checkpoints decide by their masks
