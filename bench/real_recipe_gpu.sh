#!/usr/bin/env bash
# The README's GPU recipe for finding a printed 10x7 chessboard in real photos: the segmenty preset.
#
#   bench/real_recipe_gpu.sh BACKGROUNDS WORKDIR MINUTES [SAMPLES]
#
# Like bench/real_recipe.sh, but samples are made on disk first (processes keep a GPU fed;
# on-the-fly threads don't), then the original's hourglass trains on them at 256 x 256.
# Set KERAS_BACKEND=jax (or torch) where TensorFlow has no GPU. Leaves WORKDIR/model.keras.
set -euo pipefail
if [ $# -lt 3 ] || [ $# -gt 4 ]; then
  echo "usage: $0 BACKGROUNDS WORKDIR MINUTES [SAMPLES]" >&2
  exit 2
fi
backgrounds=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$2"
cd "$2"

python "$here/make_patterns.py" --preset chessboard --cols 10 --rows 7
python "$here/fetch_backgrounds.py" --from-dir "$backgrounds"
python "$here/make_samples.py" training "${4:-40000}" --recipe robust --blank-prob 0.3
python "$here/make_samples.py" validation 500 --recipe robust --blank-prob 0.3
python "$here/train_segmenter.py" --preset segmenty --time-limit "$3" \
    --lr-schedule cosine --learning-rate 1e-3 \
    --output model.keras --model model.keras --checkpoint checkpoint.keras --log training.log \
    --wild none ${SEGMENTY_TRAIN_ARGS:-}
