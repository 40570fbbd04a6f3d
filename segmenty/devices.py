"""Where training and inference run: the GPUs a backend sees, the precision policy, and several devices at once."""

import contextlib
import os

import keras

from segmenty.errors import InvalidArgument, SegmentyError


def gpu_count():
    """GPUs visible to the current Keras backend (0 on a CPU machine)."""
    backend = keras.config.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf  # optional path: only with the TensorFlow backend
            return len(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax
            return sum(d.platform == "gpu" for d in jax.devices())
        if backend == "torch":
            import torch
            return torch.cuda.device_count()
    except Exception:
        return 0
    return 0


def cpu_has_amx_bf16(cpuinfo="/proc/cpuinfo"):
    """True where TensorFlow's oneDNN runs bf16 on AMX units (Linux x86 CPUs since Sapphire Rapids)."""
    if keras.config.backend() != "tensorflow" or os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0":
        return False  # XLA on a CPU (jax) and torch emulate bf16: slower than float32
    try:
        with open(cpuinfo) as f:
            return any(line.startswith("flags") and " amx_bf16" in line for line in f)
    except OSError:
        return False


def set_precision(mode):
    """'auto' -> bf16 on a GPU, or on a CPU with AMX bf16 units; float32 otherwise.

    On this project's 2-core AMX CPU bf16 trains lite 2x and segmenty 3x faster in a third less
    memory (docs/benchmarks.md); elsewhere a CPU emulates bf16, so auto keeps float32 there.
    """
    if mode not in ("auto", "on", "off"):
        raise InvalidArgument("mixed_precision", mode, "one of auto, on, off")
    use = mode == "on" or (mode == "auto" and (gpu_count() > 0 or cpu_has_amx_bf16()))
    policy = "mixed_bfloat16" if use else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


class Distribution:
    """Training on several devices at once (`distribute`).

    tf.distribute.MirroredStrategy under TensorFlow, keras.distribution.DataParallel under JAX;
    `devices` is how many take part (1 when not enabled).
    """

    def __init__(self, enabled):
        self.enabled, self.strategy, self.devices = enabled, None, 1
        if not enabled:
            return
        backend = keras.config.backend()
        if backend == "tensorflow":
            import tensorflow as tf  # optional path
            devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
            self.strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
            self.devices = self.strategy.num_replicas_in_sync
        elif backend == "jax":
            self.devices = len(keras.distribution.list_devices())
            keras.distribution.set_distribution(keras.distribution.DataParallel())
        else:
            raise SegmentyError(f"`distribute` supports the tensorflow and jax backends; received KERAS_BACKEND={backend}")

    def scope(self):
        """Where the model is built or loaded: the strategy's scope, or no scope at all."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()
