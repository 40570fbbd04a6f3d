import os
import re
import subprocess
import sys

from tests.conftest import ROOT


def test_the_gpu_sweep_script_prints_a_figure_for_each_row_in_img_s_and_ms_a_step(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache"),
           "SWEEP_PRESET": "tiny", "SWEEP_WORKERS": "1", "SWEEP_BATCH": "4", "SWEEP_STEPS": "2",
           "SWEEP_REPEATS": "2", "SWEEP_BIG_BATCH": "6", "SWEEP_BIG_STEPS": "2", "SWEEP_BIG_SECONDS": "80",
           "SWEEP_ROW_SECONDS": "30"}
    proc = subprocess.run(["bash", f"{ROOT}/bench/gpu_sweep.sh", str(out), "200"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "keras" in (out / "machine.txt").read_text()
    rows = (out / "summary.txt").read_text().splitlines()
    assert [r.split(":")[0] for r in rows] == ["on the fly, 1 process, batch 4", "from memory, batch 6"], rows
    for row, batch in zip(rows, (4, 6)):
        m = re.search(r": ([\d.]+) img/s \((\d+)-(\d+)\), ([\d.]+) ms/step \(([\d.]+)-([\d.]+)\)", row)
        assert m, row
        img, lo, hi, ms, ms_lo, ms_hi = map(float, m.groups())
        assert lo <= round(img) <= hi and abs(ms - 1000 * batch / img) < 0.1, row
        assert ms_lo <= ms <= ms_hi, row
    log = (out / "sweep.log").read_text()
    assert "tiny      fly     train" in log and "tiny      memory  train" in log and log.endswith(rows[-1] + "\n")
