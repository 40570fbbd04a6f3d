"""Train the segmentation network on synthetic samples; runs until Ctrl-C, SIGTERM or --time-limit."""

from segmenty import cli

# The flags and their defaults: segmenty.train.TrainConfig.

# Checked against segmenty.model.describe() by the tests.
PRESET_SIZES = {
    "segmenty": "6,480,196 parameters, 75.5 GFLOPs at 256x256",
    "lite": "738,418 parameters, 0.21 GFLOPs at 128x128",
    "tiny": "31,304 parameters, 0.01 GFLOPs at 32x32",
}

EPILOG = f"""presets (with 4 masks):
  segmenty  the original's hourglass: {PRESET_SIZES['segmenty']} (GPU)
  lite      same family, fewer filters: {PRESET_SIZES['lite']} (CPU)
  tiny      for smoke tests only: {PRESET_SIZES['tiny']}

examples:
  ./train_segmenter.py                                     # the original: training.json, until Ctrl-C
  ./freshen_samples.py &                                   # ... with fresh samples every 2 minutes
  ./train_segmenter.py --preset lite --time-limit 30       # a CPU run
  ./train_segmenter.py --on-the-fly --preset lite --recipe robust --time-limit 30
  KERAS_BACKEND=jax ./train_segmenter.py --mixed-precision on --batch-size 64   # a GPU run"""


def main(argv=None, prog=None):
    """`segmenty train`, and train_segmenter.py: argv and prog as segmenty.commands describes."""
    cli.start_keras_quietly()  # segmenty.train imports Keras: its start-up lines would bury --help
    from segmenty.train import TrainConfig, train
    p = cli.parser(__doc__, epilog=EPILOG, prog=prog)
    cli.add_config_flags(p, TrainConfig, skip=TrainConfig.PYTHON_ONLY)
    train(TrainConfig(**vars(p.parse_args(argv))))

