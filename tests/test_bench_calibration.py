import sys

import numpy as np

from tests.helpers import bench_module


def test_saved_draws_are_reused_and_one_draw_is_set_against_the_median_of_three(tmp_path, monkeypatch, capsys):
    bench = bench_module("bench_calibration")
    # Four draws already made: the model file needn't exist. Each draw cuts just above its false candidates.
    for seed, level in enumerate([0.3, 0.9, 0.5, 0.4]):
        np.savez(tmp_path / f"m.keras.count10.seed{seed}.present.npz", true_evidence=[level + 0.05] * 10,
                 true_in_view=[1.0] * 10, true_present=[0.9] * 10, false_evidence=[level] * 20,
                 false_in_view=[1.0] * 20, false_present=[0.9] * 20, missed=5)
    monkeypatch.setattr(sys, "argv", ["bench_calibration.py", "--model", str(tmp_path / "m.keras"), "--seeds", "4",
                                      "--count", "10", "--work", str(tmp_path), "--candidate", "0.5", "0.9"])
    bench.main()
    out = capsys.readouterr().out
    assert "0.325 (0.325), 0.925 (0.925), 0.525 (0.525), 0.425 (0.425)" in out
    assert "the masks' present weighed 0" in out  # as sure of the false candidates: no say
    assert "one draw:        whole median 0.475, range 0.325-0.925" in out
    # The medians of the four ways to choose three: 0.525, 0.425, 0.425, 0.525.
    assert "median of 3 draws: whole median 0.475, range 0.425-0.525" in out and "(4 choices)" in out
    assert "median of 5 draws: needs --seeds 5 or more" in out
    # A find of likeness 0.5 passes the draws cut at 0.325 and 0.425, and the medians of three at 0.425.
    assert "likeness 0.5, present 0.9, in view 1 is found by 0.50 of single draws, 0.50 of medians of 3" in out


def test_each_false_find_cost_is_judged_on_the_draws_a_calibration_leaves_out(tmp_path, monkeypatch, capsys):
    bench = bench_module("bench_calibration")
    # Six alike draws: half the true finds at 0.5, under two false candidates at 0.55, half above them at 0.6.
    for seed in range(6):
        np.savez(tmp_path / f"m.keras.count10.seed{seed}.present.npz", true_evidence=[0.5] * 5 + [0.6] * 5,
                 true_in_view=[1.0] * 10, true_present=[0.9] * 10, false_evidence=[0.0] * 18 + [0.55] * 2,
                 false_in_view=[1.0] * 20, false_present=[0.9] * 20, missed=5)
    monkeypatch.setattr(sys, "argv", ["bench_calibration.py", "--model", str(tmp_path / "m.keras"), "--seeds", "6",
                                      "--count", "10", "--work", str(tmp_path), "--costs", "1", "10",
                                      "--false-rates", "0.01", "1e-9"])
    bench.main()
    out = capsys.readouterr().out
    assert "each judged on the 1 draws it leaves out" in out
    # Cheap false finds: the cut goes under the true finds at 0.5 (then up to the false candidates'
    # normal tail, 0.439) and lets both 0.55s through; dear ones: above them, and half the finds go.
    assert "costing 1 missed ones (false rate 0.01): whole-page threshold median 0.439; left out: finds 0.667 of the samples with " \
           "the pattern, 2 false finds of 20 candidates (range 2-2; 6 calibrations)" in out
    assert "costing 10 missed ones (false rate 0.01) (calibrate_segmenter.py): whole-page threshold median 0.575; left out: finds 0.333 of the samples with " \
           "the pattern, 0 false finds of 20 candidates (range 0-0; 6 calibrations)" in out
    # A normal curve with almost none of it above the cut: past everything (the true finds' 0.6 too).
    assert "false rate 1e-09 (a false find costing 10 missed ones): whole-page threshold median 1.0" in out
    assert "finds 0.000 of the samples" in out


def test_costs_need_draws_left_out(tmp_path, monkeypatch):
    bench = bench_module("bench_calibration")
    monkeypatch.setattr(sys, "argv", ["bench_calibration.py", "--model", "m.keras", "--seeds", "5",
                                      "--work", str(tmp_path), "--costs", "10"])
    try:
        bench.main()
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("--costs with no draw left out ran")


def test_each_weight_of_present_is_judged_on_the_draws_a_calibration_leaves_out(tmp_path, monkeypatch, capsys):
    bench = bench_module("bench_calibration")
    # Six alike draws: the true finds (0.5) under two false candidates (0.55) that the model is unsure of.
    for seed in range(6):
        np.savez(tmp_path / f"m.keras.count10.seed{seed}.present.npz", true_evidence=[0.5] * 10,
                 true_in_view=[1.0] * 10, true_present=[0.99] * 10, false_evidence=[0.0] * 18 + [0.55] * 2,
                 false_in_view=[1.0] * 20, false_present=[0.6] * 20, missed=5)
    monkeypatch.setattr(sys, "argv", ["bench_calibration.py", "--model", str(tmp_path / "m.keras"), "--seeds", "6",
                                      "--count", "10", "--work", str(tmp_path), "--weights", "0", "4"])
    bench.main()
    out = capsys.readouterr().out
    # The page alone can't part them: the cut goes over the false candidates, and every find with it.
    alone = out.split("weighed 0 alone")[1].split("\n")[0]
    assert "threshold median 0.560" in alone and "finds 0.000 of the samples" in alone, alone
    # Weighed, the model's doubt parts them: every posed sample found (10 of 15), no false find.
    for row in ("weighed 4 alone", "as the calibration chooses"):
        line = out.split(row)[1].split("\n")[0]
        assert "finds 0.667 of the samples with the pattern, 0 false finds of 20 candidates" in line, line
