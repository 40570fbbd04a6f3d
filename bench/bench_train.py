#!/usr/bin/env python3
"""Training figures: on-the-fly samples/s per worker process; img/s per preset from memory, from disk and on
the fly; peak memory; predict speed.

    python bench/bench_train.py [--presets lite segmenty] [--steps 12] [--batch-size 25]
    python bench/bench_train.py --presets lite --sources memory fly --sample-processes 1 2   # issue 21's two rows
    KERAS_BACKEND=jax python bench/bench_train.py --presets segmenty --mixed-precision on --full   # a GPU

First, the rate at which --sample-processes worker processes draw `robust` samples at 256x256
(dataset.SampleProcesses, as train_segmenter.py --on-the-fly does), without training: the median
over --repeats runs and its range, each process count in turn, so that the machine's noise falls
on all of them alike. Then each preset and source, in a process of its own (so its peak RSS is its own):
  memory   one batch of samples read once and served again and again: the model alone
  disk     make_samples.py output read through dataset.IndexDataset, as train_segmenter.py does
  fly      samples drawn by worker processes (train_segmenter.py --on-the-fly --recipe robust; --workers)
Training speed is the median over --repeats epochs of --steps batches, after a first, compiling
epoch; the range is printed beside it, because timings on a shared 2-core machine are noisy.
It prints figures; it asserts nothing about time.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
BACKGROUNDS = os.path.join(ROOT, "..", "shared", "data", "backgrounds", "bsds-train")


def sample_rate(work, processes, batch_size, batches, size=256):
    """Print a JSON line: samples/s of `robust` samples drawn by `processes` worker processes."""
    from segmenty import dataset, samples

    ctx = samples.make_context(os.path.join(work, "background"), os.path.join(work, "pattern"), size, recipe="robust")
    data = dataset.OnTheFlyDataset(ctx, batch_size, 10**6, processes=processes)
    try:
        # Steady state: the first batches include the processes' start and their buffer filling up.
        warm = 2 * processes + 2
        for i in range(warm):
            data[i]
        t0, cpu0 = time.perf_counter(), cpu_seconds(data.processes.pids)
        for i in range(warm, warm + batches):
            data[i]
        wall, cpu = time.perf_counter() - t0, cpu_seconds(data.processes.pids) - cpu0
    finally:
        data.close()
    # Samples per CPU second of the workers: the rate of one core of its own, whatever else runs.
    print(json.dumps({"processes": processes, "rate": batches * batch_size / wall,
                      "per_core": batches * batch_size / cpu, "cores_busy": cpu / wall}))


def cpu_seconds(pids):
    """User + system CPU seconds of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime: the 14th and 15th fields
    return total / os.sysconf("SC_CLK_TCK")


def child(preset, source, steps, batch_size, work, precision, repeats, processes, predict=True):
    """Run one configuration; print a JSON line with img/s and peak RSS."""
    import keras
    import numpy as np
    from segmenty import dataset, devices, model as models, samples, train

    policy = devices.set_precision(precision)
    config = models.preset_config(preset)
    size = config["image_size"]
    names = ["mask", "vertical", "horizontal", "middle"]
    index = os.path.join(work, f"training{size}.json")
    if source == "memory":
        # A real batch, read once: the same content as "disk", without the reading.
        batch = dataset.IndexDataset(index, batch_size, size, 4, shuffle=False)[0]

        class Same(keras.utils.PyDataset):
            def __init__(self):
                super().__init__(workers=1)  # without it Keras takes a slow path

            def __len__(self):
                return steps

            def __getitem__(self, i):
                return batch
        data = Same()
    elif source == "disk":
        data = dataset.IndexDataset(index, batch_size, size, 4, steps=steps,
                                    workers=dataset.default_workers(devices.gpu_count()), use_multiprocessing=False)
    else:
        ctx = samples.make_context(os.path.join(work, "background"), os.path.join(work, "pattern"), size,
                                   recipe="robust")
        data = dataset.OnTheFlyDataset(ctx, batch_size, steps,
                                       processes=processes or dataset.default_processes(devices.gpu_count()))
    net = models.build_model(config, names)
    train.compile_model(net)

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.t0)

    clock = Clock()
    # The first epoch compiles; the median of the others resists this machine's noise.
    try:  # on the fly, batches are drawn ahead in order (as train.py fits them)
        net.fit(data, epochs=1 + repeats, callbacks=[clock], verbose=0, shuffle=source == "disk")
    finally:
        if source == "fly":
            data.close()
    rates = sorted(steps * batch_size / s for s in clock.seconds[1:])
    train_rate = float(np.median(rates))
    predict_rate = None
    if predict:  # its own compile: a GPU's slot may not afford it
        x = np.zeros((batch_size, size, size, 3), np.float32)
        net.predict_on_batch(x)
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < 5 or n < 2:
            net.predict_on_batch(x)
            n += 1
        predict_rate = n * batch_size / (time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"preset": preset, "source": source, "train": train_rate, "spread": [rates[0], rates[-1]],
                      "predict": predict_rate,
                      "rss_mb": rss, "policy": policy, "backend": keras.config.backend()}))


def prepare(work, presets):
    from segmenty import model as models
    py = sys.executable
    bg = BACKGROUNDS if os.path.isdir(BACKGROUNDS) else None
    subprocess.run([py, os.path.join(ROOT, "make_patterns.py"), "--out", os.path.join(work, "pattern")],
                   check=True, capture_output=True)
    fetch = ["--from-dir", os.path.abspath(bg)] if bg else ["--synthetic", "200"]
    subprocess.run([py, os.path.join(ROOT, "fetch_backgrounds.py"), *fetch, "--out", os.path.join(work, "background")],
                   check=True, capture_output=True)
    for size in sorted({models.PRESETS[p]["image_size"] for p in presets}):
        subprocess.run([py, os.path.join(ROOT, "make_samples.py"), os.path.join(work, f"training{size}"), "1000",
                        "--size", str(size), "--seed", "1", "--backgrounds", os.path.join(work, "background"),
                        "--pattern", os.path.join(work, "pattern")], check=True, capture_output=True)


def sample_rows(work, args):
    """Samples/s with each of --sample-processes, --repeats times in turn; medians, ranges, and the ratio to 1 process."""
    import numpy as np
    runs = {n: [] for n in args.sample_processes}
    for _ in range(args.repeats if runs else 0):
        for n in runs:
            out = subprocess.run([sys.executable, __file__, "--child-samples", str(n), work, "--batch-size",
                                  str(args.batch_size), "--sample-batches", str(args.sample_batches)],
                                 capture_output=True, text=True)
            if out.returncode:
                print(out.stderr[-2000:], file=sys.stderr)
                continue
            runs[n].append(json.loads(out.stdout.strip().splitlines()[-1]))
    rates = {n: [r["rate"] for r in rs] for n, rs in runs.items() if rs}
    for n, rs in runs.items():
        if not rs:
            continue
        ratio = ""
        if 1 in rates and n != 1:  # the best runs: those the machine's other users disturbed least
            ratio = (f", {np.median(rates[n]) / np.median(rates[1]):.2f}x one process's "
                     f"(best runs {max(rates[n]) / max(rates[1]):.2f}x)")
        per_core, busy = [r["per_core"] for r in rs], [r["cores_busy"] for r in rs]
        print(f"robust samples at 256x256, {n} process{'es' if n > 1 else '  '}: {np.median(rates[n]):6.1f} samples/s "
              f"({min(rates[n]):.1f}-{max(rates[n]):.1f}){ratio}; {np.median(per_core):.1f} per CPU second of a process "
              f"({min(per_core):.1f}-{max(per_core):.1f}); cores busy {np.median(busy):.2f} ({min(busy):.2f}-"
              f"{max(busy):.2f}); {len(rs)} runs of {args.sample_batches} batches of {args.batch_size}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["lite", "segmenty"])
    p.add_argument("--sources", nargs="*", default=["memory", "disk", "fly"], help="none for the samples/s rows alone")
    p.add_argument("--steps", type=int, default=20, help="batches per measured epoch")
    p.add_argument("--repeats", type=int, default=5, help="measured epochs; the median is reported")
    p.add_argument("--batch-size", type=int, default=25)
    p.add_argument("--mixed-precision", default="auto")
    p.add_argument("--full", action="store_true",
                   help="give segmenty as many steps and repeats as lite (on a GPU); otherwise an eighth, on a CPU")
    p.add_argument("--workers", type=int, default=None,
                   help="sample processes for the fly source (default: train_segmenter.py's)")
    p.add_argument("--sample-processes", type=int, nargs="*", default=[1, 2],
                   help="process counts for the samples/s rows; none to skip them")
    p.add_argument("--sample-batches", type=int, default=8, help="batches of --batch-size timed per samples/s run")
    p.add_argument("--no-predict", dest="predict", action="store_false",
                   help="skip the predict figure (and its compile)")
    p.add_argument("--child", nargs=3, metavar=("PRESET", "SOURCE", "WORK"), help=argparse.SUPPRESS)
    p.add_argument("--child-samples", nargs=2, metavar=("PROCESSES", "WORK"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.steps, args.batch_size, args.child[2], args.mixed_precision,
              args.repeats, args.workers, args.predict)
        return
    if args.child_samples:
        sample_rate(args.child_samples[1], int(args.child_samples[0]), args.batch_size, args.sample_batches)
        return
    work = tempfile.mkdtemp(prefix="bench_train_")
    prepare(work, args.presets if {"memory", "disk"} & set(args.sources) else [])  # their samples
    sample_rows(work, args)
    rows = []
    for preset in args.presets:
        short = preset == "segmenty" and not args.full  # slow on a CPU
        steps = max(2, args.steps // 8) if short else args.steps
        for source in args.sources:
            out = subprocess.run([sys.executable, __file__, "--child", preset, source, work, "--steps", str(steps),
                                  "--batch-size", str(args.batch_size), "--mixed-precision", args.mixed_precision,
                                  "--repeats", str(2 if short else args.repeats),
                                  *(["--workers", str(args.workers)] if args.workers else []),
                                  *([] if args.predict else ["--no-predict"])],
                                 capture_output=True, text=True)
            if out.returncode:
                print(out.stderr[-2000:], file=sys.stderr)
                continue
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            predict = "     n/a" if r["predict"] is None else f"{r['predict']:8.1f}"
            print(f"{preset:9s} {source:7s} train {r['train']:6.1f} img/s ({r['spread'][0]:.0f}-{r['spread'][1]:.0f})   predict {predict} img/s   "
                  f"peak RSS {r['rss_mb']:6.0f} MB   ({r['backend']}, {r['policy']}, batch {args.batch_size})",
                  flush=True)
    for preset in args.presets:
        by = {r["source"]: r["train"] for r in rows if r["preset"] == preset}
        for source in ("disk", "fly"):
            if "memory" in by and source in by:
                print(f"{preset}: the {source} pipeline costs {100 * (1 - by[source] / by['memory']):+.1f}% "
                      "of the in-memory speed")


if __name__ == "__main__":
    main()
