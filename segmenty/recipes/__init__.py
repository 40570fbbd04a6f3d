"""Sample recipes, each one module of this package, registered by its file name.

A recipe module provides:

    sample_params(rng, ctx) -> dict      every random number of one sample, drawn from rng
    render(params, ctx) -> (image, masks, pts)   the same sample, deterministically
    prepare(ctx, full)                   optional: precompute from the full-resolution page,
                                         once per synth.Context

`ctx` is a synth.Context; image, masks and pts follow synth.py's conventions. Recipes build
on segmenty/transforms.py. A new recipe is one new file here; names starting with "_" are
not recipes.
"""

import functools
import importlib
import pkgutil

from segmenty.errors import InvalidArgument

DEFAULT = "segmenty"  # the original's eleven steps


@functools.cache
def _registry():
    return {m.name: importlib.import_module(f"{__name__}.{m.name}")
            for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}


def names():
    """The registered recipe names, the original's first: list of str."""
    return sorted(_registry(), key=lambda name: (name != DEFAULT, name))


def get(name):
    """The recipe module registered as `name`.

    Raises:
        InvalidArgument: if no recipe has that name.
    """
    registry = _registry()
    if not isinstance(name, str) or name not in registry:
        raise InvalidArgument("recipe", name, f"one of {', '.join(names())}")
    return registry[name]
