import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from segmenty import samples, synth
from tests.conftest import ROOT
from tests.helpers import make_workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("ws"))


def folder_bytes(folder):
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}


def test_same_seed_same_bytes_with_1_and_2_workers(ws, script, tmp_path):
    for w in (1, 2):
        script("make_samples.py", tmp_path / f"w{w}", 40, "--size", 64, "--seed", 9, "--workers", w,
               "--backgrounds", f"{ws}/background", "--pattern", f"{ws}/pattern", check=0)
    a, b = folder_bytes(tmp_path / "w1"), folder_bytes(tmp_path / "w2")
    ia = json.loads((tmp_path / "w1.json").read_text())
    ib = json.loads((tmp_path / "w2.json").read_text())
    assert len(a) == 40 * 5 and a == b  # an image and 4 masks a sample, nothing else
    base = os.path.basename
    strip = lambda entries: [{**e, "x": base(e["x"]), "y": [base(y) for y in e["y"]]} for e in entries]
    assert strip(ia) == strip(ib)
    e = next(e for e in ia[3:] if e["pts"] is not None)
    n = e["id"]
    assert e["x"] == f"{tmp_path}/w1/{n:06d}_i.jpg"
    assert [base(y) for y in e["y"]] == [f"{n:06d}_o_{k}_{m}.png" for k, m in enumerate(["mas", "ver", "hor", "mid"])]
    assert e["n"] == 4 and len(e["pts"]) == 5
    mask = cv2.imread(e["y"][0], cv2.IMREAD_UNCHANGED)
    assert mask.ndim == 2 and mask.shape == (64, 64)


def test_files_reproduce_from_seed_and_index(ws, tmp_path):
    entries, ctx = samples.make_samples(str(tmp_path / "s"), 6, size=64, seed=4, workers=1,
                                        backgrounds=f"{ws}/background", pattern=f"{ws}/pattern")
    for e in entries:
        assert check_sample(e, ctx) == "ok"


def check_sample(entry, ctx):
    """'ok' if the files are exactly the sample that (seed, index) generates, else 'mismatch'."""
    image, masks, _, _ = synth.generate(np.random.default_rng([entry["seed"], entry["index"]]), ctx)
    jpeg, pngs = samples.encode_sample(image, masks)
    for path, data in zip([entry["x"], *entry["y"]], [jpeg, *pngs]):
        with open(path, "rb") as f:
            if f.read() != data:
                return "mismatch"
    return "ok"


def test_check_can_detect_a_mismatch(ws, tmp_path):
    entries, ctx = samples.make_samples(str(tmp_path / "s"), 12, size=64, seed=4, workers=1,
                                        backgrounds=f"{ws}/background", pattern=f"{ws}/pattern")
    with_page = [e for e in entries if e["pts"] is not None]
    swapped = {**with_page[0], "y": with_page[1]["y"]}  # image of one sample, masks of another
    assert check_sample(swapped, ctx) == "mismatch"


def test_reader_never_sees_a_mismatch_while_freshening(ws, tmp_path):
    out = tmp_path / "training"
    ctx = samples.make_context(f"{ws}/background", f"{ws}/pattern", size=32)
    samples.generate_round(ctx, str(out), 30, seed=1, progress=False)  # a first index to read
    proc = subprocess.Popen([sys.executable, f"{ROOT}/freshen_samples.py", str(out), "30", "--interval", "0.05",
                             "--size", "32", "--workers", "2", "--backgrounds", f"{ws}/background",
                             "--pattern", f"{ws}/pattern"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reads, errors, mismatches, ids = 0, 0, 0, set()
    rng = random.Random(0)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            with open(f"{out}.json") as f:
                entries = json.load(f)
            e = rng.choice(entries)
            ids.add(e["id"])
            try:
                result = check_sample(e, ctx)
            except OSError:
                errors += 1
                continue
            reads += 1
            mismatches += result != "ok"
            if max(ids) >= 30 * 4:  # the first round and at least 3 freshened ones were read
                break
    finally:
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        stdout, stderr = proc.communicate(timeout=10)
        stopped_in = time.monotonic() - t0
    assert max(ids) >= 120, f"the freshener made too few rounds: {stdout}{stderr}"
    assert "round 3: 30 samples" in stdout
    assert errors == 0 and mismatches == 0 and reads > 50
    assert stopped_in < 3 and proc.returncode == 0
    final = json.loads(out.with_suffix(".json").read_text())
    assert len(final) == 30 and all(os.path.exists(e["x"]) for e in final)


def test_regenerating_never_reuses_names_and_cleans_up_later(ws, tmp_path):
    out = str(tmp_path / "s")
    ctx = samples.make_context(f"{ws}/background", f"{ws}/pattern", size=32)
    first = samples.generate_round(ctx, out, 5, seed=1, progress=False)
    second = samples.generate_round(ctx, out, 5, seed=2, progress=False)
    assert [e["id"] for e in first] == [0, 1, 2, 3, 4]
    assert [e["id"] for e in second] == [5, 6, 7, 8, 9]
    assert samples.read_index(out + ".json") == second
    assert os.path.exists(first[0]["x"])  # the old round survives its grace period
    assert samples.remove_stale(out, grace=60) == 0
    assert samples.remove_stale(out, grace=60, now=time.time() + 61) == 5 * 5
    assert not os.path.exists(first[0]["x"]) and os.path.exists(second[0]["x"])


def test_a_round_deletes_stale_files_after_switching_the_index(ws, tmp_path):
    # After, not before: on ext4 without a journal, files created right after many deletions are slow.
    out = str(tmp_path / "s")
    ctx = samples.make_context(f"{ws}/background", f"{ws}/pattern", size=32)
    first = samples.generate_round(ctx, out, 3, seed=1, progress=False, grace=0)
    time.sleep(0.05)
    second = samples.generate_round(ctx, out, 3, seed=2, progress=False, grace=0)
    assert samples.read_index(out + ".json") == second
    assert not any(os.path.exists(e["x"]) for e in first)
    listed = [p for e in second for p in [e["x"], *e["y"]]]
    assert sorted(os.listdir(out)) == sorted(map(os.path.basename, listed))


def test_sigint_leaves_a_valid_index(ws, tmp_path):
    out = tmp_path / "big"
    proc = subprocess.Popen([sys.executable, f"{ROOT}/make_samples.py", str(out), "100000", "--size", "64",
                             "--workers", "2", "--backgrounds", f"{ws}/background", "--pattern", f"{ws}/pattern"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or len(os.listdir(out)) < 200):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    entries = samples.read_index(f"{out}.json")
    assert 0 < len(entries) < 100000
    assert len({e["id"] for e in entries}) == len(entries)
    for e in entries:  # every listed sample is complete and readable
        assert cv2.imread(e["x"]) is not None
        assert all(cv2.imread(y, cv2.IMREAD_GRAYSCALE) is not None for y in e["y"])


LATE_WORKER = """
import os, sys, time
from segmenty import samples
ctx = samples.make_context(sys.argv[1] + "/background", sys.argv[1] + "/pattern", size=32)
init = samples._init_worker

def late_init():  # every worker but the first starts after the round is over
    try:
        os.close(os.open(sys.argv[2] + ".first", os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        time.sleep(2)
    init()

samples._init_worker = late_init
samples.generate_round(ctx, sys.argv[2], 2, seed=1, workers=2, progress=False)
print("done")
"""


def test_a_worker_that_starts_late_still_stops(ws, tmp_path):
    # The pool's terminate() used to reach such a worker while it still held the parent's
    # SIGTERM handler, which swallowed it: the round then waited for the worker forever.
    proc = subprocess.Popen([sys.executable, "-c", LATE_WORKER, ws, str(tmp_path / "s")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # a hung worker too
    assert stdout.strip() == "done", stderr
    assert len(samples.read_index(f"{tmp_path}/s.json")) == 2


def test_preview_sheet(ws, tmp_path):
    samples.make_samples(str(tmp_path / "s"), 10, size=32, seed=1, workers=1, backgrounds=f"{ws}/background",
                         pattern=f"{ws}/pattern", preview=str(tmp_path / "p.png"))
    sheet = cv2.imread(str(tmp_path / "p.png"))
    assert sheet.shape == (8 * 132, 5 * 132, 3)  # 8 rows: the input and 4 masks, 128 px tiles + borders


def test_unreadable_backgrounds_are_skipped_and_reported(ws, tmp_path, script):
    import shutil
    shutil.copytree(f"{ws}/background", tmp_path / "bg")
    (tmp_path / "bg" / "synthetic" / "broken.jpg").write_bytes(b"garbage")
    proc = script("make_samples.py", tmp_path / "s", 5, "--size", 32, "--backgrounds", tmp_path / "bg",
                  "--pattern", f"{ws}/pattern", check=0)
    assert proc.stderr.count("skipped 1 unreadable background") == 1 and "broken.jpg" in proc.stderr


@pytest.mark.parametrize("args,message", [
    (["s", "5", "--backgrounds", "empty"], "error: no background images found in empty/*/ (run fetch_backgrounds.py, "
                                          "or fetch_backgrounds.py --synthetic 200)"),
    (["s", "5", "--backgrounds", "missing"], "error: no background images found in missing/*/"),
    (["s", "5", "--pattern", "nowhere"], "error: no pattern folder at nowhere/ (run make_patterns.py"),
    (["s", "0"], "error: Invalid value for COUNT. Received: count=0. Expected a positive integer."),
    (["s", "-3"], "error: Invalid value for COUNT"),
    (["s", "5", "--size", "16"], "error: Invalid value for --size. Received: size=16"),
])
def test_bad_input(ws, tmp_path, script, args, message):
    (tmp_path / "empty").mkdir()
    defaults = {"--backgrounds": f"{ws}/background", "--pattern": f"{ws}/pattern"}
    for flag, value in defaults.items():
        if flag not in args:
            args = args + [flag, value]
    proc = script("make_samples.py", *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith(message) and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s.json").exists()
