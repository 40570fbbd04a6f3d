#!/usr/bin/env bash
# One short slot on a GPU machine, as one command: training speed on the fly per number of sample
# worker processes, then from memory at a bigger batch, with bench/bench_train.py (no predict figure).
#
#   bench/gpu_sweep.sh OUT [BUDGET_SECONDS]
#
# Each row runs under its own timeout, taken from BUDGET_SECONDS (default 520) counted from the start:
# the on-the-fly rows come first and keep SWEEP_ROW_SECONDS for each one still to come, and
# SWEEP_BIG_SECONDS stay for the big-batch row (its compile is long: batch 64 did not finish in 160 s).
# The first on-the-fly row compiles; JAX_COMPILATION_CACHE_DIR lets the next ones reuse its graph.
# Everything is tee'd into OUT as it goes (machine.txt, sweep.log, and summary.txt with one line a row:
# median img/s and its range, and the same as ms a step), so a killed run leaves what finished.
# Settings (environment):
#   SWEEP_PRESET (segmenty)  SWEEP_PRECISION (on)  SWEEP_REPEATS (3: measured epochs after the compiling one)
#   SWEEP_WORKERS ("15 8 12": one on-the-fly row each)  SWEEP_BATCH (25)  SWEEP_STEPS (80: steps an epoch)
#   SWEEP_BIG_BATCH (50; 0 for no such row)  SWEEP_BIG_STEPS (20)  SWEEP_BIG_SECONDS (200)
#   SWEEP_ROW_SECONDS (60)
# Wheels in .whl/ are installed first where keras is missing (bench/gpu_common.sh). Test it on a CPU
# with a tiny model first (tests/test_gpu_sweep.py does, with TensorFlow):
#   SWEEP_PRESET=tiny SWEEP_WORKERS="2 1" SWEEP_BATCH=4 SWEEP_STEPS=3 SWEEP_REPEATS=2 SWEEP_BIG_BATCH=8 \
#     SWEEP_BIG_STEPS=3 SWEEP_BIG_SECONDS=40 SWEEP_ROW_SECONDS=25 KERAS_BACKEND=jax bench/gpu_sweep.sh /tmp/out 120
set -uo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 OUT [BUDGET_SECONDS]" >&2
  exit 2
fi
mkdir -p "$1" && out=$(realpath "$1") || exit 2
budget=${2:-520}
preset=${SWEEP_PRESET:-segmenty} precision=${SWEEP_PRECISION:-on} repeats=${SWEEP_REPEATS:-3}
read -r -a workers <<<"${SWEEP_WORKERS:-15 8 12}"
batch=${SWEEP_BATCH:-25} steps=${SWEEP_STEPS:-80}
big_batch=${SWEEP_BIG_BATCH:-50} big_steps=${SWEEP_BIG_STEPS:-20} big_seconds=${SWEEP_BIG_SECONDS:-200}
row_seconds=${SWEEP_ROW_SECONDS:-60}
here=$(cd "$(dirname "$0")/.." && pwd)
start=$SECONDS
left() { echo $(( budget - (SECONDS - start) )); }
python=${PYTHON:-python3}
source "$here/bench/gpu_common.sh"
log=$out/sweep.log summary=$out/summary.txt
: >"$log"; : >"$summary"
say() { echo "$*" | tee -a "$log"; }
{ gpu_machine "$out/machine.txt"
  lscpu 2>/dev/null | grep -E '^(Model name|Socket|Core|Thread)' | tee -a "$out/machine.txt"
  echo "preset $preset, mixed precision $precision, budget ${budget}s, JAX cache $JAX_COMPILATION_CACHE_DIR"; } \
  2>&1 | tee -a "$log"
row_out=$(mktemp /tmp/gpu_sweep_row.XXXXXX)

# row LABEL BATCH SECONDS BENCH_ARGS...: one bench_train.py run under `timeout SECONDS`; its figure
# goes into summary.txt as img/s and ms a step, or the reason there is none.
row() {
  local label=$1 b=$2 t=$3 t0=$SECONDS rc line
  shift 3
  if [ "$t" -lt 20 ]; then
    say "== [$(( SECONDS - start ))s] $label: skipped, ${t}s left for it"
    echo "$label: skipped (${t}s of the budget left for it)" >>"$summary"
    return
  fi
  say "== [$(( SECONDS - start ))s] $label (timeout ${t}s)"
  timeout -k 10 "$t" $python "$here/bench/bench_train.py" --presets "$preset" --full --repeats "$repeats" \
      --mixed-precision "$precision" --sample-processes --no-predict --batch-size "$b" "$@" 2>&1 \
      | tee "$row_out" | tee -a "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E "^$preset +[a-z]+ +train " "$row_out" | tail -1)
  if [ -n "$line" ]; then
    # "train 372.1 img/s (350-385)": the median and the range of --repeats epochs; ms a step = 1000 b / img/s.
    echo "$line" | awk -v label="$label" -v b="$b" -v s=$(( SECONDS - t0 )) '{
      for (i = 1; i < NF; i++) if ($i == "train") { med = $(i + 1); rng = $(i + 3) }
      gsub(/[()]/, "", rng); split(rng, r, "-")
      printf "%s: %.1f img/s (%s-%s), %.1f ms/step (%.1f-%.1f); the row took %ds\n", label, med, r[1], r[2],
             1000 * b / med, 1000 * b / r[2], 1000 * b / r[1], s }' | tee -a "$summary" "$log"
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    say "$label: timed out after ${t}s, no figure" && echo "$label: timed out after ${t}s, no figure" >>"$summary"
  else
    say "$label: failed (exit $rc), no figure" && echo "$label: failed (exit $rc), no figure" >>"$summary"
  fi
}

big=0
[ "$big_batch" -gt 0 ] && big=$big_seconds
for i in "${!workers[@]}"; do
  after=$(( ${#workers[@]} - i - 1 ))
  row "on the fly, ${workers[$i]} process$([ "${workers[$i]}" = 1 ] || echo es), batch $batch" "$batch" \
      $(( $(left) - 5 - big - after * row_seconds )) --sources fly --workers "${workers[$i]}" --steps "$steps"
done
if [ "$big_batch" -gt 0 ]; then
  row "from memory, batch $big_batch" "$big_batch" $(( $(left) - 5 )) --sources memory --steps "$big_steps"
fi
rm -f "$row_out"
say "== [$(( SECONDS - start ))s] done"
echo "---- summary: $preset, mixed precision $precision; $(grep -v '^name,' "$out/machine.txt" | head -1)" | tee -a "$log"
tee -a "$log" <"$summary"
