#!/usr/bin/env python3
"""fetch_backgrounds.py: the same command as `segmenty fetch` (segmenty/commands/fetch.py)."""

from segmenty import cli
from segmenty.commands.fetch import main

if __name__ == "__main__":
    cli.run(main)
