"""How a Find looks drawn on a picture: the overlay of photos and the annotated frames of videos."""

import cv2
import numpy as np

OUTLINE = (255, 0, 255)
POINT = (0, 255, 255)


def draw_find(img, find, scale=None):
    """Draw a Find on a BGR image in place: the whole outline, its first corner, the points in view."""
    scale = scale or max(img.shape[:2]) / 640
    thick = max(1, round(3 * scale))
    if find.quad is None:
        return img
    quad = np.asarray(find.quad, np.float64)
    colour = OUTLINE if find.found else (128, 128, 128)
    cv2.polylines(img, [np.int32(np.round(quad * 16))], True, colour, thick, cv2.LINE_AA, shift=4)
    # The pattern's own top-left corner: its orientation, even where the page is turned.
    cv2.circle(img, tuple(np.int32(np.round(quad[0] * 16))), max(3, 3 * thick) * 16, colour, -1, cv2.LINE_AA, shift=4)
    for p in find.points or []:
        if p.in_view:
            centre = tuple(np.int32(np.round(np.asarray(p.xy) * 16)))
            cv2.circle(img, centre, max(2, round(2 * scale)) * 16, POINT, max(1, thick // 2), cv2.LINE_AA, shift=4)
    return img
