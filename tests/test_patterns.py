import json
import math
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest

from segmenty import patterns


@pytest.fixture(scope="module")
def segmenty_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("p") / "pattern"
    patterns.make_patterns(str(out))
    return out


def gray(folder, name):
    img = cv2.imread(str(folder / f"{name}.png"), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.ndim == 2
    return img


def test_files_and_json(segmenty_dir):
    meta = json.loads((segmenty_dir / "pattern.json").read_text())
    assert meta["full"] == "full.png"
    assert meta["masks"] == ["mask", "vertical", "horizontal", "middle"]
    for name in ["full"] + meta["masks"]:
        assert gray(segmenty_dir, name).shape == (1100, 850)
        assert (segmenty_dir / f"{name}.svg").exists()


@pytest.mark.parametrize("ix,iy", [(0, 0), (2, 0), (4, 2), (6, 10), (8, 4)])
def test_circles(segmenty_dir, ix, iy):
    full = gray(segmenty_dir, "full")
    x, y = 85 * ix + 85, 100 * iy + 50
    d = np.array([425 - x, 550 - y], float)
    d /= np.linalg.norm(d)
    behind = (round(x - 18 * d[0]), round(y - 18 * d[1]))  # inside the circle, away from the line
    expected_fill = 0 if ix % 4 == 0 else 255
    assert full[behind[1], behind[0]] == expected_fill
    # The line: black 60 px from the centre towards the page centre, white past its 96 px.
    on_line = (round(x + 60 * d[0]), round(y + 60 * d[1]))
    past_line = (round(x + 110 * d[0]), round(y + 110 * d[1]))
    assert full[on_line[1], on_line[0]] == 0
    assert full[past_line[1], past_line[0]] == 255
    # The stroke ring is black at radius 32 and the page is white at radius 45, behind the line.
    ring = (round(x - 32 * d[0]), round(y - 32 * d[1]))
    outside = (round(x - 45 * d[0]), round(y - 45 * d[1]))
    assert full[ring[1], ring[0]] == 0
    assert full[outside[1], outside[0]] == 255


def test_thirty_cells_undrawn_cells_blank(segmenty_dir):
    full = gray(segmenty_dir, "full")
    assert len(patterns.segmenty_cells()) == 30
    assert full[150, 170] == 255  # cell (1, 1) is not drawn
    assert full[550, 425] == 255  # the page centre holds no cell


def test_masks(segmenty_dir):
    assert (gray(segmenty_dir, "mask") == 255).all()
    v, h, m = gray(segmenty_dir, "vertical"), gray(segmenty_dir, "horizontal"), gray(segmenty_dir, "middle")
    for x in (85, 255, 425, 595, 765):
        assert v[500, x] == 255 and v[500, x + 14] == 255 and v[500, x + 18] == 0
    assert v[500, 170] == 0
    for y in (50, 250, 450, 650, 850, 1050):
        assert h[y, 425] == 255 and h[y + 14, 425] == 255 and h[y + 18, 425] == 0
    assert h[y, 0] == 255 and h[y, 849] == 255 and h[y - 60, 425] == 0  # the outer bars run off the page
    assert m[550, 425] == 255 and m[550, 425 + 34] == 255 and m[550, 425 + 38] == 0
    assert (m > 127).sum() == pytest.approx(math.pi * 36 ** 2, rel=0.03)
    assert set(np.unique(v)) <= set(range(256)) and ((v == 0) | (v == 255)).mean() > 0.99


def shapes_from_svg(path):
    """Parse the subset of SVG that make_patterns writes back into shapes."""
    root = ET.parse(path).getroot()
    w, h = int(float(root.get("width"))), int(float(root.get("height")))
    value = lambda c: int(c[4:-1].split(",")[0]) if c else None
    shapes = []
    for el in root.iter():
        tag = el.tag.split("}")[-1]
        f = lambda k: float(el.get(k))
        if tag == "rect":
            shapes.append(patterns.rect(f("x"), f("y"), f("width"), f("height"), value(el.get("fill"))))
        elif tag == "circle":
            sw = float(el.get("stroke-width", 0))
            shapes.append(patterns.circle(f("cx"), f("cy"), f("r"), value(el.get("fill")), value(el.get("stroke")), sw))
        elif tag == "line":
            shapes.append(patterns.line(f("x1"), f("y1"), f("x2"), f("y2"), value(el.get("stroke")), f("stroke-width")))
    return w, h, shapes


@pytest.mark.parametrize("name", ["full", "vertical", "horizontal", "middle", "mask"])
def test_svg_and_png_agree(segmenty_dir, name):
    w, h, shapes = shapes_from_svg(segmenty_dir / f"{name}.svg")
    assert (w, h) == (850, 1100)
    if name == "full":
        assert sum(s["type"] == "circle" for s in shapes) == 30
        assert sum(s["type"] == "line" for s in shapes) == 30
    # svgwrite rounds coordinates to 4 decimals: edge pixels may differ by one grey level.
    diff = np.abs(patterns.render(w, h, shapes).astype(int) - gray(segmenty_dir, name))
    assert diff.max() <= 1 and (diff > 0).sum() < 100


def test_chessboard(tmp_path):
    out = tmp_path / "chess"
    patterns.make_patterns(str(out), "chessboard", cols=10, rows=7)
    full, mask = gray(out, "full"), gray(out, "mask")
    assert full.shape == (800, 1100)
    assert full[100, 100] == 0 and full[100, 200] == 255 and full[200, 200] == 0  # black top-left
    assert full[25, 25] == 255 and full[775, 1075] == 255  # white paper margin
    # The mask is exactly the squares, without the margin.
    assert mask[49, 500] == 0 and mask[50, 500] == 255 and mask[749, 500] == 255 and mask[750, 500] == 0
    assert mask[400, 49] == 0 and mask[400, 50] == 255 and mask[400, 1049] == 255 and mask[400, 1050] == 0
    assert (mask == 255).sum() == 1000 * 700
    v, h = gray(out, "vertical"), gray(out, "horizontal")
    assert v[400, 150] == 255 and v[400, 100] == 0 and v[400, 50] == 0  # inner lines only
    assert h[150, 500] == 255 and h[100, 500] == 0
    assert len(np.unique(np.where(v[400] > 127)[0] // 100)) == 9
    w, hh, shapes = shapes_from_svg(out / "full.svg")
    np.testing.assert_array_equal(patterns.render(w, hh, shapes), full)


def test_from_image(tmp_path):
    src = tmp_path / "mine.png"
    img = np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8)
    cv2.imwrite(str(src), img)
    out = tmp_path / "pattern"
    patterns.make_patterns(str(out), from_image=str(src))
    np.testing.assert_array_equal(cv2.imread(str(out / "full.png")), img)
    assert (gray(out, "mask") == 255).all() and gray(out, "mask").shape == (90, 120)
    full, masks, names = patterns.load_pattern(str(out))
    assert names == ["mask"] and full.shape == (90, 120, 3)


@pytest.mark.parametrize("args,message", [
    (["--preset", "circles"], r"^error: Invalid value for --preset\. Received: preset='circles'"),
    (["--preset", "chessboard", "--cols", "1"], r"^error: Invalid value for --cols\. Received: cols=1"),
    (["--preset", "chessboard", "--rows", "0"], r"^error: Invalid value for --rows"),
    (["--from-image", "missing.jpg"], r"^error: Invalid value for --from-image"),
])
def test_bad_input(tmp_path, script, args, message):
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    proc = script("make_patterns.py", "--out", "pattern", *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert __import__("re").match(message, proc.stderr)
    assert not (tmp_path / "pattern").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.jpg"]  # no temp folders left behind


def test_bad_input_keeps_existing_folder(tmp_path, script):
    script("make_patterns.py", cwd=tmp_path, check=0)
    before = sorted(p.name for p in (tmp_path / "pattern").iterdir())
    script("make_patterns.py", "--from-image", "nope.png", cwd=tmp_path, check=2)
    assert sorted(p.name for p in (tmp_path / "pattern").iterdir()) == before


def test_load_pattern_errors(tmp_path):
    with pytest.raises(patterns.SegmentyError, match="no pattern folder"):
        patterns.load_pattern(str(tmp_path / "nope"))
    with pytest.raises(patterns.SegmentyError, match="no pattern.json"):
        patterns.load_pattern(str(tmp_path))


def test_folder_mode_follows_the_umask(segmenty_dir):
    import os
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(segmenty_dir).st_mode & 0o777 == 0o777 & ~umask
