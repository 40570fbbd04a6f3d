#!/usr/bin/env python3
"""Sample generation figures: samples/s with 1 and 2 workers, time per step, peak memory.

    python bench/bench_samples.py [--backgrounds ../shared/data/backgrounds/bsds-train] [--count 2000] [--tmp DIR]

Samples are written under --tmp (default: the system's temp folder). Creating files costs
a lot of kernel time on some disks; `--tmp /dev/shm` (RAM) separates that from the generator's own cost.

It prints figures; it asserts nothing about time.
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def stolen_seconds():
    """CPU time the hypervisor gave to other guests, all CPUs (Linux /proc/stat); 0 where unknown."""
    try:
        with open("/proc/stat") as f:
            return int(f.readline().split()[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def run(cmd, cwd):
    t0 = time.monotonic()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    return time.monotonic() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backgrounds", default=os.path.join(ROOT, "..", "shared", "data", "backgrounds", "bsds-train"))
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--recipe", default="segmenty")
    p.add_argument("--tmp", default=None, help="folder to write samples under (default: the system temp folder)")
    args = p.parse_args()
    import numpy as np
    from segmenty import samples, synth
    from segmenty.patterns import make_patterns

    work = tempfile.mkdtemp(prefix="bench_samples_", dir=args.tmp)
    try:
        py = sys.executable
        make_patterns(os.path.join(work, "pattern"))
        subprocess.run([py, os.path.join(ROOT, "fetch_backgrounds.py"), "--from-dir", os.path.abspath(args.backgrounds),
                        "--out", os.path.join(work, "background")], check=True, capture_output=True)
        n_bg = len(samples.background_paths(os.path.join(work, "background")))

        # Per-step breakdown, in this process, one thread.
        import cv2
        cv2.setNumThreads(1)
        os.chdir(work)
        ctx = samples.make_context(size=args.size, recipe=args.recipe)
        timer, n = synth.Timer(), 500
        t0 = time.perf_counter()
        for i in range(n):
            with timer.step("sample params"):
                params = synth.sample_params(np.random.default_rng([0, i]), ctx)
            image, masks, pts = synth.render(params, ctx, timer)
            with timer.step("encode"):
                encoded = samples.encode_sample(image, masks)
            with timer.step("write files"):
                samples.write_sample(work, i, encoded, ctx.mask_names)
        total = time.perf_counter() - t0
        print(f"backgrounds: {n_bg} ({args.backgrounds}), size {args.size}, recipe {args.recipe}")
        print(f"per step, one thread, {n} samples ({1000 * total / n:.2f} ms/sample):")
        for step, sec in timer.seconds.items():
            print(f"  {step:16s} {1000 * sec / n:6.3f} ms  {100 * sec / total:5.1f}%")
        print("  (make_samples.py writes files on a thread while it draws the next sample)")

        # End to end, through the script, as a user runs it.
        rates = {}
        for workers in (1, 2):
            cmd = [py, os.path.join(ROOT, "make_samples.py"), f"out{workers}", str(args.count), "--size", str(args.size),
                   "--seed", "1", "--workers", str(workers), "--recipe", args.recipe]
            before, stolen = resource.getrusage(resource.RUSAGE_CHILDREN), stolen_seconds()
            seconds = run(cmd, work)
            after, stolen = resource.getrusage(resource.RUSAGE_CHILDREN), stolen_seconds() - stolen
            rss = after.ru_maxrss
            rates[workers] = args.count / seconds
            print(f"make_samples.py --workers {workers}: {rates[workers]:.0f} samples/s "
                  f"({args.count} samples in {seconds:.1f} s, including start-up; CPU "
                  f"{after.ru_utime - before.ru_utime:.1f} s user, {after.ru_stime - before.ru_stime:.1f} s kernel; "
                  f"{stolen:.1f} s stolen by the hypervisor)")
        print(f"speed-up with 2 workers: {rates[2] / rates[1]:.2f}x")
        print(f"peak RSS of one process (largest seen): {rss / 1024:.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
