"""Small shared fixtures' builders: a pattern folder and offline backgrounds."""

import os

from segmenty.backgrounds import fetch_backgrounds
from segmenty.patterns import make_patterns


def make_workspace(root, n_backgrounds=12, preset="segmenty"):
    """root/pattern and root/background (synthetic); returns root as str."""
    root = str(root)
    make_patterns(os.path.join(root, "pattern"), preset)
    import contextlib
    import io
    with contextlib.redirect_stderr(io.StringIO()):
        fetch_backgrounds(out=os.path.join(root, "background"), synthetic=n_backgrounds, seed=3)
    return root
