#!/usr/bin/env python3
"""The decoder's upsampling: Keras's Conv2DTranspose against segmenty's SubPixelConv2DTranspose.

    python bench/bench_upsampling.py [--preset lite] [--batch-size 25] [--steps 20]
    KERAS_BACKEND=jax python bench/bench_upsampling.py --preset segmenty --mixed-precision on   # a GPU

First one layer alone (100 channels, 128x128 -> 256x256 and 64x64 -> 128x128, as in the
segmenty preset's last decoder blocks), then the whole preset, each trained for `--steps`
steps with Adam after two warm-up steps, data already on the device. It prints ms per step;
it asserts nothing.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ms_per_step(model, x, y, steps):
    from bench_layers import seconds_per_step  # bench/ is this script's folder, first on sys.path
    return seconds_per_step(model.train_on_batch, (x, y), steps) * 1e3


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="lite")
    p.add_argument("--batch-size", type=int, default=25)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--mixed-precision", default="auto")
    p.add_argument("--no-layer", action="store_true", help="skip the single-layer comparison")
    args = p.parse_args()

    import keras
    import numpy as np
    from keras import layers, ops
    from segmenty import devices, model as models, train

    policy = devices.set_precision(args.mixed_precision)
    kinds = {"Conv2DTranspose": layers.Conv2DTranspose, "SubPixelConv2DTranspose": models.SubPixelConv2DTranspose}
    rng = np.random.default_rng(0)
    print(f"{keras.config.backend()}, {policy}, batch {args.batch_size}")
    if not args.no_layer:
        for size in (128, 64):
            x = ops.convert_to_tensor(rng.random((args.batch_size, size, size, 100), dtype=np.float32))
            y = ops.zeros((args.batch_size, 2 * size, 2 * size, 100))
            for name, kind in kinds.items():
                inputs = keras.Input((size, size, 100))
                net = keras.Model(inputs, kind(100, 3, strides=2, padding="same")(inputs))
                net.compile(optimizer=keras.optimizers.Adam(1e-6), loss="mse")
                print(f"layer 100@{size}x{size} -> 100@{2 * size}x{2 * size}, {name:24s} "
                      f"{ms_per_step(net, x, y, args.steps):8.2f} ms a step", flush=True)
    config = models.preset_config(args.preset)
    size, names = config["image_size"], ["mask", "vertical", "horizontal", "middle"]
    x = ops.convert_to_tensor(rng.random((args.batch_size, size, size, 3), dtype=np.float32) * 255)
    y = ops.zeros((args.batch_size, size, size, len(names)))
    for name, kind in kinds.items():
        models.SubPixelConv2DTranspose = kind
        try:  # build_model looks the layer up in its module
            net = models.build_model(config, names)
        finally:
            models.SubPixelConv2DTranspose = kinds["SubPixelConv2DTranspose"]
        train.compile_model(net)
        ms = ms_per_step(net, x, y, args.steps)
        print(f"{args.preset} ({size}x{size}), {name:24s} {ms:8.1f} ms a step ({args.batch_size / ms * 1e3:.1f} img/s)",
              flush=True)


if __name__ == "__main__":
    main()
