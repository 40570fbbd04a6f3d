import json

import pytest

from segmenty import callbacks, model as models


def test_cosine_schedule_falls_to_a_fiftieth():
    s = callbacks.CosineSchedule(1e-3, steps=100)
    assert s.rate(0) == pytest.approx(1e-3)
    assert s.rate(0.5) == pytest.approx((1e-3 + 2e-5) / 2)
    assert s.rate(1) == pytest.approx(2e-5) and s.rate(3) == pytest.approx(2e-5)


def test_backup_saves_restores_and_removes(tmp_path):
    backup = callbacks.Backup(str(tmp_path / "save.keras"))
    assert backup.restore() is None  # no interrupted run
    config = models.preset_config("tiny")
    net = models.build_model(config, ["a"])
    backup.target_epochs = 5
    backup.save(net, {"preset": "tiny", "image_size": 32, "mask_names": ["a"], "epochs": 2, "config": config})
    assert json.loads((tmp_path / "save.keras.backup" / "state.json").read_text()) == {"epochs": 2, "target_epochs": 5}
    again = callbacks.Backup(str(tmp_path / "save.keras"))
    restored, info, target = again.restore()
    assert info["epochs"] == 2 and target == 5 and again.target_epochs == 5
    assert restored.count_params() == net.count_params()
    again.remove()
    assert not (tmp_path / "save.keras.backup").exists()


@pytest.mark.parametrize("unlimited, title", [(False, "Epoch 2/3"), (True, "Epoch 2 (until Ctrl-C)")])
def test_progress_in_a_file_is_one_line_per_epoch(capsys, unlimited, title):
    log = callbacks.ProgressLog(unlimited)
    log.set_params({"verbose": 2, "epochs": 3, "steps": 4})
    log.on_epoch_begin(1)
    for batch in range(4):
        log.on_train_batch_end(batch, {"loss": 0.5})
    log.on_epoch_end(1, {"loss": 0.25, "val_tpr": 0.0001})
    out = capsys.readouterr().out
    assert "\r" not in out and "\b" not in out and out.count("\n") == 1
    assert out.startswith(f"{title}: 4/4 steps - ") and out.endswith(" - loss: 0.2500 - val_tpr: 1.0000e-04\n")
