#!/usr/bin/env python3
"""Fill background/ with ordinary photos: searched (Openverse, Wikimedia Commons), listed, imported or made offline."""

from segmenty import cli

# Defaults: 200 images for each of the original's search terms, from Openverse's public API.
COUNT = 200
OUT = "background"
SOURCE = "openverse"
SEED = 0
WORKERS = 8
TIMEOUT = 15.0
MAX_SIDE = 1024

EPILOG = """examples:
  ./fetch_backgrounds.py                      # the 20 default terms, 200 images each (online)
  ./fetch_backgrounds.py "city street" --count 50 --source wikimedia
  ./fetch_backgrounds.py --from-dir ~/Pictures # import your own photos, recursively
  ./fetch_backgrounds.py --synthetic 200       # offline procedural backgrounds"""


def main(argv=None):
    p = cli.parser(__doc__, epilog=EPILOG)
    p.add_argument("terms", nargs="*", metavar="TERM", help="search terms (default: the original's 20 terms)")
    p.add_argument("--count", type=int, default=COUNT, help="images to keep per term")
    p.add_argument("--out", default=OUT, help="background folder")
    p.add_argument("--source", default=SOURCE, help="openverse or wikimedia")
    p.add_argument("--api-url", default=None, help="override the source's base URL (default: its public API)")
    p.add_argument("--urls", metavar="FILE", default=None, help="download the URLs listed in FILE, one per line")
    p.add_argument("--from-dir", metavar="DIR", default=None, help="import the photos under DIR, recursively")
    p.add_argument("--synthetic", metavar="N", type=int, default=None, help="make N procedural backgrounds, offline")
    p.add_argument("--seed", type=int, default=SEED, help="seed for --synthetic")
    p.add_argument("--workers", type=cli.positive_int, default=WORKERS, help="parallel downloads")
    p.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds to wait on each request")
    p.add_argument("--max-side", type=cli.positive_int, default=MAX_SIDE, help="long side of kept JPEGs")
    args = p.parse_args(argv)
    from segmenty.backgrounds import fetch_backgrounds
    store = fetch_backgrounds(args.terms, args.count, args.out, args.source, args.api_url, args.urls,
                              args.from_dir, args.synthetic, args.seed, args.workers, args.timeout, args.max_side)
    print(store.summary())


if __name__ == "__main__":
    cli.run(main)
