#!/usr/bin/env python3
"""Run a trained model on photos: masks at the photo's resolution, overlays, results.json, and scores with --truth."""

from segmenty import cli

# Defaults: the original's, up to 10 images on the CPU, so it runs beside training on the GPU.
LIMIT = 10
BATCH_SIZE = 8
DEVICE = "cpu"

EPILOG = """examples:
  ./test_segmenter.py /tmp/model.keras validation scratch                 # a sample folder: inputs only
  ./test_segmenter.py save.keras validation scratch --limit 0 --truth validation.json
  ./test_segmenter.py save.keras photos/ scratch --limit 0 --truth photos/gt.json
  ./test_segmenter.py save.keras holiday.jpg desk.png scratch"""


def main(argv=None):
    p = cli.parser(__doc__, epilog=EPILOG)
    p.add_argument("model", metavar="MODEL", help="a .keras file written by train_segmenter.py")
    p.add_argument("inputs", metavar="IN", nargs="+", help="a folder of photos, or photo files")
    p.add_argument("out", metavar="OUT", help="output folder")
    p.add_argument("--limit", type=cli.non_negative_int, default=LIMIT, help="at most this many photos; 0 for all")
    p.add_argument("--threshold", type=float, default=None,
                   help="probability above which a pixel is inside (default: the model's calibrated thresholds)")
    p.add_argument("--truth", metavar="GT", default=None,
                   help="score against a sample index (e.g. validation.json) or a gt.json of quads")
    p.add_argument("--batch-size", type=cli.positive_int, default=BATCH_SIZE, help="photos per forward pass")
    p.add_argument("--image-size", type=cli.positive_int, default=None,
                   help="run the model at this input size (default: the size it was trained at)")
    p.add_argument("--no-zoom", dest="zoom", action="store_false",
                   help="don't take a second, closer look at a pattern found small in the frame")
    p.add_argument("--no-flip", dest="flip", action="store_false",
                   help="one view per look, twice as fast (default: average it with the mirror image's)")
    p.add_argument("--no-snap", dest="snap", action="store_false",
                   help="keep the model's own full-pattern mask (default: redraw a found pattern as its fitted quad)")
    p.add_argument("--pattern", metavar="DIR", default=None,
                   help="check doubtful finds against this pattern folder's picture (default: the model's own)")
    p.add_argument("--no-likeness", dest="likeness", action="store_false",
                   help="don't check doubtful finds against the pattern's picture (default: check them)")
    p.add_argument("--device", default=DEVICE, choices=["cpu", "auto"], help="cpu, or auto to use a GPU if there is one")
    args = p.parse_args(argv)
    if args.device == "cpu":
        cli.hide_gpus()  # before Keras loads its backend
    cli.start_keras_quietly()
    from segmenty.infer import test_segmenter
    test_segmenter(args.model, args.inputs, args.out, args.limit, args.threshold, args.truth, args.batch_size,
                   args.image_size, zoom=args.zoom, flip=args.flip, snap=args.snap, pattern=args.pattern,
                   check_likeness=args.likeness)


if __name__ == "__main__":
    cli.run(main)
