"""Measure a trained model's find decision again (train_segmenter.py does it when training ends):
on synthetic samples of its pattern and on board-free photos, never on photos of the pattern."""

from segmenty import cli

EPILOG = """examples:
  ./calibrate_segmenter.py save.keras                                  # pattern/ and background/
  ./calibrate_segmenter.py old.keras --pattern my_pattern --backgrounds ~/board_free_photos
A model trained before it carried a page or a decision gets both, and then poses and decides
as a new one does."""


def main(argv=None, prog=None):
    """`segmenty calibrate`, and calibrate_segmenter.py: argv and prog as segmenty.commands describes."""
    cli.hide_gpus()
    cli.start_keras_quietly()  # segmenty.calibrate imports Keras: its start-up lines would bury --help
    from segmenty.calibrate import (CALIBRATION_COUNT, DRAWS, describe, describe_draws, describe_trades, print_draw,
                                    update)
    p = cli.parser(__doc__, epilog=EPILOG, prog=prog)
    p.add_argument("path", metavar="MODEL", help="a .keras file written by train_segmenter.py (rewritten in place)")
    p.add_argument("--pattern", default="pattern", help="the pattern folder the model was trained on")
    p.add_argument("--backgrounds", default="background",
                   help="a background folder (photos in its subfolders) without the pattern")
    p.add_argument("--count", type=cli.positive_int, default=CALIBRATION_COUNT,
                   help="synthetic samples with the pattern, and as many without, in each draw")
    p.add_argument("--draws", type=cli.positive_int, default=DRAWS,
                   help="independent draws of samples and photos; each threshold is their median")
    p.add_argument("--seed", type=int, default=0, help="for the samples")
    p.add_argument("--workers", type=cli.non_negative_int, default=None,
                   help="processes that pose and decide the samples side by side (default: one per core, up to 8; "
                        "0: in this one)")
    args = p.parse_args(argv)
    if args.workers is None:
        from segmenty.segmenter import default_workers
        args.workers = default_workers()
    decision = update(**vars(args), progress=print_draw)
    if decision is None:
        print(f"no synthetic sample was posed right: {args.path} decides from its masks (train it longer)")
    else:
        print(f"{args.path}: a find needs {describe(decision)}; {decision['true_finds']} true finds, "
              f"{decision['false_finds']} false of {decision['false_candidates']} candidates on synthetic samples "
              f"and board-free photos; {describe_draws(decision)}")
        print(describe_trades(decision))

