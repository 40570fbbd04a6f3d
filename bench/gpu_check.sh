#!/usr/bin/env bash
# One short slot on a GPU machine, as one command: install, measure the training speed, train on
# the fly, and leave the model (without its optimizer) in OUT, split in pieces under 16 MB.
#
#   bench/gpu_check.sh PATTERN_DIR BACKGROUNDS OUT [BUDGET_SECONDS [PRESET [BATCH]]]
#
# Wheels in .whl/ (keras and what the machine lacks) are installed first where keras is missing.
# WORK (default: a new folder in /tmp) holds the training run. Everything is timed against
# BUDGET_SECONDS (default 540) from the start, so that the model is saved before the slot ends.
# Test it on a CPU first with a tiny model (tests/test_gpu_check.py does, with TensorFlow):
#   KERAS_BACKEND=jax bench/gpu_check.sh pattern background /tmp/out 150 tiny 8
# Afterwards, here: cat OUT/model.keras.part-* > model.keras, calibrate_segmenter.py, bench_real.py.
set -uo pipefail
pattern=$(realpath "$1") backgrounds=$(realpath "$2") out=$(realpath "$3")
budget=${4:-540} preset=${5:-segmenty} batch=${6:-25}
here=$(cd "$(dirname "$0")/.." && pwd)
start=$SECONDS
left() { echo $(( budget - (SECONDS - start) )); }
python=${PYTHON:-python3}
mkdir -p "$out"
# Installs the carried wheels where keras is missing; sets KERAS_BACKEND (jax), JAX_COMPILATION_CACHE_DIR
# (so that the training run reuses what the bench compiled, where the graphs match).
source "$here/bench/gpu_common.sh"
gpu_machine "$out/machine.txt"

echo "== [$(( SECONDS - start ))s] speed from memory, and samples/s per process count"
timeout $(( budget * 3 / 10 )) $python "$here/bench/bench_train.py" --presets "$preset" --sources memory \
    --full --steps 40 --repeats 3 --mixed-precision on --batch-size "$batch" \
    --sample-processes 1 "$(( $(nproc) > 2 ? $(nproc) - 1 : 2 ))" --sample-batches 8 2>&1 | tee "$out/bench_train.log"

echo "== [$(( SECONDS - start ))s] training on the fly"
work=${WORK:-$(mktemp -d /tmp/gpu_check.XXXXXX)} && mkdir -p "$work" && cd "$work" || exit 1
# Leave a minute for the last epoch, the save and the copy.
minutes=$($python -c "print(round(max(0.5, ($(left) - 60) / 60), 2))")
$python "$here/train_segmenter.py" --on-the-fly --recipe robust --blank-prob 0.3 \
    --pattern "$pattern" --backgrounds "$backgrounds" --preset "$preset" --batch-size "$batch" \
    --mixed-precision on --time-limit "$minutes" --lr-schedule cosine --learning-rate 1e-3 \
    --steps-per-epoch 400 --seed 0 --decision-samples 0 --wild none \
    --model model.keras --output model.keras --checkpoint checkpoint.keras --log training.log \
    2>&1 | tr '\r' '\n' | awk '!/━/ || (split($1, n, "/") == 2 && n[1] == n[2])' | tee "$out/train.log" || exit 1
cp training.log "$out/training.csv" 2>/dev/null

echo "== [$(( SECONDS - start ))s] the model without its optimizer"
PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH} $python - <<'EOF' 2>&1 | tee -a "$out/train.log"
from segmenty import model as m
net, info = m.load("model.keras", compile=False)
m.save(net, "model_weights.keras", info)
EOF
[ -f model_weights.keras ] && split -b 15m model_weights.keras "$out/model.keras.part-" || exit 1
ls -l "$out"
echo "== [$(( SECONDS - start ))s] done"
