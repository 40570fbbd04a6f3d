import cv2
import numpy as np
import pytest
from PIL import Image

from segmenty.animate import animate
from segmenty.errors import SegmentyError


def fake_snapshots(folder, photos=2, epochs=3, outputs=4):
    folder.mkdir()
    for i in range(photos):
        for e in range(epochs):
            stem = folder / f"{i:06d}_{e:06d}"
            cv2.imwrite(f"{stem}_in.jpg", np.full((32, 32, 3), 40 * e, np.uint8))
            for k in range(outputs):
                cv2.imwrite(f"{stem}_out{k}.jpg", np.full((32, 32), 60 * k, np.uint8))


def test_one_frame_per_epoch_looping(tmp_path):
    fake_snapshots(tmp_path / "snaps", epochs=5)
    out, n = animate(1, str(tmp_path / "snaps"), str(tmp_path / "a.gif"))
    with Image.open(out) as gif:
        assert gif.n_frames == n == 5
        assert gif.info["loop"] == 0 and gif.info["duration"] == 500
        assert gif.size == (5 * (32 + 2), 32)  # the input and 4 outputs side by side


def test_frames_differ_by_epoch(tmp_path):
    fake_snapshots(tmp_path / "snaps", epochs=2)
    out, _ = animate(0, str(tmp_path / "snaps"), str(tmp_path / "a.gif"))
    with Image.open(out) as gif:
        first = np.asarray(gif.convert("RGB"))
        gif.seek(1)
        second = np.asarray(gif.convert("RGB"))
    assert not np.array_equal(first, second)


def test_no_snapshots_of_that_photo(tmp_path, script):
    fake_snapshots(tmp_path / "snaps", photos=1)
    with pytest.raises(SegmentyError, match=r"no snapshots of photo 3"):
        animate(3, str(tmp_path / "snaps"))
    proc = script("animate_snapshots.py", "0", "--snapshots", tmp_path / "missing", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("error: Invalid value for --snapshots")
