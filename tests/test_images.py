import os

import numpy as np
import pytest
from PIL import Image

from segmenty import images
from tests.helpers import write_photo


def test_sample_folder_inputs_only_and_limit(tmp_path):
    for i in range(12):
        write_photo(tmp_path / f"{i:06d}_i.jpg", 8, 8)
        write_photo(tmp_path / f"{i:06d}_o_0_mas.png", 8, 8)
    found = images.list_images([str(tmp_path)])
    assert len(found) == 10 and all("_o_" not in p for p in found)
    assert len(images.list_images([str(tmp_path)], limit=0)) == 12


def test_a_huge_image_is_refused_before_it_is_decoded(tmp_path):
    # 30000 x 30000 pixels in a few kilobytes: decoding it would take 2.7 GB.
    Image.new("L", (30000, 30000)).save(tmp_path / "bomb.png", optimize=True)
    assert os.path.getsize(tmp_path / "bomb.png") < 2_000_000
    with pytest.raises(images.TooLarge, match=r"900000000 pixels.*`max_pixels` allows 50,000,000"):
        images.read_photo(str(tmp_path / "bomb.png"))
    Image.new("L", (8000, 8000)).save(tmp_path / "big.png", optimize=True)  # under Pillow's own limit
    with pytest.raises(images.TooLarge, match=r"8000x8000 pixels, more than the 50,000,000 allowed"):
        images.read_photo(str(tmp_path / "big.png"))
    write_photo(tmp_path / "small.jpg", 40, 30)
    assert images.read_photo(str(tmp_path / "small.jpg"), max_pixels=1200).shape == (30, 40, 3)
    with pytest.raises(images.TooLarge):
        images.read_photo(str(tmp_path / "small.jpg"), max_pixels=1199)


def test_replacing_leaves_the_old_file_whole_when_writing_fails(tmp_path):
    path = tmp_path / "index.json"
    images.write_json(str(path), [1, 2])
    with pytest.raises(RuntimeError):
        with images.replacing(str(path)) as tmp:
            with open(tmp, "w") as f:
                f.write("[3, ")
            raise RuntimeError("interrupted")
    assert path.read_text() == "[1, 2]"
    assert os.listdir(tmp_path) == ["index.json"]  # no temporary file left behind
    images.write_bytes(str(path), b"[3]")
    assert path.read_text() == "[3]"


def test_unreadable_image_is_a_value_error(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ValueError, match="unreadable image"):
        images.read_photo(str(tmp_path / "bad.jpg"))
    assert images.model_input(np.zeros((30, 40, 3), np.uint8), 32).shape == (32, 32, 3)
