#!/usr/bin/env python3
"""make_patterns.py: the same command as `segmenty pattern` (segmenty/commands/pattern.py)."""

from segmenty import cli
from segmenty.commands.pattern import main

if __name__ == "__main__":
    cli.run(main)
