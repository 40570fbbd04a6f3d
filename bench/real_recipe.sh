#!/usr/bin/env bash
# The README's CPU recipe for finding a printed 10x7 chessboard in real photos.
#
#   bench/real_recipe.sh BACKGROUNDS WORKDIR MINUTES
#
# Runs, inside WORKDIR, the commands the README recommends, with the `python` on PATH
# (activate the environment first), and leaves WORKDIR/model.keras. SEGMENTY_TRAIN_ARGS, if set,
# adds training flags for experiments (later flags win).
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 BACKGROUNDS WORKDIR MINUTES" >&2
  exit 2
fi
backgrounds=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$2"
cd "$2"

python "$here/make_patterns.py" --preset chessboard --cols 10 --rows 7
python "$here/fetch_backgrounds.py" --from-dir "$backgrounds"
python "$here/train_segmenter.py" --preset lite --on-the-fly --recipe robust --time-limit "$3" \
    --batch-size 16 --lr-schedule cosine --learning-rate 2e-3 --blank-prob 0.3 \
    --output model.keras --model model.keras --checkpoint checkpoint.keras --log training.log \
    --wild none ${SEGMENTY_TRAIN_ARGS:-}
