#!/usr/bin/env python3
"""Draw the printed pattern and its masks into a pattern folder."""

from segmenty import cli

# Defaults: the original's pattern; the chessboard of the real-photo tests is 10 x 7 squares.
OUT = "pattern"
PRESET = "segmenty"
COLS, ROWS = 10, 7


def main(argv=None):
    p = cli.parser(__doc__, epilog="Example: ./make_patterns.py --preset chessboard --cols 10 --rows 7")
    p.add_argument("--out", default=OUT, help="pattern folder to (re)create")
    p.add_argument("--preset", default=PRESET, help="segmenty (the original's circles) or chessboard")
    p.add_argument("--cols", type=int, default=COLS, help="chessboard: squares across")
    p.add_argument("--rows", type=int, default=ROWS, help="chessboard: squares down")
    p.add_argument("--from-image", metavar="IMAGE", default=None,
                   help="use your own image as the pattern, with one mask covering the whole page")
    args = p.parse_args(argv)
    from segmenty.patterns import make_patterns
    meta = make_patterns(args.out, args.preset, args.cols, args.rows, args.from_image)
    print(f"wrote {args.out}/: full + masks {', '.join(meta['masks'])}")


if __name__ == "__main__":
    cli.run(main)
