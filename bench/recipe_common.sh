# Sourced by bench/real_recipe*.sh with their arguments (BACKGROUNDS WORKDIR MINUTES ...): checks
# them against $usage and $max_args, enters WORKDIR, makes the 10x7 chessboard, imports BACKGROUNDS.
if [ $# -lt 3 ] || [ $# -gt "${max_args:-3}" ]; then
  echo "usage: $0 $usage" >&2
  exit 2
fi
backgrounds=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$2"
cd "$2"

python "$here/make_patterns.py" --preset chessboard --cols 10 --rows 7
python "$here/fetch_backgrounds.py" --from-dir "$backgrounds"
