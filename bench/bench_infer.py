#!/usr/bin/env python3
"""test_segmenter figures: photos/s per preset, excluding the model load, on real photos.

    python bench/bench_infer.py [--photos ../shared/data/real/opencv-stereo] [--model M.keras ...]

Without --model it times untrained lite and segmenty models. They find nothing, so they
take no second, closer look and fit no quad: a trained model (--model) is slower where it
finds the pattern. Each photo is read, resized, predicted, and written at its own resolution
(masks, overlay, results.json), as test_segmenter.py does on the CPU.
It prints figures; it asserts nothing about time.
"""

import argparse
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
PHOTOS = os.path.join(ROOT, "..", "shared", "data", "real")


def untrained(preset, folder):
    from segmenty import model as models
    names = ["mask", "vertical", "horizontal", "middle"]
    config = models.preset_config(preset)
    path = os.path.join(folder, f"{preset}.keras")
    models.save(models.build_model(config, names), path,
                {"preset": preset, "image_size": config["image_size"], "mask_names": names, "epochs": 0,
                 "config": config})
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", nargs="+", default=[os.path.join(PHOTOS, s) for s in ("opencv-stereo", "phone-table")])
    p.add_argument("--model", nargs="+", default=None, help="models to time (default: untrained lite and segmenty)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--no-zoom", dest="zoom", action="store_false", help="as test_segmenter.py --no-zoom")
    p.add_argument("--no-flip", dest="flip", action="store_false", help="as test_segmenter.py --no-flip")
    args = p.parse_args()
    from segmenty import cli
    cli.hide_gpus()
    cli.start_keras_quietly()
    from segmenty import infer
    work = tempfile.mkdtemp(prefix="bench_infer_")
    models = args.model or [untrained(p, work) for p in ("lite", "segmenty")]
    for model in models:
        for photos in args.photos:
            r = infer.segment(model, [photos], os.path.join(work, "out"), limit=0, batch_size=args.batch_size,
                              zoom=args.zoom, flip=args.flip)
            n = len([e for e in r["images"] if "error" not in e])
            sizes = sorted({tuple(e["size"]) for e in r["images"] if "size" in e})
            print(f"{os.path.basename(model):16s} {os.path.basename(photos):14s} {n / r['seconds']:6.1f} photos/s "
                  f"({n} photos, {sizes[0][0]}x{sizes[0][1]}{'...' if len(sizes) > 1 else ''}, "
                  f"model input {r['image_size']}, excluding the model load)", flush=True)


if __name__ == "__main__":
    main()
