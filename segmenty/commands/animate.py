"""Make an animated GIF of one wild photo's outputs, one frame per training epoch."""

from segmenty import cli

# Defaults: the original's animate.sh: photo 0, 0.5 s a frame, looping.
INDEX = 0
SNAPSHOTS = "snapshots"

EPILOG = "example: ./animate_snapshots.py 0 --snapshots snapshots --out progress.gif"


def main(argv=None, prog=None):
    """`segmenty animate`, and animate_snapshots.py: argv and prog as segmenty.commands describes."""
    p = cli.parser(__doc__, epilog=EPILOG, prog=prog)
    p.add_argument("index", metavar="INDEX", nargs="?", type=int, default=INDEX, help="the wild photo's number")
    p.add_argument("--snapshots", default=SNAPSHOTS, help="folder written by train_segmenter.py --wild")
    p.add_argument("--out", default=None, help="the GIF (default: animation_INDEX.gif, INDEX as 6 digits)")
    p.add_argument("--height", type=cli.positive_int, default=None, help="frame height in px (default: as snapshots)")
    args = p.parse_args(argv)
    from segmenty.animate import animate
    out, n = animate(args.index, args.snapshots, args.out, args.height)
    print(f"wrote {out}: {n} frames, one per epoch")

