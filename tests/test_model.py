import keras
import numpy as np
import pytest

from segmenty import model as models


def test_preset_sizes():
    model = models.build_model(models.preset_config("segmenty"), ["a", "b", "c", "d"])
    assert model.count_params() == 6_480_196
    # docs/original.md, "Model": 75.6 measured; the port's multiply-add count gives 75.5.
    assert 75e9 < models.count_flops(models.preset_config("segmenty"), 4) < 76e9
    lite = models.build_model(models.preset_config("lite"), ["a", "b", "c", "d"])
    assert 300_000 <= lite.count_params() <= 1_000_000
    from segmenty.commands.train import PRESET_SIZES
    for preset, text in PRESET_SIZES.items():
        assert models.describe(preset) == text


def test_skip_conv_is_concat_then_conv_in_less_memory(tmp_path):
    keras.utils.set_random_seed(0)
    config = models.preset_config("tiny")
    joined = models.build_model(config, ["a", "b"])
    split = models.build_model({**config, "skip_conv": True}, ["a", "b"])
    assert [w.shape for w in split.get_weights()] == [w.shape for w in joined.get_weights()]
    split.set_weights(joined.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    expected = joined.predict(x, verbose=0)
    # Two convolutions sum in another order than one: float32 rounding, ~1e-5 after 10 layers.
    np.testing.assert_allclose(split.predict(x, verbose=0), expected, atol=1e-4)
    split.save(tmp_path / "split.keras")
    loaded = keras.models.load_model(tmp_path / "split.keras")  # plain load: the layer is registered
    assert any(isinstance(layer, models.SkipConv2D) for layer in loaded.layers)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-4)


@pytest.mark.parametrize("size, channels_in, channels_out, activation", [((8, 8), 3, 5, None), ((5, 7), 4, 2, "relu")])
def test_subpixel_deconv_is_conv2d_transpose(size, channels_in, channels_out, activation):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *size, channels_in)).astype(np.float32)
    reference = keras.layers.Conv2DTranspose(channels_out, 3, strides=2, padding="same", activation=activation)
    subpixel = models.SubPixelConv2DTranspose(channels_out, 3, strides=2, padding="same", activation=activation)
    reference.build(x.shape)
    subpixel.build(x.shape)
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in reference.get_weights()]
    reference.set_weights(weights)
    subpixel.set_weights(weights)  # the same kernel layout: a .keras file of either loads into the other
    np.testing.assert_allclose(keras.ops.convert_to_numpy(subpixel(x)), keras.ops.convert_to_numpy(reference(x)), atol=1e-5)
    # The parity split is the only thing that differs: a kernel flipped in one axis must not match.
    flipped = models.SubPixelConv2DTranspose(channels_out, 3, strides=2, padding="same", activation=activation)
    flipped.build(x.shape)
    flipped.set_weights([weights[0][::-1].copy(), weights[1]])
    assert np.abs(keras.ops.convert_to_numpy(flipped(x)) - keras.ops.convert_to_numpy(reference(x))).max() > 1e-2


def test_subpixel_deconv_falls_back_for_other_shapes():
    x = np.random.default_rng(1).standard_normal((1, 6, 6, 2)).astype(np.float32)
    reference = keras.layers.Conv2DTranspose(3, 4, strides=2, padding="valid")
    other = models.SubPixelConv2DTranspose(3, 4, strides=2, padding="valid")
    reference.build(x.shape)
    other.build(x.shape)
    other.set_weights(reference.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(other(x)), keras.ops.convert_to_numpy(reference(x)), atol=1e-5)


def test_fully_convolutional():
    model = models.build_model(models.preset_config("tiny"), ["a"])
    assert model.predict(np.zeros((1, 64, 96, 3), np.float32), verbose=0).shape == (1, 64, 96, 1)



def test_with_policy_runs_a_bf16_model_in_float32_with_its_weights():
    import keras
    from segmenty import model as models
    config, names = models.preset_config("tiny"), ["a", "b"]
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        trained = models.build_model(config, names)
    finally:
        keras.config.set_dtype_policy("float32")
    info = {"config": config, "mask_names": names}
    plain = models.with_policy(trained, info, "float32")
    assert plain is not trained and {layer.dtype_policy.name for layer in plain.layers[1:]} == {"float32"}
    for a, b in zip(plain.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    # Back in bf16 it is the trained model again, exactly; in float32 it is close everywhere but
    # where bf16 rounding flips a pixel of an untrained net.
    again = models.with_policy(plain, info, "mixed_bfloat16")
    np.testing.assert_array_equal(np.asarray(again(x), np.float32), np.asarray(trained(x), np.float32))
    assert np.abs(np.asarray(plain(x)) - np.asarray(trained(x), np.float32)).mean() < 0.02
    assert models.with_policy(plain, info, "float32") is plain  # nothing to change: no rebuild
