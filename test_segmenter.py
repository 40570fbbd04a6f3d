#!/usr/bin/env python3
"""test_segmenter.py: the same command as `segmenty test` (segmenty/commands/test.py)."""

from segmenty import cli
from segmenty.commands.test import main

if __name__ == "__main__":
    cli.run(main)
