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
    if min(image.width, image.height) < MIN_FACE:
        # No face fits; a 1x1 image would also reach numpy as a scalar, with no shape.
        return []
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


def detect_turned(image: pyvips.Image, turned: int) -> list[Face]:
    """The faces of an image turned `turned` degrees clockwise (`rot_`), found with it upright
    again (the cascade knows only upright faces), in the turned image's pixels."""
    if not turned:
        return detect(image)
    upright = image.rot(f"d{360 - turned}")
    w, h = upright.width, upright.height
    turn = {
        90: lambda f: Face(h - f.top - f.height, f.left, f.height, f.width),
        180: lambda f: Face(w - f.left - f.width, h - f.top - f.height, f.width, f.height),
        270: lambda f: Face(f.top, w - f.left - f.width, f.height, f.width),
    }[turned]
    return [turn(f) for f in detect(upright)]


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


def area(found: list[Face], width: int, height: int, box: tuple[float, float] | None,
         pad: float, least: tuple[float, float]) -> tuple[int, int, int, int]:
    """The crop (left, top, width, height) of a width x height image that `facepad` zooms to:
    the faces' bounding box (each raised for the hair, as `focus` raises it) grown `pad` times
    about its centre, widened to the box's ratio (None: its own), at least `least` (so an image
    is not enlarged unless asked), at most the image; centred on the faces, held inside."""
    top_of = [f.top - f.height * HAIR_OFFSET for f in found]
    top_of = [t if t >= 0 else f.top for t, f in zip(top_of, found, strict=True)]
    x0 = min(f.left for f in found)
    x1 = max(f.left + f.width for f in found)
    y0 = min(top_of)
    y1 = max(t + f.height for t, f in zip(top_of, found, strict=True))
    w, h = (x1 - x0) * pad, (y1 - y0) * pad
    ratio = box[0] / box[1] if box is not None else w / h
    w, h = (h * ratio, h) if w / h < ratio else (w, w / ratio)
    grow = max(1.0, least[0] / w, least[1] / h)
    shrink = min(1.0, width / (w * grow), height / (h * grow))
    w, h = w * grow * shrink, h * grow * shrink
    side_w = min(width, max(1, round(w)))
    side_h = min(height, max(1, round(h)))
    left = round(min(max((x0 + x1) / 2 - side_w / 2, 0), width - side_w))
    top = round(min(max((y0 + y1) / 2 - side_h / 2, 0), height - side_h))
    return left, top, side_w, side_h
