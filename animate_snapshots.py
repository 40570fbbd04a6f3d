#!/usr/bin/env python3
"""animate_snapshots.py: the same command as `segmenty animate` (segmenty/commands/animate.py)."""

from segmenty import cli
from segmenty.commands.animate import main

if __name__ == "__main__":
    cli.run(main)
