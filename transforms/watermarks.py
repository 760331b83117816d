"""Watermarks: the operator's named images, decoded once per worker, laid over outputs.
The files are read by `origin.operator_files`; this package does no I/O.

Only images the operator configured (`IMGORIGIN_WATERMARKS`) can be named in a URL: a watermark
fetched from a URL would be a second source per request and a way to put anyone's image on ours.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

import pyvips

from transforms.options import DIRECTION_ANCHORS, LINE_ANCHORS, Watermark
from transforms.probe import Probe

MAX_SIDE = 2048  # decoded, at most 16 MiB of a worker's memory


@dataclass(frozen=True, slots=True)
class WatermarkImage:
    """A decoded watermark: 8-bit sRGB with alpha, in memory; `digest` names its file's bytes
    in the keys of the variants that carry it, so a new file never answers for the old one."""

    name: str
    image: pyvips.Image
    digest: str


def decode(name: str, data: bytes, info: Probe) -> WatermarkImage:
    """A checked watermark file's pixels; ValueError when it is too large or will not decode."""
    if info.width > MAX_SIDE or info.height > MAX_SIDE:
        raise ValueError(f"{info.width}x{info.height} is over the {MAX_SIDE}x{MAX_SIDE} limit")
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
        raise ValueError(f"could not be decoded: {str(exc).strip().splitlines()[-1]}") from None
    return WatermarkImage(name, image, hashlib.sha256(data).hexdigest()[:16])


def overlay(base: pyvips.Image, mark: WatermarkImage, spec: Watermark,
            dpr: float) -> pyvips.Image:
    """`base` (one frame) with the watermark composited over it, in `base`'s band layout."""
    image = mark.image
    width, height = base.width, base.height
    if spec.fade == "subtract":
        # thumbor's _alpha: 255 x transparency % / 100 (whole levels, cut down) off each
        # alpha, on the mark as loaded, before any resize.
        taken = math.floor(255 * (1 - spec.opacity) + 1e-6)
        image = image.linear([1, 1, 1, 1], [0, 0, 0, -taken]).cast("uchar")
    shares = [share for share in (spec.scale and width * spec.scale / image.width,
                                  spec.scale_height and height * spec.scale_height / image.height)
              if share]
    scale = min(shares) if shares else dpr  # inside every side asked for
    # Never larger than the output: a logo made for a 1600 px photo must fit a thumbnail.
    scale = min(scale, width / image.width, height / image.height)
    if scale != 1:
        image = image.premultiply().resize(scale, kernel="lanczos3").unpremultiply()
    if spec.opacity < 1 and spec.fade == "multiply":
        image = image * [1, 1, 1, spec.opacity]
    image = image.cast("uchar")
    if base.bands in (1, 2):
        image = image.colourspace("b-w")  # a grey output stays grey
    margin_x, margin_y = _margin(spec.margin_x, width, dpr), _margin(spec.margin_y, height, dpr)
    if spec.position == "tile":
        if margin_x or margin_y:  # the gaps between copies, split around each (transparent)
            image = image.embed(margin_x // 2, margin_y // 2, image.width + margin_x,
                                image.height + margin_y)
        # An odd count each way and the grid's middle on the output's: one copy sits in the
        # centre and the edges are cut alike (imgproxy's `re`), not a whole copy at the left
        # and a sliver at the right.
        across = _odd(math.ceil(width / image.width))
        down = _odd(math.ceil(height / image.height))
        grid = image.replicate(across, down)
        image = grid.crop((grid.width - width) // 2, (grid.height - height) // 2, width, height)
        xs, ys = [0], [0]
    elif spec.position == "spread":
        xs, ys = _spread(width, height, image.width, image.height)
    elif spec.position.startswith(("row-", "column-")):
        xs, ys = _line(spec.position, width, height, image.width, image.height, margin_x,
                       margin_y)
    else:
        fx, fy = DIRECTION_ANCHORS[spec.position]
        x, y = round((width - image.width) * fx), round((height - image.height) * fy)
        # Off the edges the position names (a centred axis has none): inwards.
        xs = [x + {0.0: margin_x, 1.0: -margin_x}.get(fx, 0)]
        ys = [y + {0.0: margin_y, 1.0: -margin_y}.get(fy, 0)]
    result = base.composite([image] * len(xs), ["over"] * len(xs), x=xs, y=ys)
    if not base.hasalpha():
        result = result.extract_band(0, n=result.bands - 1)
    return result.cast("uchar")


def _spread(width: int, height: int, mark_width: int,
            mark_height: int) -> tuple[list[int], list[int]]:
    """Where the copies go: as many whole ones as fit each way, the first at the edge, the last
    flush with the other, the room left over as equal gaps (thumbor's `repeat`, to the pixel:
    under two copies' room, two copies 10 px apart, the second cut off)."""
    across, room_x = _spread_axis(width, mark_width)
    down, room_y = _spread_axis(height, mark_height)
    if across * down > 100:  # thumbor's cap on a small mark: six each way, spread the same
        across, down = min(6, across), min(6, down)
        room_x, room_y = width - across * mark_width, height - down * mark_height
    columns, rows = _spots(across, room_x, mark_width), _spots(down, room_y, mark_height)
    xs = [x for x in columns for _ in rows]
    ys = [y for _ in columns for y in rows]
    return xs, ys


def _spots(count: int, room: int, size: int) -> list[int]:
    """Where `count` copies of `size` start along a side, `room` left over as equal gaps (the
    division cut down, as thumbor's)."""
    step = size + room // (max(count, 2) - 1)
    return [i * step for i in range(count)]


def _line(position: str, width: int, height: int, mark_width: int, mark_height: int,
          margin_x: int, margin_y: int) -> tuple[list[int], list[int]]:
    """Copies spread along one row or column as `_spread` spreads them along each side (no cap
    on their number, as thumbor has none along one axis), the row or column placed as thumbor
    places one copy: off its edge by the margin, or centred (cut down to a whole pixel)."""
    row = position.startswith("row-")
    fx, fy = LINE_ANCHORS[position]
    along, cross, size, cross_size, margin, anchor = (
        (width, height, mark_width, mark_height, margin_y, fy) if row
        else (height, width, mark_height, mark_width, margin_x, fx))
    count, room = _spread_axis(along, size)
    spots = _spots(count, room, size)
    if anchor == 0.5:
        at = int((cross - cross_size) / 2)
    else:
        at = margin if anchor == 0.0 else cross - cross_size - margin
    fixed = [at] * count
    return (spots, fixed) if row else (fixed, spots)


def _spread_axis(length: int, size: int) -> tuple[int, int]:
    """Copies along one side and the room left between them."""
    if length < 2 * size:
        return math.ceil(length / size), 10
    return divmod(length, size)


def _margin(margin: float, side: int, dpr: float) -> int:
    """Pixels of a margin: CSS px times `dpr`, or a share (below 1) of the output's side,
    rounded half up as thumbor rounds its `10p`."""
    if 0 < margin < 1:
        return math.floor(side * margin + 0.5)
    return round(margin * dpr)


def _odd(count: int) -> int:
    return count if count % 2 else count + 1


def digest_of(marks: Mapping[str, WatermarkImage], spec: Watermark | None,
              mask: str | None = None) -> str:
    """What the variant key must add for a watermarked or masked output ("" without either)."""
    masked = f"/mask-{marks[mask].digest}" if mask is not None else ""
    if spec is None:
        return masked
    # Tiles have been centred since session 29: their variants' keys moved with them, so no
    # tier answers with a grid laid from the top-left corner.
    centred = "/tile-centred" if spec.position == "tile" else ""
    return f"/wm-{marks[spec.name].digest}{centred}{masked}"
