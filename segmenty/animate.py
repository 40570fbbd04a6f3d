"""Stage 5, over time: the wild snapshots of one photo as an animated GIF (animate_snapshots.py).

Reads the snapshots that training writes after every epoch (train.py):

    snapshots/IIIIII_EEEEEE_in.jpg, snapshots/IIIIII_EEEEEE_out<k>.jpg   photo I, epoch E

and writes one frame per epoch, the input and its outputs side by side with the epoch
written on it, looping at 0.5 s a frame, as the original's animate.sh did with ImageMagick.
"""

import os
import re

import cv2
import numpy as np

from segmenty.errors import InvalidArgument, SegmentyError
from segmenty.images import replacing

_SNAPSHOT = re.compile(r"^(\d{6})_(\d{6})_(in|out(\d+))\.jpg$")
FRAME_SECONDS = 0.5


def find_epochs(folder, index):
    """{epoch: [input path, output paths in channel order]} for photo `index`."""
    if not os.path.isdir(folder):
        raise InvalidArgument("snapshots", folder, "a folder of training snapshots (train with `wild` photos)")
    found = {}
    for name in os.listdir(folder):
        m = _SNAPSHOT.match(name)
        if m and int(m.group(1)) == index:
            k = -1 if m.group(3) == "in" else int(m.group(4))
            found.setdefault(int(m.group(2)), {})[k] = os.path.join(folder, name)
    epochs = {e: [files[k] for k in sorted(files)] for e, files in sorted(found.items()) if -1 in files}
    if not epochs:
        raise SegmentyError(f"no snapshots of photo {index} in {folder}/ (expected {index:06d}_EEEEEE_in.jpg files; "
                        "train with a --wild folder of photos)")
    return epochs


def frame(paths, epoch, tile=None):
    """One RGB frame: the tiles side by side, 'epoch N' written on the first."""
    tiles = [cv2.imread(p, cv2.IMREAD_COLOR) for p in paths]
    tiles = [t for t in tiles if t is not None]
    h = tile or tiles[0].shape[0]
    tiles = [cv2.resize(t, (round(t.shape[1] * h / t.shape[0]), h), interpolation=cv2.INTER_AREA) for t in tiles]
    img = np.hstack([np.pad(t, ((0, 0), (0, 2), (0, 0)), constant_values=255) for t in tiles])
    scale = h / 256
    org = (round(6 * scale) + 2, round(22 * scale) + 4)
    for color, width in (((0, 0, 0), 4), ((255, 255, 255), 1)):
        cv2.putText(img, f"epoch {epoch + 1}", org, cv2.FONT_HERSHEY_SIMPLEX, 0.7 * max(scale, 0.5), color,
                    max(1, round(width * max(scale, 0.5))), cv2.LINE_AA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def animate(index=0, snapshots="snapshots", out=None, tile=None):
    """Write the GIF of photo `index`; returns (path, number of frames).

    Args:
        index: int, the wild photo's number. Defaults to 0.
        snapshots: str, the snapshot folder. Defaults to "snapshots".
        out: str or None, the GIF; None for animation_IIIIII.gif.
        tile: int or None, frame height in px; None keeps the snapshots' size.
    """
    from PIL import Image
    if index < 0:
        raise InvalidArgument("index", index, "an integer >= 0")
    epochs = find_epochs(snapshots, index)
    frames = [Image.fromarray(frame(paths, epoch, tile)) for epoch, paths in epochs.items()]
    out = out or f"animation_{index:06d}.gif"
    with replacing(out) as tmp:
        frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=int(FRAME_SECONDS * 1000), loop=0)
    return out, len(frames)
