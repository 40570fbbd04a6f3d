"""Find the pattern in photos, a video or a camera: masks, overlays, results.json (photos), an annotated
video and one JSON line per frame (video, camera), and scores with --truth."""

from segmenty import cli

# Defaults: the original's, up to 10 images on the CPU, so it runs beside training on the GPU.
LIMIT = 10
BATCH_SIZE = 8
DEVICE = "cpu"

EPILOG = """examples:
  ./test_segmenter.py /tmp/model.keras validation scratch                 # a sample folder: inputs only
  ./test_segmenter.py save.keras validation scratch --limit 0 --truth validation.json
  ./test_segmenter.py save.keras photos/ scratch --limit 0 --truth photos/gt.json
  ./test_segmenter.py save.keras holiday.jpg desk.png scratch
  ./test_segmenter.py save.keras clip.mp4 scratch                         # scratch/clip_annotated.mp4, clip.jsonl
  ./test_segmenter.py save.keras scratch --camera 0                       # live; Ctrl-C ends it"""


def main(argv=None, prog=None):
    """`segmenty test`, and test_segmenter.py: argv and prog as segmenty.commands describes."""
    p = cli.parser(__doc__, epilog=EPILOG, prog=prog)
    p.add_argument("model", metavar="MODEL",
                   help="a .keras file written by train_segmenter.py, or an .onnx one from export_segmenter.py")
    p.add_argument("inputs", metavar="IN", nargs="*", help="a folder of photos, photo files, or one video")
    p.add_argument("out", metavar="OUT", help="output folder")
    p.add_argument("--limit", type=cli.non_negative_int, default=None,
                   help=f"at most this many photos or frames; 0 for all (default: {LIMIT} photos, every frame)")
    p.add_argument("--threshold", type=float, default=None,
                   help="probability above which a pixel is inside (default: the model's calibrated thresholds)")
    p.add_argument("--min-score", type=float, default=None,
                   help="the score a find needs (default: 0.5, the model's calibrated threshold): higher for fewer "
                        "false finds, lower for more finds of covered, dark or blurred patterns")
    p.add_argument("--truth", metavar="GT", default=None,
                   help="score against a sample index (e.g. validation.json) or a gt.json of quads")
    p.add_argument("--batch-size", type=cli.positive_int, default=BATCH_SIZE,
                   help="photos, or a video's frames with --no-track, per forward pass")
    p.add_argument("--image-size", type=cli.positive_int, default=None,
                   help="run the model at this input size (default: the size it was trained at)")
    p.add_argument("--no-zoom", dest="zoom", action="store_false",
                   help="don't take a second, closer look at a pattern found small in the frame")
    p.add_argument("--no-flip", dest="flip", action="store_false",
                   help="one view per look, twice as fast (default: average it with the mirror image's)")
    p.add_argument("--no-snap", dest="snap", action="store_false",
                   help="keep the model's own full-pattern mask (default: redraw a found pattern as its fitted quad)")
    p.add_argument("--pattern", metavar="DIR", default=None,
                   help="pose and check finds against this pattern folder (default: the page the model carries)")
    p.add_argument("--no-likeness", dest="likeness", action="store_false",
                   help="models trained before the pose: don't check doubtful finds against the pattern's "
                        "picture (default: check them)")
    p.add_argument("--intrinsics", metavar="K.json", default=None,
                   help="the camera's matrix and distortion (OpenCV's), for each find's camera_pose in mm")
    p.add_argument("--camera", metavar="N", type=cli.non_negative_int, default=None,
                   help="read camera N (0 is the first) instead of files, until Ctrl-C")
    p.add_argument("--no-track", dest="track", action="store_false",
                   help="video: look at every whole frame (default: first around where the last frame's find was)")
    p.add_argument("--every", type=cli.positive_int, default=30,
                   help="video, tracking: a whole look at least every this many frames")
    p.add_argument("--no-show", dest="show", action="store_const", const=False, default=None,
                   help="video: no live window (default: one where a display exists)")
    p.add_argument("--max-pixels", type=cli.positive_int, default=50_000_000,
                   help="refuse larger photos before decoding them (memory stays bounded)")
    p.add_argument("--workers", type=cli.non_negative_int, default=None,
                   help="processes that pose and decide photos, and a video's frames with --no-track, side by side "
                        "(default: one per core, up to 8; 0: in this one)")
    p.add_argument("--device", default=DEVICE, choices=["cpu", "auto"], help="cpu, or auto to use a GPU if there is one")
    args = p.parse_args(argv)
    device = args.__dict__.pop("device")
    if device == "cpu":
        cli.hide_gpus()  # before Keras loads its backend
    cli.start_keras_quietly()
    from segmenty.outputs import test_segmenter
    from segmenty.segmenter import default_workers
    if args.workers is None:
        args.workers = default_workers()
    test_segmenter(**vars(args))

