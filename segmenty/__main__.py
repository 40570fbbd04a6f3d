"""`python -m segmenty COMMAND ...`: the `segmenty` command, for an environment without it on PATH."""

import functools

from segmenty import cli
from segmenty.commands import main

if __name__ == "__main__":
    cli.run(functools.partial(main, prog="python -m segmenty"))
