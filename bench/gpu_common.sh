# Sourced by bench/gpu_check.sh and bench/gpu_sweep.sh, after they set $here (the repo) and $python:
# installs the wheels carried in .whl/ (keras and what the GPU machine lacks) into /tmp/site where
# keras is missing, and sets the environment both use. gpu_machine FILE prints the machine into FILE.
export KERAS_BACKEND=${KERAS_BACKEND:-jax} PYTHONUNBUFFERED=1
if ! $python -c "import keras" 2>/dev/null && compgen -G "$here/.whl/*.whl" >/dev/null; then
  $python -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site "$here"/.whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
# A persistent cache lets later processes reuse what an earlier one compiled, where the graphs match.
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/jax_cache}

gpu_machine() {
  { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
    nproc; $python -c "import keras; print('keras', keras.__version__, keras.backend.backend())"; } \
    2>&1 | tee "$1"
}
