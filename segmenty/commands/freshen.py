"""Keep regenerating a sample folder while training reads it (run it in a second console)."""

import dataclasses

from segmenty import cli
from segmenty.samples import FreshenConfig, freshen


def main(argv=None, prog=None):
    """`segmenty freshen`, and freshen_samples.py: argv and prog as segmenty.commands describes."""
    p = cli.parser(__doc__, epilog="example: ./freshen_samples.py training 3000 --interval 120", prog=prog)
    fields = {f.name: f for f in dataclasses.fields(FreshenConfig)}  # defaults and help: segmenty/samples.py
    for name, kind in (("out", str), ("count", int)):
        p.add_argument(name, metavar=name.upper(), nargs="?", type=kind, default=fields[name].default,
                       help=fields[name].metadata["help"])
    names = cli.add_config_flags(p, FreshenConfig, skip=("out", "count"))
    args = p.parse_args(argv)
    freshen(args.out, args.count, **{name: getattr(args, name) for name in names},
            log=lambda m: print(m, flush=True))

