#!/usr/bin/env python3
"""train_segmenter.py: the same command as `segmenty train` (segmenty/commands/train.py)."""

from segmenty import cli
from segmenty.commands.train import main

if __name__ == "__main__":
    cli.run(main)
