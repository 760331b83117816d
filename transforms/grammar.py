"""The URL grammar: one options segment -> one canonical `Options`, and back.

One table of modifiers (name, aliases, argument parser) drives parsing; `serialize` writes the
canonical form (sorted names, defaults dropped, aliases resolved, numbers normalised), which is
what the cache keys on. Parsing is a single left-to-right scan: no regular expressions.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import math
import unicodedata
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from origin.errors import InvalidOptions
from transforms import curves, faces
from transforms.autoquality import DEFAULT_LEVEL, LEVELS
from transforms.budget import MAX_BUDGET, MIN_BUDGET
from transforms.formats import QUALITY_FORMATS
from transforms.options import (
    BLUR_BACKGROUND,
    DEFAULT_OPTIONS,
    DEFAULT_UNSHARP_RADIUS,
    DIRECTION_ANCHORS,
    DIRECTIONS,
    FACE_GRAVITIES,
    FITS,
    KERNELS,
    LINE_ANCHORS,
    MEAN_BACKGROUND,
    REQUESTED_FORMATS,
    ROTATIONS,
    SMART_GRAVITIES,
    TEXT_STYLES,
    TRIM_CORNERS,
    WATERMARK_FADES,
    WATERMARK_POSITIONS,
    Convolution,
    Corners,
    CropBox,
    Curve,
    FocalPixel,
    FocalPoint,
    Gamma,
    Gravity,
    Modulate,
    Options,
    Padding,
    Region,
    ShiftedDirection,
    TextOverlay,
    Trim,
    Unsharp,
    Watermark,
    WaveletSharpen,
)

MAX_SEGMENT_LENGTH = 1024
MAX_TOKENS = 32
NO_OPTIONS = "_"
_DIGITS = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")
_BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz")
WATERMARK_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_FORMAT_ALIASES = {"jpg": "jpeg"}
_GRAVITY_ALIASES = {"centre": "center", "c": "center", "n": "north", "s": "south", "e": "east",
                    "w": "west", "ne": "northeast", "nw": "northwest", "se": "southeast",
                    "sw": "southwest", "smart": "attention"}


@dataclass(frozen=True, slots=True)
class ParsedOptions:
    """What an options segment says: the variant, plus what is not part of it: the signature
    expiry, the download file name (`dl`: "" names the file after the source) and the lifetime
    downstream caches are given (`maxage`, seconds)."""

    options: Options
    expires: int | None = None
    download: str | None = None
    max_age: int | None = None
    # `default_KEY`: the source key shown, made to the same options, when this one is not found
    # (Cloudinary's `d_`); `/` written `:` in the token.
    default: str | None = None

    def extra_tokens(self) -> list[str]:
        """The tokens that are not part of the variant, in their canonical spelling."""
        tokens = [] if self.expires is None else [f"exp_{self.expires}"]
        if self.download is not None:
            tokens.append(f"dl_{self.download}" if self.download else "dl")
        if self.max_age is not None:
            tokens.append(f"maxage_{self.max_age}")
        if self.default is not None:
            tokens.append("default_" + self.default.replace("/", ":"))
        return tokens


def _bad(token: str, expected: str) -> InvalidOptions:
    return InvalidOptions(f"expected {expected} in '{token}'")


def _plain_digits(raw: str) -> bool:
    """ASCII digits without leading zeros ('0' itself is fine); one spelling per number, so
    an edge cache cannot be flooded with `w_0400`, `w_00400`, ... for one variant."""
    return bool(raw) and set(raw) <= _DIGITS and (raw == "0" or raw[0] != "0")


def _int(raw: str, token: str, lo: int, hi: int) -> int:
    # The length cap keeps int() cheap.
    if len(raw) > 12 or not _plain_digits(raw):
        raise _bad(token, f"an integer {lo}..{hi}")
    value = int(raw)
    if not lo <= value <= hi:
        raise _bad(token, f"an integer {lo}..{hi}")
    return value


def _signed_int(raw: str, token: str, lo: int, hi: int) -> int:
    """An integer with an optional '-' (never '-0', so each number has one spelling)."""
    negative = raw.startswith("-")
    digits = raw[1:] if negative else raw
    if negative and digits == "0":
        raise _bad(token, f"an integer {lo}..{hi}")
    value = _int(digits, token, 0, max(abs(lo), abs(hi)))
    value = -value if negative else value
    if not lo <= value <= hi:
        raise _bad(token, f"an integer {lo}..{hi}")
    return value


def _decimal(raw: str, token: str, lo: float, hi: float) -> float:
    whole, dot, frac = raw.partition(".")
    if (
        len(raw) > 12 or not _plain_digits(whole)
        or not set(frac) <= _DIGITS or (dot and not frac)
    ):
        raise _bad(token, f"a number {format_number(lo)}..{format_number(hi)}")
    value = round(float(raw), 3)
    if not lo <= value <= hi:
        raise _bad(token, f"a number {format_number(lo)}..{format_number(hi)}")
    return value


def format_number(value: float) -> str:
    """Canonical decimal: at most 3 places, no trailing zeros (2.0 -> '2')."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def _bool(raw: str | None, token: str) -> bool:
    if raw is None or raw in ("1", "true"):
        return True
    if raw in ("0", "false"):
        return False
    raise _bad(token, "a boolean (bare name, 1, true, 0 or false)")


def _required(raw: str | None, token: str) -> str:
    if raw is None or raw == "":
        raise InvalidOptions(f"'{token}' needs a value")
    return raw


Parser = Callable[[str | None, str, "GrammarLimits"], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class GrammarLimits:
    max_dim: int = 8192
    # The server's watermark names; None accepts any name (tools that build URLs for a server).
    watermarks: frozenset[str] | None = None


def _p_width(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    return {"width": _int(_required(raw, token), token, 1, lim.max_dim)}


def _p_height(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    return {"height": _int(_required(raw, token), token, 1, lim.max_dim)}


def _p_size(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    w, x, h = _required(raw, token).partition("x")
    if not x:
        raise _bad(token, "WxH")
    return {"width": _int(w, token, 1, lim.max_dim), "height": _int(h, token, 1, lim.max_dim)}


# `ar_` bounds: a ratio from 1:100 to 100:1, each side of `W:H` a number up to 10000.
MIN_ASPECT, MAX_ASPECT = 0.01, 100.0


def _p_aspect(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    value = _required(raw, token)
    first, colon, second = value.partition(":")
    try:
        ratio = (_decimal(first, token, 0.001, 10000) / _decimal(second, token, 0.001, 10000)
                 if colon else _decimal(value, token, MIN_ASPECT, MAX_ASPECT))
    except InvalidOptions:
        raise _bad(token, "W:H (e.g. 16:9) or a width/height ratio (e.g. 1.5)") from None
    if not MIN_ASPECT <= ratio <= MAX_ASPECT:
        raise _bad(token, f"a ratio between 1:{MAX_ASPECT:g} and {MAX_ASPECT:g}:1")
    return {"__aspect": (ratio, token)}


def _apply_aspect(ratio: float, token: str, width: int | None, height: int | None,
                  lim: GrammarLimits) -> dict[str, Any]:
    """`ar_` as fields: the side not given, from the one given (rounded half up); the ratio
    itself when neither is; 400 with both."""
    if width is not None and height is not None:
        raise InvalidOptions(f"'{token}' cannot be combined with both w and h: give one side")
    if width is not None:
        field, name, derived = "height", "h", math.floor(width / ratio + 0.5)
    elif height is not None:
        field, name, derived = "width", "w", math.floor(height * ratio + 0.5)
    else:
        return {"aspect": round(ratio, 3)}
    if not 1 <= derived <= lim.max_dim:
        raise InvalidOptions(f"'{token}' makes {name}_{derived}, outside 1..{lim.max_dim}")
    return {field: derived}


# `zoom_` bounds: a hundredth of the size to a hundred times it.
MIN_ZOOM, MAX_ZOOM = 0.01, 100.0


def _p_zoom(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    return {"__zoom": (_decimal(_required(raw, token), token, MIN_ZOOM, MAX_ZOOM), token)}


# `facepad_` bounds: a quarter of the face area (a close-up inside the face) to ten times it.
MIN_FACE_PAD, MAX_FACE_PAD = 0.25, 10.0


def _p_face_pad(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    return {"face_pad": _decimal(_required(raw, token), token, MIN_FACE_PAD, MAX_FACE_PAD)}


def _apply_zoom(zoom: float, token: str, width: int | None, height: int | None,
                lim: GrammarLimits) -> dict[str, Any]:
    """`zoom_` as fields: with `w` or `h`, those sides times the factor (rounded half up), so
    `w_400,zoom_0.5` is the variant of `w_200`; alone, the factor itself."""
    if width is None and height is None:
        return {"zoom": zoom}
    sides: dict[str, Any] = {}
    for field, name, side in (("width", "w", width), ("height", "h", height)):
        if side is not None:
            scaled = math.floor(side * zoom + 0.5)
            if not 1 <= scaled <= lim.max_dim:
                raise InvalidOptions(f"'{token}' makes {name}_{scaled}, outside 1..{lim.max_dim}")
            sides[field] = scaled
    return sides


def _p_dpr(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    return {"dpr": _decimal(_required(raw, token), token, 1, 4)}


def _choice(attr: str, values: tuple[str, ...]) -> Parser:
    """A parser of one word of `values` (`fit`, `kernel`)."""
    def parse(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
        value = _required(raw, token)
        if value not in values:
            raise _bad(token, "one of " + ", ".join(values))
        return {attr: value}

    return parse


_GRAVITY_FORMS = ("a direction (DIR[:X:Y] to shift it), attention, entropy, face, faces, "
                  "fp:X:Y or fpx:X:Y")
# Offsets past this many px cannot keep anything of an image MAX_DIM wide in place.
MAX_GRAVITY_OFFSET = 100_000
_OFFSET_FORM = (f"DIR:X:Y, each offset -{MAX_GRAVITY_OFFSET}..{MAX_GRAVITY_OFFSET} px, or "
                "a share of the side between -1 and 1")


def _p_gravity(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    gravity = _placement(_required(raw, token), token)
    if gravity is None:
        raise _bad(token, _GRAVITY_FORMS)
    return {"gravity": gravity}


def _placement(value: str, token: str) -> Gravity | None:
    """A direction (maybe shifted), smart gravity or focal point; None when `value` is none of
    them."""
    value = _GRAVITY_ALIASES.get(value, value)
    if value in FACE_GRAVITIES and not faces.AVAILABLE:
        raise InvalidOptions(f"'{token}': face gravities need OpenCV, which this server does not "
                             "have (pip install 'imgorigin[faces]')")
    if value in DIRECTIONS or value in SMART_GRAVITIES:
        return value
    direction, sep, offsets = value.partition(":")
    direction = _GRAVITY_ALIASES.get(direction, direction)
    if sep and direction in DIRECTIONS:
        x, sep, y = offsets.partition(":")
        if not sep:
            raise _bad(token, _OFFSET_FORM)
        try:
            dx, dy = (_signed_decimal(v, token, MAX_GRAVITY_OFFSET) for v in (x, y))
        except InvalidOptions:
            raise _bad(token, _OFFSET_FORM) from None
        return ShiftedDirection(direction, dx, dy) if dx or dy else direction
    if value.startswith("fp:"):
        x, sep, y = value[3:].partition(":")
        if sep:
            return FocalPoint(_decimal(x, token, 0, 1), _decimal(y, token, 0, 1))
    if value.startswith("fpx:"):
        x, sep, y = value[4:].partition(":")
        if sep:
            return FocalPixel(_int(x, token, 0, MAX_CROP_SIDE), _int(y, token, 0, MAX_CROP_SIDE))
    return None


_CROP_FORMS = "X:Y:W:H or W:H[:GRAVITY]"
MAX_CROP_SIDE = 1_000_000


def _p_crop(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    parts = _required(raw, token).split(":")
    if len(parts) == 4 and parts[2][:1] in _DIGITS:
        x, y = (_int(p, token, 0, MAX_CROP_SIDE) for p in parts[:2])
        w, h = (_int(p, token, 1, MAX_CROP_SIDE) for p in parts[2:])
        return {"crop": Region(x, y, w, h)}
    if len(parts) < 2:
        raise _bad(token, _CROP_FORMS)
    gravity: Gravity | None = "center"
    if len(parts) > 2:
        gravity = _placement(":".join(parts[2:]), token)
        if gravity is None:
            raise _bad(token, _CROP_FORMS + " (GRAVITY a direction, attention, entropy, face, "
                       "faces, fp:X:Y or fpx:X:Y)")
    return {"crop": CropBox(_crop_side(parts[0], token), _crop_side(parts[1], token), gravity)}


def _crop_side(raw: str, token: str) -> float:
    """Pixels, a fraction of the source's side (it has a '.'), or 0 for all of it."""
    return _pixels_or_share(raw, token, MAX_CROP_SIDE)


def _pixels_or_share(raw: str, token: str, most: int) -> float:
    """Whole pixels 0..`most`, or with a '.' a share of a side, 0.001..0.999."""
    if "." in raw:
        return _decimal(raw, token, 0.001, 0.999)
    return _int(raw, token, 0, most)


def _p_format(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    value = _required(raw, token)
    value = _FORMAT_ALIASES.get(value, value)
    if value not in REQUESTED_FORMATS:
        raise _bad(token, "one of jpeg png webp avif gif auto original json blurhash")
    return {"format": value}


# `text_`: at most this many characters, in CSS px from MIN to MAX_TEXT_SIZE, margins up to
# MAX_TEXT_MARGIN CSS px.
MAX_TEXT_CHARS = 200
MIN_TEXT_SIZE, MAX_TEXT_SIZE = 4, 512
MAX_TEXT_MARGIN = 4096
_TEXT_FORM = "B64TEXT[:POSITION[:SIZE[:RRGGBB[AA][:X[:Y[:STYLE[:WIDTH]]]]]]]"
MAX_TEXT_WIDTH = 4096


def text_token(text: str) -> str:
    """The text as `text_` carries it: URL-safe base64 of its UTF-8, unpadded."""
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _p_text(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    parts = _required(raw, token).split(":")
    # STYLE may be left empty before a WIDTH (`…:Y::300`): the regular face.
    if len(parts) > 8 or not all(p for i, p in enumerate(parts[1:], 1) if i != 6 or
                                 len(parts) < 8):
        raise _bad(token, _TEXT_FORM)
    encoded = parts[0]
    if not set(encoded) <= _BASE64URL or len(encoded) % 4 == 1:
        raise _bad(token, "URL-safe base64 of the text, unpadded, first")
    try:
        text = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad(token, "URL-safe base64 of UTF-8 text first") from None
    if not text or len(text) > MAX_TEXT_CHARS or any(
            unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") for c in text):
        raise InvalidOptions(f"'{token}': the text is 1..{MAX_TEXT_CHARS} printable characters")
    if text_token(text) != encoded:
        raise _bad(token, "the text's one base64 spelling (unpadded, URL-safe)")
    overlay = TextOverlay(text)
    if len(parts) > 1:
        overlay = replace(overlay, position=_position(parts[1], token, DIRECTIONS))
    if len(parts) > 2:
        overlay = replace(overlay, size=_int(parts[2], token, MIN_TEXT_SIZE, MAX_TEXT_SIZE))
    if len(parts) > 3:
        colour = parts[3].lower()
        if len(colour) not in (6, 8) or not set(colour) <= _HEX:
            raise _bad(token, "a colour RRGGBB[AA]")
        overlay = replace(overlay, colour=colour[:6] if colour.endswith("ff") and
                          len(colour) == 8 else colour)
    if len(parts) > 4:
        overlay = replace(overlay, margin_x=_int(parts[4], token, 0, MAX_TEXT_MARGIN))
    if len(parts) > 5:
        overlay = replace(overlay, margin_y=_int(parts[5], token, 0, MAX_TEXT_MARGIN))
    if len(parts) > 6:
        if parts[6] not in TEXT_STYLES:
            raise _bad(token, "a style: bold, italic or bolditalic")
        overlay = replace(overlay, style=parts[6])
    if len(parts) > 7:
        overlay = replace(overlay, width=_int(parts[7], token, 0, MAX_TEXT_WIDTH))
    return {"text": overlay}


def _position(raw: str, token: str, allowed: tuple[str, ...]) -> str:
    """An overlay's position: one of `allowed`, through the gravity aliases."""
    position = _GRAVITY_ALIASES.get(raw, raw)
    if position not in allowed:
        raise _bad(token, "a position: " + " ".join(allowed))
    return position


def _p_mask(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    name = _required(raw, token)
    if not set(name) <= WATERMARK_NAME_CHARS:
        raise _bad(token, "the name of one of the server's watermark images (a-z, 0-9 and -)")
    if lim.watermarks is not None and name not in lim.watermarks:
        raise InvalidOptions(f"unknown mask image '{name}' in '{token}' (masks are the "
                             "server's watermark images)")
    return {"mask": name}


def _p_watermark(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    parts = _required(raw, token).split(":")
    fade = "multiply"
    if len(parts) > 1 and parts[-1] in WATERMARK_FADES:
        fade = parts.pop()
    if len(parts) > 6 or not all(parts):
        raise _bad(token, "NAME[:POSITION[:OPACITY[:SCALE[:X[:Y]]]]][:subtract]")
    name = parts[0]
    if not set(name) <= WATERMARK_NAME_CHARS:
        raise _bad(token, "a watermark name of a-z, 0-9 and -")
    if lim.watermarks is not None and name not in lim.watermarks:
        raise InvalidOptions(f"unknown watermark '{name}' in '{token}'")
    mark = Watermark(name)
    if len(parts) > 1:
        mark = replace(mark, position=_position(parts[1], token, WATERMARK_POSITIONS))
    if len(parts) > 2:
        mark = replace(mark, opacity=_decimal(parts[2], token, 0.01, 1))
    if len(parts) > 3:
        # A share of the output's width, or `WxH`: shares of its width and height, the mark
        # fitting inside both (0 leaves that side free).
        width, cross, height = parts[3].partition("x")
        scales = [_decimal(side, token, 0, 1) for side in (width, *([height] if cross else []))]
        if any(0 < scale < 0.01 for scale in scales):
            raise _bad(token, "a scale of 0 (its own size) or 0.01..1, or WxH of those")
        mark = replace(mark, scale=scales[0], scale_height=scales[-1] if cross else 0.0)
    if len(parts) > 4:
        # The vertical margin is the horizontal one unless given.
        # Below 1 (with a '.'), a share of the output's side: thumbor's `10p`.
        margin_x = _pixels_or_share(parts[4], token, MAX_PADDING)
        margin_y = _pixels_or_share(parts[5], token, MAX_PADDING) if len(parts) > 5 else margin_x
        mark = replace(mark, margin_x=margin_x, margin_y=margin_y)
    if fade != "multiply" and mark.opacity < 1:  # at full opacity the two are one picture
        mark = replace(mark, fade=fade)
    return {"watermark": mark}


def _p_gray(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    """A boolean (libvips' grey), or `luma`: Pillow's ITU-R 601 grey, thumbor's."""
    if raw == "luma":
        return {"grayscale": "luma"}
    try:
        return {"grayscale": _bool(raw, token)}
    except InvalidOptions:
        raise _bad(token, "a boolean or luma") from None


def _p_quality(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    value = _required(raw, token)
    if value.startswith("auto"):
        level = DEFAULT_LEVEL if value == "auto" else value.removeprefix("auto:")
        if level not in LEVELS:
            raise _bad(token, "1..100, auto or auto:LEVEL (" + " ".join(LEVELS) + ")")
        # The default level has one spelling: `q_auto`.
        return {"auto_quality": "auto" if level == DEFAULT_LEVEL else f"auto:{level}"}
    return {"quality": _int(value, token, 1, 100)}


def _p_max_bytes(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    return {"max_bytes": _int(_required(raw, token), token, MIN_BUDGET, MAX_BUDGET)}


def _four(value: str, token: str, expected: str) -> tuple[int, int, int, int]:
    """CSS shorthand: 1 to 4 `:`-separated values clockwise (0..MAX_PADDING), the missing ones
    taken from the opposite side."""
    parts = value.split(":")
    if len(parts) > 4:
        raise _bad(token, expected)
    values = [_int(part, token, 0, MAX_PADDING) for part in parts]
    first, second = values[0], values[1] if len(values) > 1 else values[0]
    third = values[2] if len(values) > 2 else first
    fourth = values[3] if len(values) > 3 else second
    return first, second, third, fourth


def _p_padding(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    """CSS shorthand: 1 to 4 edges, `:`-separated (top, right, bottom, left)."""
    edges = _four(_required(raw, token), token, "1 to 4 edges (top:right:bottom:left)")
    return {"padding": Padding(*edges) if any(edges) else None}


def _p_corners(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    """`max` (the inscribed ellipse), a share of the shorter side for every corner (a decimal
    below 1, imgix's default `0.2`), or CSS border-radius shorthand: 1 to 4 radii,
    `:`-separated (top-left, top-right, bottom-right, bottom-left)."""
    value = _required(raw, token)
    if value == "max":
        return {"corners": Corners(ellipse=True)}
    expected = ("max, a share 0.001..0.5 of the shorter side, or 1 to 4 radii "
                "(top-left:top-right:bottom-right:bottom-left)")
    if "." in value:
        try:
            return {"corners": Corners(share=_decimal(value, token, 0.001, 0.5))}
        except InvalidOptions:
            raise _bad(token, expected) from None
    radii = _four(value, token, expected)
    return {"corners": Corners(*radii) if any(radii) else None}


def _p_format_quality(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    parts = _required(raw, token).split(":")
    if len(parts) % 2:
        raise _bad(token, "FORMAT:QUALITY pairs (jpeg, webp or avif; 1..100)")
    pairs: dict[str, int] = {}
    for name, value in zip(parts[::2], parts[1::2], strict=True):
        fmt = _FORMAT_ALIASES.get(name, name)
        if fmt not in QUALITY_FORMATS:
            raise _bad(token, "FORMAT:QUALITY pairs (jpeg, webp or avif; 1..100)")
        if fmt in pairs:
            raise InvalidOptions(f"'{token}' names {fmt} twice")
        pairs[fmt] = _int(value, token, 1, 100)
    return {"format_quality": tuple(sorted(pairs.items()))}


def _p_pixelate(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    return {"pixelate": _int(_required(raw, token), token, 2, 256)}


def _p_median(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    size = _int(_required(raw, token), token, 3, 11)
    if size % 2 == 0:
        raise _bad(token, "an odd window size 3..11")
    return {"median": size}


def _p_wavelet_sharpen(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    parts = _required(raw, token).split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "luma"):
        raise _bad(token, "AMOUNT:RADIUS[:luma], amount 0..10, radius 0..6")
    try:
        amount, radius = _decimal(parts[0], token, 0, 10), _decimal(parts[1], token, 0, 6)
    except InvalidOptions:
        raise _bad(token, "AMOUNT:RADIUS[:luma], amount 0..10, radius 0..6") from None
    sharpen = WaveletSharpen(amount, radius, len(parts) == 3)
    return {"wavelet_sharpen": sharpen if amount else None}


MAX_KERNEL_SIDE = 9
MAX_KERNEL_WEIGHT = 1000
_KERNEL_FORM = (f"COLUMNS:W1:W2:…[:norm], odd columns and rows up to {MAX_KERNEL_SIDE}, weights "
                f"-{MAX_KERNEL_WEIGHT}..{MAX_KERNEL_WEIGHT}")


def _p_convolution(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    parts = _required(raw, token).split(":")
    normalize = parts[-1] == "norm"
    if normalize:
        parts.pop()
    try:
        columns = _int(parts[0], token, 1, MAX_KERNEL_SIDE)
        weights = tuple(_signed_decimal(v, token, MAX_KERNEL_WEIGHT) for v in parts[1:])
    except InvalidOptions:
        raise _bad(token, _KERNEL_FORM) from None
    rows, rest = divmod(len(weights), columns)
    if not weights or rest or columns % 2 == 0 or rows % 2 == 0 or rows > MAX_KERNEL_SIDE:
        raise _bad(token, _KERNEL_FORM)
    # Dividing by a sum of 0 or 1 changes nothing: one spelling for one kernel.
    normalize = normalize and sum(weights) not in (0, 1)
    kernel = Convolution(columns, weights, normalize)
    flat = [w for row in kernel.rows() for w in row]
    if flat[len(flat) // 2] == 1 and sum(map(abs, flat)) == 1:
        return {"convolution": None}  # the identity: the image as it is
    return {"convolution": kernel}


def _min_side(attr: str) -> Parser:
    def parse(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
        return {attr: _int(_required(raw, token), token, 1, lim.max_dim)}

    return parse


def _p_saturate(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    # Negative factors reflect colours through the grey (thumbor's saturation(-1)).
    return {"saturate": _signed_decimal(_required(raw, token), token, 10)}


# What `skip_` names: the web formats this server could serve as stored (an SVG is always
# rendered here, never served as markup).
STORED_FORMATS = ("avif", "gif", "jpeg", "png", "webp")


def _p_skip(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    names = [_FORMAT_ALIASES.get(name, name) for name in _required(raw, token).split(":")]
    if not names or any(name not in STORED_FORMATS for name in names):
        raise _bad(token, "FORMAT[:FORMAT...] of " + ", ".join(STORED_FORMATS))
    return {"skip_formats": tuple(sorted(set(names)))}


def _p_threshold(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    return {"threshold": _int(_required(raw, token), token, 1, 255)}


def _p_gamma(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    encode, sep, decode = _required(raw, token).partition(":")
    try:
        gamma = Gamma(_decimal(encode, token, 1, 3),
                      _decimal(decode, token, 1, 3) if sep else 0.0)
    except InvalidOptions:
        raise _bad(token, "G or G:OUT, each 1..3") from None
    if not sep:
        gamma = replace(gamma, decode=gamma.encode)  # sharp's output gamma defaults to its input
    return {"gamma": None if gamma == Gamma(1, 1) else gamma}


MAX_CURVE_POINTS = 64
CURVE_SHAPE = ("ALL[;RED;GREEN;BLUE], each 1 to 64 X-Y points (0..255) joined by ':', "
               "X increasing")


def _p_curve(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    lists = _required(raw, token).split(";")
    if len(lists) not in (1, 4):
        raise _bad(token, CURVE_SHAPE)
    parsed: list[tuple[tuple[int, int], ...]] = []
    for text in lists:
        pairs = text.split(":")
        if len(pairs) > MAX_CURVE_POINTS:
            raise _bad(token, CURVE_SHAPE)
        points = []
        for pair in pairs:
            x, dash, y = pair.partition("-")
            if not dash:
                raise _bad(token, CURVE_SHAPE)
            try:
                points.append((_int(x, token, 0, 255), _int(y, token, 0, 255)))
            except InvalidOptions:
                raise _bad(token, CURVE_SHAPE) from None
        if any(b[0] <= a[0] for a, b in itertools.pairwise(points)):
            raise _bad(token, CURVE_SHAPE)
        parsed.append(tuple(points))
    curve = Curve(*parsed)
    if all(curves.is_identity(p) for p in (curve.red, curve.green, curve.blue)):
        curve = Curve(curve.all)
    return {"curve": None if curves.is_identity(curve.all) and curve == Curve(curve.all)
            else curve}


COLORIZE_SHAPE = "R:G:B:RRGGBB, percentages 0..100 and a hex colour"


def _p_colorize(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    parts = _required(raw, token).split(":")
    if len(parts) != 4 or len(parts[3]) != 6 or not set(parts[3].lower()) <= _HEX:
        raise _bad(token, COLORIZE_SHAPE)
    try:
        red, green, blue = (_int(part, token, 0, 100) for part in parts[:3])
    except InvalidOptions:
        raise _bad(token, COLORIZE_SHAPE) from None
    if not (red or green or blue):
        return {"colorize": None}
    return {"colorize": (red, green, blue, parts[3].lower())}


def _p_rgb(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    parts = _required(raw, token).split(":")
    if len(parts) != 3:
        raise _bad(token, "R:G:B, each -100..100")
    try:
        red, green, blue = (_signed_int(part, token, -100, 100) for part in parts)
    except InvalidOptions:
        raise _bad(token, "R:G:B, each -100..100") from None
    return {"rgb": (red, green, blue) if red or green or blue else None}


def _adjustment(attr: str) -> Parser:
    def parse(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
        return {attr: _signed_int(_required(raw, token), token, -100, 100)}

    return parse


def _p_background(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    value = _required(raw, token)
    if value in (BLUR_BACKGROUND, MEAN_BACKGROUND):
        return {"background": value}
    if len(value) not in (6, 8) or not set(value) <= _HEX:
        raise _bad(token, "hex RRGGBB or RRGGBBAA, blur or auto")
    value = value.lower()
    if len(value) == 8 and value.endswith("ff"):
        value = value[:6]
    return {"background": value}


def _p_tint(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    value = _required(raw, token)
    if len(value) != 6 or not set(value) <= _HEX:
        raise _bad(token, "hex RRGGBB")
    return {"tint": value.lower()}


def _signed_decimal(raw: str, token: str, bound: float) -> float:
    value = _decimal(raw.removeprefix("-"), token, 0, bound)
    return -value if raw.startswith("-") and value else value


MODULATE_SHAPE = ("B[:S[:H[:L]]]: brightness and saturation 0..10, hue -360..360, "
                  "lightness -100..100")


def _p_modulate(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    parts = _required(raw, token).split(":")
    if len(parts) > 4:
        raise _bad(token, MODULATE_SHAPE)
    try:
        brightness = _decimal(parts[0], token, 0, 10)
        saturation = _decimal(parts[1], token, 0, 10) if len(parts) > 1 else 1.0
        hue = _signed_int(parts[2], token, -360, 360) % 360 if len(parts) > 2 else 0
        lightness = _signed_decimal(parts[3], token, 100) if len(parts) > 3 else 0.0
    except InvalidOptions:
        raise _bad(token, MODULATE_SHAPE) from None
    modulate = Modulate(brightness, saturation, hue, lightness)
    return {"modulate": None if modulate == Modulate() else modulate}


def _p_blur(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    return {"blur": _decimal(_required(raw, token), token, 0.3, 100)}


def _p_sharpen(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    return {"sharpen": _decimal(_required(raw, token), token, 0.5, 10)}


UNSHARP_SHAPE = "A[:R]: amount -100..500 percent, radius 0.3..100 px (2 by default)"


def _p_unsharp(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    amount, sep, radius = _required(raw, token).partition(":")
    try:
        unsharp = Unsharp(_signed_int(amount, token, -100, 500),
                          _decimal(radius, token, 0.3, 100) if sep else DEFAULT_UNSHARP_RADIUS)
    except InvalidOptions:
        raise _bad(token, UNSHARP_SHAPE) from None
    return {"unsharp": unsharp if unsharp.amount else None}


def _p_rotate(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    value = _int(_required(raw, token), token, 0, 270)
    if value not in ROTATIONS:
        raise _bad(token, "0, 90, 180 or 270")
    return {"rotate": value}


def _p_trim(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    threshold, sep, border = _required(raw, token).partition(":")
    trim = Trim(_decimal(threshold, token, 1, 100))
    if not sep:
        return {"trim": trim}
    corner = _GRAVITY_ALIASES.get(border, border)
    if corner in TRIM_CORNERS:
        return {"trim": replace(trim, corner=corner)}
    if len(border) == 6 and set(border) <= _HEX:
        return {"trim": replace(trim, colour=border.lower())}
    raise _bad(token, "N, N:RRGGBB or N:" + "|".join(TRIM_CORNERS))


def _p_page(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    return {"page": _int(_required(raw, token), token, 0, 99_999)}


def _p_expires(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    return {"__expires": _int(_required(raw, token), token, 0, 99_999_999_999)}


MAX_PADDING = 1000
DOWNLOAD_NAME_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
MAX_DOWNLOAD_NAME = 100


def _p_download(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    if raw is None:
        return {"__download": ""}
    # Plain ASCII only: the name goes into a header as it is, and never names a hidden file.
    if (not raw or len(raw) > MAX_DOWNLOAD_NAME or not set(raw) <= DOWNLOAD_NAME_CHARS
            or raw[0] == "."):
        raise _bad(token, f"a file name of at most {MAX_DOWNLOAD_NAME} letters, digits, "
                          "'-', '_' and '.', not starting with '.'")
    return {"__download": raw}


# A year: what RFC 9111 calls the longest lifetime worth stating.
MAX_CACHE_LIFETIME = 31_536_000


def _p_max_age(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    return {"__max_age": _int(_required(raw, token), token, 0, MAX_CACHE_LIFETIME)}


# A default image's key as a token writes it: letters, digits, `.`, `_`, `-`, and `:` for `/`.
_DEFAULT_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                               "._-:")


def _p_default(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
    value = _required(raw, token)
    if not set(value) <= _DEFAULT_KEY_CHARS or len(value) > 256:
        raise _bad(token, "a source key of letters, digits, '.', '_', '-', with ':' for '/'")
    key = value.replace(":", "/")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise _bad(token, "a source key without empty, '.' or '..' parts")
    return {"__default": key}


def _flag(attr: str) -> Parser:
    def parse(raw: str | None, token: str, lim: GrammarLimits) -> dict[str, Any]:
        return {attr: _bool(raw, token)}

    return parse


@dataclass(frozen=True, slots=True)
class Modifier:
    name: str
    aliases: tuple[str, ...]
    parse: Parser


MODIFIERS: tuple[Modifier, ...] = (
    Modifier("w", ("width",), _p_width),
    Modifier("h", ("height",), _p_height),
    Modifier("s", ("size",), _p_size),
    Modifier("dpr", (), _p_dpr),
    Modifier("zoom", (), _p_zoom),
    Modifier("ar", ("aspect", "aspectratio"), _p_aspect),
    Modifier("adaptive", (), _flag("adaptive")),
    Modifier("minw", ("minwidth",), _min_side("min_width")),
    Modifier("minh", ("minheight",), _min_side("min_height")),
    Modifier("facepad", (), _p_face_pad),
    Modifier("fit", (), _choice("fit", FITS)),
    Modifier("g", ("gravity", "pos", "position"), _p_gravity),
    Modifier("crop", ("extract",), _p_crop),
    Modifier("fmt", ("f", "format"), _p_format),
    Modifier("q", ("quality",), _p_quality),
    Modifier("bg", ("background",), _p_background),
    Modifier("blur", (), _p_blur),
    Modifier("sharpen", (), _p_sharpen),
    Modifier("usm", ("unsharp",), _p_unsharp),
    Modifier("rot", ("rotate",), _p_rotate),
    Modifier("flip", (), _flag("flip")),
    Modifier("flop", (), _flag("flop")),
    Modifier("gray", ("grayscale",), _p_gray),
    Modifier("strip", (), _flag("strip")),
    Modifier("copyright", ("keepcopyright",), _flag("copyright")),
    Modifier("progressive", ("interlace",), _flag("progressive")),
    Modifier("lossless", (), _flag("lossless")),
    Modifier("enlarge", (), _flag("enlarge")),
    Modifier("extend", (), _flag("extend")),
    Modifier("exar", ("extendaspectratio",), _flag("pad_to_ratio")),
    Modifier("trim", (), _p_trim),
    Modifier("anim", ("animated",), _flag("animated")),
    Modifier("page", (), _p_page),
    Modifier("exp", (), _p_expires),
    Modifier("wm", ("watermark",), _p_watermark),
    Modifier("text", (), _p_text),
    Modifier("mb", ("maxbytes",), _p_max_bytes),
    Modifier("dl", ("download", "attachment"), _p_download),
    Modifier("maxage", ("ttl",), _p_max_age),
    Modifier("default", (), _p_default),
    Modifier("px", ("pixelate",), _p_pixelate),
    Modifier("pad", ("padding",), _p_padding),
    Modifier("r", ("radius",), _p_corners),
    Modifier("mask", (), _p_mask),
    Modifier("fq", ("formatquality",), _p_format_quality),
    Modifier("bri", ("brightness",), _adjustment("brightness")),
    Modifier("con", ("contrast",), _adjustment("contrast")),
    Modifier("sat", ("saturation",), _adjustment("saturation")),
    Modifier("rgb", (), _p_rgb),
    Modifier("tint", (), _p_tint),
    Modifier("curve", (), _p_curve),
    Modifier("colorize", ("colourize",), _p_colorize),
    Modifier("modulate", ("mod",), _p_modulate),
    Modifier("median", (), _p_median),
    Modifier("norm", ("normalize", "normalise"), _flag("normalize")),
    Modifier("neg", ("negate", "invert"), _flag("negate")),
    Modifier("equalize", ("equalise",), _flag("equalize")),
    Modifier("wsharpen", (), _p_wavelet_sharpen),
    Modifier("threshold", (), _p_threshold),
    Modifier("saturate", (), _p_saturate),
    Modifier("conv", ("convolution",), _p_convolution),
    Modifier("kernel", (), _choice("kernel", KERNELS)),
    Modifier("gamma", (), _p_gamma),
    Modifier("flatten", (), _flag("flatten")),
    Modifier("raw", (), _flag("raw")),
    Modifier("skip", ("skipprocessing",), _p_skip),
)
_BY_NAME: dict[str, Modifier] = {}
for _m in MODIFIERS:
    for _n in (_m.name, *_m.aliases):
        _BY_NAME[_n] = _m
# `s` writes both dimensions, so it collides with `w` and `h` as one option would.
_SLOTS = {"s": ("w", "h"), "w": ("w",), "h": ("h",)}


_PRESETS_ONLY_NAMES = frozenset({"p", "preset", "exp"})


def _scan(segment: str, limits: GrammarLimits, allow_preset: bool,
          presets_only: bool = False, text: bool = True) -> tuple[dict[str, Any], str]:
    """Parse tokens into field values; returns (values, preset name or '')."""
    values: dict[str, Any] = {}
    seen: dict[str, str] = {}
    preset = ""
    tokens = segment.split(",")
    if len(tokens) > MAX_TOKENS:
        raise InvalidOptions(f"more than {MAX_TOKENS} options")
    for token in tokens:
        name, sep, raw = token.partition("_")
        if not name or not set(name) <= _NAME_CHARS:
            raise InvalidOptions(f"malformed option '{token}'")
        if presets_only and name not in _PRESETS_ONLY_NAMES:
            raise InvalidOptions(f"this server accepts only presets (p_NAME), not '{token}'")
        if name in ("p", "preset"):
            if not allow_preset:
                raise InvalidOptions(f"presets cannot name presets: '{token}'")
            if preset:
                raise InvalidOptions(f"duplicate option '{token}'")
            preset = _required(raw if sep else None, token)
            continue
        modifier = _BY_NAME.get(name)
        if modifier is None:
            raise InvalidOptions(f"unknown option '{name}' in '{token}'")
        if modifier.name == "text" and not text:
            raise InvalidOptions("text overlays in URLs are off on this server "
                                 "(IMGORIGIN_TEXT_OVERLAYS); a preset may carry one")
        for slot in _SLOTS.get(modifier.name, (modifier.name,)):
            if slot in seen:
                raise InvalidOptions(f"duplicate option '{token}' (also given as '{seen[slot]}')")
            seen[slot] = token
        values.update(modifier.parse(raw if sep else None, token, limits))
    return values, preset


def parse(
    segment: str,
    *,
    presets: Mapping[str, str] | None = None,
    max_dim: int = 8192,
    presets_only: bool = False,
    watermarks: Collection[str] | None = None,
    text: bool = True,
) -> ParsedOptions:
    """Turn one options segment into canonical options; raises `InvalidOptions` naming the token.
    With `presets_only`, a segment may name a preset (and `exp_`) and nothing else; `watermarks`
    names the server's watermarks (None: any name); without `text`, a `text_` token of the
    segment itself (not of a preset) is refused."""
    if len(segment) > MAX_SEGMENT_LENGTH:
        raise InvalidOptions(f"options segment longer than {MAX_SEGMENT_LENGTH} characters")
    limits = GrammarLimits(max_dim=max_dim, watermarks=None if watermarks is None
                           else frozenset(watermarks))
    if segment == NO_OPTIONS:
        return ParsedOptions(DEFAULT_OPTIONS)
    if not segment:
        # `//file.jpg` would be a second URL (and CDN key) for `/_/file.jpg`.
        raise InvalidOptions("empty options segment; use _ for no options")
    values, preset_name = _scan(segment, limits, allow_preset=True, presets_only=presets_only,
                                text=text)
    if presets_only and not preset_name:
        raise InvalidOptions("this server accepts only presets (p_NAME)")
    if preset_name:
        preset = (presets or {}).get(preset_name)
        if preset is None:
            raise InvalidOptions(f"unknown preset '{preset_name}'")
        base, _ = _scan(preset, limits, allow_preset=False)
        values = {**base, **values}
    expires = values.pop("__expires", None)
    download = values.pop("__download", None)
    max_age = values.pop("__max_age", None)
    default = values.pop("__default", None)
    if "__zoom" in values:
        # Before `ar_`, so that `w_400,zoom_0.5,ar_16:9` is the variant of `w_200,ar_16:9`.
        zoom, token = values.pop("__zoom")
        values.update(_apply_zoom(zoom, token, values.get("width"), values.get("height"),
                                  limits))
    if "__aspect" in values:
        ratio, token = values.pop("__aspect")
        values.update(_apply_aspect(ratio, token, values.get("width"), values.get("height"),
                                    limits))
    if values.get("pad_to_ratio") and (values.get("min_width") or values.get("min_height")):
        raise InvalidOptions("exar pads what fit_inside (or fit_auto fitting) makes, not "
                             "minw/minh's sizes")
    options = canonicalize(Options(**values))
    if options.aspect is not None and options.fit not in ("cover", "contain"):
        raise InvalidOptions(f"'ar_' without w or h cuts (fit_cover) or pads (fit_contain) the "
                             f"source to its ratio; fit_{options.fit} has no box to fill")
    if options.min_width or options.min_height:
        if options.aspect is not None:
            raise InvalidOptions("minw and minh grow a resize; 'ar_' alone makes none")
        if options.fit not in ("cover", "inside", "auto"):
            raise InvalidOptions(f"minw and minh grow what fit_cover or fit_inside size, not "
                                 f"fit_{options.fit}")
    if options.face_pad is not None:
        _check_face_pad(options)
    if options.raw:
        _check_raw(options)
    if options.trim is not None and isinstance(options.gravity, FocalPixel):
        # The point is in source pixels; what trim takes off is known only after decoding.
        raise InvalidOptions("g_fpx cannot be combined with trim (use g_fp, a fraction of the "
                             "trimmed image)")
    return ParsedOptions(options, expires, download, max_age, default)


def _check_raw(options: Options) -> None:
    """`raw` answers the source's own bytes: an option that would change them has no place."""
    others = replace(options, raw=False, format=None if options.format == "original"
                     else options.format)
    changed = serialize(others)
    if changed != NO_OPTIONS:
        raise InvalidOptions(f"raw serves the source as stored; '{changed.split(',')[0]}' would "
                             "change it (only dl, maxage and exp go with raw)")


def _check_face_pad(options: Options) -> None:
    """`facepad` cuts the face area: it needs a face gravity, and fills a box by cover."""
    if options.fit != "cover":
        raise InvalidOptions("facepad fills its box as fit_cover does, not fit_" + options.fit)
    if options.gravity not in FACE_GRAVITIES:
        raise InvalidOptions("facepad zooms to the faces g_face or g_faces finds; give one")
    if options.min_width or options.min_height:
        raise InvalidOptions("facepad sizes the crop from the faces; minw and minh cannot grow it")


def canonicalize(options: Options) -> Options:
    """Drop settings that cannot change the output, so equal outputs share one form."""
    # `ar_` alone makes a box of the source's own scale.
    both = (options.width is not None and options.height is not None) or options.aspect is not None
    changes: dict[str, Any] = {}
    if not both and options.fit != "cover":
        changes["fit"] = "cover"
    fit = changes.get("fit", options.fit)
    # A box may crop or pad; an image grown past `w`/`h` by `minw`/`minh` is cut too.
    grows = options.min_width is not None or options.min_height is not None
    # `exar` pads a fitted image out to a box with both sides.
    ratio_pad = (options.pad_to_ratio and fit in ("inside", "auto")
                 and options.width is not None and options.height is not None)
    if options.pad_to_ratio and not ratio_pad:
        changes["pad_to_ratio"] = False
    placed = (both and fit in ("cover", "contain", "auto")) or (
        grows and fit in ("cover", "inside", "auto")) or ratio_pad or (
        options.face_pad is not None)  # the face area is cut whatever the sides
    if options.gravity != "center" and not placed:
        changes["gravity"] = "center"
    if options.width is None and options.height is None and options.dpr != 1.0:
        changes["dpr"] = 1.0
    if options.zoom > 1 and (not options.enlarge or options.aspect is not None):
        changes["zoom"] = 1.0  # the source's own size is as large as it gets without `enlarge`
    if options.extend and (fit != "contain" or options.enlarge or options.aspect is not None):
        # Only a contain box that could shrink with the source grows; `ar_`'s never shrinks.
        changes["extend"] = False
    if options.enlarge and options.aspect is not None:
        changes["enlarge"] = False  # `ar_` alone keeps the source's scale
    if options.adaptive and (options.aspect is not None or not both
                             or options.width == options.height):
        changes["adaptive"] = False  # no box, or a square one: nothing to turn
    mark = options.watermark
    if mark is not None and mark.position != "tile":
        # A margin only moves the watermark off an edge its position names; spread copies
        # take the gaps the output leaves.
        fx, fy = DIRECTION_ANCHORS.get(mark.position) or LINE_ANCHORS.get(mark.position,
                                                                          (0.5, 0.5))
        margins = (mark.margin_x if fx != 0.5 else 0, mark.margin_y if fy != 0.5 else 0)
        if margins != (mark.margin_x, mark.margin_y):
            changes["watermark"] = replace(mark, margin_x=margins[0], margin_y=margins[1])
    caption = options.text
    if caption is not None:
        fx, fy = DIRECTION_ANCHORS[caption.position]
        margins = (caption.margin_x if fx != 0.5 else 0, caption.margin_y if fy != 0.5 else 0)
        if margins != (caption.margin_x, caption.margin_y):
            changes["text"] = replace(caption, margin_x=margins[0], margin_y=margins[1])
    if options.threshold is not None and options.grayscale:
        changes["grayscale"] = False  # the threshold greys the image anyway
    if (options.grayscale or options.threshold is not None) and options.saturation:
        changes["saturation"] = 0  # no colour left to saturate
    if (options.grayscale or options.threshold is not None) and options.saturate != 1.0:
        changes["saturate"] = 1.0
    shifts = options.rgb
    if shifts is not None and len(set(shifts)) == 1 and abs(options.brightness + shifts[0]) <= 100:
        # The same shift in every band is a brightness: one spelling for one picture.
        changes.update(rgb=None, brightness=options.brightness + shifts[0])
    if options.kernel != DEFAULT_OPTIONS.kernel and not options.sized:
        changes["kernel"] = DEFAULT_OPTIONS.kernel  # no resize for a kernel to run
    trim = options.trim
    if trim is not None and trim.colour is not None and trim.corner != "northwest":
        changes["trim"] = replace(trim, corner="northwest")  # a named colour needs no corner
    if isinstance(options.crop, CropBox) and not (options.crop.width or options.crop.height):
        changes["crop"] = None  # all of both sides: no crop
    if options.format in _NO_QUALITY and (options.quality is not None or options.format_quality
                                          or options.max_bytes is not None
                                          or options.auto_quality is not None):
        # No encoder that takes a quality: `q`, `fq` and a byte budget cannot change the bytes.
        changes.update(quality=None, format_quality=(), max_bytes=None, auto_quality=None)
    elif len(options.format_quality) == len(QUALITY_FORMATS) and (
            options.quality is not None or options.auto_quality is not None):
        # Every format that takes a quality has its own.
        changes.update(quality=None, auto_quality=None)
    if options.raw and options.format == "original":
        changes["format"] = None  # raw keeps the source's format anyway
    if options.skip_formats and options.format not in (None, "original"):
        # Only a source already in the output's format can be served as stored.
        changes["skip_formats"] = tuple(f for f in options.skip_formats if f == options.format)
    if options.flatten and options.format in _NO_ALPHA:
        changes["flatten"] = False  # the format holds no alpha anyway
    if options.format in _DOCUMENTS and (options.progressive or options.lossless
                                         or not options.strip):
        changes.update(progressive=False, lossless=False, strip=True)  # no encoder at all
    if options.copyright and (not options.strip or options.format in _NO_EXIF):
        # Nothing stripped keeps the credit anyway; a GIF or a document has no EXIF to keep.
        changes["copyright"] = False
    return replace(options, **changes) if changes else options


# Requested formats whose bytes no quality decides, and those that are no image at all.
_DOCUMENTS = frozenset({"json", "blurhash"})
_NO_QUALITY = frozenset({"png", "gif"}) | _DOCUMENTS
_NO_ALPHA = frozenset({"jpeg"}) | _DOCUMENTS
_NO_EXIF = frozenset({"gif"}) | _DOCUMENTS


def _shorthand(first: int, second: int, third: int, fourth: int) -> str:
    """The shortest CSS shorthand of four values clockwise, so each has one spelling."""
    values = [first, second, third, fourth]
    if fourth == second:
        values.pop()
        if third == first:
            values.pop()
            if second == first:
                values.pop()
    return ":".join(map(str, values))


def _point(point: FocalPoint | FocalPixel | ShiftedDirection) -> str:
    if isinstance(point, ShiftedDirection):
        return f"{point.direction}:{format_number(point.x)}:{format_number(point.y)}"
    if isinstance(point, FocalPixel):
        return f"fpx:{point.x}:{point.y}"
    return f"fp:{format_number(point.x)}:{format_number(point.y)}"


def _token(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return name if value else f"{name}_0"
    if isinstance(value, float):
        return f"{name}_{format_number(value)}"
    if isinstance(value, FocalPoint | FocalPixel | ShiftedDirection):
        return f"{name}_{_point(value)}"
    if isinstance(value, tuple) and name in ("rgb", "skip", "colorize"):
        return f"{name}_{':'.join(map(str, value))}"
    if isinstance(value, tuple):  # format_quality: sorted (format, quality) pairs
        return f"{name}_{':'.join(f'{fmt}:{q}' for fmt, q in value)}"
    if isinstance(value, Padding):
        return f"{name}_{_shorthand(value.top, value.right, value.bottom, value.left)}"
    if isinstance(value, Corners):
        if value.ellipse:
            return f"{name}_max"
        if value.share:
            return f"{name}_{format_number(value.share)}"
        radii = _shorthand(value.top_left, value.top_right, value.bottom_right,
                           value.bottom_left)
        return f"{name}_{radii}"
    if isinstance(value, Region):
        return f"{name}_{value.x}:{value.y}:{value.width}:{value.height}"
    if isinstance(value, Trim):
        text = f"{name}_{format_number(value.threshold)}"
        if value.colour is not None:
            return f"{text}:{value.colour}"
        return text if value.corner == "northwest" else f"{text}:{value.corner}"
    if isinstance(value, CropBox):
        text = f"{name}_{format_number(value.width)}:{format_number(value.height)}"
        if isinstance(value.gravity, FocalPoint | FocalPixel | ShiftedDirection):
            return f"{text}:{_point(value.gravity)}"
        return text if value.gravity == "center" else f"{text}:{value.gravity}"
    if isinstance(value, Convolution):
        text = f"{name}_{value.columns}:" + ":".join(format_number(w) for w in value.weights)
        return f"{text}:norm" if value.normalize else text
    if isinstance(value, WaveletSharpen):
        text = f"{name}_{format_number(value.amount)}:{format_number(value.radius)}"
        return f"{text}:luma" if value.luma else text
    if isinstance(value, Unsharp):
        text = f"{name}_{value.amount}"
        if value.radius == DEFAULT_UNSHARP_RADIUS:
            return text
        return f"{text}:{format_number(value.radius)}"
    if isinstance(value, Curve):
        lists = [value.all] if value == Curve(value.all) else [
            value.all, value.red, value.green, value.blue]
        return f"{name}_" + ";".join(":".join(f"{x}-{y}" for x, y in points) for points in lists)
    if isinstance(value, Gamma):
        if value.decode == value.encode:
            return f"{name}_{format_number(value.encode)}"
        return f"{name}_{format_number(value.encode)}:{format_number(value.decode)}"
    if isinstance(value, Modulate):
        parts = [format_number(value.brightness), format_number(value.saturation),
                 str(value.hue), format_number(value.lightness)]
        while len(parts) > 1 and parts[-1] == ("1", "1", "0", "0")[len(parts) - 1]:
            parts.pop()
        return f"{name}_{':'.join(parts)}"
    if isinstance(value, TextOverlay):
        fields_ = [text_token(value.text), value.position, str(value.size), value.colour,
                   str(value.margin_x), str(value.margin_y), value.style, str(value.width)]
        defaults = ("", "center", "24", "ffffff", "0", "0", "", "0")
        while len(fields_) > 1 and fields_[-1] == defaults[len(fields_) - 1]:
            fields_.pop()
        return f"{name}_{':'.join(fields_)}"
    if isinstance(value, Watermark):
        # Trailing defaults dropped: `wm_logo:southeast:1` is `wm_logo`, `...:10:10` is `...:10`.
        scale = format_number(value.scale)
        if value.scale_height:
            scale += f"x{format_number(value.scale_height)}"
        parts = [value.name, value.position, format_number(value.opacity), scale,
                 format_number(value.margin_x), format_number(value.margin_y)]
        defaults = ("", "southeast", "1", "0", "0", parts[4])
        while len(parts) > 1 and parts[-1] == defaults[len(parts) - 1]:
            parts.pop()
        if value.fade != "multiply":
            parts.append(value.fade)
        return f"{name}_{':'.join(parts)}"
    return f"{name}_{value}"


_CANONICAL_NAMES = {
    "width": "w", "height": "h", "dpr": "dpr", "fit": "fit", "gravity": "g", "crop": "crop",
    "aspect": "ar", "adaptive": "adaptive", "zoom": "zoom", "min_width": "minw",
    "min_height": "minh", "face_pad": "facepad",
    "format": "fmt", "quality": "q", "auto_quality": "q", "background": "bg", "blur": "blur",
    "sharpen": "sharpen", "unsharp": "usm",
    "rotate": "rot", "flip": "flip", "flop": "flop", "grayscale": "gray", "strip": "strip",
    "copyright": "copyright",
    "progressive": "progressive", "lossless": "lossless", "enlarge": "enlarge", "extend": "extend",
    "pad_to_ratio": "exar",
    "trim": "trim",
    "animated": "anim", "page": "page", "watermark": "wm", "max_bytes": "mb",
    "pixelate": "px", "brightness": "bri", "contrast": "con", "saturation": "sat", "rgb": "rgb",
    "saturate": "saturate",
    "tint": "tint", "negate": "neg", "curve": "curve", "colorize": "colorize",
    "modulate": "modulate", "flatten": "flatten",
    "median": "median", "normalize": "norm", "equalize": "equalize", "threshold": "threshold",
    "wavelet_sharpen": "wsharpen", "convolution": "conv",
    "kernel": "kernel", "gamma": "gamma",
    "padding": "pad", "corners": "r", "mask": "mask", "format_quality": "fq", "raw": "raw",
    "text": "text",
    "skip_formats": "skip",
}
assert set(_CANONICAL_NAMES) == {f.name for f in fields(Options)}


def serialize(options: Options) -> str:
    """The canonical options segment: sorted names, defaults dropped; `_` when all are default."""
    tokens = []
    for f in fields(Options):
        value = getattr(options, f.name)
        if value is None or value == getattr(DEFAULT_OPTIONS, f.name):
            continue
        tokens.append(_token(_CANONICAL_NAMES[f.name], value))
    return ",".join(sorted(tokens)) or NO_OPTIONS
