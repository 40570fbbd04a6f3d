import json
import math
import re
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
    (["--preset", "hexagons"], r"^error: Invalid value for --preset\. Received: preset='hexagons'"),
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



# ---------------------------------------------------------------- points, presets and OpenCV's detectors

def gray_of(out):
    return cv2.imread(str(out / "full.png"), cv2.IMREAD_GRAYSCALE)


def listed(out):
    names, xy = patterns.pattern_points(str(out))
    return dict(zip(names, xy))


def assert_same_points(found, expected, tolerance=1.0):
    """Each found point within `tolerance` px of a different expected one, and as many of them."""
    found, expected = np.float64(found).reshape(-1, 2), np.float64(expected).reshape(-1, 2)
    assert len(found) == len(expected)
    distance = np.linalg.norm(found[:, None] - expected[None], axis=2)
    assert distance.min(1).max() < tolerance and len(set(distance.argmin(1))) == len(found)


def test_chessboard_points_are_what_opencv_finds(tmp_path):
    out = tmp_path / "p"
    meta = patterns.make_patterns(str(out), "chessboard", cols=6, rows=5, square=30)
    assert meta["refine"] == "chessboard" and meta["points"][0] == {"name": "r0c0", "xy": [44.5, 44.5]}
    points = listed(out)
    assert list(points)[:6] == ["r0c0", "r0c1", "r0c2", "r0c3", "r0c4", "r1c0"]  # rows of cols - 1 along x
    ok, corners = cv2.findChessboardCornersSB(gray_of(out), (5, 4))
    assert ok
    assert_same_points(corners, list(points.values()), tolerance=0.2)


def test_the_original_pattern_lists_its_circle_centres(segmenty_dir):
    points = listed(segmenty_dir)
    assert len(points) == 30
    np.testing.assert_allclose(points["r0c0"], [84.5, 49.5])  # the cell at (85, 50) in SVG units
    np.testing.assert_allclose(points["r5c4"], [764.5, 1049.5])


def test_charuco_corners_are_what_opencv_finds(tmp_path):
    out = tmp_path / "p"
    meta = patterns.make_patterns(str(out), "charuco", cols=5, rows=7, square=40, dictionary="DICT_4X4_50",
                                  marker_ratio=0.7)
    assert meta["masks"] == ["mask", "vertical", "horizontal", "middle"] and meta["refine"] == "chessboard"
    board = cv2.aruco.CharucoBoard((5, 7), 40.0, 28.0, cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50))
    corners, ids, _, _ = cv2.aruco.CharucoDetector(board).detectBoard(gray_of(out))
    points = listed(out)
    assert ids is not None and len(ids) == len(points) == 4 * 6
    for i, xy in zip(ids.ravel(), corners.reshape(-1, 2)):
        assert np.linalg.norm(points[str(i)] - xy) < 1.0
    mask = gray(out, "mask")
    assert mask.shape == gray_of(out).shape == (8 * 40, 6 * 40) and (mask == 255).sum() == 5 * 40 * 7 * 40


@pytest.mark.parametrize("asymmetric,flag", [(False, cv2.CALIB_CB_SYMMETRIC_GRID),
                                             (True, cv2.CALIB_CB_ASYMMETRIC_GRID)])
def test_circle_centres_are_what_opencv_finds(tmp_path, asymmetric, flag):
    out = tmp_path / "p"
    patterns.make_patterns(str(out), "circles", cols=4, rows=5, square=40, asymmetric=asymmetric)
    ok, centres = cv2.findCirclesGrid(gray_of(out), (4, 5), flags=flag)
    assert ok
    assert_same_points(centres, list(listed(out).values()))


def test_aruco_corners_are_what_opencv_finds(tmp_path):
    out = tmp_path / "p"
    patterns.make_patterns(str(out), "aruco", dictionary="DICT_5X5_100", marker_id=42, square=10)
    detector = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_5X5_100))
    corners, ids, _ = detector.detectMarkers(gray_of(out))
    assert ids.ravel().tolist() == [42]
    points = listed(out)
    assert list(points) == ["tl", "tr", "br", "bl"]
    np.testing.assert_allclose(corners[0].reshape(4, 2), list(points.values()), atol=1.0)
    np.testing.assert_allclose(patterns.pattern_area(gray(out, "mask")), list(points.values()))


def test_pattern_area_is_mask_0s_outline():
    mask = np.zeros((40, 60), np.uint8)
    mask[5:35, 10:50] = 255
    np.testing.assert_allclose(patterns.pattern_area(mask), [[9.5, 4.5], [49.5, 4.5], [49.5, 34.5], [9.5, 34.5]])
    diamond = np.zeros((101, 101), np.uint8)
    cv2.fillConvexPoly(diamond, np.int32([[50, 10], [90, 50], [50, 90], [10, 50]]), 255)
    area = patterns.pattern_area(diamond)
    assert area.shape == (4, 2) and cv2.contourArea(np.float32(area)) > 0  # clockwise on screen (y down)
    np.testing.assert_allclose(np.sort(area[:, 1]), [10 - 0.5 ** 0.5, 50, 50, 90 + 0.5 ** 0.5], atol=0.01)
    with pytest.raises(patterns.SegmentyError, match="first mask is empty"):
        patterns.pattern_area(np.zeros((5, 5), np.uint8))


def test_a_chessboard_folder_without_points_still_has_them(tmp_path):
    out = tmp_path / "p"
    patterns.make_patterns(str(out), "chessboard", cols=4, rows=3, square=20)
    meta = json.loads((out / "pattern.json").read_text())
    del meta["points"]
    names, xy = patterns.pattern_points(meta)
    assert names == ["r0c0", "r0c1", "r0c2", "r1c0", "r1c1", "r1c2"] and xy[0].tolist() == [29.5, 29.5]


@pytest.mark.parametrize("points,message", [
    ([{"name": "a", "xy": [1, 2, 3]}], "invalid points"),
    ([{"name": "a", "xy": [1, 2]}, {"name": "a", "xy": [3, 4]}], "invalid points"),
    ([{"xy": [1, 2]}], "invalid points"),
    ("r0c0", "invalid points"),
    ([{"name": "a", "xy": [1, 2]}, {"name": "b", "xy": [4, 97]}], r"lie outside full\.png \(4x3\)"),
])
def test_pattern_json_points_are_checked(tmp_path, points, message):
    out = tmp_path / "p"
    out.mkdir()
    cv2.imwrite(str(out / "full.png"), np.zeros((3, 4), np.uint8))
    cv2.imwrite(str(out / "mask.png"), np.full((3, 4), 255, np.uint8))
    (out / "pattern.json").write_text(json.dumps({"full": "full.png", "masks": ["mask"], "points": points}))
    with pytest.raises(patterns.SegmentyError, match=message) as error:
        patterns.load_pattern(str(out))
    assert "\n" not in str(error.value)


def test_a_mask_of_another_size_is_one_line(tmp_path):
    out = tmp_path / "p"
    out.mkdir()
    cv2.imwrite(str(out / "full.png"), np.zeros((30, 40), np.uint8))
    cv2.imwrite(str(out / "mask.png"), np.full((30, 41), 255, np.uint8))
    (out / "pattern.json").write_text(json.dumps({"full": "full.png", "masks": ["mask"]}))
    with pytest.raises(patterns.SegmentyError, match=r"mask .*mask\.png is 41x30, but full\.png is 40x30"):
        patterns.load_pattern(str(out))


def page_with_margin(path, w=120, h=90, margin=(15, 10)):
    """A white page with a dark pattern inside a known margin (left/right, top/bottom)."""
    page = np.full((h, w, 3), 255, np.uint8)
    mx, my = margin
    page[my:h - my, mx:w - mx] = np.random.default_rng(0).integers(0, 200, (h - 2 * my, w - 2 * mx, 3))
    cv2.imwrite(str(path), page)
    return page


def test_from_image_finds_the_printed_area(tmp_path):
    page_with_margin(tmp_path / "page.png")
    out = tmp_path / "p"
    patterns.make_patterns(str(out), from_image=str(tmp_path / "page.png"))
    mask = gray(out, "mask")
    assert mask.shape == (90, 120) and (mask == 255).sum() == 90 * 70
    np.testing.assert_allclose(patterns.pattern_area(mask), [[14.5, 9.5], [104.5, 9.5], [104.5, 79.5], [14.5, 79.5]])


@pytest.mark.parametrize("turn", [None, cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180])
def test_a_chessboard_image_gets_its_inner_corners_as_the_preset_does(tmp_path, turn):
    # Someone else's chessboard, as an image: its corners are found, named from its top-left.
    made = patterns.make_patterns(str(tmp_path / "preset"), "chessboard", 6, 5, square=40)
    board = cv2.imread(str(tmp_path / "preset" / "full.png"))
    cv2.imwrite(str(tmp_path / "board.png"), board if turn is None else cv2.rotate(board, turn))
    meta = patterns.make_patterns(str(tmp_path / "p"), from_image=str(tmp_path / "board.png"))
    assert meta["refine"] == "chessboard"
    names, xy = [p["name"] for p in meta["points"]], np.float64([p["xy"] for p in meta["points"]])
    expected = np.float64([p["xy"] for p in made["points"]])
    h, w = board.shape[:2]
    x, y = expected.T
    expected = {None: expected, cv2.ROTATE_90_CLOCKWISE: np.c_[h - 1 - y, x],
                cv2.ROTATE_180: np.c_[w - 1 - x, h - 1 - y]}[turn]  # the same corners in the turned image
    order = lambda points: points[np.lexsort((points[:, 0] // 10, points[:, 1] // 10))]  # by row, then along it
    np.testing.assert_allclose(order(xy), order(expected), atol=0.1)
    rows = 1 + max(int(n[1:n.index("c")]) for n in names)
    grid = xy.reshape(rows, -1, 2)
    assert names[0] == "r0c0" and (np.diff(grid[..., 0], axis=1) > 30).all() and (np.diff(grid[..., 1], axis=0) > 30).all()
    if turn is None:
        assert names == [p["name"] for p in made["points"]]


def test_other_drawings_get_no_chessboard_corners(tmp_path):
    # The original's circles (OpenCV follows a few "corners" in them), and part of a ChArUco board.
    for preset in ("segmenty", "charuco"):
        patterns.make_patterns(str(tmp_path / preset), preset)
        full = cv2.imread(str(tmp_path / preset / "full.png"))
        mask = gray(tmp_path / preset, "mask")
        x, y, w, h = cv2.boundingRect((mask > 127).astype(np.uint8))
        assert patterns.chessboard_in(full, (x, y, x + w, y + h)) is None


def test_a_logos_transparent_background_is_paper(tmp_path):
    logo = np.zeros((50, 80, 4), np.uint8)  # transparent black, as many logos' backgrounds are
    logo[20:30, 10:60] = [200, 40, 10, 255]
    cv2.imwrite(str(tmp_path / "logo.png"), logo)
    patterns.make_patterns(str(tmp_path / "p"), from_image=str(tmp_path / "logo.png"))
    np.testing.assert_allclose(patterns.pattern_area(gray(tmp_path / "p", "mask")),
                               [[9.5, 19.5], [59.5, 19.5], [59.5, 29.5], [9.5, 29.5]])
    assert cv2.imread(str(tmp_path / "p" / "full.png"))[0, 0].tolist() == [255, 255, 255]


@pytest.mark.parametrize("override,box", [({"margin": 5}, (5, 5, 115, 85)), ({"area": "1,2,30,40"}, (1, 2, 30, 40)),
                                          ({"area": (0, 0, 120, 90)}, (0, 0, 120, 90))])
def test_from_image_area_overrides(tmp_path, override, box):
    page_with_margin(tmp_path / "page.png")
    patterns.make_patterns(str(tmp_path / "p"), from_image=str(tmp_path / "page.png"), **override)
    x0, y0, x1, y1 = box
    expected = np.zeros((90, 120), np.uint8)
    expected[y0:y1, x0:x1] = 255
    np.testing.assert_array_equal(gray(tmp_path / "p", "mask"), expected)


def test_pdf_prints_at_the_size_pattern_json_records(tmp_path):
    out = tmp_path / "p"
    meta = patterns.make_patterns(str(out), "aruco", square=10, paper="a4", width_mm=100)
    assert meta["size_mm"] == [100, 100]
    pdf = (out / "pattern.pdf").read_bytes()
    box = [float(v) for v in re.search(rb"/MediaBox \[ ([\d. ]+) \]", pdf).group(1).split()]
    assert box[2] * 25.4 / 72 == pytest.approx(210, abs=0.5) and box[3] * 25.4 / 72 == pytest.approx(297, abs=0.5)
    width = int(re.search(rb"/Width (\d+)", pdf).group(1))
    # The marker (60 of full.png's 80 px) is 100 mm: the page's image is 210 mm at that scale.
    assert width == round(210 / (100 / 60))
    largest = patterns.make_patterns(str(out), "chessboard", cols=4, rows=3, square=20, paper="letter")
    # Landscape, as large as fits (here the height decides), in whole millimetres.
    assert largest["size_mm"] == [math.floor(195.9 / 80 * 80), pytest.approx(195 * 60 / 80, abs=0.01)]


@pytest.mark.parametrize("args,message", [
    (["--preset", "charuco", "--marker-ratio", "1"], r"^error: Invalid value for --marker-ratio\. Received: marker_ratio=1\.0"),
    (["--preset", "charuco", "--dictionary", "DICT_9X9_1"], r"^error: Invalid value for --dictionary\. .* DICT_4X4_50"),
    (["--preset", "charuco", "--cols", "20", "--rows", "20"], r"^error: a 20x20 ChArUco board needs 200 markers"),
    (["--preset", "circles", "--cols", "1", "--rows", "1"], r"^error: Invalid value for --cols\. Received: cols=1"),
    (["--preset", "charuco", "--rows", "1"], r"^error: Invalid value for --rows"),
    (["--preset", "aruco", "--marker-id", "50"], r"^error: Invalid value for --marker-id\. .* 0 to 49"),
    (["--preset", "chessboard", "--square", "15"], r"^error: Invalid value for --square"),
    (["--from-image", "white.png"], r"^error: no printed area in --from-image: it is all white"),
    (["--from-image", "white.png", "--area", "0,0,500,5"], r"^error: Invalid value for --area"),
    (["--from-image", "white.png", "--margin", "50"], r"^error: Invalid value for --margin"),
    (["--margin", "3"], r"^error: --margin and --area apply to --from-image only"),
    (["--preset", "aruco", "--paper", "a3"], r"^error: Invalid value for --paper"),
    (["--preset", "aruco", "--paper", "a4", "--width-mm", "500"], r"^error: Invalid value for --width-mm\. .* at most 142\.5 to fit a4"),
])
def test_bad_preset_and_image_input(tmp_path, script, args, message):
    cv2.imwrite(str(tmp_path / "white.png"), np.full((40, 60, 3), 255, np.uint8))
    proc = script("make_patterns.py", "--out", "pattern", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert re.match(message, proc.stderr), proc.stderr
    assert not (tmp_path / "pattern").exists()
