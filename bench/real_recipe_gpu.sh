#!/usr/bin/env bash
# The README's GPU recipe for finding a printed pattern in real photos (default: a 10x7
# chessboard): the segmenty preset.
#
#   bench/real_recipe_gpu.sh BACKGROUNDS WORKDIR MINUTES [PATTERN_DIR [SAMPLES]]
#
# Like bench/real_recipe.sh, but samples are made on disk first (processes keep a GPU fed;
# on-the-fly threads don't), then the original's hourglass trains on them at 256 x 256.
# PATTERN_DIR '' keeps the chessboard; SAMPLES defaults to 40000.
# Set KERAS_BACKEND=jax (or torch) where TensorFlow has no GPU. Leaves WORKDIR/model.keras.
set -euo pipefail
usage="BACKGROUNDS WORKDIR MINUTES [PATTERN_DIR [SAMPLES]]"
max_args=5
if [[ "${4:-}" =~ ^[0-9]+$ ]]; then  # SAMPLES used to be the 4th argument
  echo "usage: $0 $usage (SAMPLES is now the 5th argument; pass '' as PATTERN_DIR for the chessboard)" >&2
  exit 2
fi
source "$(dirname "$0")/recipe_common.sh"
python "$here/make_samples.py" training "${5:-40000}" --recipe robust --blank-prob 0.3
python "$here/make_samples.py" validation 500 --recipe robust --blank-prob 0.3
python "$here/train_segmenter.py" --preset segmenty --time-limit "$3" \
    --lr-schedule cosine --learning-rate 1e-3 \
    --output model.keras --model model.keras --checkpoint checkpoint.keras --log training.log \
    --wild none ${SEGMENTY_TRAIN_ARGS:-}
