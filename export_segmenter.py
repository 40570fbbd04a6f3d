#!/usr/bin/env python3
"""export_segmenter.py: the same command as `segmenty export` (segmenty/commands/export.py)."""

from segmenty import cli
from segmenty.commands.export import main

if __name__ == "__main__":
    cli.run(main)
