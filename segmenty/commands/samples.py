"""Generate synthetic training samples: the pattern on random backgrounds, with its masks."""

from segmenty import cli
from segmenty.samples import MakeSamplesConfig, make_samples

EPILOG = """examples:
  ./make_samples.py validation 200
  ./make_samples.py training 3000 --preview preview.png
  ./make_samples.py training 4000 --recipe robust --size 128   # for real photos"""


def main(argv=None, prog=None):
    """`segmenty samples`, and make_samples.py: argv and prog as segmenty.commands describes."""
    p = cli.parser(__doc__, epilog=EPILOG, prog=prog)
    p.add_argument("out", metavar="OUT", help="sample folder; the index is written to OUT.json")
    p.add_argument("count", metavar="COUNT", type=int, help="number of samples")
    names = cli.add_config_flags(p, MakeSamplesConfig)  # defaults and help: segmenty/samples.py
    args = p.parse_args(argv)
    make_samples(args.out, args.count, **{name: getattr(args, name) for name in names})

