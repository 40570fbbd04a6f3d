#!/usr/bin/env python3
"""make_samples.py: the same command as `segmenty samples` (segmenty/commands/samples.py)."""

from segmenty import cli
from segmenty.commands.samples import main

if __name__ == "__main__":
    cli.run(main)
