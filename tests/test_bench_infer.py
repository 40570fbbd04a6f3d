import multiprocessing
import os
import sys
import time

import numpy as np
import pytest

from tests.helpers import bench_module


def _busy(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_the_video_rows_cpu_line_bounds_frames_per_second_by_the_cpu_a_frame_takes():
    bench = bench_module("bench_infer")
    line = bench.cpu_line({"main": 40.0, "looks": 3.0, "workers": 60.0}, 10.0, 2)
    assert "this process 40 (the model 3.0 looks x 10.0 = 30) + the workers 60 = 100" in line
    assert line.endswith("at most 20.0 frames/s on 2 cores")
    assert "not measurable" in bench.cpu_line({"main": 40.0, "looks": 3.0, "workers": None}, 10.0, 2)


def test_the_slowest_line_says_what_share_of_the_time_the_slowest_tenth_takes():
    bench = bench_module("bench_infer")
    line = bench.slowest_line([10.0] * 18 + [100.0, 80.0])
    assert line == "a frame: median 10 ms; the slowest 2 of 20 (from 80 ms) take 50% of the time"
    assert "the slowest 1 of 3 (from 9 ms)" in bench.slowest_line([1.0, 9.0, 2.0])


def test_the_counting_predictor_counts_images_and_passes_the_rest_through():
    bench = bench_module("bench_infer")

    class Predictor:
        batch_size, fixed_batches = 8, False

        def __call__(self, batch):
            return batch * 2

    counting = bench.CountingPredictor(Predictor())
    out = counting(np.ones((3, 4, 4, 3), np.float32))
    counting(np.ones((2, 4, 4, 3), np.float32))
    assert counting.images == 5 and counting.batch_size == 8 and counting.fixed_batches is False
    assert out.max() == 2
    assert bench.model_cpu_ms(counting, 4, 2, repeats=2) >= 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_the_cpu_clock_counts_this_processs_cpu_and_its_workers():
    bench = bench_module("bench_infer")
    context = multiprocessing.get_context("spawn")
    busy_done, release = context.Event(), context.Event()
    worker = context.Process(target=_busy_then_wait, args=(0.6, busy_done, release))
    worker.start()
    try:
        clock = bench.CpuClock()  # at once: the worker is still starting (spawned), not yet busy
        _busy(0.3)
        assert busy_done.wait(60)
        main, workers = clock.read()  # the worker alive, as a Segmenter's are
    finally:
        release.set()
        worker.join()
    assert main >= 0.29
    assert workers >= 0.4


def _busy_then_wait(seconds, busy_done, release):
    _busy(seconds)
    busy_done.set()
    release.wait(60)
