"""The frozen, canonical options of one transform. Built only by `transforms.grammar.parse`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Fit = Literal["cover", "contain", "fill", "inside", "outside", "auto"]
OutputFormat = Literal["jpeg", "png", "webp", "avif", "gif"]
RequestedFormat = Literal["jpeg", "png", "webp", "avif", "gif", "auto", "original", "json",
                          "blurhash"]

# `auto` (imgproxy's resizing type): `cover` when the source and the box are both landscape (or
# square) or both portrait, else `inside`; the plan decides from the source's size.
FITS: tuple[str, ...] = ("cover", "contain", "fill", "inside", "outside", "auto")
DIRECTIONS: tuple[str, ...] = (
    "center", "north", "south", "east", "west",
    "northeast", "northwest", "southeast", "southwest",
)
# Each direction as fractions (fx, fy) of the slack to put left of and above what is kept.
DIRECTION_ANCHORS: dict[str, tuple[float, float]] = {
    "center": (0.5, 0.5), "north": (0.5, 0.0), "south": (0.5, 1.0), "east": (1.0, 0.5),
    "west": (0.0, 0.5), "northeast": (1.0, 0.0), "northwest": (0.0, 0.0),
    "southeast": (1.0, 1.0), "southwest": (0.0, 1.0),
}
SMART_GRAVITIES: tuple[str, ...] = ("attention", "entropy", "face", "faces")
# Centred on detected faces (transforms/faces.py): the largest one, or all of them.
FACE_GRAVITIES: tuple[str, ...] = ("face", "faces")
OUTPUT_FORMATS: tuple[str, ...] = ("jpeg", "png", "webp", "avif", "gif")
# `json` answers what the source is and what size the variant would have, without decoding
# (transforms/describe.py); like imgix's `fm=json`. `blurhash` answers the variant as a BlurHash
# placeholder string (transforms/placeholder.py); imgix's `fm=blurhash`.
REQUESTED_FORMATS: tuple[str, ...] = (*OUTPUT_FORMATS, "auto", "original", "json", "blurhash")
ROTATIONS: tuple[int, ...] = (0, 90, 180, 270)
# libvips' resampling kernels (sharp's `kernel`); thumbnail's own is lanczos3.
KERNELS: tuple[str, ...] = ("nearest", "linear", "cubic", "mitchell", "lanczos2", "lanczos3",
                            "mks2013", "mks2021")
DEFAULT_KERNEL = "lanczos3"


@dataclass(frozen=True, slots=True)
class FocalPoint:
    """A point of the (EXIF-oriented) source, as fractions of its width and height."""

    x: float
    y: float


@dataclass(frozen=True, slots=True)
class FocalPixel:
    """A point of the (EXIF-oriented) source in its pixels (thumbor's `focal`, CMS focal
    points); the plan turns it into the FocalPoint of the image the crop is cut from."""

    x: int
    y: int


@dataclass(frozen=True, slots=True)
class ShiftedDirection:
    """A direction moved by offsets (imgproxy's `g:DIR:X:Y`): from the edges it names inward,
    from the centre right and down; |offset| >= 1 in px, below 1 a share of the outer side."""

    direction: str
    x: float
    y: float

    def shift(self, outer_w: int, outer_h: int, scale: float) -> tuple[int, int]:
        """Pixels to add to the left and top that the bare direction gives; `scale` is what a
        px offset is multiplied by (dpr for the output, 1 in the source)."""
        fx, fy = DIRECTION_ANCHORS[self.direction]
        dx, dy = _offset(self.x, outer_w, scale), _offset(self.y, outer_h, scale)
        return (-dx if fx == 1.0 else dx), (-dy if fy == 1.0 else dy)


def _offset(value: float, side: int, scale: float) -> int:
    # Go's RoundToEven, as imgproxy rounds; Python's round() is the same rule.
    return round(value * scale) if abs(value) >= 1 else round(side * value)


Gravity = str | FocalPoint | FocalPixel | ShiftedDirection


def direction_of(gravity: Gravity) -> str:
    """The direction a gravity names ("" for focal points); a shifted one's own."""
    if isinstance(gravity, ShiftedDirection):
        return gravity.direction
    return gravity if isinstance(gravity, str) else ""


BLUR_BACKGROUND = "blur"
MEAN_BACKGROUND = "auto"
# Where a watermark goes: a corner, edge or the centre of the output, or repeated over all of
# it: `tile` a grid with fixed gaps and a copy in the centre, `spread` as many whole copies as
# fit spread from edge to edge (thumbor's `repeat`).
# `row-…`/`column-…` (thumbor's repeat along one axis): copies spread from edge to edge along
# the top, middle or bottom row (the left, middle or right column), as `spread` spreads them.
WATERMARK_LINES: tuple[str, ...] = ("row-north", "row-center", "row-south", "column-west",
                                    "column-center", "column-east")
WATERMARK_POSITIONS: tuple[str, ...] = (*DIRECTIONS, "tile", "spread", *WATERMARK_LINES)
WATERMARK_FADES: tuple[str, ...] = ("multiply", "subtract")
# The edge each line keeps its margin from, as a direction's anchor (0.5: none).
LINE_ANCHORS: dict[str, tuple[float, float]] = {
    "row-north": (0.5, 0.0), "row-center": (0.5, 0.5), "row-south": (0.5, 1.0),
    "column-west": (0.0, 0.5), "column-center": (0.5, 0.5), "column-east": (1.0, 0.5),
}


@dataclass(frozen=True, slots=True)
class Watermark:
    """One of the server's named watermark images over the output
    (`wm_NAME:POS:OPACITY:SCALE:X:Y`). `scale` is the watermark's width as a fraction of the
    output's, `scale_height` its height as a fraction of the output's (SCALE `WxH`): with both,
    it fits inside both; 0 and 0 keep its own size (times `dpr`), shrunk to fit inside the
    output. `margin_x` and `margin_y` (CSS px, times `dpr`; below 1, a share of the output's
    width and height, thumbor's `10p`) keep it off the edges its position names; between tiles
    they are the gaps. `fade` `subtract` (`wm_…:subtract`, thumbor's watermark alpha) takes
    255 x (1 - opacity) off each pixel's alpha, before any resize, instead of multiplying it."""

    name: str
    position: str = "southeast"
    opacity: float = 1.0
    scale: float = 0.0
    margin_x: float = 0
    margin_y: float = 0
    scale_height: float = 0.0
    fade: str = "multiply"


@dataclass(frozen=True, slots=True)
class TextOverlay:
    """Text over the output (`text_B64:POS:SIZE:COLOUR:X:Y:STYLE:WIDTH`, Cloudinary's
    `l_text:`), one line or wrapped at `width`: `size` in CSS px (times dpr), in the host's
    default sans-serif font, `colour` RRGGBB[AA], placed as a watermark is (margins in CSS px
    off the edges `position` names)."""

    text: str
    position: str = "center"
    size: int = 24
    colour: str = "ffffff"
    margin_x: int = 0
    margin_y: int = 0
    style: str = ""  # "", "bold", "italic" or "bolditalic"
    # CSS px (times dpr) the lines wrap at, aligned to the side `position` names (0: one line).
    width: int = 0


TEXT_STYLES: tuple[str, ...] = ("", "bold", "italic", "bolditalic")


@dataclass(frozen=True, slots=True)
class Padding:
    """Edges added around the image inside the requested box, in CSS px (times dpr)."""

    top: int
    right: int
    bottom: int
    left: int


@dataclass(frozen=True, slots=True)
class Modulate:
    """sharp's modulate, in CIE LCh: lightness times `brightness` plus `lightness`, chroma times
    `saturation`, hue turned by `hue` degrees (0..359)."""

    brightness: float = 1.0
    saturation: float = 1.0
    hue: int = 0
    lightness: float = 0.0


@dataclass(frozen=True, slots=True)
class Gamma:
    """sharp's gamma: the colour bands raised to `encode` (darkened) before the resize and to
    1 / `decode` (brightened) after it, so the resize averages in a nearly linear space."""

    encode: float
    decode: float


@dataclass(frozen=True, slots=True)
class WaveletSharpen:
    """thumbor's sharpen(): five levels of an a-trous wavelet (B3 hat) whose details are
    scaled by 1 + amount x exp(-(level - radius)^2 / 1.5), in each colour band or, with
    `luma`, in the luma of YCbCr only."""

    amount: float
    radius: float
    luma: bool = False


DEFAULT_UNSHARP_RADIUS = 2.0  # Pillow's UnsharpMask default


@dataclass(frozen=True, slots=True)
class Unsharp:
    """An unsharp mask, as Pillow's UnsharpMask (threshold 0): each colour band plus `amount`
    percent of its difference from a Gaussian blur of sigma `radius`; a negative amount softens
    (-100 is the blur itself)."""

    amount: int
    radius: float = DEFAULT_UNSHARP_RADIUS


@dataclass(frozen=True, slots=True)
class Convolution:
    """thumbor's convolution(): a kernel `columns` wide (odd, as its rows are), weights row by
    row, divided by their sum when `normalize` (a zero sum is left as it is)."""

    columns: int
    weights: tuple[float, ...]
    normalize: bool = False

    def rows(self) -> list[list[float]]:
        """The kernel as applied: rows of weights, normalised if asked."""
        total = sum(self.weights)
        scale = total if self.normalize and total else 1.0
        weights = [w / scale for w in self.weights]
        return [weights[i:i + self.columns] for i in range(0, len(weights), self.columns)]


Points = tuple[tuple[int, int], ...]
IDENTITY_CURVE: Points = ((0, 0), (255, 255))


@dataclass(frozen=True, slots=True)
class Curve:
    """thumbor's curve(): per-band tone curves through (x, y) points (0..255, x increasing),
    each a natural cubic spline read as a 256-level table; `red`, `green` and `blue` first,
    then `all` over each band."""

    all: Points
    red: Points = IDENTITY_CURVE
    green: Points = IDENTITY_CURVE
    blue: Points = IDENTITY_CURVE


@dataclass(frozen=True, slots=True)
class Corners:
    """Rounded corners: radii in CSS px (times dpr) clockwise from the top left, every radius
    a `share` of the shorter side (`r_0.2`), or the ellipse inscribed in the image (`r_max`)."""

    top_left: int = 0
    top_right: int = 0
    bottom_right: int = 0
    bottom_left: int = 0
    ellipse: bool = False
    share: float = 0.0


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle in source pixels, after EXIF orientation."""

    x: int
    y: int
    width: int
    height: int


# Where trim takes the border colour from, when no colour is given (`trim_N:southeast` is
# thumbor's `trim:bottom-right`).
TRIM_CORNERS: tuple[str, ...] = ("northwest", "southeast")


@dataclass(frozen=True, slots=True)
class Trim:
    """Cut borders within `threshold` of a colour: `colour` (RRGGBB, imgproxy's trim colour), else
    the `corner` pixel's; transparent borders are cut too (alpha compared at that corner)."""

    threshold: float
    colour: str | None = None
    corner: str = "northwest"


@dataclass(frozen=True, slots=True)
class CropBox:
    """A width x height area placed by a gravity (imgproxy's `crop`), resolved against the
    oriented source: each side in px (>= 1), a fraction of the source's side (0.001..0.999),
    or 0 for the whole side; a side larger than the source's takes all of it."""

    width: float
    height: float
    gravity: Gravity = "center"


@dataclass(frozen=True, slots=True)
class Options:
    """Everything that decides the output bytes, in canonical form (aliases resolved,
    defaults filled, numbers normalised). Equal options mean the same variant."""

    width: int | None = None
    height: int | None = None
    dpr: float = 1.0
    fit: Fit = "cover"
    gravity: Gravity = "center"
    crop: Region | CropBox | None = None
    # `ar_W:H` with neither `w` nor `h`: the source cut (`fit_cover`) or padded (`fit_contain`)
    # to this width/height ratio, unscaled. With one side given, the grammar writes the other.
    aspect: float | None = None
    # `zoom_F` with neither `w` nor `h`: the (cropped, turned) source scaled by F, or the box
    # `ar_` makes of it. With `w` or `h`, the grammar multiplies them instead.
    zoom: float = 1.0
    # `minw_N`/`minh_N` (imgproxy's min-width/min-height, imgix's min-w/min-h): the resize grows
    # until the image is at least N CSS px (times dpr) wide/high, past the source's own size
    # too; what then passes `w`/`h` is cut off where `g` says.
    min_width: int | None = None
    min_height: int | None = None
    # `adaptive` (thumbor's adaptive-fit-in): `w` and `h` swapped when the source is portrait
    # and the box landscape, or the other way round, so a gallery's box fits either.
    adaptive: bool = False
    # `facepad_F` (imgix's fit=facearea, Cloudinary's c_thumb): with `g_face`/`g_faces` and a
    # box, the crop zooms to the face area (the largest face, or all of them) grown F times,
    # at the box's ratio, instead of covering the whole image (transforms/faces.py `area`);
    # without one, that area at the source's scale (`ar`'s ratio or its own), then sized.
    face_pad: float | None = None
    format: RequestedFormat | None = None
    quality: int | None = None
    # `q_auto[:LEVEL]` as written canonically (`auto`, `auto:best`, ...): the lowest quality that
    # still looks like the image (transforms/autoquality.py). Exclusive with `quality`.
    auto_quality: str | None = None
    # RRGGBB[AA] (lower case), `blur`: `fit_contain`'s padding is the image itself, blurred
    # and stretched to the box (thumbor's fill(blur)), or `auto`: that padding in the image's
    # mean colour (thumbor's fill(auto)); for those two every other use takes the default.
    background: str | None = None
    blur: float | None = None
    sharpen: float | None = None
    # `usm_A[:R]`: an unsharp mask (imgix's `sharp` and `usm`), after `sharpen`.
    unsharp: Unsharp | None = None
    rotate: int = 0
    flip: bool = False
    flop: bool = False
    # True: libvips' grey (`b-w`, weighed in linear light); "luma": Pillow's (thumbor's).
    grayscale: bool | Literal["luma"] = False
    strip: bool = True
    # `copyright`: a stripped image keeps the EXIF credit (Copyright, Artist) and nothing else.
    copyright: bool = False
    progressive: bool = False
    lossless: bool = False
    enlarge: bool = False
    # `extend` (imgproxy's): `fit_contain` pads out to the whole requested box even when the
    # image is smaller than it and `enlarge` is off (otherwise the box shrinks with the source).
    extend: bool = False
    # `exar` (imgproxy's extend_aspect_ratio): `fit_inside`'s image (or `fit_auto`'s where it
    # fits), at the size it fits at (not enlarged unless `enlarge`), padded out to the box's
    # aspect ratio.
    pad_to_ratio: bool = False
    trim: Trim | None = None
    animated: bool = True
    page: int | None = None
    watermark: Watermark | None = None
    text: TextOverlay | None = None
    # `mb_N`: the highest quality whose output fits N bytes (transforms/budget.py).
    max_bytes: int | None = None
    # Block size of `px_N` in CSS px (times dpr), and imgix-style adjustments, -100..100.
    pixelate: int | None = None
    # `median_N`: a N x N median filter (odd, 3..11) before the blur, as sharp's; `norm`: the
    # lightness stretched over the full range (sharp's normalise, 1st to 99th percentile).
    median: int | None = None
    normalize: bool = False
    # `equalize`: each colour band's histogram equalised (thumbor's equalize()).
    equalize: bool = False
    # `wsharpen_A:R[:luma]` (thumbor's sharpen()): on the 8-bit output, before `equalize`.
    wavelet_sharpen: WaveletSharpen | None = None
    # `conv_C:W1:W2:…[:norm]` (thumbor's convolution()): first of the 8-bit adjustments.
    convolution: Convolution | None = None
    # `threshold_T` (sharp's): grey, then each band (alpha too) 255 where >= T else 0; after
    # the median, before the blur.
    threshold: int | None = None
    # `kernel_K`: the resize's kernel instead of thumbnail's lanczos3 (`kernel_nearest` keeps
    # pixel art square), and `gamma_G[:OUT]` around the resize; either decodes the source in
    # full first (no shrink-on-load for gamma, as in sharp).
    kernel: str = DEFAULT_KERNEL
    gamma: Gamma | None = None
    brightness: int = 0
    contrast: int = 0
    saturation: int = 0
    # `saturate_F` (thumbor's saturation()): each colour moved away from (F > 1) or toward
    # (F < 1) its perceived brightness sqrt(0.299 r² + 0.587 g² + 0.114 b²), F times as far;
    # before `sat`, whose grey is the Rec. 709 luma.
    saturate: float = 1.0
    # `rgb_R:G:B` (thumbor's rgb()): each colour band shifted by 255 x v / 100 after `bri`, so a
    # grey output turns colour.
    rgb: tuple[int, int, int] | None = None
    # `tint_RRGGBB` (sharp's tint: the image's grey levels, coloured most in the mid-tones) and
    # `neg` (the colours inverted, alpha kept).
    tint: str | None = None
    negate: bool = False
    # `colorize_R:G:B:RRGGBB` (thumbor's colorize()): each band moved R/G/B percent of the way
    # to the colour's, levels cut down to whole ones; after the shifts per band, before `curve`.
    colorize: tuple[int, int, int, str] | None = None
    # `curve_A[;R;G;B]` (thumbor's curve()): tone curves of `X-Y:X-Y…` points; after the
    # shifts per band and `colorize`, before the tint.
    curve: Curve | None = None
    # `modulate_B[:S[:H[:L]]]` (sharp's and ipx's): brightness and saturation factors, a hue
    # turn and a lightness offset, in LCh; before the imgix-style adjustments.
    modulate: Modulate | None = None
    # `flatten` (sharp's and ipx's): no alpha in the output; transparency filled with `bg`, white
    # without one, in every format (a PNG or WebP is written opaque).
    flatten: bool = False
    padding: Padding | None = None
    corners: Corners | None = None
    # `mask_NAME` (imgix's mask=URL, Cloudinary's fl_cutter): the output keeps what the
    # operator's image NAME (one of IMGORIGIN_WATERMARKS), stretched over it, shows: its
    # luminance times its alpha; the rest is filled as `r`'s cut-off is. After `r`.
    mask: str | None = None
    # `fq_FORMAT:Q[:FORMAT:Q...]`: qualities per format, sorted; `quality` covers the others.
    format_quality: tuple[tuple[str, int], ...] = ()
    # `raw` (imgproxy's): the source's bytes as stored, for a web format; nothing else applies.
    raw: bool = False
    # `skip_F[:F...]` (imgproxy's skip_processing): sources of these formats are served as
    # stored when the output would keep their format (no `fmt`, `fmt_original` or theirs).
    skip_formats: tuple[str, ...] = ()

    def served_as_stored(self, source_format: str) -> bool:
        """Whether a source of this format is answered with its own bytes (`raw`, `skip`)."""
        return self.raw or (source_format in self.skip_formats
                            and self.format in (None, "original", source_format))

    def quality_for(self, fmt: str) -> int | None:
        """The quality asked for `fmt`: its own from `fq`, else `q`, else None (the default)."""
        for name, value in self.format_quality:
            if name == fmt:
                return value
        return self.quality

    @property
    def sized(self) -> bool:
        """True when the options ask for a size or a shape (`w`, `h`, `ar` or `zoom`)."""
        return (self.width is not None or self.height is not None or self.aspect is not None
                or self.zoom != 1)

    @property
    def detects_faces(self) -> bool:
        """True when the crop (or a `crop_W:H` region) is placed around detected faces."""
        crop_gravity = self.crop.gravity if isinstance(self.crop, CropBox) else None
        return self.gravity in FACE_GRAVITIES or crop_gravity in FACE_GRAVITIES

    @property
    def resamples(self) -> bool:
        """True when the resize is ours, not libvips' thumbnail's: another kernel, or gamma
        (either decodes the source whole first)."""
        return self.kernel != DEFAULT_KERNEL or self.gamma is not None


DEFAULT_OPTIONS = Options()
