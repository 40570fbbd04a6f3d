"""Images in and files out, at the bottom of the package: photos as arrays, and writes that never leave half a file.

Photos are RGB uint8 arrays (EXIF orientation applied); OpenCV's BGR stays inside the
modules that call OpenCV. The model sees a photo resized to image_size x image_size, RGB
float32 in 0..255 (its first BatchNorm standardises it).
"""

import contextlib
import json
import os
import re

import cv2
import numpy as np

from segmenty.errors import InvalidArgument, SegmentyError

# Every file name segmenty reads as a photo, background or pattern picture.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def is_image_name(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


_SAMPLE_MASK = re.compile(r"^\d{6,}_o_\d+_\w+\.png$")


def is_photo_name(name):
    """An image file that isn't a sample's mask (NNNNNN_o_K_abc.png)."""
    return is_image_name(name) and not _SAMPLE_MASK.match(name)


def list_images(inputs, limit=10):
    """Image files named by `inputs` (files or folders), sorted per folder, sample masks (_o_) left out.

    Args:
        inputs: list of str, files or folders.
        limit: int, at most this many; 0 for all. Defaults to 10 (the original's).

    Returns:
        list of str.
    """
    found = []
    for item in inputs:
        if os.path.isdir(item):
            names = sorted(n for n in os.listdir(item) if is_photo_name(n))
            found += [os.path.join(item, n) for n in names]
        elif os.path.isfile(item):
            found.append(item)
        else:
            raise InvalidArgument("inputs", item, "an image file or a folder")
    if not found:
        raise SegmentyError(f"no images in {', '.join(inputs)} (expected {', '.join(IMAGE_EXTENSIONS)} files)")
    return found[:limit] if limit else found


MAX_PIXELS = 50_000_000  # a photo larger than this is refused before it is decoded (about 150 MB as RGB)


class TooLarge(ValueError):
    """An image with more pixels than the caller allows, refused before decoding."""


def read_photo(path, max_pixels=MAX_PIXELS):
    """RGB uint8 array of a photo with its EXIF orientation applied; grayscale becomes RGB.

    The size in the file's header is checked before anything is decoded, so a decompression
    bomb (a small file that decodes to gigabytes) costs nothing.

    Args:
        path: str, the image file.
        max_pixels: int or None, refuse larger images (TooLarge). Defaults to MAX_PIXELS.

    Raises:
        ValueError: if the file can't be decoded, or TooLarge.
    """
    from PIL import Image, ImageOps
    try:
        with Image.open(path) as im:
            if max_pixels and im.width * im.height > max_pixels:
                raise TooLarge(f"{im.width}x{im.height} pixels, more than the {max_pixels:,} allowed "
                               f"(raise `max_pixels` to read it)")
            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGB"))
    except TooLarge:
        raise
    except Image.DecompressionBombError as e:  # Pillow's own limit, reached before ours could look
        raise TooLarge(f"{e} (`max_pixels` allows {max_pixels:,})") from None
    except Exception as e:
        raise ValueError(f"unreadable image ({type(e).__name__}: {e})") from None


def model_input(rgb, image_size):
    """The photo as the model sees it: image_size x image_size, RGB float32 0..255."""
    return cv2.resize(rgb, (image_size, image_size), interpolation=cv2.INTER_AREA).astype(np.float32)


@contextlib.contextmanager
def replacing(path):
    """Yield a temporary name beside `path` to write to; once written, it replaces `path` in one step.

    Readers see the old file or the new one, whole, never a part. On an error the
    temporary file is removed and `path` is left as it was.
    """
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    root, ext = os.path.splitext(name)
    # The extension stays last: some writers (Keras, PIL) choose the format from it.
    tmp = os.path.join(folder, f".{root}.tmp{os.getpid()}{ext}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def write_bytes(path, data):
    """Write bytes (or text) to `path` atomically (see replacing)."""
    with replacing(path) as tmp, open(tmp, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def write_json(path, obj, indent=None):
    """Write `obj` as JSON to `path` atomically (see replacing)."""
    write_bytes(path, json.dumps(obj, indent=indent))
