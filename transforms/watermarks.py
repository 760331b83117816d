"""Watermarks: the operator's named images, decoded once per worker, laid over outputs.

Only images the operator configured (`IMGORIGIN_WATERMARKS`) can be named in a URL: a watermark
fetched from a URL would be a second source per request and a way to put anyone's image on ours.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

import pyvips

from origin.errors import ImgOriginError
from transforms.options import Watermark
from transforms.probe import probe

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_SIDE = 2048  # decoded, at most 16 MiB of a worker's memory
_OFFSETS = {
    "center": (0.5, 0.5), "north": (0.5, 0.0), "south": (0.5, 1.0), "east": (1.0, 0.5),
    "west": (0.0, 0.5), "northeast": (1.0, 0.0), "northwest": (0.0, 0.0),
    "southeast": (1.0, 1.0), "southwest": (0.0, 1.0),
}


@dataclass(frozen=True, slots=True)
class WatermarkImage:
    """A decoded watermark: 8-bit sRGB with alpha, in memory; `digest` names its file's bytes
    in the keys of the variants that carry it, so a new file never answers for the old one."""

    name: str
    image: pyvips.Image
    digest: str


def load(name: str, path: str) -> WatermarkImage:
    """Read and check one watermark file; ValueError says what is wrong with it."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"watermark '{name}': cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"watermark '{name}': {path} is over {MAX_FILE_BYTES} bytes")
    try:
        info = probe(data, svg_allowed=False)
    except ImgOriginError as exc:
        raise ValueError(f"watermark '{name}': {path}: {exc.detail}") from None
    if info.width > MAX_SIDE or info.height > MAX_SIDE:
        raise ValueError(f"watermark '{name}': {path} is {info.width}x{info.height}; "
                         f"the limit is {MAX_SIDE}x{MAX_SIDE}")
    try:
        image = pyvips.Image.new_from_buffer(data, "", access="random", fail_on="error")
        image = image.autorot()
        if info.has_icc:
            image = image.icc_transform("srgb", embedded=True)
        image = image.colourspace("srgb")
        if not image.hasalpha():
            image = image.bandjoin(255)
        image = image.cast("uchar").copy_memory()
    except pyvips.Error as exc:
        raise ValueError(f"watermark '{name}': {path} could not be decoded: "
                         f"{str(exc).strip().splitlines()[-1]}") from None
    return WatermarkImage(name, image, hashlib.sha256(data).hexdigest()[:16])


def load_all(paths: Mapping[str, str]) -> dict[str, WatermarkImage]:
    """Every configured watermark, by name."""
    return {name: load(name, path) for name, path in paths.items()}


def overlay(base: pyvips.Image, mark: WatermarkImage, spec: Watermark,
            dpr: float) -> pyvips.Image:
    """`base` (one frame) with the watermark composited over it, in `base`'s band layout."""
    image = mark.image
    width, height = base.width, base.height
    scale = (width * spec.scale / image.width) if spec.scale else dpr
    # Never larger than the output: a logo made for a 1600 px photo must fit a thumbnail.
    scale = min(scale, width / image.width, height / image.height)
    if scale != 1:
        image = image.premultiply().resize(scale, kernel="lanczos3").unpremultiply()
    if spec.opacity < 1:
        image = image * [1, 1, 1, spec.opacity]
    image = image.cast("uchar")
    if base.bands in (1, 2):
        image = image.colourspace("b-w")  # a grey output stays grey
    if spec.position == "tile":
        across = math.ceil(width / image.width)
        down = math.ceil(height / image.height)
        image = image.replicate(across, down).crop(0, 0, width, height)
        x = y = 0
    else:
        fx, fy = _OFFSETS[spec.position]
        x, y = round((width - image.width) * fx), round((height - image.height) * fy)
    result = base.composite2(image, "over", x=x, y=y)
    if not base.hasalpha():
        result = result.extract_band(0, n=result.bands - 1)
    return result.cast("uchar")


def digest_of(marks: Mapping[str, WatermarkImage], spec: Watermark | None) -> str:
    """What the variant key must add for a watermarked output ("" without one)."""
    if spec is None:
        return ""
    return f"/wm-{marks[spec.name].digest}"
