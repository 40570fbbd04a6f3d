#!/usr/bin/env python3
"""Sample generation figures: samples/s with 1 and 2 workers, time per step, bytes per sample, peak memory.

    python bench/bench_samples.py [--backgrounds ../shared/data/backgrounds/bsds-train] [--count 2000] [--repeats 3]
                                  [--recipe robust] [--tmp DIR]

Samples are written under --tmp (default: the system's temp folder) and deleted at the end.
Creating files costs a lot of kernel time on some disks; `--tmp /dev/shm` (RAM) separates that
from the generator's own cost. On ext4 without a journal, files created within minutes of
deleting many others cost far more (the kernel scans past the recently deleted inodes): wait a
few minutes between runs of this bench.

It prints figures; it asserts nothing about time.
"""

import argparse
import cProfile
import os
import pstats
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from segmenty import recipes, samples, synth  # noqa: E402
from segmenty.patterns import make_patterns  # noqa: E402


def stolen_seconds():
    """CPU time the hypervisor gave to other guests, all CPUs (Linux /proc/stat); 0 where unknown."""
    try:
        with open("/proc/stat") as f:
            return int(f.readline().split()[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def run(cmd, cwd):
    """(wall seconds, stdout) of a command."""
    t0 = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    return time.monotonic() - t0, done.stdout


def make_and_write(ctx, folder, n):
    """What one worker does for n samples: draw, render, encode, write; returns {"image"|"masks": bytes}."""
    written = {"image": 0, "masks": 0}
    for i in range(n):
        params = synth.sample_params(np.random.default_rng([0, i]), ctx)
        image, masks, _ = synth.render(params, ctx)
        encoded = samples.encode_sample(image, masks)
        samples.write_sample(folder, i, encoded, ctx.mask_names)
        written["image"] += len(encoded[0])
        written["masks"] += sum(map(len, encoded[1]))
    return written


def profile_steps(ctx, folder, n):
    """{step: seconds} under cProfile: each call the recipe's render makes, and the work around it.

    A step is a function that render calls directly (a transforms function, an OpenCV call),
    with everything below it; "render itself" is render's own lines.
    """
    profiler = cProfile.Profile()
    profiler.runcall(make_and_write, ctx, folder, n)
    stats = pstats.Stats(profiler).stats  # {function: (calls, primitive calls, own s, cumulative s, callers)}

    def key(fn):
        code = fn.__code__
        return code.co_filename, code.co_firstlineno, code.co_name

    render = key(recipes.get(ctx.recipe).render)
    steps = {"sample params": stats[key(synth.sample_params)][3], "write files": stats[key(samples.write_sample)][3],
             "encode image and masks": stats[key(samples.encode_sample)][3], "render itself": stats[render][2]}
    for fn, (*_, callers) in stats.items():
        if render in callers:
            steps[step_name(fn)] = steps.get(step_name(fn), 0.0) + callers[render][3]
    return steps


def step_name(fn):
    """'transforms.shade', 'cv2.remap' or 'ndarray.astype' for a cProfile function key."""
    filename, _, name = fn
    if filename != "~":
        return f"{os.path.splitext(os.path.basename(filename))[0]}.{name}"
    method = re.fullmatch(r"<method '(\w+)' of '(?:\w+\.)*(\w+)' objects>", name)  # "<method 'astype' of ...>"
    if method:
        return f"{method.group(2)}.{method.group(1)}"
    name = re.sub(r"^<(built-in (method|function) )?|>$", "", name)  # "<built-in method remap>", "<remap>"
    return f"cv2.{name}" if hasattr(cv2, name) else name


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backgrounds", default=os.path.join(ROOT, "..", "shared", "data", "backgrounds", "bsds-train"))
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--recipe", default="segmenty")
    p.add_argument("--repeats", type=int, default=3, help="runs of each worker count, alternating")
    p.add_argument("--tmp", default=None, help="folder to write samples under (default: the system temp folder)")
    args = p.parse_args()

    work = tempfile.mkdtemp(prefix="bench_samples_", dir=args.tmp)
    try:
        py = sys.executable
        make_patterns(os.path.join(work, "pattern"))
        subprocess.run([py, os.path.join(ROOT, "fetch_backgrounds.py"), "--from-dir", os.path.abspath(args.backgrounds),
                        "--out", os.path.join(work, "background")], check=True, capture_output=True)
        n_bg = len(samples.background_paths(os.path.join(work, "background")))

        # Per-step breakdown, in this process, one thread: timed plainly, then profiled.
        cv2.setNumThreads(1)
        os.chdir(work)
        ctx = samples.make_context(size=args.size, recipe=args.recipe)
        n = 500
        t0 = time.perf_counter()
        written = make_and_write(ctx, work, n)
        total = time.perf_counter() - t0
        print(f"backgrounds: {n_bg} ({args.backgrounds}), size {args.size}, recipe {args.recipe}")
        print(f"per step, one thread, {n} samples ({1000 * total / n:.2f} ms/sample; "
              f"steps profiled with cProfile, which adds its own cost):")
        steps = profile_steps(ctx, work, n)
        profiled = sum(steps.values())
        for step, sec in sorted(steps.items(), key=lambda kv: -kv[1]):
            print(f"  {step:32s} {1000 * sec / n:6.3f} ms  {100 * sec / profiled:5.1f}%")
        kb = {part: size / n / 1e3 for part, size in written.items()}
        print(f"bytes per sample: image {kb['image']:.1f} KB, masks {kb['masks']:.1f} KB, "
              f"{sum(kb.values()):.1f} KB in all", flush=True)

        # End to end, through the script, as a user runs it. One worker, then two, `--repeats` times:
        # this machine's speed drifts within minutes, so each ratio compares neighbouring runs.
        runs, pairs = {1: [], 2: []}, []
        for repeat in range(args.repeats):
            for workers in (1, 2):
                out = f"out{workers}_{repeat}"
                cmd = [py, os.path.join(ROOT, "make_samples.py"), out, str(args.count), "--size", str(args.size),
                       "--seed", "1", "--workers", str(workers), "--recipe", args.recipe]
                before, stolen = resource.getrusage(resource.RUSAGE_CHILDREN), stolen_seconds()
                seconds, printed = run(cmd, work)
                after, stolen = resource.getrusage(resource.RUSAGE_CHILDREN), stolen_seconds() - stolen
                cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                # The script's own rate leaves out its start-up (imports, decoding the backgrounds).
                rate = float(re.search(r"\(([\d.]+) samples/s", printed).group(1))
                runs[workers].append((rate, args.count / seconds))
                print(f"make_samples.py --workers {workers}: {rate:.0f} samples/s once started, "
                      f"{args.count / seconds:.0f} end to end, {1000 * cpu / args.count:.2f} CPU ms/sample "
                      f"({args.count} in {seconds:.1f} s; CPU "
                      f"{after.ru_utime - before.ru_utime:.1f} s user, {after.ru_stime - before.ru_stime:.1f} s kernel "
                      f"= {cpu / seconds:.2f} cores busy; {stolen:.1f} s stolen by the hypervisor)", flush=True)
            # The machine's own ceiling, measured in the same minutes: two separate one-worker runs at once.
            cmds = [[py, os.path.join(ROOT, "make_samples.py"), f"pair{k}_{repeat}", str(args.count // 2), "--size",
                     str(args.size), "--seed", str(k), "--workers", "1", "--recipe", args.recipe]
                    for k in (1, 2)]
            t0 = time.monotonic()
            for proc in [subprocess.Popen(c, cwd=work, stdout=subprocess.DEVNULL) for c in cmds]:
                proc.wait()
            pairs.append(2 * (args.count // 2) / (time.monotonic() - t0))
            print(f"two separate --workers 1 runs at once: {pairs[-1]:.0f} samples/s end to end", flush=True)
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

        def summary(values):
            values = sorted(values)
            return f"median {values[len(values) // 2]:.2f} (range {values[0]:.2f}-{values[-1]:.2f})"

        for k, what in enumerate(("once started", "end to end")):
            w1, w2 = ([r[k] for r in runs[w]] for w in (1, 2))
            print(f"{what}: --workers 1 {summary(w1)} samples/s, --workers 2 {summary(w2)} samples/s, "
                  f"speed-up {summary([b / a for a, b in zip(w1, w2)])}x")
        w1 = [r[1] for r in runs[1]]
        print(f"two separate one-worker runs at once (what the machine allows): {summary(pairs)} samples/s, "
              f"{summary([b / a for a, b in zip(w1, pairs)])}x one worker's end-to-end rate")
        print(f"peak RSS of one process (largest seen): {rss / 1024:.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
