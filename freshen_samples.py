#!/usr/bin/env python3
"""freshen_samples.py: the same command as `segmenty freshen` (segmenty/commands/freshen.py)."""

from segmenty import cli
from segmenty.commands.freshen import main

if __name__ == "__main__":
    cli.run(main)
