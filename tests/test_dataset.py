import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from segmenty import dataset, samples, synth
from segmenty.errors import SegmentyError
from tests.conftest import ROOT
from tests.helpers import make_workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = make_workspace(tmp_path_factory.mktemp("ws"))
    samples.make_samples(f"{root}/training", 8, size=32, seed=1, workers=1, backgrounds=f"{root}/background",
                         pattern=f"{root}/pattern")
    return root


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


def test_an_index_without_its_files_fails_at_once(ws, tmp_path, capsys):
    shutil.copytree(f"{ws}/training", tmp_path / "training")
    index = tmp_path / "training.json"
    index.write_text(open(f"{ws}/training.json").read().replace(f"{ws}/training", str(tmp_path / "training")))
    entries = dataset.load_entries(str(index))
    os.remove(entries[3]["y"][2])
    dataset.check_files(entries, str(index))
    assert "warning: 1 of the 8 samples listed" in capsys.readouterr().err
    shutil.rmtree(tmp_path / "training")
    with pytest.raises(SegmentyError, match=r"^none of the 8 samples listed in .*training\.json exists"):
        dataset.check_files(entries, str(index))


def test_on_the_fly_is_seeded_per_epoch(ws):
    ctx = samples.make_context(f"{ws}/background", f"{ws}/pattern", size=32)
    a = dataset.OnTheFlyDataset(ctx, 2, 3, seed=5)
    b = dataset.OnTheFlyDataset(ctx, 2, 3, seed=5)
    np.testing.assert_array_equal(a[1][0], b[1][0])
    a.on_epoch_end()
    assert not np.array_equal(a[1][0], b[1][0])  # a new epoch draws new samples


def sample_processes():
    return [p for p in multiprocessing.active_children() if p.name.startswith("segmenty-samples-")]


@pytest.fixture(scope="module")
def ctx(ws):
    return samples.make_context(f"{ws}/background", f"{ws}/pattern", size=32)


def test_processes_draw_the_same_batches_as_the_trainer(ctx):
    alone = dataset.OnTheFlyDataset(ctx, 3, 4, seed=7)
    one, two = (dataset.OnTheFlyDataset(ctx, 3, 4, seed=7, processes=n) for n in (1, 2))
    try:
        assert len(sample_processes()) == 3
        for epoch in range(2):
            for index in (0, 1, 3, 0, 2):  # also out of order, and again
                expected = alone[index]
                for data in (one, two):
                    x, y = data[index]
                    np.testing.assert_array_equal(x, expected[0])
                    np.testing.assert_array_equal(y, expected[1])
            for data in (alone, one, two):
                data.on_epoch_end()
    finally:
        one.close()
        two.close()
    assert not sample_processes()


def test_a_dead_sample_process_is_an_error_not_a_hang(ctx):
    data = dataset.OnTheFlyDataset(ctx, 2, 100, seed=1, processes=2)
    try:
        data[0]
        victim = sample_processes()[0]
        os.kill(victim.pid, signal.SIGKILL)
        with pytest.raises(RuntimeError, match=rf"sample process {victim.name} \(pid {victim.pid}\) died "
                                               r"\(killed by SIGKILL; out of memory\?\)"):
            for index in range(1, 100):
                data[index]
        with pytest.raises(RuntimeError, match="died"):  # and at once, every time after
            data[0]
    finally:
        data.close()
    assert not sample_processes()


def test_a_failing_sample_process_passes_its_traceback_on(ctx, monkeypatch):
    def broken(rng, ctx):
        raise ValueError("no pattern today")
    monkeypatch.setattr(synth, "generate", broken)  # the processes fork with it
    data = dataset.OnTheFlyDataset(ctx, 2, 5, processes=1)
    try:
        with pytest.raises(RuntimeError, match=r"(?s)sample process segmenty-samples-0 .* failed:.*"
                                               r"ValueError: no pattern today"):
            data[0]
    finally:
        data.close()


def test_sample_processes_end_with_a_killed_trainer(ws):
    code = f"""
import sys
sys.path.insert(0, {ROOT!r})
from segmenty import dataset, samples
ctx = samples.make_context("{ws}/background", "{ws}/pattern", size=32)
data = dataset.OnTheFlyDataset(ctx, 2, 5, processes=2)
data[0]
print(*data.processes.pids, flush=True)
sys.stdin.read()
"""
    trainer = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    workers = [int(pid) for pid in trainer.stdout.readline().split()]
    assert len(workers) == 2 and all(os.path.exists(f"/proc/{pid}") for pid in workers)
    trainer.kill()  # kill -9: no clean-up code runs in the trainer
    trainer.wait()
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers)


def test_sample_processes_start_without_jaxs_fork_warning():
    # JAX warns from an at-fork hook in the parent; the workers never call into JAX, so the warning
    # only alarms users. A plain start shows it (the check can fail), _start_forked doesn't.
    code = """
import multiprocessing, os, sys, warnings
os.register_at_fork(before=lambda: warnings.warn(
    "os.fork() was called. os.fork() is incompatible with multithreaded code, and JAX is multithreaded, "
    "so this will likely lead to a deadlock.", RuntimeWarning, stacklevel=2))
from segmenty.dataset import _start_forked
worker = multiprocessing.get_context("fork").Process(target=int)
_start_forked(worker) if sys.argv[1] == "quiet" else worker.start()
worker.join()
"""
    runs = {how: subprocess.run([sys.executable, "-c", code, how], cwd=ROOT, capture_output=True, text=True,
                                timeout=120) for how in ("quiet", "plain")}
    assert all(run.returncode == 0 for run in runs.values()), runs
    assert "likely lead to a deadlock" in runs["plain"].stderr
    assert "deadlock" not in runs["quiet"].stderr
