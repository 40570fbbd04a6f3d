import numpy as np
import pytest

from segmenty import losses


def as_batch(*channels):
    """One sample, channels given as 2-D lists -> (1, H, W, C) float32."""
    return np.stack([np.asarray(c, np.float32) for c in channels], -1)[None]


def value(fn, y_true, y_pred):
    return float(np.asarray(fn(y_true, y_pred)))


def test_balanced_loss_hand_computed():
    y_true = as_batch([[1, 1], [0, 0]])
    y_pred = as_batch([[0.5, 1.0], [0.0, 0.2]])
    # inside: (0.25 + 0) / 2 = 0.125; outside: (0 + 0.04) / 2 = 0.02
    assert value(losses.balanced_loss, y_true, y_pred) == pytest.approx(0.5 * 0.125 + 0.5 * 0.02)


def test_balanced_loss_averages_channels_and_handles_empty_classes():
    y_true = as_batch([[1, 1], [1, 1]], [[0, 0], [0, 0]])  # channel 2 has no inside pixels
    y_pred = as_batch([[0, 0], [0, 0]], [[1, 1], [1, 1]])
    # channel 1: inside MSE 1, no outside (0 / max(0, 1)); channel 2: outside MSE 1, no inside
    assert value(losses.balanced_loss, y_true, y_pred) == pytest.approx(0.5)
    assert np.isfinite(value(losses.balanced_loss, np.zeros((1, 2, 2, 1)), np.zeros((1, 2, 2, 1))))


def test_balanced_is_not_plain_mse():
    y_true = as_batch([[1, 0, 0, 0], [0, 0, 0, 0]])
    y_pred = np.zeros_like(y_true)
    assert value(losses.balanced_loss, y_true, y_pred) == pytest.approx(0.5)  # the one inside pixel counts half
    assert value(losses.mse, y_true, y_pred) == pytest.approx(1 / 8)


def test_tpr_tnr_hand_computed():
    y_true = as_batch([[1, 1, 1, 0], [0, 0, 0, 0]])
    y_pred = as_batch([[0.9, 0.5, 0.1, 0.7], [0.2, 0.0, 0.49, 0.6]])
    assert value(losses.tpr, y_true, y_pred) == pytest.approx(2 / 3)  # 0.9 and 0.5 are >= 0.5
    assert value(losses.tnr, y_true, y_pred) == pytest.approx(3 / 5)  # 0.2, 0.0, 0.49 of 5 outside


def test_batch_pixels_pool_per_channel():
    y_true = np.concatenate([as_batch([[1, 0]]), as_batch([[1, 1]])])
    y_pred = np.concatenate([as_batch([[1, 0]]), as_batch([[0, 1]])])
    assert value(losses.tpr, y_true, y_pred) == pytest.approx(2 / 3)
