#!/usr/bin/env python3
"""Keep regenerating a sample folder while training reads it (run it in a second console)."""

from segmenty import cli
from make_samples import add_generator_flags

# Defaults: the original's freshener, 3000 training samples every 2 minutes.
OUT = "training"
COUNT = 3000
INTERVAL = 120.0


def main(argv=None):
    p = cli.parser(__doc__, epilog="example: ./freshen_samples.py training 3000 --interval 120")
    p.add_argument("out", metavar="OUT", nargs="?", default=OUT, help="sample folder; the index is OUT.json")
    p.add_argument("count", metavar="COUNT", nargs="?", type=int, default=COUNT, help="samples per round")
    p.add_argument("--interval", type=float, default=INTERVAL, help="seconds to sleep between rounds")
    p.add_argument("--once", action="store_true", help="make one round and exit")
    add_generator_flags(p)
    args = p.parse_args(argv)
    from segmenty.samples import freshen
    freshen(args.out, args.count, args.interval, args.once, args.size, args.seed, args.workers, args.backgrounds,
            args.pattern, args.blank_prob, args.recipe, args.grace, log=lambda m: print(m, flush=True))


if __name__ == "__main__":
    cli.run(main)
