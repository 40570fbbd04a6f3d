# Sourced by bench/real_recipe*.sh with their arguments (BACKGROUNDS WORKDIR MINUTES [PATTERN_DIR] ...):
# checks them against $usage and $max_args, enters WORKDIR, puts the pattern in WORKDIR/pattern
# (a copy of PATTERN_DIR, a folder with pattern.json; without it or when it is '', the 10x7
# chessboard) and imports BACKGROUNDS.
if [ $# -lt 3 ] || [ $# -gt "${max_args:-4}" ]; then
  echo "usage: $0 $usage" >&2
  exit 2
fi
backgrounds=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
pattern=""
if [ -n "${4:-}" ]; then
  if [ ! -f "$4/pattern.json" ]; then
    echo "$0: PATTERN_DIR $4 is not a pattern folder (no pattern.json; see make_patterns.py)" >&2
    exit 2
  fi
  pattern=$(cd "$4" && pwd)
fi
mkdir -p "$2"
cd "$2"

if [ -z "$pattern" ]; then
  python "$here/make_patterns.py" --preset chessboard --cols 10 --rows 7
elif [ "$pattern" != "$(pwd)/pattern" ]; then
  rm -rf pattern
  cp -r "$pattern" pattern
fi
python "$here/fetch_backgrounds.py" --from-dir "$backgrounds"
