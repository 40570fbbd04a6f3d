#!/usr/bin/env python3
"""Real-photo figures: train with bench/real_recipe.sh, then score every real set and condition.

    python bench/bench_real.py [--minutes 30] [--work /tmp/bench_real] [--model M.keras]

1. Makes the degraded variants of each set in ../shared/data/real (clean, partial, dark,
   blur, occluded) with ../shared/tools/degrade_real.py, once.
2. Holds out --holdout background photos: they are not trained on and serve as photos
   without the board (false positives).
3. Runs bench/real_recipe.sh BACKGROUNDS WORK/recipe MINUTES, unless --model is given.
4. Scores each folder with test_segmenter.py MODEL PHOTOS OUT --limit 0 --truth PHOTOS/gt.json
   and prints found (IoU >= 0.5) and mean IoU per set and condition, then the targets.

It prints figures; it asserts nothing.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
CONDITIONS = ["clean", "partial", "dark", "blur", "occluded"]
# found rate, mean IoU (issue 6); None = no target
TARGETS = {"clean": (0.98, 0.90), "partial": (0.90, 0.80), "dark": (0.90, 0.80), "occluded": (0.90, 0.80),
           "blur": (0.85, None)}


def run(cmd, **kw):
    print("$", " ".join(map(str, cmd)), flush=True)
    return subprocess.run(list(map(str, cmd)), check=True, **kw)


def prepare_sets(real_root, work, occluders):
    sets = {}
    for name in sorted(os.listdir(real_root)):
        src = os.path.join(real_root, name)
        if not os.path.exists(os.path.join(src, "gt.json")):
            continue
        out = os.path.join(work, "real", name)
        if not all(os.path.exists(os.path.join(out, c, "gt.json")) for c in CONDITIONS):
            run([sys.executable, os.path.join(SHARED, "tools", "degrade_real.py"), src, out, "--occluders", occluders],
                stdout=subprocess.DEVNULL)
        sets[name] = out
    return sets


def split_backgrounds(folder, work, holdout):
    """(folder of photos to train on, folder of held-out photos with a gt.json of null quads)."""
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".jpg", ".jpeg", ".png")))
    train_dir, none_dir = os.path.join(work, "backgrounds_train"), os.path.join(work, "no_board")
    for d in (train_dir, none_dir):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    # Every tenth photo is held out, so both halves span the whole collection.
    held = set(names[::max(1, len(names) // holdout)][:holdout]) if holdout else set()
    for n in names:
        os.symlink(os.path.abspath(os.path.join(folder, n)), os.path.join(none_dir if n in held else train_dir, n))
    with open(os.path.join(none_dir, "gt.json"), "w") as f:
        json.dump({n: {"size": None, "quad": None} for n in sorted(held)}, f)
    return train_dir, none_dir if held else None


def score(model, photos, out, extra):
    shutil.rmtree(out, ignore_errors=True)
    run([sys.executable, os.path.join(ROOT, "test_segmenter.py"), model, photos, out, "--limit", "0",
         "--truth", os.path.join(photos, "gt.json"), *extra], stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "metrics.json")) as f:
        return json.load(f)["summary"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30, help="training time for the recipe")
    p.add_argument("--work", default="/tmp/bench_real", help="working folder (kept)")
    p.add_argument("--model", default=None, help="score this model instead of training one")
    p.add_argument("--real", default=os.path.join(SHARED, "data", "real"), help="folder of real photo sets")
    p.add_argument("--backgrounds", default=os.path.join(SHARED, "data", "backgrounds", "bsds-train"))
    p.add_argument("--holdout", type=int, default=20, help="background photos held out as photos without the board")
    p.add_argument("--infer-args", default="", help="extra test_segmenter.py flags, e.g. '--image-size 256'")
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    sets = prepare_sets(args.real, args.work, args.backgrounds)
    train_bg, no_board = split_backgrounds(args.backgrounds, args.work, args.holdout)

    model = args.model
    if model is None:
        recipe = os.path.join(args.work, "recipe")
        shutil.rmtree(recipe, ignore_errors=True)
        t0 = time.monotonic()
        run(["bash", os.path.join(ROOT, "bench", "real_recipe.sh"), train_bg, recipe, args.minutes])
        print(f"recipe: {(time.monotonic() - t0) / 60:.1f} min in all")
        model = os.path.join(recipe, "model.keras")

    extra = args.infer_args.split()
    table = {}
    for name, folder in sets.items():
        for cond in CONDITIONS:
            table[name, cond] = score(model, os.path.join(folder, cond), os.path.join(args.work, "out", name, cond), extra)
    fp = score(model, no_board, os.path.join(args.work, "out", "no_board"), extra) if no_board else None

    names = list(sets)
    print(f"\nmodel: {model}{' ' + args.infer_args if extra else ''}")
    print("found (IoU >= 0.5) / mean IoU of the full-pattern mask, per set and condition")
    header = f"{'condition':<10}" + "".join(f"{n + ' (' + str(table[n, 'clean']['with_pattern']) + ')':>22}" for n in names)
    print(header + f"{'all':>17}   target")
    all_ok = True
    for cond in CONDITIONS:
        cells, found, total, ious = [], 0, 0, []
        for n in names:
            s = table[n, cond]
            cells.append(f"{s['found_rate']:.2f} / {s['mean_iou']:.2f}")
            found += s["found"]
            total += s["with_pattern"]
            ious += [s["mean_iou"]] * s["with_pattern"]
        rate, iou = found / total, sum(ious) / len(ious)
        want_rate, want_iou = TARGETS[cond]
        ok = rate >= want_rate and (want_iou is None or iou >= want_iou)
        all_ok &= ok
        target = f">= {want_rate:.2f}" + (f" / >= {want_iou:.2f}" if want_iou else "")
        # Three decimals where a target is judged, so that 0.897 never reads as a met 0.90.
        print(f"{cond:<10}" + "".join(f"{c:>22}" for c in cells) + f"{rate:>9.2f} / {iou:.3f}   {target} "
              f"{'met' if ok else 'NOT met'}")
    if fp is not None:
        ok = fp["false_positives"] == 0
        all_ok &= ok
        print(f"no board: {fp['false_positives']} false positives in {fp['without_pattern']} held-out photos   "
              f"target 0 {'met' if ok else 'NOT met'}")
    print("all targets met" if all_ok else "some targets not met")


if __name__ == "__main__":
    main()
