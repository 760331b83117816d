"""imgproxy's URL dialect, translated into this server's option tokens and source.

`/{options…}/plain/{url}[@ext]` or `/{options…}/{base64url…}[.ext]` (what follows imgproxy's
signature segment) becomes one native options segment and a source, so the native grammar checks
every value and an imgproxy URL shares its variant, cache entry and purge with the native URL of
the same transform. Options with no native equivalent are refused with a 400 naming them rather
than approximated; docs/imgproxy.md lists what maps to what.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from origin.errors import InvalidOptions, InvalidSource
from transforms.dialect import Translated, check_length, hex_colour, padded_box
from transforms.grammar import MAX_CROP_SIDE, MAX_ZOOM, MIN_ZOOM, format_number
from transforms.options import DIRECTION_ANCHORS

_GRAVITIES = {"no": "north", "so": "south", "ea": "east", "we": "west", "noea": "northeast",
              "nowe": "northwest", "soea": "southeast", "sowe": "southwest", "ce": "center",
              "sm": "attention"}
_FORMATS = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "webp": "webp", "avif": "avif",
            "gif": "gif"}
_Handler = Callable[["_State", list[str], str], None]
_INTEGER = re.compile(r"-?[0-9]+")
_TRUE, _FALSE = frozenset({"1", "t", "true"}), frozenset({"0", "f", "false"})


@dataclass
class _State:
    """imgproxy's options as the URL sets them, in order (a later option overrides)."""

    resizing_type: str = "fit"
    width: int = 0
    height: int = 0
    extend: bool = False
    extend_gravity: str = ""
    ratio_pad: bool = False  # extend_aspect_ratio
    ratio_pad_gravity: str = ""
    gravity: str = ""
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    crop: tuple[str, str] = ("0", "0")  # native crop sides; "0" = the whole side
    crop_gravity: str = ""
    expires: int | None = None
    filename: str = ""
    attachment: bool = False
    watermark: list[str] | None = None  # opacity, position, x and y offsets, scale
    zoom: float = 1.0
    raw: bool = False
    tokens: dict[str, str] = field(default_factory=dict)

    def set(self, name: str, value: str) -> None:
        """Set a native token ("" removes it: imgproxy's 0 or empty means the default)."""
        if value:
            self.tokens[name] = value
        else:
            self.tokens.pop(name, None)


def translate(path: str, watermark: str = "", skip: tuple[str, ...] = ()) -> Translated:
    """Translate `/{options…}/{source}` (the signed part of an imgproxy URL); raises 400.
    `watermark` names the server's watermark that imgproxy's `watermark` option puts on; `skip`
    the formats served as stored for every URL (IMGPROXY_SKIP_PROCESSING_FORMATS)."""
    segments = path.removeprefix("/").split("/")
    state = _State()
    for index, segment in enumerate(segments):
        if segment == "plain":
            source, ext = _plain_source("/".join(segments[index + 1:]))
            break
        if segment == "enc":
            raise InvalidSource("encrypted imgproxy source URLs are not supported")
        if ":" not in segment:
            source, ext = _encoded_source("/".join(segments[index:]))
            break
        check_length(segment, "imgproxy")
        name, _, args = segment.partition(":")
        handler = _OPTIONS.get(name)
        if handler is None:
            raise InvalidOptions(f"imgproxy option '{name}' is not supported by this server")
        handler(state, args.split(":"), name)
    else:
        raise InvalidSource("imgproxy URL has no source")
    if ext:
        state.set("fmt", _format(ext, "extension"))
    if skip:
        listed = set(state.tokens.get("skip", "").split(":")) - {""}
        state.set("skip", ":".join(sorted(listed | set(skip))))
    if state.watermark is not None:
        _watermark(state, watermark)
    return Translated(_tokens(state), _source_key(source), state.expires)


def _plain_source(raw: str) -> tuple[str, str]:
    # imgproxy wants `@` inside the URL percent-encoded: the last bare one starts the extension.
    url, at, ext = raw.rpartition("@")
    if not at:
        url, ext = raw, ""
    if not url:
        raise InvalidSource("imgproxy URL has no source")
    return unquote(url), ext


def _encoded_source(raw: str) -> tuple[str, str]:
    encoded, dot, ext = raw.rpartition(".")
    if not dot:
        encoded, ext = raw, ""
    encoded = encoded.replace("/", "")
    try:
        source = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidSource("imgproxy source is not URL-safe base64 of a URL") from None
    if not source:
        raise InvalidSource("imgproxy URL has no source")
    return source, ext


def _source_key(source: str) -> str:
    """imgproxy's `local:///path` is a key under the default source, as are relative sources
    (imgproxy's IMGPROXY_BASE_URL); absolute URLs stay absolute and meet the host allowlist."""
    if source.startswith("local://"):
        return source.removeprefix("local://").lstrip("/")
    return source


def _tokens(state: _State) -> str:
    if state.raw:
        # The source as stored: imgproxy ignores every processing option beside `raw`.
        return ",".join(["raw", *(["dl_" + state.filename if state.filename else "dl"]
                                  if state.attachment else [])])
    tokens = dict(state.tokens)
    if state.zoom != 1:
        _zoom(state, tokens)
    # imgproxy pads around the resized image (a 100x200 box with `pd:10` comes out 120x220).
    padded_box(state.width, state.height, state.padding, tokens)
    fit = _fit(state)
    if fit:
        tokens["fit"] = fit
    if fit == "contain":
        tokens["extend"] = "1"  # the box keeps its size around a smaller image, as in imgproxy
    gravity = state.gravity
    if state.crop != ("0", "0"):
        tokens["crop"] = _crop_token(state, tokens)
    if state.extend and fit == "contain" and state.extend_gravity:
        if gravity and gravity != state.extend_gravity:
            raise InvalidOptions("imgproxy gravity and extend gravity differ; this server "
                                 "places crops and padding by one gravity")
        gravity = state.extend_gravity
    if state.ratio_pad and fit == "auto" and state.ratio_pad_gravity and \
            state.ratio_pad_gravity != (gravity or "center"):
        # `auto` may crop (by the main gravity) or pad (by this one): one gravity here.
        raise InvalidOptions("imgproxy extend_aspect_ratio gravity beside resizing type 'auto' "
                             "and another gravity is not supported by this server")
    if state.ratio_pad and fit in ("inside", "auto"):
        # Padded out to the box's ratio (imgproxy's extend_aspect_ratio) where `auto` fits.
        # Beside `extend` (the whole box) and fill (already the box's ratio) it changes
        # nothing, as in imgproxy.
        tokens["exar"] = "1"
        if state.ratio_pad_gravity:
            if gravity and gravity != state.ratio_pad_gravity:
                raise InvalidOptions("imgproxy gravity and extend_aspect_ratio gravity differ; "
                                     "this server places padding by one gravity")
            gravity = state.ratio_pad_gravity
    if gravity:
        tokens["g"] = gravity
    parts = [f"{k}_{v}" for k, v in tokens.items()]
    if state.attachment:
        parts.append(f"dl_{state.filename}" if state.filename else "dl")
    return ",".join(parts) or "_"


def _zoom(state: _State, tokens: dict[str, str]) -> None:
    """imgproxy multiplies the size it asks for by the zoom (rounded half up), before its padding;
    with neither side, the source by it: the native `zoom` does both."""
    if not (state.width or state.height):
        tokens["zoom"] = format_number(state.zoom)
        return
    width = math.floor(state.width * state.zoom + 0.5)
    height = math.floor(state.height * state.zoom + 0.5)
    if (state.width and not width) or (state.height and not height):
        raise InvalidOptions("imgproxy zoom makes a side of the size 0")
    state.width, state.height = width, height


def _crop_token(state: _State, tokens: dict[str, str]) -> str:
    """imgproxy crops the trimmed, turned image by its own gravity (else the main one); the
    native gravity crop is taken of the source before trim and `rot`."""
    if "rot" in tokens or "trim" in tokens:
        raise InvalidOptions("imgproxy crop together with rotate or trim is not supported by "
                             "this server")
    gravity = state.crop_gravity or state.gravity or "center"
    width, height = state.crop
    return f"{width}:{height}:{gravity}"


def _fit(state: _State) -> str:
    kind = state.resizing_type
    both = bool(state.width and state.height)
    if kind == "auto" and both and state.extend:
        raise InvalidOptions("imgproxy resizing type 'auto' with extend is not supported by "
                             "this server")
    if kind == "force":
        if not both and (state.width or state.height):
            raise InvalidOptions("imgproxy 'force' needs both width and height here")
        return "fill" if both else ""
    if not both:
        return ""
    if kind == "fit":
        return "contain" if state.extend else "inside"  # `extend` token added by _tokens
    if kind == "auto":
        return "auto"  # fill or fit, by the source's orientation against the box's
    return "cover"  # fill, fill-down


def _int(value: str, name: str, low: int = 0) -> int:
    if not _INTEGER.fullmatch(value):
        raise InvalidOptions(f"imgproxy option '{name}': '{value}' is not an integer")
    number = int(value)
    if number < low:
        raise InvalidOptions(f"imgproxy option '{name}': {number} is below {low}")
    return number


def _number(value: str, name: str) -> str:
    try:
        number = float(value)
    except ValueError:
        raise InvalidOptions(f"imgproxy option '{name}': '{value}' is not a number") from None
    if number != number or number < 0:
        raise InvalidOptions(f"imgproxy option '{name}': '{value}' is out of range")
    return "" if number == 0 else value


def _offset(value: str, name: str) -> str:
    """A gravity offset (px, or a share of the side below 1; signed) in the native spelling."""
    try:
        number = float(value or "0")
    except ValueError:
        raise InvalidOptions(f"imgproxy option '{name}': '{value}' is not a number") from None
    if not math.isfinite(number):
        raise InvalidOptions(f"imgproxy option '{name}': '{value}' is out of range")
    return format_number(number) if round(number, 3) else "0"


def _flag(value: str, name: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE or value == "":
        return False
    raise InvalidOptions(f"imgproxy option '{name}': '{value}' is not a boolean")


def _args(args: list[str], name: str, most: int) -> list[str]:
    if len(args) > most:
        raise InvalidOptions(f"imgproxy option '{name}' takes at most {most} arguments")
    return args + [""] * (most - len(args))


def _format(value: str, name: str) -> str:
    fmt = _FORMATS.get(value.lower())
    if fmt is None:
        raise InvalidOptions(f"imgproxy {name} '{value}' is not a format this server writes")
    return fmt


def _gravity(args: list[str], name: str) -> str:
    kind = args[0]
    if kind == "fp":
        x, y = _args(args[1:], name, 2)
        return f"fp:{x}:{y}"
    if kind == "obj":
        # imgproxy Pro's object gravity: of its classes, faces are what this server detects.
        if args[1:] != ["face"]:
            raise InvalidOptions(f"imgproxy gravity 'obj:{':'.join(args[1:])}' is not "
                                 "supported by this server (obj:face is)")
        return "faces"
    if kind not in _GRAVITIES:
        raise InvalidOptions(f"imgproxy gravity '{kind}' is not supported by this server")
    if len(args) > 3:
        raise InvalidOptions(f"imgproxy option '{name}' has too many arguments")
    x, y = (_offset(offset, name) for offset in (args[1:3] + ["", ""])[:2])
    direction = _GRAVITIES[kind]
    if direction == "attention" or x == y == "0":
        return direction  # imgproxy's smart crop takes no offsets
    return f"{direction}:{x}:{y}"


def _o_resize(state: _State, args: list[str], name: str) -> None:
    kind, *rest = _args(args, name, 5)
    if kind:
        _o_resizing_type(state, [kind], name)
    _o_size(state, rest, name)


def _o_size(state: _State, args: list[str], name: str) -> None:
    width, height, enlarge, extend = _args(args, name, 4)
    if width:
        state.width = _int(width, name)
    if height:
        state.height = _int(height, name)
    if enlarge:
        _o_enlarge(state, [enlarge], name)
    if extend:
        _o_extend(state, [extend], name)


def _o_resizing_type(state: _State, args: list[str], name: str) -> None:
    (kind,) = _args(args, name, 1)
    if kind not in ("fit", "fill", "fill-down", "force", "auto"):
        raise InvalidOptions(f"imgproxy resizing type '{kind}' is unknown")
    state.resizing_type = kind


def _o_width(state: _State, args: list[str], name: str) -> None:
    state.width = _int(_args(args, name, 1)[0], name)


def _o_height(state: _State, args: list[str], name: str) -> None:
    state.height = _int(_args(args, name, 1)[0], name)


def _o_enlarge(state: _State, args: list[str], name: str) -> None:
    state.set("enlarge", "1" if _flag(_args(args, name, 1)[0], name) else "")


def _padding_switch(args: list[str], name: str) -> tuple[bool, str]:
    """`%enabled[:%gravity]` of `extend` and `extend_aspect_ratio`: padding has no smart place."""
    gravity = _gravity(args[1:], name) if len(args) > 1 and args[1] else ""
    if gravity in ("attention", "faces"):
        raise InvalidOptions(f"imgproxy {name} gravity '{args[1]}' is not allowed")
    return _flag(args[0], name), gravity


def _o_extend(state: _State, args: list[str], name: str) -> None:
    state.extend, state.extend_gravity = _padding_switch(args, name)


def _o_extend_aspect_ratio(state: _State, args: list[str], name: str) -> None:
    state.ratio_pad, state.ratio_pad_gravity = _padding_switch(args, name)


def _o_gravity(state: _State, args: list[str], name: str) -> None:
    state.gravity = _gravity(args, name)


def _o_crop(state: _State, args: list[str], name: str) -> None:
    width, height = (_crop_side(side, name) for side in _args(args[:2], name, 2))
    state.crop = (width, height)
    state.crop_gravity = _gravity(args[2:], name) if len(args) > 2 else ""


def _crop_side(value: str, name: str) -> str:
    """imgproxy's crop side: pixels when >= 1 (the fraction cut off), a share of the source's
    side below 1, 0 (or nothing) for all of it."""
    if not value:
        return "0"
    number = float(_number(value, name) or 0)
    if number >= 1:
        if number > MAX_CROP_SIDE:
            raise InvalidOptions(f"imgproxy option '{name}': '{value}' is out of range")
        return str(int(number))
    if not number:
        return "0"
    share = format_number(number)  # the native grammar's three places
    if share in ("0", "1"):
        raise InvalidOptions(f"imgproxy option '{name}': '{value}' is not a share "
                             "0.001..0.999 of the source's side")
    return share


def _o_zoom(state: _State, args: list[str], name: str) -> None:
    """zoom:%zoom_x_y or zoom:%zoom_x:%zoom_y; the native zoom keeps the aspect ratio."""
    factors = []
    for arg in args:
        try:
            factor = float(arg)
        except ValueError:
            raise InvalidOptions(f"imgproxy option '{name}': '{arg}' is not a number") from None
        if not MIN_ZOOM <= factor <= MAX_ZOOM:
            raise InvalidOptions(f"imgproxy option '{name}': '{arg}' is out of range "
                                 f"({format_number(MIN_ZOOM)}..{format_number(MAX_ZOOM)})")
        factors.append(factor)
    if len(factors) > 2:
        raise InvalidOptions(f"imgproxy option '{name}' takes at most 2 arguments")
    if len(set(factors)) > 1:
        raise InvalidOptions("imgproxy zoom with two different factors is not supported by this "
                             "server (it would stretch the image)")
    state.zoom = factors[0]


def _o_dpr(state: _State, args: list[str], name: str) -> None:
    state.set("dpr", _number(_args(args, name, 1)[0], name))


def _o_format_quality(state: _State, args: list[str], name: str) -> None:
    if len(args) % 2:
        raise InvalidOptions(f"imgproxy option '{name}' takes format:quality pairs")
    pairs = [f"{_format(fmt, 'format')}:{q}" for fmt, q in zip(args[::2], args[1::2],
                                                                    strict=True)]
    state.set("fq", ":".join(pairs))


def _o_background(state: _State, args: list[str], name: str) -> None:
    if args in ([], [""]):
        state.set("bg", "")
    elif len(args) == 3:
        rgb = [_int(v, name) for v in args]
        if max(rgb) > 255:
            raise InvalidOptions(f"imgproxy option '{name}': channels are 0..255")
        state.set("bg", "".join(f"{v:02x}" for v in rgb))
    elif len(args) == 1 and len(args[0]) in (3, 6) and hex_colour(args[0]):
        state.set("bg", hex_colour(args[0]) or "")
    else:
        raise InvalidOptions(f"imgproxy option '{name}': expected R:G:B or a hex colour")


def _whole(native: str, least: int = 1) -> _Handler:
    """A whole number passed on (the native grammar checks its range); below `least` it is
    imgproxy's "default" (`q:0`, `mb:0`, `pg:0`) or changes nothing (`pix:1`)."""
    def handle(state: _State, args: list[str], name: str) -> None:
        value = _int(_args(args, name, 1)[0], name)
        state.set(native, str(value) if value >= least else "")

    return handle


def _simple(native: str) -> _Handler:
    """A number passed on as it is (the native grammar checks its range); 0 turns it off."""
    def handle(state: _State, args: list[str], name: str) -> None:
        state.set(native, _number(_args(args, name, 1)[0], name))

    return handle


def _o_rotate(state: _State, args: list[str], name: str) -> None:
    value = _int(_args(args, name, 1)[0], name)
    if value % 90:
        raise InvalidOptions(f"imgproxy option '{name}': only multiples of 90 degrees")
    state.set("rot", str(value % 360) if value % 360 else "")


def _o_padding(state: _State, args: list[str], name: str) -> None:
    top, right, bottom, left = (_int(v, name) if v else None for v in _args(args, name, 4))
    if top is None:
        raise InvalidOptions(f"imgproxy option '{name}' needs a top padding")
    right = top if right is None else right
    bottom = top if bottom is None else bottom
    left = right if left is None else left
    state.padding = (top, right, bottom, left)


def _o_trim(state: _State, args: list[str], name: str) -> None:
    threshold, colour, *rest = _args(args, name, 4)
    if any(_flag(value, name) for value in rest):
        raise InvalidOptions("imgproxy trim equal-sides arguments are not supported by this "
                             "server")
    value = _number(threshold, name)
    if value and colour:
        rgb = hex_colour(colour)
        if rgb is None or len(rgb) != 6:
            raise InvalidOptions(f"imgproxy option '{name}': '{colour}' is not a hex colour")
        value = f"{value}:{rgb}"
    state.set("trim", value)


def _o_strip_metadata(state: _State, args: list[str], name: str) -> None:
    state.set("strip", "" if _flag(_args(args, name, 1)[0], name) else "0")


def _o_keep_copyright(state: _State, args: list[str], name: str) -> None:
    state.set("copyright", "1" if _flag(_args(args, name, 1)[0], name) else "")


def _o_strip_color_profile(state: _State, args: list[str], name: str) -> None:
    if not _flag(_args(args, name, 1)[0], name):
        raise InvalidOptions("imgproxy strip_color_profile:0 is not supported: this server "
                             "always converts to sRGB and drops the source's profile")


def _o_auto_rotate(state: _State, args: list[str], name: str) -> None:
    if not _flag(_args(args, name, 1)[0], name):
        raise InvalidOptions("imgproxy auto_rotate:0 is not supported: this server always "
                             "applies the EXIF orientation")


def _o_format(state: _State, args: list[str], name: str) -> None:
    (value,) = _args(args, name, 1)
    state.set("fmt", _format(value, "format") if value else "")


def _o_preset(state: _State, args: list[str], name: str) -> None:
    if len(args) != 1 or not args[0]:
        raise InvalidOptions("imgproxy presets: this server applies one preset per URL")
    state.set("p", args[0])


def _o_cachebuster(state: _State, args: list[str], name: str) -> None:
    """Changes the URL (so every cache in front misses) and nothing else, as in imgproxy."""


def _o_expires(state: _State, args: list[str], name: str) -> None:
    state.expires = _int(_args(args, name, 1)[0], name)


def _o_filename(state: _State, args: list[str], name: str) -> None:
    value, encoded = _args(args, name, 2)
    if _flag(encoded, name):
        try:
            value = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidOptions(f"imgproxy option '{name}': not URL-safe base64") from None
    else:
        value = unquote(value)
    state.filename = value  # `dl` gives it the extension of the format sent


def _o_attachment(state: _State, args: list[str], name: str) -> None:
    state.attachment = _flag(_args(args, name, 1)[0], name)


def _o_watermark(state: _State, args: list[str], name: str) -> None:
    state.watermark = _args(args, name, 5)


def _watermark(state: _State, mark: str) -> None:
    """imgproxy's `wm:OPACITY:POSITION:X:Y:SCALE` as the native watermark `mark`: offsets (px)
    are margins from the edges the position names, the scale a share of the output's width."""
    opacity, position, x, y, scale = state.watermark or [""] * 5
    opacity = _number(opacity, "watermark") if opacity else ""
    if not opacity:
        state.set("wm", "")  # imgproxy applies no watermark at opacity 0
        return
    if not mark:
        raise InvalidOptions("imgproxy watermark: this server has none set for imgproxy URLs "
                             "(IMGORIGIN_IMGPROXY_WATERMARK)")
    # `re`: copies over the whole output, one in the centre, the offsets the gaps between them
    # (imgproxy 3.x); the native `tile` does the same.
    direction = "tile" if position == "re" else _GRAVITIES.get(position or "ce")
    if direction is None or direction == "attention":
        raise InvalidOptions(f"imgproxy watermark position '{position}' is not supported by "
                             "this server")
    fx, fy = DIRECTION_ANCHORS.get(direction, (0.0, 0.0))
    margins = []
    for value, anchor, axis in ((x, fx, "x"), (y, fy, "y")):
        offset = _int(value, "watermark") if value else 0
        if offset and anchor == 0.5:
            raise InvalidOptions(f"imgproxy watermark {axis} offset on a centred axis is not "
                                 "supported by this server (margins keep it off an edge)")
        margins.append(str(offset))
    scale = _number(scale, "watermark") if scale else ""
    if "dpr" in state.tokens and not scale:
        raise InvalidOptions("imgproxy watermark at its own size with dpr is not supported by "
                             "this server (imgproxy does not enlarge it by dpr; the native one "
                             "does)")
    # imgproxy fits the mark inside the scale's share of the output's width and of its height.
    scale = f"{scale}x{scale}" if scale and float(scale) else "0"
    state.set("wm", ":".join([mark, direction, opacity, scale, *margins]))


def _o_disable_animation(state: _State, args: list[str], name: str) -> None:
    state.set("anim", "0" if _flag(_args(args, name, 1)[0], name) else "")


# imgproxy Pro's resizing_algorithm; each is the libvips kernel of that name here too.
_ALGORITHMS = ("nearest", "linear", "cubic", "lanczos2", "lanczos3")


def _o_resizing_algorithm(state: _State, args: list[str], name: str) -> None:
    value = _args(args, name, 1)[0]
    if value not in _ALGORITHMS:
        raise InvalidOptions(f"imgproxy option '{name}': '{value}' is not one of "
                             + ", ".join(_ALGORITHMS))
    state.set("kernel", "" if value == "lanczos3" else value)


def _o_raw(state: _State, args: list[str], name: str) -> None:
    state.raw = _flag(_args(args, name, 1)[0], name)


# imgproxy's format names that are web formats here; an SVG source is always rendered here.
_STORED = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "webp": "webp", "avif": "avif",
           "gif": "gif", "svg": ""}


def skip_formats(names: list[str]) -> tuple[str, ...]:
    """imgproxy's skip-processing format names as native formats (`svg` dropped: SVG sources are
    rendered here, never served as markup); ValueError names one that is not a web format."""
    found = set()
    for name in names:
        native = _STORED.get(name.lower())
        if native is None:
            raise ValueError(f"'{name}': only web formats (jpg, png, webp, avif, gif; svg "
                             "ignored) are served as stored by this server")
        found.add(native)
    return tuple(sorted(found - {""}))


def _o_skip_processing(state: _State, args: list[str], name: str) -> None:
    try:
        formats = skip_formats(args)
    except ValueError as exc:
        raise InvalidOptions(f"imgproxy {name} {exc}") from None
    state.set("skip", ":".join(formats))


_OPTIONS: dict[str, _Handler] = {}
for _names, _handler in (
    (("resize", "rs"), _o_resize),
    (("size", "s"), _o_size),
    (("resizing_type", "rt"), _o_resizing_type),
    (("resizing_algorithm", "ra"), _o_resizing_algorithm),
    (("width", "w"), _o_width),
    (("min-width", "mw"), _whole("minw")),
    (("min-height", "mh"), _whole("minh")),
    (("height", "h"), _o_height),
    (("enlarge", "el"), _o_enlarge),
    (("extend", "ex"), _o_extend),
    (("extend_aspect_ratio", "extend_ar", "exar"), _o_extend_aspect_ratio),
    (("gravity", "g"), _o_gravity),
    (("dpr",), _o_dpr),
    (("zoom", "z"), _o_zoom),
    (("crop", "c"), _o_crop),
    (("quality", "q"), _whole("q")),
    (("format_quality", "fq"), _o_format_quality),
    (("max_bytes", "mb"), _whole("mb")),
    (("background", "bg"), _o_background),
    (("blur", "bl"), _simple("blur")),
    (("sharpen", "sh"), _simple("sharpen")),
    (("pixelate", "pix"), _whole("px", least=2)),
    (("rotate", "rot"), _o_rotate),
    (("padding", "pd"), _o_padding),
    (("trim", "t"), _o_trim),
    (("strip_metadata", "sm"), _o_strip_metadata),
    (("keep_copyright", "kcr"), _o_keep_copyright),
    (("strip_color_profile", "scp"), _o_strip_color_profile),
    (("auto_rotate", "ar"), _o_auto_rotate),
    (("format", "f", "ext"), _o_format),
    (("preset", "pr"), _o_preset),
    (("cachebuster", "cb"), _o_cachebuster),
    (("expires", "exp"), _o_expires),
    (("filename", "fn"), _o_filename),
    (("return_attachment", "att"), _o_attachment),
    (("page", "pg"), _whole("page")),
    (("disable_animation", "da"), _o_disable_animation),
    (("watermark", "wm"), _o_watermark),
    (("raw",), _o_raw),
    (("skip_processing", "skp"), _o_skip_processing),
):
    for _name in _names:
        _OPTIONS[_name] = _handler
