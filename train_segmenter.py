#!/usr/bin/env python3
"""Train the segmentation network on synthetic samples; runs until Ctrl-C, SIGTERM or --time-limit."""

from segmenty import cli

# Defaults: the original's (batch 25, Adam, root/save/checkpoint files), with Keras 3's .keras suffix.
TRAIN = "training.json"
VALIDATION = "validation.json"
BATCH_SIZE = 25
MODEL = "root.keras"
OUTPUT = "save.keras"
CHECKPOINT = "/tmp/model.keras"
LOG = "training.log"
WILD = "wild"
SNAPSHOTS = "snapshots"
LEARNING_RATE = 1e-3

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


def main(argv=None):
    p = cli.parser(__doc__, epilog=EPILOG)
    p.add_argument("--train", default=TRAIN, help="training sample index")
    p.add_argument("--validation", default=VALIDATION, help="validation sample index (skipped if missing)")
    p.add_argument("--preset", default=None, help="segmenty, lite or tiny (default: segmenty; a resumed model keeps its own)")
    p.add_argument("--image-size", type=int, default=None, help="model input size (default: the preset's)")
    p.add_argument("--batch-size", type=cli.positive_int, default=BATCH_SIZE, help="samples per step")
    p.add_argument("--epochs", type=cli.positive_int, default=None, help="epochs to train in this run (default: until stopped)")
    p.add_argument("--steps-per-epoch", type=cli.positive_int, default=None,
                   help="batches per epoch (default: samples // batch size; 3000 // batch size on the fly)")
    p.add_argument("--time-limit", type=float, metavar="MINUTES", default=None, help="stop and save after this long")
    p.add_argument("--learning-rate", type=float, default=LEARNING_RATE, help="Adam's learning rate")
    p.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine"],
                   help="cosine: fall to 1/50 by the end of --time-limit or --epochs")
    p.add_argument("--model", default=MODEL, help="start from this model if the file exists")
    p.add_argument("--output", default=OUTPUT, help="where the model is saved on exit")
    p.add_argument("--checkpoint", default=CHECKPOINT, help="written after every epoch")
    p.add_argument("--log", default=LOG, help="CSV of metrics per epoch (appended)")
    p.add_argument("--wild", default=WILD, help="folder of real photos to snapshot after every epoch")
    p.add_argument("--snapshots", default=SNAPSHOTS, help="where the wild snapshots go")
    p.add_argument("--on-the-fly", action="store_true", help="generate samples in memory instead of reading --train")
    p.add_argument("--pattern", default="pattern", help="pattern folder (mask names; --on-the-fly)")
    p.add_argument("--backgrounds", default="background", help="background folder (--on-the-fly)")
    p.add_argument("--recipe", default="segmenty", help="sample recipe for --on-the-fly: segmenty or robust")
    p.add_argument("--blank-prob", type=float, default=0.2, help="--on-the-fly share of samples without the pattern")
    p.add_argument("--sample-size", type=int, default=None, help="--on-the-fly sample size (default: the model's)")
    p.add_argument("--workers", type=cli.positive_int, default=None, help="data loading threads (default: 1 per 4 CPU cores; with a GPU, up to 8)")
    p.add_argument("--seed", type=int, default=None, help="shuffling / on-the-fly seed (default: random)")
    p.add_argument("--mixed-precision", default="auto", help="auto (bf16 on a GPU or on a CPU with AMX bf16 units, else float32), on (bf16) or off (float32)")
    p.add_argument("--distribute", action="store_true", help="use all visible GPUs (TensorFlow or JAX backend)")
    p.add_argument("--tensorboard", metavar="DIR", default=None, help="also write TensorBoard logs here")
    args = p.parse_args(argv)
    cli.start_keras_quietly()
    from segmenty.train import train
    train(train_index=args.train, validation_index=args.validation, preset=args.preset, image_size=args.image_size,
          batch_size=args.batch_size, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
          time_limit=args.time_limit, model_path=args.model, output=args.output, checkpoint=args.checkpoint,
          log=args.log, wild=args.wild, snapshots=args.snapshots, on_the_fly=args.on_the_fly, pattern=args.pattern,
          backgrounds=args.backgrounds, workers=args.workers, seed=args.seed, mixed_precision=args.mixed_precision,
          distribute=args.distribute, tensorboard=args.tensorboard, learning_rate=args.learning_rate,
          lr_schedule=args.lr_schedule, recipe=args.recipe, sample_size=args.sample_size, blank_prob=args.blank_prob)

if __name__ == "__main__":
    cli.run(main)
