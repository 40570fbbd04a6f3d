#!/usr/bin/env bash
# The README's GPU recipe for finding a printed 10x7 chessboard in real photos: the segmenty preset.
#
#   bench/real_recipe_gpu.sh BACKGROUNDS WORKDIR MINUTES [SAMPLES]
#
# Like bench/real_recipe.sh, but samples are made on disk first (processes keep a GPU fed;
# on-the-fly threads don't), then the original's hourglass trains on them at 256 x 256.
# Set KERAS_BACKEND=jax (or torch) where TensorFlow has no GPU. Leaves WORKDIR/model.keras.
set -euo pipefail
usage="BACKGROUNDS WORKDIR MINUTES [SAMPLES]"
max_args=4
source "$(dirname "$0")/recipe_common.sh"
python "$here/make_samples.py" training "${4:-40000}" --recipe robust --blank-prob 0.3
python "$here/make_samples.py" validation 500 --recipe robust --blank-prob 0.3
python "$here/train_segmenter.py" --preset segmenty --time-limit "$3" \
    --lr-schedule cosine --learning-rate 1e-3 \
    --output model.keras --model model.keras --checkpoint checkpoint.keras --log training.log \
    --wild none ${SEGMENTY_TRAIN_ARGS:-}
