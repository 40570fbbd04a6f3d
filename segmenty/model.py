"""Stage 4: the original's hourglass U-Net (docs/original.md, "Model"), and .keras files that carry their config.

A saved model is a plain `.keras` file (it loads with keras.models.load_model once
`segmenty` is imported, which registers the loss and metrics) with one extra entry,
`segmenty.json`: {"preset", "image_size", "mask_names", "epochs", "config"}, plus, once trained,
"thresholds" and "coverage" (calibrated on held-out samples) and "picture" (the pattern, see
patterns.pattern_picture). test_segmenter.py and resumed training read it, so they need no flags.
"""

import json
import os
import zipfile

import keras
from keras import layers, ops

from segmenty.errors import InvalidArgument, SegmentyError
from segmenty.images import replacing

# filters: encoder blocks, one per halving (len = log2(image_size) reaches 1 x 1);
# decoder: filters of each upsampling block, from the bottleneck up; dense: bottleneck units.
PRESETS = {
    "segmenty": {"image_size": 256, "filters": [40, 40, 80, 100, 100, 100, 80, 80],
                 "decoder": [100] * 8, "dense": [100, 100], "dropout": 0.1, "head": [30, 30], "skip_conv": True},
    # For CPUs: thin at full resolution, where the time goes.
    "lite": {"image_size": 128, "filters": [6, 12, 16, 24, 32, 48, 64],
             "decoder": [64, 48, 32, 16, 12, 8, 6], "dense": [64, 64], "dropout": 0.1, "head": [8, 8], "normalized_skip": True},
    # For smoke tests: seconds per epoch on a CPU, learns nothing useful.
    "tiny": {"image_size": 32, "filters": [8, 8, 8, 8, 8], "decoder": [8, 8, 8, 8, 8],
             "dense": [8, 8], "dropout": 0.1, "head": [8, 8], "normalized_skip": True},
}
CONFIG_ENTRY = "segmenty.json"


@keras.saving.register_keras_serializable(package="segmenty")
class SkipConv2D(layers.Layer):
    """Conv2D(filters, kernel_size, "same", relu) over concatenate([x, skip]), without the concatenation.

    The kernel is the one Conv2D would have over the joined channels, split at the join: the same
    weights and outputs, but no full-resolution copy of both inputs is kept for the gradient
    (on the segmenty preset, 0.7 GB at 256 x 256 and batch 25).
    """

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = filters, kernel_size

    def build(self, input_shape):
        x_shape, skip_shape = input_shape
        k = self.kernel_size
        self.kernel = self.add_weight(name="kernel", shape=(k, k, x_shape[-1] + skip_shape[-1], self.filters),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, inputs):
        x, skip = inputs
        split = x.shape[-1]  # the kernel's first channels are x's, the rest the skip's
        y = ops.conv(x, self.kernel[:, :, :split], padding="same") + ops.conv(skip, self.kernel[:, :, split:],
                                                                               padding="same")
        return ops.relu(y + self.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}


def _subpixel_taps():
    """0/1 table [a, b, phase, ty, tx]: which 3x3 tap (ty, tx) the 2x2 kernel's entry (a, b) holds for
    output phase 2 * row parity + column parity. Along each axis, an even output pixel 2j takes
    tap 2 from input j-1 (a = 0) and tap 0 from input j (a = 1); an odd one takes tap 1 from j."""
    import numpy as np
    taps = {0: (2, 0), 1: (None, 1)}  # parity -> tap at offset -1, tap at offset 0
    table = np.zeros((2, 2, 4, 3, 3), "float32")
    for row in (0, 1):
        for col in (0, 1):
            for a, ty in enumerate(taps[row]):
                for b, tx in enumerate(taps[col]):
                    if ty is not None and tx is not None:
                        table[a, b, 2 * row + col, ty, tx] = 1
    return table


_SUBPIXEL_TAPS = _subpixel_taps()


@keras.saving.register_keras_serializable(package="segmenty")
class SubPixelConv2DTranspose(layers.Conv2DTranspose):
    """Conv2DTranspose(filters, 3, strides=2, padding="same"), as one 2x2 convolution into four
    times the channels (one set per output pixel's row and column parity) and a depth-to-space.

    The same kernel, weights and outputs (to float rounding), but a plain convolution: on an H100
    (jax, bf16, batch 25, 100 channels, 128x128 -> 256x256) a training step of the layer takes
    3.6 ms instead of 21.4. Other kernel sizes, strides or paddings run Conv2DTranspose's own way.
    """

    def _is_3x3_stride_2_same(self):
        return (tuple(self.kernel_size) == (3, 3) and tuple(self.strides) == (2, 2) and self.padding == "same"
                and tuple(self.dilation_rate) == (1, 1) and self.output_padding is None
                and self.data_format == "channels_last")

    def _subpixel_kernel(self):
        """The 3x3 kernel (3, 3, out, in) as a 2x2 one (2, 2, in, 4 * out) over input offsets -1 and 0."""
        k = ops.einsum("abpyx,yxoi->abipo", ops.cast(_SUBPIXEL_TAPS, self.kernel.dtype), self.kernel)
        return ops.reshape(k, (2, 2, self.kernel.shape[3], 4 * self.kernel.shape[2]))

    def call(self, inputs):
        if not self._is_3x3_stride_2_same():
            return super().call(inputs)
        x = ops.pad(inputs, ((0, 0), (1, 0), (1, 0), (0, 0)))  # offsets -1 and 0 of each input pixel
        y = ops.conv(x, ops.cast(self._subpixel_kernel(), x.dtype), padding="valid")
        # The bias added before the pixels are rearranged: the same sums, and onnxruntime folds it
        # into the convolution (0.2 ms of 4.6 an image).
        if self.use_bias:
            y = y + ops.cast(ops.tile(self.bias, 4), y.dtype)
        shape = ops.shape(y)
        y = ops.reshape(y, (-1, shape[1], shape[2], 2, 2, self.filters))  # (batch, h, w, row parity, column parity, out)
        y = ops.reshape(ops.transpose(y, (0, 1, 3, 2, 4, 5)), (-1, 2 * shape[1], 2 * shape[2], self.filters))
        return self.activation(y) if self.activation is not None else y


def preset_config(preset, image_size=None, overrides=None):
    """A preset's config with optional changes (e.g. another filter list), checked."""
    if preset not in PRESETS:
        raise InvalidArgument("preset", preset, f"one of {', '.join(PRESETS)}")
    config = dict(PRESETS[preset], preset=preset, **(overrides or {}))
    if image_size is not None:
        config["image_size"] = image_size
    check_image_size(config)
    return config


def check_image_size(config):
    step = 2 ** len(config["filters"])
    size = config["image_size"]
    if not isinstance(size, int) or size < step or size % step:
        raise InvalidArgument("image_size", size, f"a multiple of {step} (the {config['preset']} preset halves "
                              f"the image {len(config['filters'])} times)")


def build_model(config, mask_names):
    """The hourglass: encoder blocks, a dense bottleneck, decoder blocks with skips, a 1x1 head.

    Args:
        config: dict, a preset's entries (see PRESETS) plus "image_size" and "preset".
        mask_names: list of str, one output channel each.

    Returns:
        keras.Model mapping RGB 0..255 images to per-mask probabilities. Its spatial input
        size is open, so it runs fully convolutionally on any multiple of 2**len(filters).
    """
    inputs = keras.Input(shape=(None, None, 3), name="image")
    x, skips = inputs, []
    for i, f in enumerate(config["filters"]):
        # The first BatchNorm standardises the raw 0..255 input.
        normalized = layers.BatchNormalization(name=f"down{i}_bn")(x)
        # The original skips the raw image (0..255) to the last decoder block; its large values
        # can kill the ReLUs of small models, so other presets skip the standardised image.
        skips.append(normalized if i == 0 and config.get("normalized_skip") else x)
        x = normalized
        x = layers.Conv2D(f, 5, padding="same", activation="relu", name=f"down{i}_conv5")(x)
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"down{i}_conv3")(x)
        x = layers.MaxPooling2D(2, name=f"down{i}_pool")(x)
    # Dense layers act on the channel axis: at 1 x 1 they are the original's dense layers,
    # on larger inputs they are 1 x 1 convolutions.
    for j, units in enumerate(config["dense"]):
        x = layers.Dense(units, activation="relu", name=f"bottleneck_dense{j}")(x)
    x = layers.Dropout(config["dropout"], name="bottleneck_dropout")(x)
    for i, (f, skip) in enumerate(zip(config["decoder"], reversed(skips))):
        x = SubPixelConv2DTranspose(f, 3, strides=2, padding="same", name=f"up{i}_deconv")(x)
        if config.get("skip_conv"):  # the same computation in less memory
            x = SkipConv2D(f, 5, name=f"up{i}_conv5")([x, skip])
        else:
            x = layers.Concatenate(name=f"up{i}_concat")([x, skip])
            x = layers.Conv2D(f, 5, padding="same", activation="relu", name=f"up{i}_conv5")(x)
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"up{i}_conv3")(x)
    for j, f in enumerate(config["head"]):
        x = layers.Conv2D(f, 1, activation="relu", name=f"head_conv{j}")(x)
    # The sigmoid stays float32 under mixed precision.
    outputs = layers.Conv2D(len(mask_names), 1, activation="sigmoid", dtype="float32", name="masks")(x)
    return keras.Model(inputs, outputs, name=f"segmenty_{config['preset']}")


def count_flops(config, n_masks):
    """Floating-point operations (2 x multiply-adds) of one forward pass at config's image size."""
    size, flops, ch = config["image_size"], 0, 3
    skip_channels = []
    for f in config["filters"]:
        skip_channels.append(ch)
        flops += size * size * (25 * ch * f + 9 * f * f)
        ch, size = f, size // 2
    for units in config["dense"]:
        flops += size * size * ch * units
        ch = units
    for f, skip in zip(config["decoder"], reversed(skip_channels)):
        flops += size * size * 9 * ch * f  # a stride-2 transposed conv multiplies at its input's size
        size *= 2
        flops += size * size * (25 * (f + skip) * f + 9 * f * f)
        ch = f
    for f in config["head"] + [n_masks]:
        flops += size * size * ch * f
        ch = f
    return 2 * flops


def describe(preset, n_masks=4):
    """'6,480,196 parameters, 75.5 GFLOPs at 256x256', for the training script's help and the README."""
    config = preset_config(preset)
    model = build_model(config, [f"m{k}" for k in range(n_masks)])
    gflops = count_flops(config, n_masks) / 1e9
    return (f"{model.count_params():,} parameters, {gflops:.{1 if gflops >= 10 else 2}f} GFLOPs "
            f"at {config['image_size']}x{config['image_size']}")


# ---------------------------------------------------------------- files

def save(model, path, info):
    """Save model and its segmenty info atomically: a temp file, then os.replace. Never truncates path."""
    with replacing(path) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as zf:
            zf.writestr(CONFIG_ENTRY, json.dumps(info, indent=2))


def read_info(path):
    """The segmenty info of a .keras file. Raises SegmentyError if missing or not a segmenty model."""
    if not os.path.exists(path):
        raise SegmentyError(f"no model at {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            if CONFIG_ENTRY not in zf.namelist():
                raise SegmentyError(f"{path} is a Keras model but not a segmenty model (it has no {CONFIG_ENTRY}; "
                                "make one with train_segmenter.py)")
            return json.loads(zf.read(CONFIG_ENTRY))
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise SegmentyError(f"{path} is not a segmenty model ({type(e).__name__}: {e}); expected a .keras file "
                        "written by train_segmenter.py") from None


def load(path, compile=True):
    """(keras.Model, info) from a .keras file written by save()."""
    info = read_info(path)
    import segmenty.losses  # noqa: F401  registers the loss and metrics
    try:
        model = keras.models.load_model(path, compile=compile)
    except Exception as e:  # a damaged file: say so in one line
        raise SegmentyError(f"could not load {path}: {type(e).__name__}: {e}") from None
    return model, info


def with_policy(model, info, policy):
    """The model computing in `policy` ("float32" or "mixed_bfloat16"), with the same weights.

    A model trained in bf16 on a GPU runs float32 on a laptop without bf16 units, and the other
    way round; mixed precision keeps the weights float32, so they copy over unchanged.
    """
    if all(layer.dtype_policy.name == policy for layer in model.layers[1:-1]):
        return model
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        rebuilt = build_model(info["config"], info["mask_names"])
    finally:
        keras.config.set_dtype_policy(previous)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def levels(config):
    return len(config["filters"])


def input_multiple(info):
    return 2 ** levels(info["config"])

