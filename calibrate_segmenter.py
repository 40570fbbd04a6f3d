#!/usr/bin/env python3
"""calibrate_segmenter.py: the same command as `segmenty calibrate` (segmenty/commands/calibrate.py)."""

from segmenty import cli
from segmenty.commands.calibrate import main

if __name__ == "__main__":
    cli.run(main)
