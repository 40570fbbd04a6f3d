#!/usr/bin/env bash
# The README's CPU recipe for finding a printed pattern in real photos (default: a 10x7 chessboard).
#
#   bench/real_recipe.sh BACKGROUNDS WORKDIR MINUTES [PATTERN_DIR]
#
# Runs, inside WORKDIR, the commands the README recommends, with the `python` on PATH
# (activate the environment first), and leaves WORKDIR/model.keras. PATTERN_DIR, a pattern
# folder (pattern.json, full.png, masks), replaces the chessboard. SEGMENTY_TRAIN_ARGS, if set,
# adds training flags for experiments (later flags win).
set -euo pipefail
usage="BACKGROUNDS WORKDIR MINUTES [PATTERN_DIR]"
max_args=4
source "$(dirname "$0")/recipe_common.sh"
python "$here/train_segmenter.py" --preset lite --on-the-fly --recipe robust --time-limit "$3" \
    --batch-size 16 --lr-schedule cosine --learning-rate 2e-3 --blank-prob 0.3 \
    --output model.keras --model model.keras --checkpoint checkpoint.keras --log training.log \
    --wild none ${SEGMENTY_TRAIN_ARGS:-}
