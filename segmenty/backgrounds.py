"""Stage 1: background photos (fetch_backgrounds.py).

Writes a background folder:

    background/<group>/NNNNNN.jpg   one kept image each; <group> is a search term with
                                    underscores, `urls`, the --from-dir folder's name, or `synthetic`
    background/sources.jsonl        one JSON line per kept image: file, source, url, sha256,
                                    and license, creator, attribution where the source gives them

Every candidate passes the same checks before it is kept: HTTP 200, at most 20 MB (the
download is streamed and cut off past that), decodes with OpenCV, 64x64 to 40 megapixels.
A kept image is re-encoded as JPEG (long side at most 1024) and written atomically, so
nothing else ever lands in the folder. Content hashes in the manifest make a rerun skip
duplicates and fetch only what is missing.
"""

import concurrent.futures
import dataclasses
import hashlib
import io
import json
import os
import re
import socket
import sys
import time
from collections import Counter
from urllib.parse import urlparse

import cv2
import numpy as np
import requests
from PIL import Image

from segmenty.errors import InvalidArgument, SegmentyError, Unavailable
from segmenty.images import write_bytes

# The original's 20 search terms (docs/original.md, "Backgrounds").
DEFAULT_TERMS = [
    "city street", "dark room", "dining hall", "exercise yard", "farm harvest", "forest growth",
    "furniture store", "hair face", "kitchen baby", "selfie computer clutter", "selfie crowd cheer",
    "selfie cute couple", "selfie dark party", "selfie face smile", "selfie graduation",
    "selfie hold hands", "selfie museum art", "selfie point ground", "selfie street night",
    "wall frame",
]

API_URLS = {"openverse": "https://api.openverse.org", "wikimedia": "https://commons.wikimedia.org"}
USER_AGENT = ("segmenty/0.1 (background photos for synthetic training data; "
              "https://github.com/paulfitz/segmenty) python-requests")

MAX_BYTES = 20 * 1024 * 1024
MIN_SIDE = 64
MAX_PIXELS = 40_000_000
MAX_SIDE_KEPT = 1024
REASONS = ("not an image", "too small", "too large", "duplicate", "http error", "timeout")


class Rejected(Exception):
    """A candidate that fails a check; its message is one of REASONS."""


def group_name(term):
    return re.sub(r"[^\w.-]+", "_", term.strip()).strip("_") or "misc"


# ---------------------------------------------------------------- checks (pure)

def _truncated_jpeg(data):
    # libjpeg decodes a truncated JPEG into a grey-bottomed image without failing.
    return data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-1024:]


def decode_checked(data, max_pixels=MAX_PIXELS, min_side=MIN_SIDE):
    """Decode image bytes or raise Rejected("not an image" | "too small" | "too large").

    The header is read first, so a decompression bomb is refused before it is decoded.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
    except Exception:
        w = h = None  # a format Pillow can't read may still decode with OpenCV
    if w is not None:
        if w * h > max_pixels:
            raise Rejected("too large")
        if min(w, h) < min_side:
            raise Rejected("too small")
    if _truncated_jpeg(data):
        raise Rejected("not an image")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise Rejected("not an image")
    h, w = img.shape[:2]
    if w * h > max_pixels:
        raise Rejected("too large")
    if min(w, h) < min_side:
        raise Rejected("too small")
    return img


def shrink(img, max_side=MAX_SIDE_KEPT):
    h, w = img.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return img
    return cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def encode_jpeg(img, quality=92):
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


# ---------------------------------------------------------------- the store

class Store:
    """A background folder with its manifest: dedup by content hash, numbered files, summary counts."""

    def __init__(self, root, max_side=MAX_SIDE_KEPT):
        self.root = root
        self.max_side = max_side
        self.manifest = os.path.join(root, "sources.jsonl")
        self.entries = []
        if os.path.exists(self.manifest):
            with open(self.manifest) as f:
                for ln in f:
                    try:
                        entry = json.loads(ln)
                    except ValueError:
                        continue  # a line cut short by a crash
                    if os.path.exists(os.path.join(root, entry.get("file", ""))):
                        self.entries.append(entry)
        self.hashes = {e.get("sha256") for e in self.entries}
        self.urls = {e.get("url") for e in self.entries if e.get("url")}
        self.counts = Counter()
        self._next = {}

    def kept_in(self, group):
        return sum(1 for e in self.entries if e["file"].startswith(group + "/"))

    def _next_path(self, group):
        if group not in self._next:
            folder = os.path.join(self.root, group)
            os.makedirs(folder, exist_ok=True)
            numbers = [int(n[:-4]) for n in os.listdir(folder) if re.fullmatch(r"\d{6,}\.jpg", n)]
            self._next[group] = max(numbers, default=-1) + 1
        self._next[group] += 1
        return f"{group}/{self._next[group] - 1:06d}.jpg"

    def add(self, group, data, info, img=None):
        """Check and keep one candidate; returns True if kept, else counts the reason."""
        digest = hashlib.sha256(data).hexdigest()
        try:
            if digest in self.hashes:
                raise Rejected("duplicate")
            if img is None:
                img = decode_checked(data)
        except Rejected as r:
            self.counts[str(r)] += 1
            return False
        rel = self._next_path(group)
        write_bytes(os.path.join(self.root, rel), encode_jpeg(shrink(img, self.max_side)))
        entry = {"file": rel, **info, "sha256": digest}
        with open(self.manifest, "a") as f:
            f.write(json.dumps(entry) + "\n")
        self.entries.append(entry)
        self.hashes.add(digest)
        if info.get("url"):
            self.urls.add(info["url"])
        self.counts["kept"] += 1
        return True

    def reject(self, reason):
        self.counts[reason] += 1

    def summary(self):
        skipped = sum(self.counts[r] for r in REASONS)
        detail = ", ".join(f"{r}: {self.counts[r]}" for r in REASONS)
        return f"kept {self.counts['kept']}, skipped {skipped} ({detail})"


# ---------------------------------------------------------------- HTTP

class Http:
    """requests with a User-Agent, a timeout on every request, 429/Retry-After and 5xx backoff."""

    def __init__(self, timeout=15.0, retries=4, max_wait=60.0, max_bytes=MAX_BYTES):
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.timeout, self.retries, self.max_wait, self.max_bytes = timeout, retries, max_wait, max_bytes

    def _wait(self, response, attempt):
        after = response.headers.get("Retry-After", "") if response is not None else ""
        delay = float(after) if after.strip().replace(".", "", 1).isdigit() else 2.0 ** attempt
        time.sleep(min(delay, self.max_wait))

    def get(self, url, params=None, stream=False):
        """GET with retries on 429 and 5xx. Raises requests exceptions on failure."""
        for attempt in range(self.retries + 1):
            r = self.session.get(url, params=params, timeout=self.timeout, stream=stream)
            if (r.status_code == 429 or r.status_code >= 500) and attempt < self.retries:
                r.close()
                self._wait(r, attempt)
                continue
            return r
        return r

    def download(self, url):
        """Bytes of url, or raise Rejected("http error" | "timeout" | "too large")."""
        try:
            r = self.get(url, stream=True)
            with r:
                if r.status_code != 200:
                    raise Rejected("http error")
                if int(r.headers.get("Content-Length") or 0) > self.max_bytes:
                    raise Rejected("too large")
                chunks, size, started = [], 0, time.monotonic()
                for chunk in r.iter_content(65536):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise Rejected("too large")
                    if time.monotonic() - started > 4 * self.timeout:  # a trickle never ends otherwise
                        raise Rejected("timeout")
                    chunks.append(chunk)
                return b"".join(chunks)
        except requests.Timeout:
            raise Rejected("timeout") from None
        except requests.RequestException:
            raise Rejected("http error") from None


def _offline_error(url, err):
    host = urlparse(url).hostname or url
    return Unavailable(f"cannot reach {host} ({type(err).__name__}); no network? "
                 "Make backgrounds offline with `synthetic` 200, or import photos with `from_dir` DIR")


# ---------------------------------------------------------------- sources

def openverse_pages(http, api_url, term):
    """Yield lists of candidates {url, license, creator, attribution, landing} from Openverse."""
    for page in range(1, 100):
        r = http.get(f"{api_url.rstrip('/')}/v1/images/", params={"q": term, "page": page, "page_size": 50})
        if r.status_code != 200:
            return
        results = r.json().get("results") or []
        if not results:
            return
        yield [{"url": x.get("url"), "license": x.get("license"), "creator": x.get("creator"),
                "attribution": x.get("attribution"), "landing": x.get("foreign_landing_url")}
               for x in results if x.get("url")]


def wikimedia_pages(http, api_url, term):
    """Yield lists of candidates from the Wikimedia Commons API (file namespace search)."""
    offset = 0
    for _ in range(100):
        r = http.get(f"{api_url.rstrip('/')}/w/api.php", params={
            "action": "query", "format": "json", "generator": "search", "gsrsearch": f"filetype:bitmap {term}",
            "gsrnamespace": 6, "gsrlimit": 50, "gsroffset": offset, "prop": "imageinfo",
            "iiprop": "url|extmetadata", "iiurlwidth": MAX_SIDE_KEPT})
        if r.status_code != 200:
            return
        body = r.json()
        pages = (body.get("query") or {}).get("pages") or {}
        batch = []
        for page in sorted(pages.values(), key=lambda p: p.get("index", 0)):
            info = (page.get("imageinfo") or [{}])[0]
            meta = info.get("extmetadata") or {}
            value = lambda k: (meta.get(k) or {}).get("value")
            url = info.get("thumburl") or info.get("url")
            if url:
                batch.append({"url": url, "license": value("LicenseShortName"), "creator": value("Artist"),
                              "attribution": value("Attribution") or value("Credit"),
                              "landing": info.get("descriptionurl")})
        if batch:
            yield batch
        cont = body.get("continue") or {}
        if "gsroffset" not in cont:
            return
        offset = cont["gsroffset"]


SOURCES = {"openverse": openverse_pages, "wikimedia": wikimedia_pages}


class Progress:
    def __init__(self, label, total, stream=sys.stderr):
        self.label, self.total, self.stream = label, total, stream
        self.tty = stream.isatty()

    def update(self, done, final=False):
        if self.tty or final:
            end = "\n" if final else ""
            self.stream.write(f"\r{self.label}: {done}/{self.total} kept{end}")
            self.stream.flush()


def _fetch_candidates(http, store, group, candidates, need, workers, source, progress):
    """Download candidates in parallel, keep up to `need`; returns how many were kept."""
    kept = 0
    fresh = [c for c in candidates if c["url"] not in store.urls]
    with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
        futures = [(c, pool.submit(http.download, c["url"])) for c in fresh]
        for c, fut in futures:
            if kept >= need:
                fut.cancel()
                continue
            try:
                data = fut.result()
            except Rejected as r:
                store.reject(str(r))
                continue
            info = {"source": source, **{k: v for k, v in c.items() if v is not None}}
            if store.add(group, data, info):
                kept += 1
                progress.update(store.kept_in(group))
    return kept


def fetch_terms(store, terms, count, source, api_url, workers, http):
    for term in terms:
        group = group_name(term)
        have = store.kept_in(group)
        progress = Progress(group, count)
        if have >= count:
            progress.update(have, final=True)
            continue
        pages = SOURCES[source](http, api_url, term)
        while store.kept_in(group) < count:
            try:
                batch = next(pages)
            except StopIteration:
                break
            except requests.ConnectionError as e:
                raise _offline_error(api_url, e) from None
            except (requests.RequestException, ValueError) as e:
                print(f"\n{group}: search failed ({type(e).__name__}); moving on", file=sys.stderr)
                break
            _fetch_candidates(http, store, group, batch, count - store.kept_in(group), workers, source, progress)
        progress.update(store.kept_in(group), final=True)


def fetch_url_list(store, path, workers, http):
    try:
        with open(path) as f:
            urls = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    except OSError as e:
        raise InvalidArgument("urls", path, f"a readable text file with one URL per line ({e.strerror})")
    hosts = {urlparse(u).hostname for u in urls}
    reachable = False
    for host in hosts:
        try:
            socket.getaddrinfo(host, None)
            reachable = True
        except (socket.gaierror, UnicodeError, TypeError):
            pass
    if urls and not reachable:
        raise _offline_error(urls[0], OSError("DNS lookup failed"))
    progress = Progress("urls", len(urls))
    _fetch_candidates(http, store, "urls", [{"url": u} for u in urls], len(urls), workers, "urls", progress)
    progress.update(store.kept_in("urls"), final=True)


def import_dir(store, folder):
    if not os.path.isdir(folder):
        raise InvalidArgument("from_dir", folder, "an existing folder of photos")
    group = group_name(os.path.basename(os.path.normpath(folder)))
    paths = sorted(os.path.join(d, n) for d, _, names in os.walk(folder) for n in names)
    progress = Progress(group, len(paths))
    for path in paths:
        try:
            if os.path.getsize(path) > MAX_BYTES:
                store.reject("too large")
                continue
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            store.reject("not an image")
            continue
        store.add(group, data, {"source": "dir", "url": None, "path": os.path.abspath(path)})
        progress.update(store.kept_in(group))
    progress.update(store.kept_in(group), final=True)


# ---------------------------------------------------------------- synthetic

def sample_synthetic_params(rng, size=512):
    """Random parameters of one procedural background (sampled first, applied by render_synthetic)."""
    h = int(rng.integers(size * 3 // 4, size + 1))
    return {
        "size": (size, h),
        "corner_colors": rng.uniform(0, 255, (4, 3)),
        "noise": [(float(rng.uniform(2, 64)), rng.uniform(0, 60, 3), int(rng.integers(1 << 30)))
                  for _ in range(int(rng.integers(1, 4)))],
        "shapes": [(str(rng.choice(["rect", "ellipse", "line", "poly"])), rng.uniform(0, 1, 8),
                    rng.uniform(0, 255, 3), int(rng.integers(-1, 12)))
                   for _ in range(int(rng.integers(3, 40)))],
        "stripes": float(rng.uniform(0, 1)) < 0.3,
        "stripe_freq": float(rng.uniform(2, 40)), "stripe_angle": float(rng.uniform(0, np.pi)),
        "blur": float(rng.choice([0, 0, 1, 2, 4])),
    }


def render_synthetic(params):
    w, h = params["size"]
    c = params["corner_colors"]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = (xs / (w - 1))[..., None], (ys / (h - 1))[..., None]
    img = (1 - u) * (1 - v) * c[0] + u * (1 - v) * c[1] + (1 - u) * v * c[2] + u * v * c[3]
    for scale, amp, seed in params["noise"]:
        small = np.random.default_rng(seed).standard_normal((max(2, int(h / scale)), max(2, int(w / scale)), 3))
        img += cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC) * amp
    if params["stripes"]:
        a = params["stripe_angle"]
        phase = (np.cos(a) * xs + np.sin(a) * ys) * params["stripe_freq"] / w * 2 * np.pi
        img += (np.sin(phase)[..., None] * 40).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for kind, p, color, thick in params["shapes"]:
        col = tuple(float(x) for x in color)
        x0, y0, x1, y1 = int(p[0] * w), int(p[1] * h), int(p[2] * w), int(p[3] * h)
        if kind == "rect":
            cv2.rectangle(img, (x0, y0), (x1, y1), col, thick if thick > 0 else -1, cv2.LINE_AA)
        elif kind == "ellipse":
            axes = (int(p[4] * w / 3) + 1, int(p[5] * h / 3) + 1)
            cv2.ellipse(img, (x0, y0), axes, float(p[6] * 360), 0, 360, col, thick if thick > 0 else -1, cv2.LINE_AA)
        elif kind == "line":
            cv2.line(img, (x0, y0), (x1, y1), col, max(1, thick), cv2.LINE_AA)
        else:
            pts = np.array([[x0, y0], [x1, y1], [int(p[4] * w), int(p[5] * h)], [int(p[6] * w), int(p[7] * h)]])
            cv2.fillPoly(img, [pts.astype(np.int32)], col, cv2.LINE_AA)
    if params["blur"] > 0:
        img = cv2.GaussianBlur(img, (0, 0), params["blur"])
    return img


def make_synthetic(store, n, seed):
    progress = Progress("synthetic", n)
    group = "synthetic"
    done = {e.get("index") for e in store.entries if e.get("source") == "synthetic" and e.get("seed") == seed}
    for i in range(n):
        if i in done:
            continue
        img = render_synthetic(sample_synthetic_params(np.random.default_rng([seed, i])))
        data = encode_jpeg(img)
        store.add(group, data, {"source": "synthetic", "url": None, "seed": seed, "index": i,
                                "license": "CC0 (generated)"}, img=img)
        progress.update(store.kept_in(group))
    progress.update(store.kept_in(group), final=True)


# ---------------------------------------------------------------- entry point

def _option(default, help, **more):
    """A config field: its default, its help text, and what else its flag needs (type, metavar)."""
    return dataclasses.field(default=default, metadata={"help": help, **more})


@dataclasses.dataclass
class BackgroundConfig:
    """Where backgrounds come from: the defaults and help texts of fetch_backgrounds.py."""

    terms: tuple = _option((), "search terms (default: the original's 20 terms)")
    count: int = _option(200, "images to keep per term")  # the original's
    out: str = _option("background", "background folder")
    source: str = _option("openverse", "openverse or wikimedia")
    api_url: str | None = _option(None, "override the source's base URL (default: its public API)")
    urls: str | None = _option(None, "download the URLs listed in FILE, one per line", metavar="FILE")
    from_dir: str | None = _option(None, "import the photos under DIR, recursively", metavar="DIR")
    synthetic: int | None = _option(None, "make N procedural backgrounds, offline", type=int, metavar="N")
    seed: int = _option(0, "seed of the procedural backgrounds")
    workers: int = _option(8, "parallel downloads")
    timeout: float = _option(15.0, "seconds to wait on each request")
    max_side: int = _option(MAX_SIDE_KEPT, "long side of kept JPEGs")


_B = BackgroundConfig  # each default once: in the config


def fetch_backgrounds(terms=_B.terms, count=_B.count, out=_B.out, source=_B.source, api_url=_B.api_url, urls=_B.urls,
                      from_dir=_B.from_dir, synthetic=_B.synthetic, seed=_B.seed, workers=_B.workers,
                      timeout=_B.timeout, max_side=_B.max_side):
    """Fill a background folder from one source; see the module docstring for the layout.

    Exactly one of: search terms (default: DEFAULT_TERMS), `urls`, `from_dir`, `synthetic`.
    The arguments and their defaults are BackgroundConfig's.

    Returns:
        Store, with `.counts` for the summary.
    """
    for name, value in (("count", count), ("workers", workers), ("max_side", max_side)):
        if not isinstance(value, int) or value <= 0:
            raise InvalidArgument(name, value, "a positive integer")
    if synthetic is not None and synthetic <= 0:
        raise InvalidArgument("synthetic", synthetic, "a positive integer")
    if source not in SOURCES:
        raise InvalidArgument("source", source, f"one of {', '.join(SOURCES)}")
    chosen = [name for name, v in (("`urls`", urls), ("`from_dir`", from_dir), ("`synthetic`", synthetic)) if v is not None]
    if len(chosen) > 1 or (chosen and terms):
        raise SegmentyError(f"choose one source of images; received {' and '.join(chosen + (['`terms`'] if terms else []))}")
    os.makedirs(out, exist_ok=True)
    store = Store(out, max_side)
    if synthetic is not None:
        make_synthetic(store, synthetic, seed)
    elif from_dir is not None:
        import_dir(store, from_dir)
    else:
        http = Http(timeout=timeout)
        if urls is not None:
            fetch_url_list(store, urls, workers, http)
        else:
            fetch_terms(store, list(terms) or DEFAULT_TERMS, count, source, api_url or API_URLS[source], workers, http)
    return store
