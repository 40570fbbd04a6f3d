"""Fill background/ with ordinary photos: searched (Openverse, Wikimedia Commons), listed, imported or made offline."""

import dataclasses

from segmenty import cli
from segmenty.backgrounds import BackgroundConfig, fetch_backgrounds

EPILOG = """examples:
  ./fetch_backgrounds.py                      # the 20 default terms, 200 images each (online)
  ./fetch_backgrounds.py "city street" --count 50 --source wikimedia
  ./fetch_backgrounds.py --from-dir ~/Pictures # import your own photos, recursively
  ./fetch_backgrounds.py --synthetic 200       # offline procedural backgrounds"""


def main(argv=None, prog=None):
    """`segmenty fetch`, and fetch_backgrounds.py: argv and prog as segmenty.commands describes."""
    p = cli.parser(__doc__, epilog=EPILOG, prog=prog)
    terms = next(f for f in dataclasses.fields(BackgroundConfig) if f.name == "terms")  # defaults and help: the library's
    p.add_argument("terms", nargs="*", metavar="TERM", default=terms.default, help=terms.metadata["help"])
    names = cli.add_config_flags(p, BackgroundConfig, skip=("terms",))
    args = p.parse_args(argv)
    store = fetch_backgrounds(args.terms, **{name: getattr(args, name) for name in names})
    print(store.summary())

