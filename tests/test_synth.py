import sys

import numpy as np
import pytest

from segmenty import recipes, samples, synth
from segmenty.errors import InvalidArgument
from tests.helpers import make_workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("ws"), n_backgrounds=3)


def test_recipes_are_found_by_name_the_original_first():
    assert recipes.names() == ["segmenty", "robust"]
    assert recipes.get("robust").__name__ == "segmenty.recipes.robust"


@pytest.mark.parametrize("name", ["fancy", "_private", None])
def test_an_unknown_recipe_names_the_registered_ones(name):
    with pytest.raises(InvalidArgument, match=r"^Invalid value for `recipe`\. .* Expected one of segmenty, robust\.$"):
        recipes.get(name)


def test_context_lets_its_recipe_prepare(ws):
    plain = samples.make_context(f"{ws}/background", f"{ws}/pattern", size=32)
    robust = samples.make_context(f"{ws}/background", f"{ws}/pattern", size=32, recipe="robust")
    assert not hasattr(plain, "pattern_fine") and robust.pattern_fine.shape == (64, 64, 3)
    assert plain.pattern.shape == (32, 32, 3) and plain.masks.shape == (32, 32, 4)


NEW_RECIPE = '''
import numpy as np


def sample_params(rng, ctx):
    return {"level": int(rng.integers(256))}


def render(params, ctx):
    image = np.full((ctx.size, ctx.size, 3), params["level"], np.uint8)
    return image, np.zeros((ctx.size, ctx.size, len(ctx.mask_names)), np.uint8), None
'''


def test_a_new_recipe_is_one_file(ws, tmp_path, monkeypatch):
    (tmp_path / "flat.py").write_text(NEW_RECIPE)
    monkeypatch.setattr(recipes, "__path__", [*recipes.__path__, str(tmp_path)])
    recipes._registry.cache_clear()
    try:
        assert "flat" in recipes.names()
        ctx = samples.make_context(f"{ws}/background", f"{ws}/pattern", size=32, recipe="flat")
        image, masks, pts, params = synth.generate(np.random.default_rng(0), ctx)
        assert (image == params["level"]).all() and masks.shape == (32, 32, 4) and pts is None
    finally:
        recipes._registry.cache_clear()
        sys.modules.pop("segmenty.recipes.flat", None)


@pytest.mark.parametrize("recipe", ["segmenty", "robust"])
def test_generate_is_sample_params_then_render(ws, recipe):
    ctx = samples.make_context(f"{ws}/background", f"{ws}/pattern", size=32, blank_prob=0, recipe=recipe)
    image, masks, pts, params = synth.generate(np.random.default_rng(3), ctx)
    again = synth.render(synth.sample_params(np.random.default_rng(3), ctx), ctx)
    for a, b in zip((image, masks, pts), again):
        np.testing.assert_array_equal(a, b)
    assert pts.shape == (5, 2) and masks.any()
