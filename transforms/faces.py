"""Face detection for `g_face` and `g_faces`: OpenCV's Haar cascade for frontal faces, the
detector and settings of thumbor's smart crop (`haarcascade_frontalface_alt.xml`, scale step
1.2, 4 neighbours, faces at least 1/15 of the shorter side), on a greyscale copy of the image
at most `DETECT_SIDE` px long, so a detection costs tens of milliseconds whatever the size.

OpenCV sees only pixels libvips decoded and resized, never the source's bytes. It is the
optional `faces` extra: without it the grammar refuses the face gravities (`AVAILABLE`).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from typing import Any

import pyvips

from transforms.greys import pillow_luma

# Whether OpenCV is installed (`pip install 'imgorigin[faces]'`); looked up, not imported.
AVAILABLE = importlib.util.find_spec("cv2") is not None
DETECT_SIDE = 600
CASCADE = "haarcascade_frontalface_alt.xml"
SCALE_STEP = 1.2
NEIGHBOURS = 4
MIN_FACE = 20  # px of the detection image; thumbor's floor
# thumbor moves each face's box up by this share of its height, so a crop keeps the hair.
HAIR_OFFSET = 0.12

_local = threading.local()  # a classifier per transform thread: one is not safe to share


@dataclass(frozen=True, slots=True)
class Face:
    left: int
    top: int
    width: int
    height: int

    @property
    def area(self) -> int:
        return self.width * self.height


def _classifier() -> Any:
    classifier = getattr(_local, "classifier", None)
    if classifier is None:
        import cv2  # imported on the first face crop: workers that never make one never load it

        # The transform threads are the parallelism; OpenCV's own pool would oversubscribe.
        cv2.setNumThreads(1)
        classifier = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, CASCADE))
        if classifier.empty():
            raise RuntimeError(f"OpenCV could not load {CASCADE}")
        _local.classifier = classifier
    return classifier


def detect(image: pyvips.Image) -> list[Face]:
    """The frontal faces in `image`, in its pixels, largest first."""
    scale = min(1.0, DETECT_SIDE / max(image.width, image.height))
    # Pillow's grey, the one thumbor's detector reads: a few levels of another grey move the
    # boxes found.
    grey = pillow_luma(image).extract_band(0)
    if scale < 1.0:
        grey = grey.resize(scale)
    pixels = grey.numpy()
    side = max(MIN_FACE, min(pixels.shape) // 15)
    found = _classifier().detectMultiScale(pixels, SCALE_STEP, NEIGHBOURS,
                                           minSize=(side, side))
    faces = [Face(*(round(int(v) / scale) for v in box)) for box in found]
    return sorted(faces, key=lambda f: (-f.area, f.top, f.left))


def focus(faces: list[Face]) -> tuple[int, int]:
    """The point a crop centres on: the faces' centres weighted by their areas, each box first
    moved up by `HAIR_OFFSET` of its height where that stays inside the image; thumbor's focal
    points to the pixel (whole centres, the weighted mean rounded down)."""
    total = sum(f.area for f in faces)
    x = y = 0
    for f in faces:
        raised = f.top - f.height * HAIR_OFFSET
        top = raised if raised >= 0 else f.top
        x += (f.left + f.width // 2) * f.area
        y += int(top + f.height // 2) * f.area
    return x // total, y // total
