"""Decide first, execute second: probe + options -> a plan whose every limit is checked.

All geometry is computed here as plain integers, so it is testable without libvips.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from origin.errors import InvalidOptions, UnprocessableImage
from transforms.formats import ANIMATED_FORMATS
from transforms.options import (
    DIRECTION_ANCHORS,
    CropBox,
    FocalPixel,
    FocalPoint,
    Options,
    OutputFormat,
    Region,
    ShiftedDirection,
    direction_of,
)
from transforms.probe import MULTI_PAGE, Probe

if TYPE_CHECKING:
    from transforms.watermarks import WatermarkImage


@dataclass(frozen=True, slots=True)
class Limits:
    max_dim: int = 8192
    max_pixels: int = 100_000_000
    max_frames: int = 500


@dataclass(frozen=True, slots=True)
class Geometry:
    """Resize the (region of the) source to `resize`, then crop to or pad out to `box`, then
    add `padding` pixels (top, right, bottom, left) around it."""

    resize: tuple[int, int]
    box: tuple[int, int] | None = None
    mode: str = ""  # "crop", "pad" or ""
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def output(self) -> tuple[int, int]:
        """The size of the image the pipeline makes."""
        w, h = self.box or self.resize
        top, right, bottom, left = self.padding
        return w + left + right, h + top + bottom


@dataclass(frozen=True, slots=True)
class Plan:
    options: Options
    probe: Probe
    output: OutputFormat
    animate: bool
    page: int
    region: Region | None
    geometry: Geometry | None  # None when the size depends on trim, known only after decoding
    watermark: WatermarkImage | None = None
    mask: WatermarkImage | None = None

    @property
    def load_all_frames(self) -> bool:
        return self.animate


def _scale_dim(value: int, scale: float) -> int:
    return max(1, round(value * scale))


def padding_pixels(options: Options) -> tuple[int, int, int, int]:
    """`pad`'s edges in output pixels (top, right, bottom, left)."""
    p = options.padding
    if p is None:
        return (0, 0, 0, 0)
    dpr = options.dpr
    return (round(p.top * dpr), round(p.right * dpr), round(p.bottom * dpr),
            round(p.left * dpr))


def fit_geometry(src_w: int, src_h: int, options: Options, max_dim: int) -> Geometry:
    """Where the pixels go for a src_w x src_h source (after orientation, region, rotation);
    `pad` takes its edges from inside the requested box, or adds them when there is none."""
    if options.aspect is not None:
        options = _aspect_box(src_w, src_h, options)
    elif options.adaptive and options.width and options.height and (
            (src_w < src_h) != (options.width < options.height)) and src_w != src_h:
        # thumbor's adaptive-fit-in: a portrait source in a landscape box (or the reverse) is
        # fitted to the box turned a quarter; a square source or box is left as asked.
        options = replace(options, width=options.height, height=options.width)
    if options.fit == "auto" and options.width and options.height:
        # imgproxy's rule: a square counts as landscape on either side.
        same = (src_w >= src_h) == (options.width >= options.height)
        options = replace(options, fit="cover" if same else "inside")
    padding = padding_pixels(options)
    reserved = (padding[1] + padding[3], padding[0] + padding[2])
    geometry = _fit(src_w, src_h, options, max_dim, reserved)
    if options.min_width or options.min_height:
        geometry = _at_least(geometry, src_w, src_h, options, max_dim, reserved)
    return replace(geometry, padding=padding) if any(padding) else geometry


def _at_least(geometry: Geometry, src_w: int, src_h: int, options: Options, max_dim: int,
              reserved: tuple[int, int]) -> Geometry:
    """`minw`/`minh` as imgproxy applies them: the resize grown (past the source too) until it
    is that wide and high, then cut to the requested sides where it passed them."""
    dpr = options.dpr
    need_w = min(max_dim, round((options.min_width or 0) * dpr))
    need_h = min(max_dim, round((options.min_height or 0) * dpr))
    rw, rh = geometry.resize
    if rw >= need_w and rh >= need_h:
        return geometry
    scale = max(need_w / src_w, need_h / src_h)
    resize = _cap((max(rw, _scale_dim(src_w, scale)), max(rh, _scale_dim(src_h, scale))),
                  max_dim)
    sides = [resize[0], resize[1]]
    for i, (asked, taken) in enumerate(((options.width, reserved[0]),
                                        (options.height, reserved[1]))):
        if asked:
            sides[i] = min(sides[i], max(1, min(max_dim, round(asked * dpr)) - taken))
    box = (sides[0], sides[1])
    if box == resize:
        return Geometry(resize)
    return Geometry(resize, box, "crop")


def _aspect_box(src_w: int, src_h: int, options: Options) -> Options:
    """`ar_` alone as the box it makes of the source: the largest of that ratio inside it
    (`fit_cover` cuts it out) or the smallest around it (`fit_contain` pads out to it)."""
    ratio = options.aspect
    assert ratio is not None
    wider = src_w / src_h > ratio
    # Rounded half up, as the grammar rounds the side `ar_` writes.
    if (options.fit == "cover") == wider:
        box = (max(1, math.floor(src_h * ratio + 0.5)), src_h)
    else:
        box = (src_w, max(1, math.floor(src_w / ratio + 0.5)))
    if options.zoom != 1:
        box = (_scale_dim(box[0], options.zoom), _scale_dim(box[1], options.zoom))
    return replace(options, width=box[0], height=box[1], aspect=None, zoom=1.0,
                   extend=options.fit == "contain")


def _fit(src_w: int, src_h: int, options: Options, max_dim: int,
         reserved: tuple[int, int]) -> Geometry:
    dpr = options.dpr
    w = min(max_dim, round(options.width * dpr)) if options.width else None
    h = min(max_dim, round(options.height * dpr)) if options.height else None
    if options.width and options.height and (w, h) != (round(options.width * dpr),
                                                       round(options.height * dpr)):
        # Capped as a whole: a 6000x3000 box at dpr 2 is 8192x4096, not 8192x6000.
        k = min(max_dim / (options.width * dpr), max_dim / (options.height * dpr))
        w = max(1, round(options.width * dpr * k))
        h = max(1, round(options.height * dpr * k))
    if w is not None:
        w = _inside_padding(w, reserved[0])
    if h is not None:
        h = _inside_padding(h, reserved[1])
    if w is None and h is None:
        if options.zoom == 1:
            return Geometry((src_w, src_h))
        scale = options.zoom if options.enlarge else min(options.zoom, 1.0)
        return Geometry(_cap((_scale_dim(src_w, scale), _scale_dim(src_h, scale)), max_dim))
    if w is None or h is None:
        scale = (w / src_w) if w is not None else (h / src_h)  # type: ignore[operator]
        if not options.enlarge:
            scale = min(scale, 1.0)
        return Geometry(_cap((_scale_dim(src_w, scale), _scale_dim(src_h, scale)), max_dim))
    fit = options.fit
    if fit in ("inside", "outside"):
        pick = min if fit == "inside" else max
        scale = pick(w / src_w, h / src_h)
        if not options.enlarge:
            scale = min(scale, 1.0)
        resize = _cap((_scale_dim(src_w, scale), _scale_dim(src_h, scale)), max_dim)
        if options.pad_to_ratio and fit == "inside":
            return _padded_to_ratio(resize, w, h)
        return Geometry(resize)
    if not options.enlarge and not options.extend:
        # The box keeps the requested aspect ratio but never outgrows the source.
        shrink = min(1.0, src_w / w, src_h / h)
        w, h = max(1, round(w * shrink)), max(1, round(h * shrink))
    if fit == "fill":
        return Geometry((w, h))
    if fit == "cover":
        scale = max(w / src_w, h / src_h)
        resize = (max(w, _scale_dim(src_w, scale)), max(h, _scale_dim(src_h, scale)))
        return Geometry(resize, (w, h), "crop")
    scale = min(w / src_w, h / src_h)  # contain
    if options.extend:
        scale = min(scale, 1.0)  # the image never grows; the box keeps the size asked for
    resize = (min(w, _scale_dim(src_w, scale)), min(h, _scale_dim(src_h, scale)))
    return Geometry(resize, (w, h), "pad")


def _padded_to_ratio(resize: tuple[int, int], w: int, h: int) -> Geometry:
    """`exar`: the fitted image padded out to w:h on the side it falls short, as imgproxy's
    extend_aspect_ratio sizes it (rounded half up)."""
    rw, rh = resize
    if h / rh > w / rw:
        box = (rw, math.floor(rw * h / w + 0.5))
    elif w / rw > h / rh:
        box = (math.floor(rh * w / h + 0.5), rh)
    else:
        return Geometry(resize)
    return Geometry(resize) if box == resize else Geometry(resize, box, "pad")


def _inside_padding(size: int, reserved: int) -> int:
    if size - reserved < 1:
        raise InvalidOptions(f"the padding ({reserved} px) leaves no room in the {size} px "
                             "the options ask for")
    return size - reserved


def _cap(size: tuple[int, int], max_dim: int) -> tuple[int, int]:
    w, h = size
    over = max(w, h) / max_dim
    if over <= 1:
        return size
    return max(1, round(w / over)), max(1, round(h / over))


def clamp_region(region: Region, width: int, height: int) -> Region:
    """The part of `region` inside a width x height image; 400 when nothing is left."""
    x2, y2 = min(width, region.x + region.width), min(height, region.y + region.height)
    if region.x >= width or region.y >= height or x2 <= region.x or y2 <= region.y:
        raise InvalidOptions(
            f"crop region {region.x}:{region.y}:{region.width}:{region.height} is outside "
            f"the {width}x{height} source"
        )
    return Region(region.x, region.y, x2 - region.x, y2 - region.y)


def place_crop(crop: CropBox, width: int, height: int) -> Region:
    """The region a gravity crop takes of a width x height image, placed as imgproxy places
    it (its rounding included), so its URLs cut the same pixels here."""
    w, h = _crop_side(crop.width, width), _crop_side(crop.height, height)
    if isinstance(crop.gravity, FocalPixel):
        left, top = crop.gravity.x - w // 2, crop.gravity.y - h // 2
    elif isinstance(crop.gravity, FocalPoint):
        left = round(width * crop.gravity.x) - w // 2
        top = round(height * crop.gravity.y) - h // 2
    else:
        # An edge or corner is flush with its sides; the centre rounds half to even. A smart
        # gravity's region is only placed once the pixels are decoded (pipeline): the centre
        # until then.
        fx, fy = DIRECTION_ANCHORS.get(direction_of(crop.gravity), (0.5, 0.5))
        left = round((width - w + 1) / 2) if fx == 0.5 else round((width - w) * fx)
        top = round((height - h + 1) / 2) if fy == 0.5 else round((height - h) * fy)
        if isinstance(crop.gravity, ShiftedDirection):
            # In source pixels: imgproxy crops before it scales, so dpr plays no part.
            dx, dy = crop.gravity.shift(width, height, 1.0)
            left, top = left + dx, top + dy
    left, top = max(0, min(left, width - w)), max(0, min(top, height - h))
    return Region(left, top, w, h)


def focal_fraction(point: FocalPixel, region: Region | None, width: int,
                   height: int) -> FocalPoint:
    """A source pixel as a fraction of the width x height image the crop is cut from (the
    region when there is one); a point outside it is held to its nearest edge."""
    x, y = (point.x - region.x, point.y - region.y) if region else (point.x, point.y)
    return FocalPoint(min(max(x / width, 0.0), 1.0), min(max(y / height, 0.0), 1.0))


def _crop_side(side: float, full: int) -> int:
    if side == 0 or side >= full:
        return full
    if side >= 1:
        return int(side)
    return min(full, max(1, math.floor(full * side + 0.5)))


def make_plan(probe: Probe, options: Options, output: OutputFormat, limits: Limits,
              marks: Mapping[str, WatermarkImage] | None = None) -> Plan:
    """Check every limit against the header and fix the geometry; raises 4xx errors. `marks`
    are the server's watermarks, by name."""
    page = options.page or 0
    if page >= probe.pages:
        raise InvalidOptions(f"page_{page} is past the last page ({probe.pages - 1})")
    if page and probe.format not in MULTI_PAGE:
        raise InvalidOptions(f"page_{page}: the source has one page")
    animate = (
        probe.animated and options.animated and options.page is None
        and output in ANIMATED_FORMATS
    )
    frames = probe.pages if animate else 1
    if probe.pages > limits.max_frames and animate:
        raise UnprocessableImage(f"source has {probe.pages} frames; the limit is "
                                 f"{limits.max_frames}")
    width, height = page_size(probe, options.page)
    if width * height * frames > limits.max_pixels:
        raise UnprocessableImage(
            f"source is {width}x{height}"
            + (f"x{frames} frames" if frames > 1 else "")
            + f"; the limit is {limits.max_pixels} pixels"
        )
    crop = options.crop
    region = None
    if isinstance(crop, CropBox):
        region = place_crop(crop, width, height)
        if (region.width, region.height) == (width, height):
            region = None  # all of it: keep shrink-on-load
    elif crop is not None:
        region = clamp_region(crop, width, height)
    src_w, src_h = (region.width, region.height) if region else (width, height)
    if isinstance(options.gravity, FocalPixel):
        options = replace(options, gravity=focal_fraction(options.gravity, region, src_w, src_h))
    if options.rotate in (90, 270):
        src_w, src_h = src_h, src_w
    # Trim's box, and a face area without a box to fill, are known only after decoding.
    face_sized = options.face_pad is not None and not animate and not (options.width
                                                                       and options.height)
    geometry = None if options.trim or face_sized else fit_geometry(src_w, src_h, options,
                                                                    limits.max_dim)
    if geometry is not None and any(geometry.padding):
        # Padding around an unresized image is the one way an output outgrows its source.
        out_w, out_h = geometry.output
        if out_w * out_h * frames > limits.max_pixels:
            raise InvalidOptions(f"padding makes the output {out_w}x{out_h}"
                                 + (f"x{frames} frames" if frames > 1 else "")
                                 + f"; the limit is {limits.max_pixels} pixels")
    mark = None
    if options.watermark is not None:
        mark = (marks or {}).get(options.watermark.name)
        if mark is None:
            raise InvalidOptions(f"unknown watermark '{options.watermark.name}'")
    mask = None
    if options.mask is not None:
        mask = (marks or {}).get(options.mask)
        if mask is None:
            raise InvalidOptions(f"unknown mask image '{options.mask}'")
    return Plan(options, probe, output, animate, page, region, geometry, mark, mask)


def page_size(probe: Probe, page: int | None) -> tuple[int, int]:
    """Oriented size of the page a request decodes: the default image, or `page_N`."""
    if page is None or not probe.page_sizes:
        return probe.width, probe.height
    if page >= len(probe.page_sizes):
        raise InvalidOptions(f"page_{page}: only the first {len(probe.page_sizes)} pages of "
                             "this source can be selected")
    width, height = probe.page_sizes[page]
    if not width or not height:
        raise UnprocessableImage(f"page {page} of the source is not readable")
    return width, height
