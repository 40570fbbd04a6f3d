import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")


def run_script(name, *args, cwd=None, timeout=300, check=None):
    """Run a top-level script with this interpreter; returns CompletedProcess (text)."""
    proc = subprocess.run([sys.executable, os.path.join(ROOT, name), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def script():
    return run_script


@pytest.fixture(autouse=True)
def float32_policy_after_each_test():
    """train() sets Keras's global dtype policy (bf16 on a GPU or an AMX CPU); later tests start from float32."""
    yield
    import keras
    keras.mixed_precision.set_global_policy("float32")
