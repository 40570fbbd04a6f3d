"""The original's balanced loss and its tpr / tnr metrics, in keras.ops (any backend).

All three reduce over the batch and the pixels of each mask channel, then average the
channels. Targets > 0.5 are "inside", targets < 0.5 "outside" (masks are 0..1 here).
"""

import keras
from keras import ops

_AXES = (0, 1, 2)  # batch, height, width: one value per mask channel


def _prepare(y_true, y_pred):
    y_true = ops.cast(ops.convert_to_tensor(y_true), "float32")
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    return y_true, y_pred, ops.cast(y_true > 0.5, "float32"), ops.cast(y_true < 0.5, "float32")


def _share(weights, values):
    # Denominators are at least 1, so an empty class contributes 0, never NaN.
    return ops.sum(weights * values, axis=_AXES) / ops.maximum(ops.sum(weights, axis=_AXES), 1.0)


@keras.saving.register_keras_serializable(package="segmenty")
def balanced_loss(y_true, y_pred):
    """0.5 * MSE over inside pixels + 0.5 * MSE over outside pixels, per channel, averaged.

    Args:
        y_true: tensor (batch, height, width, masks), targets in [0, 1].
        y_pred: tensor of the same shape, predictions in [0, 1].

    Returns:
        scalar tensor.
    """
    y_true, y_pred, inside, outside = _prepare(y_true, y_pred)
    error = ops.square(y_true - y_pred)
    return ops.mean(0.5 * _share(inside, error) + 0.5 * _share(outside, error))


@keras.saving.register_keras_serializable(package="segmenty")
def tpr(y_true, y_pred):
    """True-positive rate: the share of inside pixels predicted >= 0.5 (channel average)."""
    y_true, y_pred, inside, _ = _prepare(y_true, y_pred)
    return ops.mean(_share(inside, ops.cast(y_pred >= 0.5, "float32")))


@keras.saving.register_keras_serializable(package="segmenty")
def tnr(y_true, y_pred):
    """True-negative rate: the share of outside pixels predicted < 0.5 (channel average)."""
    y_true, y_pred, _, outside = _prepare(y_true, y_pred)
    return ops.mean(_share(outside, ops.cast(y_pred < 0.5, "float32")))


@keras.saving.register_keras_serializable(package="segmenty")
def mse(y_true, y_pred):
    """Plain mean squared error over every pixel and channel."""
    y_true, y_pred, _, _ = _prepare(y_true, y_pred)
    return ops.mean(ops.square(y_true - y_pred))
