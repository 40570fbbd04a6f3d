import hashlib
import http.server
import json
import os
import threading
import time
from urllib.parse import parse_qs, urlparse

import cv2
import numpy as np
import pytest

from segmenty import backgrounds


def jpeg(seed, size=(80, 100)):
    img = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


GOOD = jpeg(1)
PNG = cv2.imencode(".png", np.full((70, 90, 3), 120, np.uint8))[1].tobytes()
AFTER_429 = jpeg(2)
TINY = cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes()
BIG = b"\xff\xd8" + b"\0" * (backgrounds.MAX_BYTES + 10)

# path -> (status, content type, body); special paths are handled in the handler.
ROUTES = {
    "/good.jpg": (200, "image/jpeg", GOOD),
    "/img.png": (200, "image/png", PNG),
    "/page.html.jpg": (200, "image/jpeg", b"<html><body>not an image</body></html>"),
    "/truncated.jpg": (200, "image/jpeg", GOOD[: len(GOOD) // 2]),
    "/big.jpg": (200, "image/jpeg", BIG),
    "/tiny.png": (200, "image/png", TINY),
    "/dup.jpg": (200, "image/jpeg", GOOD),
}
ORDER = ["/good.jpg", "/img.png", "/missing.jpg", "/page.html.jpg", "/truncated.jpg", "/big.jpg",
         "/tiny.png", "/slow.jpg", "/limited.jpg", "/dup.jpg"]


class Handler(http.server.BaseHTTPRequestHandler):
    hits = []
    limited = {"count": 0}

    def log_message(self, *args):
        pass

    def send(self, status, ctype, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        url = urlparse(self.path)
        Handler.hits.append((url.path, self.headers.get("User-Agent")))
        base = f"http://127.0.0.1:{self.server.server_port}"
        if url.path == "/v1/images/":
            page = int(parse_qs(url.query)["page"][0])
            results = [{"url": base + p, "license": "by", "creator": "me", "attribution": f"photo {p}"}
                       for p in ORDER] if page == 1 else []
            return self.send(200, "application/json", json.dumps({"results": results}).encode())
        if url.path == "/slow.jpg":
            time.sleep(3)
            return self.send(200, "image/jpeg", jpeg(3))
        if url.path == "/limited.jpg":
            Handler.limited["count"] += 1
            if Handler.limited["count"] == 1:
                return self.send(429, "text/plain", b"slow down", [("Retry-After", "1")])
            return self.send(200, "image/jpeg", AFTER_429)
        if url.path in ROUTES:
            return self.send(*ROUTES[url.path])
        self.send(404, "text/plain", b"not found")


@pytest.fixture
def server():
    Handler.hits.clear()
    Handler.limited["count"] = 0
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    srv.server_close()


def kept_files(root, group):
    folder = root / group
    return sorted(os.listdir(folder)) if folder.exists() else []


def test_fetch_from_local_api(tmp_path, server, script):
    proc = script("fetch_backgrounds.py", "cats", "--count", "10", "--api-url", server, "--timeout", "1",
                  "--out", tmp_path / "bg", check=0)
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary == ("kept 3, skipped 7 (not an image: 2, too small: 1, too large: 1, duplicate: 1, "
                       "http error: 1, timeout: 1)")
    assert kept_files(tmp_path / "bg", "cats") == ["000000.jpg", "000001.jpg", "000002.jpg"]
    lines = [json.loads(x) for x in (tmp_path / "bg" / "sources.jsonl").read_text().splitlines()]
    urls = [urlparse(e["url"]).path for e in lines]
    assert urls == ["/good.jpg", "/img.png", "/limited.jpg"]
    assert lines[0]["sha256"] == hashlib.sha256(GOOD).hexdigest()
    assert all(e["source"] == "openverse" and e["license"] == "by" and e["creator"] == "me" for e in lines)
    for name in kept_files(tmp_path / "bg", "cats"):  # everything kept is a re-encoded JPEG
        assert (tmp_path / "bg" / "cats" / name).read_bytes()[:2] == b"\xff\xd8"
        assert cv2.imread(str(tmp_path / "bg" / "cats" / name)) is not None
    assert all(ua and ua.startswith("segmenty/") for _, ua in Handler.hits)
    assert [p for p, _ in Handler.hits].count("/limited.jpg") == 2  # the 429, then the retry
    assert "cats: 3/10 kept" in proc.stderr


def test_rerun_fetches_only_what_is_missing(tmp_path, server, script):
    args = ["cats", "--count", "2", "--api-url", server, "--timeout", "1", "--out", tmp_path / "bg"]
    script("fetch_backgrounds.py", *args, check=0)
    assert kept_files(tmp_path / "bg", "cats") == ["000000.jpg", "000001.jpg"]
    Handler.hits.clear()
    proc = script("fetch_backgrounds.py", *args, check=0)
    assert proc.stdout.strip().startswith("kept 0, skipped 0")
    assert Handler.hits == []  # nothing was requested: the term already has its count
    args[2] = "3"
    script("fetch_backgrounds.py", *args, check=0)
    assert kept_files(tmp_path / "bg", "cats") == ["000000.jpg", "000001.jpg", "000002.jpg"]
    assert "/good.jpg" not in [p for p, _ in Handler.hits]  # already kept: not downloaded again


def test_url_list(tmp_path, server, script):
    (tmp_path / "list.txt").write_text(f"{server}/good.jpg\n{server}/missing.jpg\n{server}/dup.jpg\n")
    proc = script("fetch_backgrounds.py", "--urls", tmp_path / "list.txt", "--out", tmp_path / "bg", check=0)
    assert kept_files(tmp_path / "bg", "urls") == ["000000.jpg"]
    assert "http error: 1" in proc.stdout and "duplicate: 1" in proc.stdout


def test_no_network_is_one_line_exit_1(tmp_path, script):
    proc = script("fetch_backgrounds.py", "cats", "--api-url", "http://127.0.0.1:9", "--timeout", "2",
                  "--out", tmp_path / "bg")
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) <= 2  # a progress line may precede it
    assert "--synthetic" in proc.stderr and "--from-dir" in proc.stderr and "Traceback" not in proc.stderr


def test_from_dir_mixed(tmp_path, script):
    src = tmp_path / "My Photos"
    (src / "sub").mkdir(parents=True)
    (src / "a.jpg").write_bytes(jpeg(5))
    (src / "sub" / "b.png").write_bytes(cv2.imencode(".png", np.full((100, 64, 3), 9, np.uint8))[1].tobytes())
    (src / "sub" / "copy.jpg").write_bytes(jpeg(5))
    (src / "notes.txt").write_text("hello")
    (src / "small.jpg").write_bytes(jpeg(6, (20, 20)))
    (src / "cut.jpg").write_bytes(jpeg(7)[:300])
    proc = script("fetch_backgrounds.py", "--from-dir", src, "--out", tmp_path / "bg", check=0)
    assert kept_files(tmp_path / "bg", "My_Photos") == ["000000.jpg", "000001.jpg"]
    assert proc.stdout.strip() == ("kept 2, skipped 4 (not an image: 2, too small: 1, too large: 0, "
                                   "duplicate: 1, http error: 0, timeout: 0)")
    big = cv2.imread(str(tmp_path / "bg" / "My_Photos" / "000001.jpg"))
    assert big.shape == (100, 64, 3)


def test_large_images_are_shrunk(tmp_path):
    store = backgrounds.Store(str(tmp_path))
    img = np.zeros((1500, 3000, 3), np.uint8)
    assert store.add("g", cv2.imencode(".png", img)[1].tobytes(), {"source": "t"})
    assert cv2.imread(str(tmp_path / "g" / "000000.jpg")).shape == (512, 1024, 3)


def test_decompression_bomb_refused_before_decoding():
    bomb = cv2.imencode(".png", np.zeros((7000, 6000), np.uint8))[1].tobytes()  # 42 MP, small file
    with pytest.raises(backgrounds.Rejected, match="too large"):
        backgrounds.decode_checked(bomb)


def test_synthetic_is_deterministic(tmp_path, script):
    for name in ("a", "b"):
        script("fetch_backgrounds.py", "--synthetic", "4", "--seed", "7", "--out", tmp_path / name, check=0)
    files = kept_files(tmp_path / "a", "synthetic")
    assert files == ["000000.jpg", "000001.jpg", "000002.jpg", "000003.jpg"]
    for f in files:
        assert (tmp_path / "a" / "synthetic" / f).read_bytes() == (tmp_path / "b" / "synthetic" / f).read_bytes()
    script("fetch_backgrounds.py", "--synthetic", "4", "--seed", "8", "--out", tmp_path / "c", check=0)
    assert (tmp_path / "c" / "synthetic" / files[0]).read_bytes() != (tmp_path / "a" / "synthetic" / files[0]).read_bytes()
    imgs = [cv2.imread(str(tmp_path / "a" / "synthetic" / f)) for f in files]
    assert len({round(float(i.std()), 1) for i in imgs}) == 4  # their statistics vary


@pytest.mark.parametrize("args,message", [
    (["--count", "0"], "Invalid value for --count"),
    (["--source", "google"], "Invalid value for --source"),
    (["--from-dir", "nope"], "Invalid value for --from-dir"),
    (["--synthetic", "3", "--from-dir", "."], "choose one source"),
])
def test_bad_arguments(tmp_path, script, args, message):
    proc = script("fetch_backgrounds.py", *args, cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
