#!/usr/bin/env python3
"""Generate synthetic training samples: the pattern on random backgrounds, with its masks."""

from segmenty import cli

# Defaults: the original's 256 x 256 samples, 20% of them without the pattern.
SIZE = 256
BLANK_PROB = 0.2
BACKGROUNDS = "background"
PATTERN = "pattern"
RECIPE = "segmenty"
GRACE = 300

EPILOG = """examples:
  ./make_samples.py validation 200
  ./make_samples.py training 3000 --preview preview.png
  ./make_samples.py training 4000 --recipe robust --size 128   # for real photos"""


def add_generator_flags(p):
    """Flags shared with freshen_samples.py."""
    p.add_argument("--size", type=int, default=SIZE, help="sample width = height in pixels (>= 32)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one, printed)")
    p.add_argument("--workers", type=cli.positive_int, default=None, help="processes (default: number of CPUs)")
    p.add_argument("--backgrounds", default=BACKGROUNDS, help="background folder (photos in its subfolders)")
    p.add_argument("--pattern", default=PATTERN, help="pattern folder with pattern.json")
    p.add_argument("--blank-prob", type=float, default=BLANK_PROB, help="share of samples without the pattern")
    p.add_argument("--recipe", default=RECIPE, help="segmenty (the original's steps) or robust (for real photos)")
    p.add_argument("--grace", type=float, default=GRACE,
                   help="seconds before files of a replaced round may be deleted")


def main(argv=None):
    p = cli.parser(__doc__, epilog=EPILOG)
    p.add_argument("out", metavar="OUT", help="sample folder; the index is written to OUT.json")
    p.add_argument("count", metavar="COUNT", type=int, help="number of samples")
    add_generator_flags(p)
    p.add_argument("--preview", metavar="FILE.png", default=None, help="contact sheet of the first 8 samples")
    args = p.parse_args(argv)
    from segmenty.samples import make_samples
    make_samples(args.out, args.count, args.size, args.seed, args.workers, args.backgrounds, args.pattern,
                 args.blank_prob, args.preview, args.recipe, args.grace)


if __name__ == "__main__":
    cli.run(main)
