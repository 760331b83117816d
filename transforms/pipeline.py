"""The libvips pipeline: an ordered tuple of small steps over one `Context`.

Each step takes the context and returns nothing; the deadline is checked between steps, and the
final encode carries a libvips kill switch so a slow decode stops at the deadline too.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

import pyvips

from origin.errors import UnprocessableImage, UpstreamTimeout
from transforms import autoquality, curves, faces, svgrender, textmarks, wavelet
from transforms.budget import fit_budget
from transforms.credits import credits_of, credits_only
from transforms.formats import ALPHA_FORMATS, DEFAULT_QUALITY, encoder_options, takes_quality
from transforms.greys import pillow_luma
from transforms.options import (
    BLUR_BACKGROUND,
    DIRECTION_ANCHORS,
    FACE_GRAVITIES,
    MEAN_BACKGROUND,
    SMART_GRAVITIES,
    Corners,
    CropBox,
    FocalPoint,
    Gamma,
    Gravity,
    Modulate,
    ShiftedDirection,
    Trim,
    Unsharp,
    WaveletSharpen,
    direction_of,
)
from transforms.plan import Geometry, Plan, fit_geometry
from transforms.probe import FAIL_ON, MULTI_PAGE
from transforms.watchdog import WATCHDOG
from transforms.watermarks import overlay


@dataclass
class Context:
    data: bytes
    plan: Plan
    deadline: float
    max_dim: int = 8192
    image: pyvips.Image | None = None
    output: bytes = b""
    timings: dict[str, float] = field(default_factory=dict)
    # An `mb_` search's result and encode count, for the metrics (origin/service.py).
    budget: tuple[str, int] | None = None
    # The quality `q_auto` chose and the encodes its search ran.
    auto_quality: tuple[int, int] | None = None

    @property
    def frames(self) -> int:
        """Frames stacked vertically in `image` (libvips' page-height convention)."""
        if not self.plan.animate or self.image is None:
            return 1
        return max(1, self.image.height // self.page_height)

    @property
    def page_height(self) -> int:
        assert self.image is not None
        if self.image.get_typeof("page-height"):
            return int(self.image.get("page-height"))
        return self.image.height


Step = Callable[[Context], None]
T = TypeVar("T")


def _load_options(plan: Plan) -> str:
    """The loader's option string. `fail_on=error` must travel in it: `thumbnail_buffer`'s own
    `fail_on` argument does not reach the loader, and truncated input would decode grey."""
    fail_on = "fail_on=" + FAIL_ON.get(plan.probe.format, "error")
    if plan.probe.format not in MULTI_PAGE:
        return fail_on
    if plan.animate:
        return f"n=-1,{fail_on}"
    if plan.options.page is None:
        return fail_on  # the loader's default image: page 0, or a HEIF's primary image
    return f"page={plan.page},{fail_on}"


def _per_frame(ctx: Context, fn: Callable[[pyvips.Image], pyvips.Image]) -> None:
    """Apply `fn` to each frame of an animation (or to the single image), keeping timing data."""
    image = ctx.image
    assert image is not None
    if ctx.frames == 1:
        ctx.image = fn(image)
        return
    page_height = ctx.page_height
    frames = [fn(image.crop(0, i * page_height, image.width, page_height))
              for i in range(ctx.frames)]
    joined = pyvips.Image.arrayjoin(frames, across=1).copy()
    joined.set_type(pyvips.GValue.gint_type, "page-height", frames[0].height)
    for name in ("delay", "loop", "gif-loop"):
        if image.get_typeof(name):
            joined.set_type(image.get_typeof(name), name, image.get(name))
    ctx.image = joined


def load(ctx: Context) -> None:
    """Decode with shrink-on-load when the output size is known from the header alone."""
    plan = ctx.plan
    options = plan.options
    option_string = _load_options(plan)
    geometry = plan.geometry
    zooms = _zooms_to_faces(plan)
    if zooms or (options.resamples and plan.probe.format != "svg"):
        # thumbnail has neither: decode (shrunk on load unless gamma, as in sharp), then resize.
        # An SVG is drawn at the output size instead: there is no resize for them to change.
        # A zoom to faces needs the image before it knows its crop.
        shrink = 1
        if geometry is not None and plan.region is None and options.gamma is None:
            w, h = geometry.resize
            if zooms:  # the faces may be a small part: decode enough detail for a close-up
                w, h = w * FACE_ZOOM_DETAIL, h * FACE_ZOOM_DETAIL
            w, h = (h, w) if options.rotate in (90, 270) else (w, h)
            shrink = _jpeg_shrink(plan, w, h)
            if shrink > 1 and int(min(plan.probe.width / w, plan.probe.height / h)) == shrink:
                shrink //= 2  # as sharp does, so that the kernel still has a resize to do
        _load_full(ctx, option_string, shrink)
        return
    if geometry is not None and plan.region is None:
        w, h = geometry.resize
        fit: dict[str, str] = {"size": "force"}
        if _smart_crop(ctx):
            # libvips' own smart crop inside thumbnail: it reads the decoded pixels twice, which
            # a sequential decode cannot do after the fact, and it still shrinks on load.
            assert geometry.box is not None
            (w, h), fit = geometry.box, {"crop": str(options.gravity)}
        if options.rotate in (90, 270):
            w, h = h, w
        if plan.probe.format == "svg":
            ctx.image = svgrender.render(ctx.data, w, h, ctx.deadline)
        else:
            try:
                shrink = _jpeg_shrink(plan, w, h)
                if shrink > 1:
                    ctx.image = pyvips.Image.new_from_buffer(
                        ctx.data, f"{option_string},shrink={shrink}", access="sequential",
                    ).thumbnail_image(w, height=h, **fit, **_colour(plan))
                else:
                    ctx.image = pyvips.Image.thumbnail_buffer(
                        ctx.data, w, height=h, option_string=option_string,
                        **fit, **_colour(plan),
                    )
            except pyvips.Error as exc:
                raise UnprocessableImage("source could not be decoded",
                                         internal=str(exc)) from None
            if options.rotate or options.flip or options.flop:
                # A JPEG decoded in sequence cannot be read bottom-up or sideways ("out of order
                # read"): turning and mirroring need the (already resized) pixels in memory.
                # The copy decodes the whole source now, so it runs under the deadline guard.
                resized = ctx.image
                ctx.image = guarded(ctx, resized, resized.copy_memory)
        if options.rotate:
            _per_frame(ctx, lambda im: im.rot(f"d{options.rotate}"))
        return
    _load_full(ctx, option_string)


# A zoom to faces decodes the source at least this many times the covering resize's size, so
# a face area down to this share of the image's side is cut from source detail, not enlarged.
FACE_ZOOM_DETAIL = 4


def _zooms_to_faces(plan: Plan) -> bool:
    """`facepad` on a still image (animations take the centre, as the face gravities do)."""
    return plan.options.face_pad is not None and not plan.animate


def _jpeg_shrink(plan: Plan, width: int, height: int) -> int:
    if plan.probe.format != "jpeg":
        return 1
    return jpeg_shrink(plan.probe.width, plan.probe.height, width, height)


def jpeg_shrink(src_w: int, src_h: int, width: int, height: int) -> int:
    """The largest JPEG DCT shrink (8, 4, 2) whose decoded size still covers width x height.

    libvips' `thumbnail` keeps a factor of two for its own resampling; decoding straight to the
    covering scale, as sharp (`fastShrinkOnLoad`) and Pillow (`draft`) do, costs up to 40 % less
    for differences of about one grey level on average."""
    for shrink in (8, 4, 2):
        if -(-src_w // shrink) >= width and -(-src_h // shrink) >= height:
            return shrink
    return 1


def _smart_crop(ctx: Context) -> bool:
    """Attention/entropy crops of a still image (animations crop at the centre)."""
    geometry = ctx.plan.geometry
    options = ctx.plan.options
    return (
        geometry is not None and geometry.mode == "crop" and not ctx.plan.animate
        and options.gravity in ("attention", "entropy")
        # thumbnail's own crop covers the box; `minw`/`minh` may want the image larger.
        and not (options.min_width or options.min_height)
    )


def _load_full(ctx: Context, option_string: str, shrink: int = 1) -> None:
    """Region crops and trim need the oriented full-size image before the resize is known, and
    `kernel` and `gamma` resize it themselves (a JPEG maybe decoded `shrink` times smaller)."""
    plan = ctx.plan
    options = plan.options
    if plan.probe.format == "svg":
        ctx.image = svgrender.render(ctx.data, 0, 0, ctx.deadline)
    else:
        if shrink > 1:
            option_string = f"{option_string},shrink={shrink}"
        try:
            ctx.image = pyvips.Image.new_from_buffer(ctx.data, option_string, access="random")
        except pyvips.Error as exc:
            raise UnprocessableImage("source could not be decoded", internal=str(exc)) from None
    _per_frame(ctx, lambda im: im.autorot())
    region = plan.region
    crop = options.crop
    if region is not None and isinstance(crop, CropBox) and crop.gravity in SMART_GRAVITIES \
            and not plan.animate:
        # Placed on the decoded pixels: around the faces, or libvips' interesting part.
        image = ctx.image
        held = guarded(ctx, image, image.copy_memory)
        ctx.image = (_face_crop(held, region.width, region.height, crop.gravity == "face", 0)
                     if crop.gravity in FACE_GRAVITIES
                     else held.smartcrop(region.width, region.height,
                                         interesting=str(crop.gravity)))
    elif region is not None:
        _per_frame(ctx, lambda im: im.extract_area(region.x, region.y, region.width,
                                                   region.height))
    trim = options.trim
    if trim is not None:
        # find_trim reads every pixel now, not at the encoder: the deadline and the mapping of
        # libvips' errors (a damaged source is a 422) must hold here too.
        first = ctx.image.crop(0, 0, ctx.image.width, ctx.page_height)
        box = guarded(ctx, first, lambda: trim_box(first, trim))
        if box is not None:
            left, top, width, height = box
            _per_frame(ctx, lambda im: im.extract_area(left, top, width, height))
    if options.rotate:
        _per_frame(ctx, lambda im: im.rot(f"d{options.rotate}"))
    geometry = plan.geometry or fit_geometry(ctx.image.width, ctx.page_height, options,
                                             ctx.max_dim)
    ctx.plan = replace(plan, geometry=geometry)
    colour = _colour(plan)
    ours = options.resamples and plan.probe.format != "svg"

    def resize(im: pyvips.Image, width: int, height: int) -> pyvips.Image:
        if ours:
            return resampled(im, width, height, options.kernel, options.gamma, colour)
        return im.thumbnail_image(width, height=height, size="force", no_rotate=True, **colour)

    if _zooms_to_faces(plan):
        if options.width is not None and options.height is not None:
            _zoom_to_faces(ctx, geometry, shrink, resize)
            return
        if _cut_face_area(ctx, resize):
            return
    w, h = geometry.resize
    _per_frame(ctx, lambda im: resize(im, w, h))


def _held_faces(ctx: Context) -> tuple[pyvips.Image, list[faces.Face]]:
    """The decoded image, held in memory (the detection and the cut both read it), and the
    faces `g_face` (the largest) or `g_faces` (all of them) follows."""
    image = ctx.image
    held = guarded(ctx, image, image.copy_memory)
    found = faces.detect_turned(held, ctx.plan.options.rotate)
    return held, found[:1] if ctx.plan.options.gravity == "face" else found


def _cut_face_area(ctx: Context,
                   resize: Callable[[pyvips.Image, int, int], pyvips.Image]) -> bool:
    """`facepad` without a box: the face area (at `ar_`'s ratio, else its own) cut from the
    source at the source's scale, then sized by the one side given, if any. False when no face
    is found: the image is then sized as without `facepad`."""
    options = ctx.plan.options
    assert options.face_pad is not None
    held, found = _held_faces(ctx)
    ctx.image = held
    if not found:
        return False
    ratio = (options.aspect, 1.0) if options.aspect is not None else None
    left, top, w, h = faces.area(found, held.width, held.height, ratio, options.face_pad,
                                 (1.0, 1.0))
    cut = held.extract_area(left, top, w, h)
    # The cut has the ratio already: only the side given (and `zoom`) size it now.
    geometry = fit_geometry(w, h, replace(options, aspect=None), ctx.max_dim)
    ctx.image = resize(cut, *geometry.resize)
    ctx.plan = replace(ctx.plan, geometry=geometry)
    return True


def _zoom_to_faces(ctx: Context, geometry: Geometry, shrink: int,
                   resize: Callable[[pyvips.Image, int, int], pyvips.Image]) -> None:
    """`facepad`: the face area (transforms/faces.py `area`) cut from the decoded image and
    scaled to the box; where no face is found, the cover crop libvips' attention places.
    `shrink` is the JPEG's decode shrink: without `enlarge` the area stays at least the box's
    size in source pixels."""
    options = ctx.plan.options
    assert options.face_pad is not None and geometry.box is not None
    bw, bh = geometry.box
    held, found = _held_faces(ctx)
    if found:
        least = (bw / shrink, bh / shrink) if not options.enlarge else (1.0, 1.0)
        left, top, w, h = faces.area(found, held.width, held.height, (bw, bh),
                                     options.face_pad, least)
        ctx.image = resize(held.extract_area(left, top, w, h), bw, bh)
    else:
        ctx.image = resize(held, *geometry.resize).smartcrop(bw, bh, interesting="attention")
    ctx.plan = replace(ctx.plan, geometry=Geometry((bw, bh), padding=geometry.padding))


def resampled(im: pyvips.Image, width: int, height: int, kernel: str, gamma: Gamma | None,
              colour: dict[str, str]) -> pyvips.Image:
    """`im` resized to width x height with `kernel`, inside sharp's gamma when given: the
    colour handling is thumbnail's (run at the image's own size), the resize libvips' own."""
    im = im.thumbnail_image(im.width, height=im.height, size="force", no_rotate=True, **colour)
    if gamma is not None:
        im = _colour_only(im, lambda c: c.gamma(exponent=1 / gamma.encode))
    if (im.width, im.height) != (width, height):
        fmt, alpha = im.format, im.hasalpha()
        # Colour under transparent pixels must not bleed into the edges (thumbnail does this).
        work = im.premultiply() if alpha else im
        work = work.resize(width / im.width, vscale=height / im.height, kernel=kernel)
        im = (work.unpremultiply() if alpha else work).cast(fmt)
    if gamma is not None:
        im = _colour_only(im, lambda c: c.gamma(exponent=gamma.decode))
    return im


def trim_box(image: pyvips.Image, trim: Trim) -> tuple[int, int, int, int] | None:
    """The box inside borders of the trim's colour, else of its corner pixel's (top-left by
    default, as sharp, imgproxy and thumbor) and inside transparent borders (as sharp); None
    when nothing is left or nothing to search."""
    if image.width < 3 or image.height < 3:  # libvips' find_trim needs 3x3
        return None
    threshold, scale = trim.threshold, 1
    if image.format == "ushort":
        threshold, scale = threshold * 257, 257  # find_trim compares in the image's own units
    x, y = (0, 0) if trim.corner == "northwest" else (image.width - 1, image.height - 1)
    # libvips' own default background is white, which leaves any other border in place.
    colour = image.flatten() if image.hasalpha() else image
    if trim.colour is not None:
        if colour.bands not in (1, 3):
            colour = colour.colourspace("srgb")  # CMYK: compare the colour where it was named
        rgb = [int(trim.colour[i:i + 2], 16) * scale for i in (0, 2, 4)]
        background = _fill(colour, [*rgb, 255])  # a grey image compares its luma
    else:
        background = colour.getpoint(x, y)
    boxes = [colour.find_trim(threshold=threshold, background=background)]
    if image.hasalpha():
        alpha = image.extract_band(image.bands - 1)
        boxes.append(alpha.find_trim(threshold=threshold, background=alpha.getpoint(x, y)))
    found = [box for box in boxes if box[2] > 0 and box[3] > 0]
    if not found:
        return None
    left = min(box[0] for box in found)
    top = min(box[1] for box in found)
    right = max(box[0] + box[2] for box in found)
    bottom = max(box[1] + box[3] for box in found)
    return left, top, right - left, bottom - top


def _colour(plan: Plan) -> dict[str, str]:
    """Convert through the embedded profile only when there is one: an sRGB-to-sRGB transform
    of every pixel changes nothing and costs up to 4x the whole pipeline on a JPEG."""
    return {"output_profile": "srgb"} if plan.probe.has_icc else {}


def _anchor(gravity: Gravity, rotate: int) -> tuple[float, float]:
    """Fractions (fx, fy) of the slack to put left/above the kept box."""
    if isinstance(gravity, FocalPoint):
        x, y = gravity.x, gravity.y
        # The focal point belongs to the source, so it turns with the image.
        for _ in range(rotate // 90):
            x, y = 1.0 - y, x
        return x, y
    return DIRECTION_ANCHORS.get(direction_of(gravity), (0.5, 0.5))


def _shifted(gravity: Gravity, left: int, top: int, outer: tuple[int, int],
             inner: tuple[int, int], scale: float) -> tuple[int, int]:
    """A placement of `inner` in `outer` moved by the gravity's offsets, if it has any
    (imgproxy's `g:DIR:X:Y`), and kept inside: offsets never push past an edge."""
    if not isinstance(gravity, ShiftedDirection):
        return left, top
    dx, dy = gravity.shift(*outer, scale)
    return (min(max(0, left + dx), outer[0] - inner[0]),
            min(max(0, top + dy), outer[1] - inner[1]))


def _face_crop(image: pyvips.Image, width: int, height: int,
               largest_only: bool, rotate: int) -> pyvips.Image:
    """The box centred on the faces found (the largest one alone for `g_face`), or libvips'
    attention crop where there is none."""
    found = faces.detect_turned(image, rotate)
    if not found:
        return image.smartcrop(width, height, interesting="attention")
    x, y = faces.focus(found[:1] if largest_only else found)
    # thumbor's placement: centred on the point, held inside, then rounded (half to even).
    left = round(min(max(x - width / 2, 0), image.width - width))
    top = round(min(max(y - height / 2, 0), image.height - height))
    return image.extract_area(left, top, width, height)


def crop_or_pad(ctx: Context) -> None:
    """Cut the requested box out of a covering resize, or pad a contained one to the box."""
    geometry = ctx.plan.geometry
    if geometry is None or geometry.box is None:
        return
    options = ctx.plan.options
    bw, bh = geometry.box
    if geometry.mode == "crop":
        gravity = options.gravity
        if (ctx.image.width, ctx.page_height) == (bw, bh):
            return  # cropped on load
        if gravity in SMART_GRAVITIES and ctx.frames == 1:
            # Both read the pixels twice, which a source decoded in sequence cannot do.
            image = ctx.image
            held = guarded(ctx, image, image.copy_memory)
            ctx.image = (_face_crop(held, bw, bh, gravity == "face", options.rotate)
                         if gravity in FACE_GRAVITIES
                         else held.smartcrop(bw, bh, interesting=str(gravity)))
            return
        fx, fy = _anchor(gravity, options.rotate)

        def cut(im: pyvips.Image) -> pyvips.Image:
            slack_x, slack_y = im.width - bw, im.height - bh
            if isinstance(gravity, FocalPoint):
                left = round(fx * im.width - bw / 2)
                top = round(fy * im.height - bh / 2)
            else:
                left, top = round(slack_x * fx), round(slack_y * fy)
                left, top = _shifted(gravity, left, top, (im.width, im.height), (bw, bh),
                                     options.dpr)
            left = min(max(0, left), slack_x)
            top = min(max(0, top), slack_y)
            return im.extract_area(left, top, bw, bh)

        _per_frame(ctx, cut)
        return
    # pad
    fx, fy = _anchor(options.gravity if options.gravity not in SMART_GRAVITIES
                     else "center", 0)
    colour, with_alpha = _background(ctx)
    blurred = options.background == BLUR_BACKGROUND
    mean = options.background == MEAN_BACKGROUND
    reach = BLUR_FILL_RADIUS * options.dpr
    if blurred or mean:  # read twice (for the fill, then itself): hold it, under the guard
        image = ctx.image
        ctx.image = guarded(ctx, image, image.copy_memory)

    def pad(im: pyvips.Image) -> pyvips.Image:
        left, top = _shifted(options.gravity, round((bw - im.width) * fx),
                             round((bh - im.height) * fy), (bw, bh), (im.width, im.height),
                             options.dpr)
        if blurred:  # as opaque as the image: no alpha band for an opaque one
            return _blurred_fill(im, bw, bh, reach).insert(im, left, top)
        if mean:
            return _mean_fill(im, bw, bh).insert(im, left, top)
        if with_alpha and not im.hasalpha():
            im = im.bandjoin(255)
        return im.embed(left, top, bw, bh, extend="background", background=_fill(im, colour))

    _per_frame(ctx, pad)


# thumbor's fill(blur): Gaussian weights of sigma 50 px cut off at 50 px (so nearly a box
# blur), edges repeated, across then down; per CSS px here.
BLUR_FILL_RADIUS = 50
BLUR_FILL_TAPS = 8  # the fewest taps each side the blur is computed with (see below)


def _blurred_fill(im: pyvips.Image, width: int, height: int, radius: float) -> pyvips.Image:
    """`im` blurred and stretched to `width` x `height` (thumbor's fill(blur)). The blur runs on
    a copy up to radius/8 times smaller, with the kernel shrunk alike: the same smooth picture
    for a small part of the work, where a 101-tap blur of the full image would cost up to a
    third of a second for a large box."""
    shrink = max(1.0, min(radius / BLUR_FILL_TAPS, im.width / 4, im.height / 4))
    alpha = im.hasalpha()
    work = im.premultiply() if alpha else im
    if shrink > 1:
        work = work.resize(1 / shrink, kernel="linear")
    reach = radius / shrink
    taps = range(-round(reach), round(reach) + 1)
    weights = [math.exp(-(x * x) / (2 * reach * reach)) for x in taps]
    work = work.convsep(pyvips.Image.new_from_list([weights], scale=sum(weights)),
                        precision="float")
    work = work.resize(width / work.width, vscale=height / work.height, kernel="linear")
    if alpha:
        work = work.unpremultiply()
    return work.cast(im.format).copy(interpretation=im.interpretation)


def _mean_fill(im: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """A `width` x `height` box of `im`'s mean colour, each band's mean rounded down, alpha
    ignored and the box opaque (thumbor's fill(auto))."""
    colour = im.extract_band(0, n=im.bands - 1) if im.hasalpha() else im
    means = [float(int(colour.extract_band(i).avg())) for i in range(colour.bands)]
    if im.hasalpha():
        means.append(255.0 if im.format == "uchar" else 65535.0)
    box = pyvips.Image.black(width, height).new_from_image(means)
    return box.cast(im.format).copy(interpretation=im.interpretation)


def _fill(im: pyvips.Image, rgba: list[float]) -> list[float]:
    """`rgba` in the band layout of `im` (grey or colour, with or without alpha)."""
    colour = rgba[:3]
    if im.bands in (1, 2):
        colour = [0.2126 * rgba[0] + 0.7152 * rgba[1] + 0.0722 * rgba[2]]
    return [*colour, rgba[3]] if im.hasalpha() else colour


def _background(ctx: Context) -> tuple[list[float], bool]:
    """Padding colour and whether the output keeps an alpha band for it."""
    bg = ctx.plan.options.background
    alpha_ok = ctx.plan.output in ALPHA_FORMATS and not ctx.plan.options.flatten
    if bg is None or bg in (BLUR_BACKGROUND, MEAN_BACKGROUND):
        if alpha_ok:
            return [0.0, 0.0, 0.0, 0.0], True
        return [255.0, 255.0, 255.0, 255.0], False
    rgba = [float(int(bg[i:i + 2], 16)) for i in range(0, len(bg), 2)]
    if len(rgba) == 3:
        rgba.append(255.0)
    with_alpha = alpha_ok and rgba[3] < 255
    return rgba, with_alpha


def effects(ctx: Context) -> None:
    """Median, blur, sharpen, unsharp mask, pixelate, grayscale and mirroring, in that order."""
    options = ctx.plan.options
    if options.median:
        size = options.median
        _per_frame(ctx, lambda im: _median(im, size))
    if options.threshold is not None:
        level = options.threshold
        _per_frame(ctx, lambda im: _threshold(im, level))
    if options.blur:
        sigma = options.blur
        _per_frame(ctx, lambda im: im.gaussblur(sigma))
    if options.sharpen:
        sigma = options.sharpen
        _per_frame(ctx, lambda im: im.sharpen(sigma=sigma))
    if options.unsharp is not None:
        unsharp = options.unsharp
        _per_frame(ctx, lambda im: _colour_only(im, lambda c: _unsharp_masked(c, unsharp)))
    if options.pixelate:
        # In CSS px like the sizes, so a dpr_2 answer shows the same blocks at twice the pixels.
        block = max(2, round(options.pixelate * options.dpr))
        _per_frame(ctx, lambda im: _pixelate(im, block))
    if options.grayscale == "luma":
        _per_frame(ctx, pillow_luma)
    elif options.grayscale:
        _per_frame(ctx, lambda im: im.colourspace("b-w"))
    if options.flip:
        _per_frame(ctx, lambda im: im.flip("vertical"))
    if options.flop:
        _per_frame(ctx, lambda im: im.flip("horizontal"))


def _median(im: pyvips.Image, size: int) -> pyvips.Image:
    """libvips' median, also for an image smaller than the window (libvips refuses one): its
    edges are copied outwards first."""
    if im.width >= size and im.height >= size:
        return im.median(size)
    edge = size // 2
    grown = im.embed(edge, edge, im.width + 2 * edge, im.height + 2 * edge, extend="copy")
    return grown.median(size).crop(edge, edge, im.width, im.height)


def _threshold(im: pyvips.Image, level: int) -> pyvips.Image:
    """sharp's threshold: grey, then each band (alpha included) 255 at or above `level` (of
    255, so a 16-bit image compares at the same share), else 0."""
    grey = im.colourspace("b-w")
    top = 65535 if grey.format == "ushort" else 255
    return (grey >= level * top / 255).cast("uchar").copy(interpretation="b-w")


FINE_UNSHARP_RADIUS = 3.0


def _unsharp_masked(im: pyvips.Image, unsharp: Unsharp) -> pyvips.Image:
    """Each band plus `amount` percent of its difference from its Gaussian blur, in the image's
    own format (clipped to its range), as Pillow's UnsharpMask with threshold 0."""
    # A true Gaussian (to 1 % of its peak) for the fine radii sharpening uses; past 3 px its
    # kernel grows costly (12 s at sigma 100 on a 2.7 MP output), and libvips' box
    # approximation, Pillow's own method, is as close to Pillow's mask at a fiftieth of it.
    precision = "float" if unsharp.radius <= FINE_UNSHARP_RADIUS else "approximate"
    blurred = im.gaussblur(unsharp.radius, precision=precision, min_ampl=0.01)
    sharpened = im + (im - blurred) * (unsharp.amount / 100)
    return sharpened.rint().cast(im.format).copy(interpretation=im.interpretation)


def _pixelate(im: pyvips.Image, block: int) -> pyvips.Image:
    """Each block x block square (from the top left) filled with its mean; edge blocks are
    averaged over their copied-out extension, so they keep the colour they show."""
    width, height = im.width, im.height
    padded = im.embed(0, 0, -(-width // block) * block, -(-height // block) * block,
                      extend="copy")
    return padded.shrink(block, block).zoom(block, block).crop(0, 0, width, height)


def adjust(ctx: Context) -> None:
    """thumbor's convolution, wavelet sharpen and equalize, `modulate`, the lightness stretch
    (in sharp's order), thumbor's saturation, then saturation, contrast, brightness and the
    shift per band (imgix's `sat`, `con`, `bri`, thumbor's rgb()), thumbor's curve, the tint and
    the negative,
    on the 8-bit output that `finish` made, alpha untouched (but by the convolution)."""
    options = ctx.plan.options
    if options.convolution is not None:
        kernel = pyvips.Image.new_from_list(options.convolution.rows())
        _per_frame(ctx, lambda im: _convolved(im, kernel))
    if options.wavelet_sharpen is not None:
        _wavelet_sharpen(ctx, options.wavelet_sharpen)
    if options.equalize:
        _equalize(ctx)
    if options.modulate is not None:
        modulate = options.modulate
        _per_frame(ctx, lambda im: _colour_only(im, lambda c: _modulated(c, modulate)))
    if options.normalize:
        _normalize(ctx)
    if options.saturate != 1.0:
        factor = options.saturate
        _per_frame(ctx, lambda im: _colour_only(im, lambda c: _saturated(c, factor)))
    if options.saturation or options.contrast or options.brightness or options.rgb:
        _per_frame(ctx, lambda im: _adjusted(im, options.saturation, options.contrast,
                                             options.brightness, options.rgb))
    if options.colorize is not None:
        colorized = _band_table(curves.colorize_tables(*options.colorize))
        _per_frame(ctx, lambda im: _colour_only(im, lambda c: _mapped(c, colorized)))
    if options.curve is not None:
        curved = _band_table(curves.band_tables(options.curve))
        _per_frame(ctx, lambda im: _colour_only(im, lambda c: _mapped(c, curved)))
    if options.tint:
        lut = tint_table(options.tint)
        _per_frame(ctx, lambda im: _colour_only(
            im, lambda c: c.colourspace("b-w").maplut(lut).copy(interpretation="srgb")))
    if options.negate:
        _per_frame(ctx, lambda im: _colour_only(im, lambda c: c.invert()))


@functools.lru_cache(maxsize=64)
def _band_table(tables: tuple[tuple[int, ...], ...]) -> pyvips.Image:
    """Red, green and blue level tables as a lookup image: one band when they are equal."""
    red, green, blue = (pyvips.Image.new_from_list([list(t)]).cast("uchar") for t in tables)
    if tables[0] == tables[1] == tables[2]:
        return red.copy_memory()
    return red.bandjoin([green, blue]).copy_memory()


def _mapped(colour: pyvips.Image, lut: pyvips.Image) -> pyvips.Image:
    """Level tables (thumbor's curve() and colorize()) on the colour bands; a grey image turns
    colour when the bands' tables differ, as thumbor's RGB loop makes it."""
    if lut.bands == 3 and colour.bands < 3:
        colour = colour.colourspace("srgb")
    interpretation = "srgb" if colour.bands >= 3 else colour.interpretation
    return colour.maplut(lut).copy(interpretation=interpretation)


def _convolved(im: pyvips.Image, kernel: pyvips.Image) -> pyvips.Image:
    """thumbor's convolution(): every band (alpha too, as thumbor's loop does) weighted over
    the kernel, cut to whole levels toward zero and clipped. libvips' conv reads past the
    edges as the nearest edge pixel, as thumbor's loop does (the tests hold it to that)."""
    out = im.conv(kernel, precision="float")
    return out.cast("uchar").copy(interpretation=im.interpretation)


def _saturated(colour: pyvips.Image, factor: float) -> pyvips.Image:
    """thumbor's saturation(): each band moved from the pixel's perceived brightness
    sqrt(0.299 r² + 0.587 g² + 0.114 b²) by `factor` (through it when negative), cut to whole
    levels toward zero and clipped, as its C loop does; a grey image has no colour to move."""
    if colour.bands < 3:
        return colour
    x = colour.cast("float")
    r, g, b = x[0], x[1], x[2]
    grey = (r * r * 0.299 + g * g * 0.587 + b * b * 0.114) ** 0.5
    # The cast truncates and clips, as thumbor's int assignment and ADJUST_COLOR do.
    return (grey + (x - grey) * factor).cast("uchar").copy(interpretation=colour.interpretation)


def _modulated(colour: pyvips.Image, m: Modulate) -> pyvips.Image:
    """sharp's modulate: a linear map of CIE LCh, back in the image's own space (a grey image
    stays grey, its chroma being none)."""
    space = colour.interpretation
    lch = colour.colourspace("lch").linear([m.brightness, m.saturation, 1],
                                           [m.lightness, 0, m.hue])
    return lch.colourspace(space).cast("uchar")


def _normalize(ctx: Context) -> None:
    """sharp's normalise: CIELAB lightness stretched so its 1st percentile becomes 0 and its
    99th 100, measured over the whole image (every frame), chroma and alpha kept."""
    image = ctx.image
    assert image is not None
    # The percentiles read every pixel before the encoder does: hold the pixels, under the guard.
    held = guarded(ctx, image, image.copy_memory)
    ctx.image = held
    colour = held.extract_band(0, n=held.bands - 1) if held.hasalpha() else held
    lab = colour.colourspace("lab")
    low, high = guarded(ctx, held, lambda: (lab[0].percent(1), lab[0].percent(99)))
    if high - low <= 1:
        return
    scale = 100 / (high - low)

    def stretch(im: pyvips.Image) -> pyvips.Image:
        return _colour_only(im, lambda c: c.colourspace("lab").linear(
            [scale, 1, 1], [-low * scale, 0, 0]).colourspace(c.interpretation).cast("uchar"))

    _per_frame(ctx, stretch)


def _wavelet_sharpen(ctx: Context, spec: WaveletSharpen) -> None:
    """thumbor's sharpen (transforms/wavelet.py). It reflects the edges, reading rows out of
    order, so the pixels are held first; its levels are held under the guard as they are made."""
    image = ctx.image
    assert image is not None
    ctx.image = guarded(ctx, image, image.copy_memory)

    def hold(im: pyvips.Image) -> pyvips.Image:
        return guarded(ctx, im, im.copy_memory)

    _per_frame(ctx, lambda im: _colour_only(im, lambda c: wavelet.sharpened(c, spec, hold)))


def _equalize(ctx: Context) -> None:
    """Each colour band's histogram equalised over the whole image (every frame, transparent
    pixels too): value v becomes 255 x (cdf(v) - cdf_min) / (pixels - cdf_min), rounded down,
    as thumbor's equalize() computes it."""
    image = ctx.image
    assert image is not None
    held = guarded(ctx, image, image.copy_memory)  # the histogram reads every pixel first
    ctx.image = held
    bands = held.bands - 1 if held.hasalpha() else held.bands
    pixels = held.width * held.height
    tables = []
    for band in range(bands):
        plane = held.extract_band(band)
        counts = guarded(ctx, held, lambda p=plane: p.hist_find().tolist()[0])
        cumulative = list(itertools.accumulate(counts))
        lowest = next(c for c, n in zip(cumulative, counts, strict=True) if n)
        span = pixels - lowest
        table = [int(255 * (c - lowest) / span) if span else v for v, c in enumerate(cumulative)]
        tables.append(pyvips.Image.new_from_list([table]).cast("uchar"))
    lut = tables[0].bandjoin(tables[1:]) if len(tables) > 1 else tables[0]
    _per_frame(ctx, lambda im: _colour_only(
        im, lambda c: c.maplut(lut).copy(interpretation=c.interpretation)))


def _colour_only(im: pyvips.Image, fn: Callable[[pyvips.Image], pyvips.Image]) -> pyvips.Image:
    """`fn` applied to the colour bands of an 8-bit image, its alpha joined back unchanged."""
    if not im.hasalpha():
        return fn(im)
    colour = fn(im.extract_band(0, n=im.bands - 1))
    return colour.bandjoin(im[im.bands - 1]).copy(interpretation=colour.interpretation)


@functools.lru_cache(maxsize=64)
def tint_table(hex_colour: str) -> pyvips.Image:
    """Grey level -> sRGB of `tint_RRGGBB`, as sharp tints: each level keeps its lightness and
    takes the colour's chroma, weighted 1 - 4 (L - 0.5)^2 (full in the mid-tones, none at black
    and white)."""
    rgb = [int(hex_colour[i:i + 2], 16) for i in (0, 2, 4)]
    colour = (pyvips.Image.black(1, 1) + rgb).colourspace("lab", source_space="srgb")
    _, a, b = colour.getpoint(0, 0)
    levels = pyvips.Image.identity(bands=3).colourspace("lab", source_space="srgb")
    lightness = levels[0]
    weight = 1 - 4 * (lightness / 100 - 0.5) ** 2
    table = lightness.bandjoin([weight * a, weight * b]).copy(interpretation="lab")
    return table.colourspace("srgb", source_space="lab").cast("uchar").copy_memory()


def _adjusted(im: pyvips.Image, saturation: int, contrast: int, brightness: int,
              rgb: tuple[int, int, int] | None) -> pyvips.Image:
    if rgb is not None and im.bands < 3:
        im = im.colourspace("srgb")  # a shift per band colours a grey image
    alpha = im[im.bands - 1] if im.hasalpha() else None
    colour = im.extract_band(0, n=im.bands - 1) if alpha is not None else im
    x = colour.cast("float")
    if saturation and colour.bands >= 3:
        grey = x[0] * 0.2126 + x[1] * 0.7152 + x[2] * 0.0722
        x = grey + (x - grey) * (1 + saturation / 100)
    if contrast:
        # -100 is flat mid-grey; +100 stretches the distance from mid-grey four times.
        factor = 1 + contrast / 100 * (1 if contrast < 0 else 3)
        x = (x - 128) * factor + 128
    if brightness:
        x = x + 255 * brightness / 100
    if rgb is not None:
        x = x + [255 * shift / 100 for shift in rgb]
    out = x.rint().cast("uchar")
    if alpha is not None:
        out = out.bandjoin(alpha)
    return out.copy(interpretation=im.interpretation)


def round_corners(ctx: Context) -> None:
    """`r`'s rounded corners (or inscribed ellipse) on every frame, the cut-off filled as
    `fit_contain`'s padding is: `bg`, transparent where the output holds alpha, else white.
    After `adjust` (the fill is the colour asked), before `pad_edges` (padding stays square)."""
    corners = ctx.plan.options.corners
    if corners is None:
        return
    colour, with_alpha = _background(ctx)
    dpr = ctx.plan.options.dpr
    image = ctx.image
    assert image is not None
    coverage = _coverage(corners, image.width, ctx.page_height, dpr)

    def cut(im: pyvips.Image) -> pyvips.Image:
        if with_alpha and not im.hasalpha():
            im = im.bandjoin(255)
        return _cut(im, coverage, _fill(im, colour))

    _per_frame(ctx, cut)


def mask_out(ctx: Context) -> None:
    """`mask_NAME`: every frame keeps what the mask image, stretched over it, shows (its
    luminance times its alpha); the rest is filled as `r`'s cut-off is. After `round_corners`,
    before `pad_edges` (padding stays unmasked), the watermark and the text (never masked)."""
    mask = ctx.plan.mask
    if mask is None:
        return
    colour, with_alpha = _background(ctx)
    image = ctx.image
    assert image is not None
    coverage = _mask_coverage(mask.image, image.width, ctx.page_height)

    def cut(im: pyvips.Image) -> pyvips.Image:
        if with_alpha and not im.hasalpha():
            im = im.bandjoin(255)
        return _cut(im, coverage, _fill(im, colour))

    _per_frame(ctx, cut)


def _mask_coverage(mask: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """The mask's luminance times its alpha (0..1, float), stretched to width x height."""
    grey = mask.extract_band(0, n=3).colourspace("b-w", source_space="srgb")[0]
    shown = (grey.cast("float") * (mask[3] / 255.0)) / 255.0
    stretched = shown.resize(width / mask.width, vscale=height / mask.height, kernel="linear")
    if (stretched.width, stretched.height) != (width, height):
        # resize rounds its output size; the edges are copied out to the exact one.
        stretched = stretched.embed(0, 0, width, height, extend="copy")
    # Lazy, as `_coverage` is: computed tile by tile as the encoder pulls the output, never a
    # whole output-sized float image in memory.
    return stretched.clamp(min=0.0, max=1.0)


def _coverage(corners: Corners, width: int, height: int, dpr: float) -> pyvips.Image:
    """How much of each pixel (0..1, float) lies inside the rounded shape."""
    if corners.ellipse:
        # Distance to the ellipse, measured along its smaller radius: exact for a circle.
        rx, ry = width / 2, height / 2
        xy = pyvips.Image.xyz(width, height) + 0.5
        u, v = (xy[0] - rx) / rx, (xy[1] - ry) / ry
        distance = ((u * u + v * v) ** 0.5 - 1) * min(rx, ry)
    else:
        most = min(width, height) / 2
        if corners.share:
            radii = [round(corners.share * min(width, height))] * 4
        else:
            radii = [min(most, round(r * dpr)) for r in (
                corners.bottom_right, corners.top_right, corners.bottom_left, corners.top_left)]
        # libvips measures at whole coordinates (pixel centres): a box from -0.5 to size - 0.5
        # has its edges on the image's edges. Corner radii in its order: BR, TR, BL, TL.
        distance = pyvips.Image.sdf(width, height, "rounded-box", a=[-0.5, -0.5],
                                    b=[width - 0.5, height - 0.5], corners=radii)
    return (0.5 - distance).clamp(min=0.0, max=1.0)


def _cut(im: pyvips.Image, coverage: pyvips.Image, fill: list[float]) -> pyvips.Image:
    """`im` over `fill` (a colour in its band layout) where `coverage` leaves it."""
    if not im.hasalpha():
        out = im * coverage + (1 - coverage) * fill
        return out.rint().cast("uchar").copy(interpretation=im.interpretation)
    # Premultiplied "over", so a transparent fill does not darken the antialiased edge.
    n = im.bands - 1
    alpha = coverage * (im[n] / 255)
    under = (1 - alpha) * (fill[n] / 255)
    out_alpha = alpha + under
    colour = (im.extract_band(0, n=n) * alpha + under * fill[:n]) / out_alpha
    out = colour.rint().cast("uchar").bandjoin((out_alpha * 255).rint().cast("uchar"))
    return out.copy(interpretation=im.interpretation)


def pad_edges(ctx: Context) -> None:
    """`pad`'s edges around every frame, filled as `fit_contain` fills: `bg`, or transparent
    where the output holds alpha, else white. After `adjust`, so the fill is the colour asked."""
    geometry = ctx.plan.geometry
    if geometry is None or not any(geometry.padding):
        return
    top, right, bottom, left = geometry.padding
    colour, with_alpha = _background(ctx)

    def pad(im: pyvips.Image) -> pyvips.Image:
        if with_alpha and not im.hasalpha():
            im = im.bandjoin(255)
        return im.embed(left, top, im.width + left + right, im.height + top + bottom,
                        extend="background", background=_fill(im, colour))

    _per_frame(ctx, pad)


def watermark(ctx: Context) -> None:
    """The named watermark over every frame: after the effects, so it is never blurred or
    mirrored, and after `finish`, so it always meets 8-bit sRGB or grey (a grey output gets it
    in grey, a JPEG's flattened background under it)."""
    mark, spec = ctx.plan.watermark, ctx.plan.options.watermark
    if mark is None or spec is None:
        return
    dpr = ctx.plan.options.dpr
    _per_frame(ctx, lambda im: overlay(im, mark, spec, dpr))


def text(ctx: Context) -> None:
    """`text_` over every frame, after the watermark (so a caption reads over a logo)."""
    spec = ctx.plan.options.text
    if spec is None:
        return
    dpr = ctx.plan.options.dpr
    _per_frame(ctx, lambda im: textmarks.lay(im, spec, dpr))


def finish(ctx: Context) -> None:
    """8-bit sRGB (or grey) with alpha kept only where the output format holds it."""
    image = ctx.image
    assert image is not None
    options = ctx.plan.options
    gray = options.grayscale
    if image.interpretation not in ("srgb", "b-w") or image.format != "uchar":
        image = image.colourspace("b-w" if gray else "srgb")
        if image.format != "uchar":
            image = image.cast("uchar")
    if image.hasalpha() and (ctx.plan.output not in ALPHA_FORMATS or options.flatten):
        colour, _ = _background(ctx)
        image = image.flatten(background=_fill(image, colour)[: image.bands - 1])
    ctx.image = image


def encode(ctx: Context) -> None:
    """Encode at the requested quality, or at the lowest that still looks like the image
    (`q_auto`), then at most at the highest that fits `mb_N` bytes."""
    image = ctx.image
    assert image is not None
    options = ctx.plan.options
    output = ctx.plan.output
    quality = options.quality_for(output)
    searchable = takes_quality(output, options.lossless)
    auto = (options.auto_quality is not None and quality is None and searchable
            and ctx.frames == 1 and min(image.width, image.height) >= autoquality.MIN_SIDE)
    budget = options.max_bytes if searchable else None
    found = credits_of(image) if options.copyright else {}
    if found:
        image = credits_only(image, found)  # once, before any quality search
    keep = bool(found)
    if not auto and budget is None:
        ctx.output = _save(ctx, image, quality, keep)
        return
    # Each encode of a search would otherwise run the whole pipeline again, and a source
    # decoded in sequence cannot be read twice.
    held = guarded(ctx, image, image.copy_memory)
    if auto:
        assert options.auto_quality is not None
        level = options.auto_quality.partition(":")[2] or autoquality.DEFAULT_LEVEL
        score = guarded(ctx, held, lambda: autoquality.scorer(held))
        # The measure reads pixels too: under the guard, so a libvips error is an answer.
        picked = autoquality.pick_quality(lambda q: _save(ctx, held, q, keep),
                                          lambda data: guarded(ctx, held, lambda: score(data)),
                                          autoquality.target(output, level),
                                          deadline=ctx.deadline)
        quality, ctx.output = picked.quality, picked.output
        ctx.auto_quality = (picked.quality, picked.encodes)
        if budget is None or len(picked.output) <= budget:
            return
    assert budget is not None
    top = quality or DEFAULT_QUALITY[output]
    fitted = fit_budget(lambda q: _save(ctx, held, q, keep), top, budget, deadline=ctx.deadline)
    ctx.output, ctx.budget = fitted.output, (fitted.result, fitted.encodes)


def _save(ctx: Context, image: pyvips.Image, quality: int | None,
          keep_exif: bool = False) -> bytes:
    """One encode; `keep_exif` when `encode` left only a credit's EXIF fields on `image`."""
    options = ctx.plan.options
    operation, kwargs = encoder_options(
        ctx.plan.output, quality=quality, progressive=options.progressive,
        lossless=options.lossless, strip=options.strip, keep_exif=keep_exif,
    )
    if ctx.frames > 1:
        kwargs["page_height"] = ctx.page_height
    return guarded(ctx, image, lambda: getattr(image, operation)(**kwargs))


def guarded(ctx: Context, image: pyvips.Image, work: Callable[[], T]) -> T:
    """Run libvips work on `image` under the deadline's kill switch, mapping its errors."""
    try:
        with WATCHDOG.guard(image, ctx.deadline):
            return work()
    except pyvips.Error as exc:
        if time.monotonic() > ctx.deadline:
            raise UpstreamTimeout("transform took longer than the request deadline") from None
        raise UnprocessableImage("source could not be decoded", internal=str(exc)) from None


PIPELINE: tuple[Step, ...] = (
    load, crop_or_pad, effects, finish, adjust, round_corners, mask_out, pad_edges, watermark,
    text,
    encode,
)


def run(ctx: Context, steps: tuple[Step, ...] = PIPELINE) -> bytes:
    """Run the steps in order, checking the deadline between them; returns the encoded bytes."""
    for step in steps:
        if time.monotonic() > ctx.deadline:
            raise UpstreamTimeout("transform took longer than the request deadline")
        started = time.perf_counter()
        step(ctx)
        ctx.timings[step.__name__] = time.perf_counter() - started
    return ctx.output
