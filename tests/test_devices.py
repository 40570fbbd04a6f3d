import keras
import pytest

from segmenty.devices import cpu_has_amx_bf16, gpu_count, set_precision
from segmenty.errors import InvalidArgument


def test_auto_precision_is_bf16_only_where_a_cpu_runs_it_natively(tmp_path, monkeypatch):
    amx, plain = tmp_path / "amx", tmp_path / "plain"
    amx.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n")
    plain.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")  # bf16 dot products, no AMX
    assert cpu_has_amx_bf16(str(amx)) == (keras.config.backend() == "tensorflow")
    assert not cpu_has_amx_bf16(str(plain))
    assert not cpu_has_amx_bf16(str(tmp_path / "missing"))
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")  # no oneDNN, no AMX kernels
    assert not cpu_has_amx_bf16(str(amx))
    assert set_precision("auto") == ("mixed_bfloat16" if gpu_count() else "float32")
    assert set_precision("on") == "mixed_bfloat16"
    assert set_precision("off") == "float32"  # conftest resets the policy after each test anyway


def test_precision_names_its_argument():
    with pytest.raises(InvalidArgument, match=r"^Invalid value for `mixed_precision`. Received: mixed_precision='bf16'"):
        set_precision("bf16")
