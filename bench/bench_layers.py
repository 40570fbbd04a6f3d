#!/usr/bin/env python3
"""Where a training step's time goes: each layer of a preset trained alone at its own shapes.

    python bench/bench_layers.py [--preset lite] [--batch-size 25] [--steps 10] [--top 15]
    KERAS_BACKEND=jax python bench/bench_layers.py --preset segmenty --mixed-precision on   # a GPU

Each layer is wrapped in a model of its own, fed random inputs of the shapes it sees in the full
model at the preset's image size, and trained with Adam on a mean squared error: forward,
backward (for layers with weights) and the update. It prints ms per step for each layer, its share
of their sum, its training FLOPs (3 x forward) and the rate they run at, slowest first, then the
full model's step for comparison. Layers without weights run forward only, and their rows include
copying the output back to the host. Every row carries the fixed cost of a step (the smallest
layers' rows show it: about 2 ms on an H100 with jax), so the rows add up to more than the full
model's step. It asserts nothing.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def forward_flops(layer, in_shapes, out_shape):
    """2 x multiply-adds of one forward pass of `layer` (convolutions and dense layers; else 0)."""
    import numpy as np
    from keras import layers
    from segmenty.model import SkipConv2D
    out_pixels = int(np.prod(out_shape[:-1]))
    cin = sum(s[-1] for s in in_shapes)
    if isinstance(layer, (layers.Conv2D, SkipConv2D)):
        k = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
        return 2 * out_pixels * k * k * cin * out_shape[-1]
    if isinstance(layer, layers.Conv2DTranspose):  # each input pixel spreads k x k x filters
        k = layer.kernel_size[0]
        return 2 * int(np.prod(in_shapes[0][:-1])) * k * k * cin * out_shape[-1]
    if isinstance(layer, layers.Dense):
        return 2 * out_pixels * cin * out_shape[-1]
    return 0


def shapes_at(net, size, batch_size):
    """{layer name: (input shapes, output shape)} of the functional model at size x size."""
    import keras
    import numpy as np
    inner = net.layers[1:]
    probe = keras.Model(net.input, [layer.output for layer in inner])
    outs = probe.predict_on_batch(np.zeros((1, size, size, 3), np.float32))
    out_shape = {net.layers[0].name: (batch_size, size, size, 3)}
    out_shape.update({layer.name: (batch_size, *o.shape[1:]) for layer, o in zip(inner, outs)})
    result = {}
    for layer in inner:
        tensors = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        result[layer.name] = ([out_shape[t._keras_history.operation.name] for t in tensors], out_shape[layer.name])
    return result


def seconds_per_step(step, args, steps):
    """Seconds per call of `step(*args)` after two warm-up calls (compiling), waiting for the device."""
    import numpy as np
    for _ in range(2):
        float(np.asarray(step(*args)).ravel()[0])
    t0 = time.perf_counter()
    for _ in range(steps):
        float(np.asarray(step(*args)).ravel()[0])  # reading the result waits for the device
    return (time.perf_counter() - t0) / steps


def time_layer(layer, in_shapes, out_shape, steps):
    """Seconds per training step of `layer` alone."""
    import keras
    import numpy as np
    inputs = [keras.Input(batch_shape=s) for s in in_shapes]
    out = layer(inputs if len(inputs) > 1 else inputs[0])
    model = keras.Model(inputs, out)
    model.compile(optimizer=keras.optimizers.Adam(1e-6), loss="mse")
    rng = np.random.default_rng(0)
    # On the device once: copying a 100-channel 256x256 batch from the host each step costs more than the layer.
    x = [keras.ops.convert_to_tensor(rng.random(s, dtype=np.float32)) for s in in_shapes]
    y = keras.ops.zeros(out_shape)
    x = x if len(x) > 1 else x[0]
    step = model.train_on_batch if layer.trainable_weights else model.predict_on_batch
    args = (x, y) if layer.trainable_weights else (x,)
    return seconds_per_step(step, args, steps)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="lite")
    p.add_argument("--image-size", type=int, default=None, help="default: the preset's")
    p.add_argument("--batch-size", type=int, default=25)
    p.add_argument("--steps", type=int, default=10, help="timed steps per layer")
    p.add_argument("--top", type=int, default=15, help="layers to print, slowest first (0: all)")
    p.add_argument("--mixed-precision", default="auto")
    args = p.parse_args()

    import keras
    import numpy as np
    from segmenty import devices, model as models, train

    policy = devices.set_precision(args.mixed_precision)
    config = models.preset_config(args.preset, args.image_size)
    size, names = config["image_size"], ["mask", "vertical", "horizontal", "middle"]
    net = models.build_model(config, names)
    rows = []
    for name, (in_shapes, out_shape) in shapes_at(net, size, args.batch_size).items():
        layer = net.get_layer(name)
        seconds = time_layer(layer, in_shapes, out_shape, args.steps)
        flops = 3 * forward_flops(layer, in_shapes, out_shape) if layer.trainable_weights else 0
        rows.append((seconds, name, in_shapes, out_shape, flops))
    total = sum(r[0] for r in rows)

    train.compile_model(net)
    x = keras.ops.convert_to_tensor(np.random.default_rng(0).random((args.batch_size, size, size, 3), dtype=np.float32) * 255)
    y = keras.ops.zeros((args.batch_size, size, size, len(names)))
    full = seconds_per_step(net.train_on_batch, (x, y), args.steps)

    print(f"{args.preset} at {size}x{size}, batch {args.batch_size}, {policy}, {keras.config.backend()}: "
          f"layers alone {total * 1e3:.1f} ms a step in all, the full model {full * 1e3:.1f} ms "
          f"({args.batch_size / full:.1f} img/s)")
    print(f"{'layer':<22}{'input':>26}{'output':>20}{'ms':>9}{'share':>8}{'GFLOP':>9}{'TFLOP/s':>9}")
    for seconds, name, in_shapes, out_shape, flops in sorted(rows, reverse=True)[:args.top or None]:
        shown = "+".join(str(s[-1]) for s in in_shapes) + f"@{in_shapes[0][1]}x{in_shapes[0][2]}"
        rate = f"{flops / seconds / 1e12:9.2f}" if flops else f"{'':>9}"
        print(f"{name:<22}{shown:>26}{str(out_shape[-1]) + '@' + str(out_shape[1]) + 'x' + str(out_shape[2]):>20}"
              f"{seconds * 1e3:9.2f}{seconds / total:8.1%}{flops / 1e9:9.1f}{rate}")


if __name__ == "__main__":
    main()
