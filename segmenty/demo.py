"""`make demo`: the whole pipeline, offline, in demo/, with the scripts a user would run.

Each step runs a top-level script inside demo/ with its default folder names, prints the
command, and is skipped when its output is already there, so a second run is quick.
`make clean` removes demo/.
"""

import glob
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "demo")
TRAIN_MINUTES = 6  # the whole demo: about 15 minutes on 2 cores with AMX, 22 on a 2-core AMD EPYC under load
SIZE = 128  # the lite preset's input size


def step(title, done, *script_and_args):
    if done():
        print(f"== {title}: already there, skipped", flush=True)
        return
    print(f"== {title}\n$ ./{' '.join(map(str, script_and_args))}", flush=True)
    t0 = time.monotonic()
    cmd = [sys.executable, os.path.join(ROOT, script_and_args[0]), *map(str, script_and_args[1:])]
    proc = subprocess.run(cmd, cwd=DEMO)
    if proc.returncode != 0:
        sys.exit(f"demo: step '{title}' failed with exit status {proc.returncode}")
    print(f"   ({time.monotonic() - t0:.0f} s)", flush=True)


def exists(*paths):
    return lambda: all(glob.glob(os.path.join(DEMO, p)) for p in paths)


def main():
    os.makedirs(DEMO, exist_ok=True)
    started = time.monotonic()
    step("1. the pattern", exists("pattern/pattern.json"), "make_patterns.py")
    step("2. backgrounds, made offline", exists("background/synthetic/*.jpg"),
         "fetch_backgrounds.py", "--synthetic", 200, "--seed", 1)
    step("3a. validation samples", exists("validation.json"),
         "make_samples.py", "validation", 200, "--size", SIZE, "--seed", 2, "--preview", "preview.png")
    step("3b. training samples", exists("training.json"), "make_samples.py", "training", 3000, "--size", SIZE, "--seed", 3)
    # Photos for the snapshots: no real ones offline, so samples the model never trains on.
    step("3c. 'wild' photos for the snapshots", exists("wild.json"), "make_samples.py", "wild", 4, "--size", SIZE,
         "--seed", 4, "--blank-prob", 0)
    step(f"4. {TRAIN_MINUTES} minutes of lite training", exists("save.keras"),
         "train_segmenter.py", "--preset", "lite", "--time-limit", TRAIN_MINUTES, "--steps-per-epoch", 30,
         "--checkpoint", "checkpoint.keras", "--wild", "wild", "--seed", 5,
         "--decision-samples", 50)  # 5 draws of 50: a demo's threshold needn't be settled
    step("5. the model on validation samples, scored", exists("scratch/metrics.json"),
         "test_segmenter.py", "save.keras", "validation", "scratch", "--limit", 0, "--truth", "validation.json")
    step("6. the animation of training", exists("animation_000000.gif"), "animate_snapshots.py", 0)

    with open(os.path.join(DEMO, "scratch", "metrics.json")) as f:
        metrics = json.load(f)
    from segmenty.evaluate import format_table
    print("\n" + format_table(metrics))
    print(f"""
demo finished in {(time.monotonic() - started) / 60:.1f} min. Look at:
  demo/preview.png               synthetic samples: input, then each mask
  demo/scratch/*_overlay.jpg     the model's masks tinted on validation images
  demo/animation_000000.gif      one wild photo's outputs, epoch by epoch
  demo/training.log              loss, tpr, tnr, mse per epoch
  demo/scratch/metrics.json      the scores above
Next: bring your own photos: ./test_segmenter.py demo/save.keras YOUR_PHOTOS/ scratch""")


if __name__ == "__main__":
    main()
