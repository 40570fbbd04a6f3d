"""Draw the printed pattern and its masks into a pattern folder, and a PDF to print it at a known size."""

from segmenty import cli
from segmenty.patterns import PatternConfig, make_patterns

EPILOG = """examples:
  ./make_patterns.py                                          # the original's pattern of circles
  ./make_patterns.py --preset chessboard --cols 10 --rows 7 --paper a4
  ./make_patterns.py --preset charuco --cols 5 --rows 7 --dictionary DICT_4X4_50 --marker-ratio 0.7
  ./make_patterns.py --preset circles --cols 4 --rows 11 --asymmetric
  ./make_patterns.py --preset aruco --marker-id 7 --paper letter --width-mm 100
  ./make_patterns.py --from-image my_logo.png --out my_pattern"""


def main(argv=None, prog=None):
    """`segmenty pattern`, and make_patterns.py: argv and prog as segmenty.commands describes."""
    p = cli.parser(__doc__, epilog=EPILOG, prog=prog)
    names = cli.add_config_flags(p, PatternConfig)  # defaults and help: segmenty/patterns.py
    args = p.parse_args(argv)
    meta = make_patterns(**{name: getattr(args, name) for name in names})
    print(f"wrote {args.out}/: full + masks {', '.join(meta['masks'])}, {len(meta.get('points', []))} named points")
    if "size_mm" in meta:
        w, h = meta["size_mm"]
        pdf = f"; print {args.out}/pattern.pdf at 100% (actual size)" if args.paper else ""
        print(f"pattern area {w:g} x {h:g} mm as printed{pdf}")

