"""thumbor's URL dialect, translated into this server's option tokens and source.

`[trim/][AxB:CxD/][fit-in/][-]Wx[-]H/[halign/][valign/][smart/][filters:f(a):g(b)/]image` (what
follows thumbor's `unsafe` or signature segment) becomes one native options segment and a
source; the native grammar checks every value, and the URL shares its variant, cache entry and
purge with the native URL of the same transform. What has no native equivalent is refused with
a 400 naming it; docs/thumbor.md lists what maps to what.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from origin.errors import InvalidOptions, InvalidSource
from transforms.dialect import Translated, check_length, hex_colour

# thumbor's own order of optional parts; each part ends with a slash, the image is the rest.
_PATH = re.compile(
    r"(?:(?P<debug>debug)/)?"
    r"(?:(?P<meta>meta)/)?"
    r"(?:(?P<trim>trim(?::(?:top-left|bottom-right))?(?::[0-9]+)?)/)?"
    r"(?:(?P<left>[0-9]+)x(?P<top>[0-9]+):(?P<right>[0-9]+)x(?P<bottom>[0-9]+)/)?"
    r"(?:(?P<fit>(?:adaptive-)?(?:full-)?fit-in)/)?"
    r"(?:(?P<hflip>-)?(?P<width>[0-9]+|orig)?x(?P<vflip>-)?(?P<height>[0-9]+|orig)?/)?"
    r"(?:(?P<halign>left|right|center)/)?"
    r"(?:(?P<valign>top|bottom|middle)/)?"
    r"(?:(?P<smart>smart)/)?"
    r"(?:filters:(?P<filters>[^/]*\))/)?"
    r"(?P<image>.+)",
    re.DOTALL,
)
_FILTER = re.compile(r"([a-z_]+)\(([^()]*)\)")
_GRAVITY = {
    ("left", "top"): "northwest", ("center", "top"): "north", ("right", "top"): "northeast",
    ("left", "middle"): "west", ("center", "middle"): "", ("right", "middle"): "east",
    ("left", "bottom"): "southwest", ("center", "bottom"): "south",
    ("right", "bottom"): "southeast",
}
# The eight directions clockwise: thumbor's alignment names the source, the native gravity the
# turned image, so a turn moves it round this circle.
_COMPASS = ("north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest")
_FORMATS = {"jpeg": "jpeg", "jpg": "jpeg", "png": "png", "webp": "webp", "gif": "gif",
            "avif": "avif"}
_NO_OPS = frozenset({"strip_icc", "strip_exif"})  # this server always does both


def translate(path: str) -> Translated:
    """Translate the part of a thumbor URL after `unsafe/` or the signature; raises 400."""
    match = _PATH.fullmatch(path)
    if match is None:
        raise InvalidSource("thumbor URL has no image")
    part = match.groupdict()
    check_length(path[:len(path) - len(part["image"])], "thumbor")
    for name, what in (("debug", "debug"), ("meta", "meta (JSON)")):
        if part[name]:
            raise InvalidOptions(f"thumbor {what} is not supported by this server")
    image = part["image"]
    if image.startswith("filters:"):
        raise InvalidOptions("thumbor filters could not be read (one filter per name(args), "
                             "separated by ':')")
    tokens: dict[str, str] = {}
    if part["trim"]:
        _trim(part, tokens)
    filters = _filters(part["filters"] or "", tokens)
    _geometry(part, filters, tokens)
    return Translated(",".join(f"{k}_{v}" if v else k for k, v in tokens.items()) or "_",
                      _source(image))


def _trim(part: dict[str, str | None], tokens: dict[str, str]) -> None:
    """thumbor trims borders of the top-left (or bottom-right) pixel's colour, as the native
    trim does; its tolerance (0 by default) is a distance in RGB, the native threshold a
    difference per channel from 1, so a tolerance reads as that threshold (docs/thumbor.md has
    the difference)."""
    spec = part["trim"] or ""
    if part["left"] is not None:
        # thumbor crops the trimmed image; the native crop is taken before the trim.
        raise InvalidOptions("thumbor trim together with a manual crop is not supported by "
                             "this server")
    tolerance = spec.rpartition(":")[2]
    threshold = str(max(1, int(tolerance))) if tolerance.isdigit() else "1"
    tokens["trim"] = threshold + (":southeast" if ":bottom-right" in spec else "")


def _geometry(part: dict[str, str | None], filters: set[str], tokens: dict[str, str]) -> None:
    if "orig" in (part["width"], part["height"]):
        raise InvalidOptions("thumbor 'orig' sizes are not supported by this server")
    width, height = int(part["width"] or 0), int(part["height"] or 0)
    # rotate() turns the finished image counter-clockwise; the native `rot` turns the source
    # clockwise and sizes the turned image, so a quarter turn swaps the box's sides (and which
    # mirror is which, thumbor mirroring before it turns).
    quarter = tokens.get("rot") in ("90", "270")
    hflip, vflip = part["hflip"], part["vflip"]
    if quarter:
        width, height = height, width
        hflip, vflip = vflip, hflip
    fit = part["fit"] or ""
    if fit.startswith("adaptive-"):
        raise InvalidOptions("thumbor adaptive-fit-in is not supported by this server")
    if part["left"] is not None:
        left, top = int(part["left"]), int(part["top"] or 0)
        right, bottom = int(part["right"] or 0), int(part["bottom"] or 0)
        if right > left and bottom > top:  # thumbor ignores an empty crop
            tokens["crop"] = f"{left}:{top}:{right - left}:{bottom - top}"
    if width:
        tokens["w"] = str(width)
    if height:
        tokens["h"] = str(height)
    both = bool(width and height)
    if fit == "fit-in":
        # thumbor fits without enlarging unless `upscale()`; `fill(colour)` pads to the box.
        if both:
            tokens["fit"] = "contain" if "fill" in filters else "inside"
            if "fill" in filters:
                tokens["extend"] = ""  # fill pads to the box asked for, whatever the source
        if "upscale" in filters and (width or height):
            tokens["enlarge"] = ""
    elif fit == "full-fit-in":
        if both:
            tokens["fit"] = "outside"
        if (width or height) and "no_upscale" not in filters:
            tokens["enlarge"] = ""
    else:
        # Without fit-in thumbor crops to the box's aspect ratio and always resizes to it,
        # enlarging small images, unless `no_upscale()`.
        if (width or height) and "no_upscale" not in filters:
            tokens["enlarge"] = ""
        gravity = _GRAVITY[part["halign"] or "center", part["valign"] or "middle"]
        if gravity and "rot" in tokens:
            turn = (360 - int(tokens["rot"])) // 45  # thumbor's counter-clockwise angle
            gravity = _COMPASS[(_COMPASS.index(gravity) - turn) % 8]
        if part["smart"]:
            gravity = "attention"
        if gravity and both:
            tokens["g"] = gravity
    if hflip:
        tokens["flop"] = ""
    if vflip:
        tokens["flip"] = ""


def _filters(text: str, tokens: dict[str, str]) -> set[str]:
    """Native tokens for thumbor's filters; returns the names seen."""
    names: set[str] = set()
    position = 0
    while position < len(text):
        match = _FILTER.match(text, position)
        if match is None:
            raise InvalidOptions("thumbor filters could not be read (one filter per "
                                 "name(args), separated by ':')")
        name, args = match.group(1), match.group(2)
        _filter(name, [a.strip() for a in args.split(",")] if args else [], tokens)
        names.add(name)
        position = match.end()
        if position < len(text):
            if text[position] != ":":
                raise InvalidOptions("thumbor filters are separated by ':'")
            position += 1
    return names


def _filter(name: str, args: list[str], tokens: dict[str, str]) -> None:
    arity = {"format": 1, "quality": 1, "blur": (1, 2), "grayscale": 0, "fill": 1,
             "background_color": 1, "max_bytes": 1, "no_upscale": 0, "upscale": 0, "rotate": 1,
             "strip_icc": 0, "strip_exif": 0}.get(name)
    if arity is None:
        raise InvalidOptions(f"thumbor filter '{name}' is not supported by this server")
    allowed = arity if isinstance(arity, tuple) else (arity,)
    if len(args) not in allowed:
        raise InvalidOptions(f"thumbor filter '{name}' takes {' or '.join(map(str, allowed))} "
                             "arguments")
    if name == "format":
        fmt = _FORMATS.get(args[0].lower())
        if fmt is None:
            raise InvalidOptions(f"thumbor format '{args[0]}' is not a format this server "
                                 "writes")
        tokens["fmt"] = fmt
    elif name == "quality":
        tokens["q"] = args[0]
    elif name == "blur":
        # blur(radius[, sigma]): thumbor's sigma defaults to the radius; 0 turns it off.
        sigma = args[-1]
        if sigma not in ("0", "0.0"):
            tokens["blur"] = sigma
    elif name == "grayscale":
        tokens["gray"] = ""
    elif name in ("fill", "background_color"):
        colour = _colour(args[0], name)
        if colour:
            tokens["bg"] = colour
    elif name == "max_bytes":
        tokens["mb"] = args[0]
    elif name == "rotate":
        # thumbor turns by quarter turns only and ignores any other angle.
        if not re.fullmatch(r"-?[0-9]+", args[0]):
            raise InvalidOptions(f"thumbor rotate('{args[0]}'): expected whole degrees")
        angle = int(args[0]) % 360
        if angle % 90 == 0 and angle:
            tokens["rot"] = str(360 - angle)


def _colour(value: str, name: str) -> str:
    if name == "fill" and value.lower() == "transparent":
        return ""
    colour = hex_colour(value)
    if colour is not None and len(colour) == 6:
        return colour
    raise InvalidOptions(f"thumbor {name}('{value}'): only hex colours are supported here")


def _source(image: str) -> str:
    """thumbor's image URI, decoded once: an absolute URL stays absolute (and meets the host
    allowlist); anything else is a key under the default source."""
    source = unquote(image)
    if not source:
        raise InvalidSource("thumbor URL has no image")
    return source
