"""thumbor's URL dialect, translated into this server's option tokens and source.

`[trim/][AxB:CxD/][fit-in/][-]Wx[-]H/[halign/][valign/][smart/][filters:f(a):g(b)/]image` (what
follows thumbor's `unsafe` or signature segment) becomes one native options segment and a
source; the native grammar checks every value, and the URL shares its variant, cache entry and
purge with the native URL of the same transform. What has no native equivalent is refused with
a 400 naming it; docs/thumbor.md lists what maps to what.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from origin.errors import InvalidOptions, InvalidSource
from transforms import faces
from transforms.dialect import (
    Translated,
    check_length,
    hex_colour,
    named_colour,
    native_segment,
    whole_number,
)
from transforms.grammar import format_number

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
    r"(?:filters:(?P<filters>.+?\))/)?"  # thumbor's own: a watermark URL may hold slashes
    r"(?P<image>.+)",
    re.DOTALL,
)
_FILTER = re.compile(r"([a-z_]+)\(([^()]*)\)")
# curve()'s four lists of points hold parentheses: thumbor's own pattern for each list.
_CURVE_LIST = r"\[(?:\([0-9]+,[0-9]+\),?)*\]"
_CURVE_FILTER = re.compile(rf"(curve)\(({_CURVE_LIST},{_CURVE_LIST},{_CURVE_LIST},{_CURVE_LIST})\)")
_CURVE_POINT = re.compile(r"\(([0-9]+),([0-9]+)\)")
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


def translate(path: str, watermarks: Mapping[str, str] | None = None) -> Translated:
    """Translate the part of a thumbor URL after `unsafe/` or the signature; raises 400.
    `watermarks` maps the file names of the server's watermarks to their names."""
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
    filters = _filters(part["filters"] or "", tokens, watermarks or {})
    if filters.focal and part["trim"]:
        raise InvalidOptions("thumbor trim together with focal() is not supported by this "
                             "server")
    _geometry(part, filters, tokens)
    return Translated(native_segment(tokens), _source(image))


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
    threshold = str(max(1, int(tolerance))) if whole_number(tolerance) else "1"
    tokens["trim"] = threshold + (":southeast" if ":bottom-right" in spec else "")


@dataclass
class _Filters:
    """What the filters asked beyond their tokens."""

    names: set[str] = field(default_factory=set)
    focal: list[tuple[int, int, int]] = field(default_factory=list)  # centre x, y; weight
    proportion: float = 1.0

    def __contains__(self, name: str) -> bool:
        return name in self.names


def _geometry(part: dict[str, str | None], filters: _Filters, tokens: dict[str, str]) -> None:
    if "orig" in (part["width"], part["height"]):
        raise InvalidOptions("thumbor 'orig' sizes are not supported by this server")
    width, height = int(part["width"] or 0), int(part["height"] or 0)
    if filters.proportion != 1:
        width, height = _proportion(width, height, filters.proportion, tokens)
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
        fit = fit.removeprefix("adaptive-")
        if width and height:
            tokens["adaptive"] = ""
    if part["left"] is not None:
        left, top = int(part["left"]), int(part["top"] or 0)
        right, bottom = int(part["right"] or 0), int(part["bottom"] or 0)
        if right > left and bottom > top:  # thumbor ignores an empty crop
            tokens["crop"] = f"{left}:{top}:{right - left}:{bottom - top}"
            # thumbor forgets focal points outside its crop (the native point is held to the
            # crop's nearest edge instead).
            filters.focal = [(x, y, weight) for x, y, weight in filters.focal
                             if left <= x <= right and top <= y <= bottom]
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
        if "stretch" in filters and both:
            # stretch(): no crop (so no alignment, smart or focal point either), the image
            # resized to the box whatever its ratio.
            tokens["fit"] = "fill"
            _flips(hflip, vflip, tokens)
            return
        gravity = _GRAVITY[part["halign"] or "center", part["valign"] or "middle"]
        if gravity and "rot" in tokens:
            turn = (360 - int(tokens["rot"])) // 45  # thumbor's counter-clockwise angle
            gravity = _COMPASS[(_COMPASS.index(gravity) - turn) % 8]
        if part["smart"]:
            # thumbor's detectors: faces first, then features (here libvips' attention); a
            # server without OpenCV is thumbor without its face detector.
            gravity = "faces" if faces.AVAILABLE else "attention"
        if filters.focal:
            gravity = _centre_of_mass(filters.focal)
        if gravity and both:
            tokens["g"] = gravity
    _flips(hflip, vflip, tokens)


def _flips(hflip: str | None, vflip: str | None, tokens: dict[str, str]) -> None:
    if hflip:
        tokens["flop"] = ""
    if vflip:
        tokens["flip"] = ""


def _filters(text: str, tokens: dict[str, str], marks: Mapping[str, str]) -> _Filters:
    """Native tokens for thumbor's filters; returns what else they asked."""
    seen = _Filters()
    position = 0
    while position < len(text):
        match = _CURVE_FILTER.match(text, position) or _FILTER.match(text, position)
        if match is None:
            raise InvalidOptions("thumbor filters could not be read (one filter per "
                                 "name(args), separated by ':')")
        name, args = match.group(1), match.group(2)
        if name in ("brightness", "contrast", "watermark", "rgb", "sharpen", "saturation",
                    "convolution", "curve", "colorize") and name in seen:
            raise InvalidOptions(f"thumbor filter '{name}' given twice is not supported by "
                                 "this server")
        if "watermark" in seen and name in _CHANGE_THE_WATERMARK:
            # thumbor runs filters in the URL's order, so these would change its watermark;
            # the native watermark goes over the finished image.
            raise InvalidOptions(f"thumbor {name}() after watermark() is not supported by this "
                                 "server (put watermark() last)")
        _check_order(name, seen)
        arguments = [a.strip() for a in args.split(",")] if args else []
        if name == "watermark":
            _watermark(arguments, tokens, marks)
        elif name == "curve":
            _curve(args, tokens)
        else:
            _filter(name, arguments, tokens, seen)
        seen.names.add(name)
        position = match.end()
        if position < len(text):
            if text[position] != ":":
                raise InvalidOptions("thumbor filters are separated by ':'")
            position += 1
    return seen


def _filter(name: str, args: list[str], tokens: dict[str, str], seen: _Filters) -> None:
    arity = {"format": 1, "quality": 1, "blur": (1, 2), "grayscale": 0, "fill": 1,
             "background_color": 1, "max_bytes": 1, "no_upscale": 0, "upscale": 0, "rotate": 1,
             "strip_icc": 0, "strip_exif": 0, "focal": 1, "brightness": 1,
             "contrast": 1, "round_corner": (4, 5), "proportion": 1,
             "stretch": 0, "equalize": 0, "rgb": 3, "sharpen": 3, "max_age": 1,
             "saturation": 1, "convolution": 3, "colorize": 4}.get(name)
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
        tokens["gray"] = "luma"  # Pillow's convert("L"), thumbor's grey
    elif name == "equalize":
        tokens["equalize"] = ""
    elif name == "rgb":
        _rgb(args, tokens)
    elif name == "sharpen":
        _sharpen(args, tokens)
    elif name in ("fill", "background_color"):
        colour = _colour(args[0], name)
        if colour:
            _background(colour, tokens)
    elif name == "round_corner":
        _round_corner(args, tokens)
    elif name == "max_bytes":
        tokens["mb"] = args[0]
    elif name == "saturation":
        # thumbor's own loop (perceived-brightness grey, truncated levels): the native
        # `saturate`.
        try:
            factor = float(args[0])
        except ValueError:
            factor = math.nan
        if not -10 <= factor <= 10:
            raise InvalidOptions(f"thumbor saturation('{args[0]}'): a factor -10..10 here")
        tokens["saturate"] = format_number(factor)
    elif name == "convolution":
        _convolution(args, tokens)
    elif name == "colorize":
        # colorize(red%, green%, blue%, RRGGBB): thumbor reads whole percentages and six hex
        # digits (bytes.fromhex); the native grammar checks the range.
        *percents, colour = args
        if not all(re.fullmatch(r"[0-9]{1,3}", p) for p in percents) or not re.fullmatch(
                r"[0-9a-fA-F]{6}", colour):
            raise InvalidOptions("thumbor colorize(): three whole percentages and a RRGGBB "
                                 "colour")
        tokens["colorize"] = ":".join([*(str(int(p)) for p in percents), colour.lower()])
    elif name == "max_age":
        # The lifetime browsers and caches are given (the native range applies); not part of
        # the variant, so the same image is one cache entry whatever its URL's max_age.
        tokens["maxage"] = args[0]
    elif name == "rotate":
        # thumbor turns by quarter turns only and ignores any other angle.
        if not re.fullmatch(r"-?[0-9]+", args[0]):
            raise InvalidOptions(f"thumbor rotate('{args[0]}'): expected whole degrees")
        angle = int(args[0]) % 360
        if angle % 90 == 0 and angle:
            tokens["rot"] = str(360 - angle)
    elif name == "focal":
        seen.focal.extend(_focal(args[0]))
    elif name == "brightness":
        # thumbor adds 255 * amount / 100 to each channel, as the native brightness does.
        tokens["bri"] = str(_amount(name, args[0]))
        _check_shifts(tokens)
    elif name == "contrast":
        _contrast(_amount(name, args[0]), tokens)
    elif name == "proportion":
        try:
            seen.proportion = float(args[0])
        except ValueError:
            raise InvalidOptions(f"thumbor proportion('{args[0]}'): expected a number") from None
        if not math.isfinite(seen.proportion):
            raise InvalidOptions(f"thumbor proportion('{args[0]}'): expected a number")


# The native equalize runs after the padding, blur, grey and wavelet sharpen and before
# brightness, contrast and rgb; the sharpen after the padding. thumbor runs its filters in the
# URL's order, and equalising or sharpening on the other side of these changes the picture
# (shifts and contrast are linear, so the sharpen may stand on either side of them).
_ORDER_RULES = {
    "equalize": (frozenset({"grayscale", "blur", "fill", "background_color", "sharpen"}),
                 frozenset({"brightness", "contrast", "rgb"})),
    "sharpen": (frozenset({"fill", "background_color"}), frozenset({"equalize"})),
    # convolution() is the first of the native 8-bit steps: after the padding, grey and blur,
    # before every other filter that changes colours.
    "convolution": (frozenset({"grayscale", "blur", "fill", "background_color"}),
                    frozenset({"sharpen", "equalize", "saturation", "brightness", "contrast",
                               "rgb", "round_corner"})),
    # saturation() moves colours by a non-linear grey: it must see what the native steps before
    # it (padding, grey, blur, sharpen, equalize) made, and nothing of those after it.
    "saturation": (frozenset({"grayscale", "blur", "fill", "background_color", "sharpen",
                              "equalize"}),
                   frozenset({"brightness", "contrast", "rgb", "round_corner"})),
    # curve() maps levels: it must see every native step before it and none after it, the
    # corners' fill aside.
    "curve": (frozenset({"grayscale", "blur", "fill", "background_color", "sharpen",
                         "equalize", "convolution", "saturation", "brightness", "contrast",
                         "rgb", "colorize"}),
              frozenset({"round_corner"})),
    # colorize() blends each band toward a colour and clips: after the shifts, before curve().
    "colorize": (frozenset({"grayscale", "blur", "fill", "background_color", "sharpen",
                            "equalize", "convolution", "saturation", "brightness", "contrast",
                            "rgb"}),
                 frozenset({"curve", "round_corner"})),
}


def _curve(args: str, tokens: dict[str, str]) -> None:
    """curve(all, red, green, blue), each `[(x,y),…]`, as the native `curve` (whose grammar
    checks the levels and the order of the points)."""
    lists = re.findall(r"\[[^\]]*\]", args)
    native = [":".join(f"{x}-{y}" for x, y in _CURVE_POINT.findall(points)) for points in lists]
    if len(native) != 4 or not all(native):
        raise InvalidOptions("thumbor curve(): four lists of (x,y) points, each with at least "
                             "one")
    tokens["curve"] = ";".join(native)


def _convolution(args: list[str], tokens: dict[str, str]) -> None:
    """convolution(w1;w2;…, columns, normalize) as the native `conv` (whose grammar checks the
    kernel's shape and ranges)."""
    items, columns, normalize = args
    try:
        weights = [format_number(float(item)) for item in items.split(";")]
    except ValueError:
        raise InvalidOptions(f"thumbor convolution('{items}'): weights are numbers separated "
                             "by ';'") from None
    if normalize.lower() not in ("true", "false", "1", "0"):
        raise InvalidOptions(f"thumbor convolution(): '{normalize}' is not true or false")
    norm = ":norm" if normalize.lower() in ("true", "1") else ""
    tokens["conv"] = f"{columns}:{':'.join(weights)}{norm}"


def _check_order(name: str, seen: _Filters) -> None:
    for filter_name, (before, after) in _ORDER_RULES.items():
        if (name == filter_name and seen.names & after) or (
                name in before and filter_name in seen.names):
            names = ", ".join(f"{n}()" for n in sorted(before))
            later = ", ".join(f"{n}()" for n in sorted(after))
            raise InvalidOptions(f"thumbor {filter_name}() is supported after {names} and "
                                 f"before {later} only; {name}() stands on the other side here")


def _proportion(width: int, height: int, value: float,
                tokens: dict[str, str]) -> tuple[int, int]:
    """proportion(v) shrinks thumbor's finished image by v (whole pixels, cut down); thumbor
    ignores a v outside (0, 1] and one that leaves less than a pixel. With a size, the size
    times v; without one, the source times v."""
    if not 0 < value < 1:
        return width, height
    if not (width or height):
        tokens["zoom"] = format_number(value)
        return width, height
    scaled = int(width * value), int(height * value)
    if (width and scaled[0] < 1) or (height and scaled[1] < 1):
        return width, height
    return scaled


def _background(colour: str, tokens: dict[str, str]) -> None:
    """The native `bg` fills padding, flattened alpha and cut corners alike, so two filters
    asking two colours cannot both be met."""
    if tokens.setdefault("bg", colour) != colour:
        raise InvalidOptions("thumbor filters ask for two background colours; this server "
                             "fills padding and rounded corners with one")


def _round_corner(args: list[str], tokens: dict[str, str]) -> None:
    """round_corner(a|b,r,g,b[,transparent]): corners of radius a (b, the vertical radius, must
    be a: the native corners are circular) filled with the colour, or left transparent."""
    radius, _, vertical = args[0].partition("|")
    if not whole_number(radius) or (vertical and vertical != radius):
        raise InvalidOptions(f"thumbor round_corner('{args[0]}'): only one radius in whole "
                             "pixels (circular corners) is supported here")
    tokens["r"] = radius
    if len(args) == 5 and args[4].lower() in ("1", "true"):
        return  # transparent where the output holds alpha, as the native corners are
    channels = [int(c) if re.fullmatch(r"[0-9]{1,3}", c) else 256 for c in args[1:4]]
    if max(channels) > 255:
        raise InvalidOptions(f"thumbor round_corner: '{','.join(args[1:4])}' is not a colour "
                             "(three numbers 0..255)")
    _background("".join(f"{c:02x}" for c in channels), tokens)


_CHANGE_THE_WATERMARK = frozenset({"rotate", "blur", "brightness", "contrast", "round_corner",
                                   "fill", "background_color", "equalize", "rgb", "sharpen",
                                   "saturation", "convolution", "curve", "colorize"})
_OFFSET = re.compile(r"(-?)([0-9]{1,5})(p?)")


def _watermark(args: list[str], tokens: dict[str, str], marks: Mapping[str, str]) -> None:
    """watermark(image, x, y, alpha[, w_ratio[, h_ratio]]) as the native watermark whose file
    has the image's file name: x/y a distance from the left/top edge, from the right/bottom when
    negative (`-0` flush), or `center`; alpha its transparency in percent; w_ratio its width in
    percent of the image's."""
    if len(args) not in (4, 5, 6):
        raise InvalidOptions("thumbor filter 'watermark' takes 4 to 6 arguments")
    image, x, y, alpha, *ratios = args
    file_name = unquote(urlsplit(image).path).rpartition("/")[2]
    name = marks.get(file_name)
    if name is None:
        raise InvalidOptions(f"thumbor watermark '{image}': not one of this server's watermarks "
                             "(matched by file name against IMGORIGIN_WATERMARKS)")
    if (x, y) == ("repeat", "repeat"):
        position, margin_x, margin_y = "spread", "0", "0"  # copies from edge to edge
    elif x == "repeat":  # a row of copies, placed as one copy's y places it
        down, margin_y = _edge(y, "y", "north", "south")
        position, margin_x = f"row-{down or 'center'}", "0"
    elif y == "repeat":
        across, margin_x = _edge(x, "x", "west", "east")
        position, margin_y = f"column-{across or 'center'}", "0"
    else:
        (across, margin_x), (down, margin_y) = _edge(x, "x", "west", "east"), _edge(
            y, "y", "north", "south")
        position = {("", ""): "center"}.get((across, down), down + across)
    if not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,3})?", alpha) or float(alpha) > 100:
        raise InvalidOptions(f"thumbor watermark alpha '{alpha}': expected 0 to 100")
    if float(alpha) == 100:
        return  # wholly transparent: thumbor pastes nothing visible
    # w_ratio and h_ratio: the mark's width and height in percent of the image's, the mark
    # fitting inside both when both are given (thumbor's calc_watermark_size).
    shares = []
    for ratio, side in zip((ratios + ["none", "none"])[:2], ("w_ratio", "h_ratio"), strict=True):
        if ratio in ("none", "0"):
            shares.append("0")
        elif whole_number(ratio):
            shares.append(format(int(ratio) / 100, "g"))
        else:
            raise InvalidOptions(f"thumbor watermark {side} '{ratio}': expected a percentage")
    scale = shares[0] if shares[1] == "0" else "x".join(shares)
    opacity = format(round(1 - float(alpha) / 100, 3), "g")
    # thumbor takes its alpha off each pixel's alpha rather than multiplying it.
    tokens["wm"] = f"{name}:{position}:{opacity}:{scale}:{margin_x}:{margin_y}:subtract"


def _edge(value: str, axis: str, near: str, far: str) -> tuple[str, str]:
    """(direction, margin) of one thumbor watermark coordinate; "" is centred. `10p` is 10 % of
    the image's side, which the native margin takes as the share 0.1."""
    if value == "center":
        return "", "0"
    match = _OFFSET.fullmatch(value)
    if match is None:
        raise InvalidOptions(f"thumbor watermark {axis} '{value}': expected pixels, a "
                             "percentage below 100p, center or repeat")
    sign, number, percent = match.groups()
    if percent and int(number) >= 100:
        raise InvalidOptions(f"thumbor watermark {axis} '{value}': a percentage below 100p "
                             "is supported here (the mark would sit past the edge)")
    margin = format_number(int(number) / 100) if percent else str(int(number))
    return (far if sign else near), margin


def _amount(name: str, value: str) -> int:
    if not re.fullmatch(r"-?[0-9]{1,3}", value) or abs(int(value)) > 100:
        raise InvalidOptions(f"thumbor {name}('{value}'): expected a whole number from -100 "
                             "to 100")
    return int(value)


def _contrast(amount: int, tokens: dict[str, str]) -> None:
    """thumbor scales the distance from 128 by ((amount + 100) / 100) squared (in whole
    hundredths); the native contrast by 1 + c/100 below zero and 1 + 3c/100 above it."""
    factor = (amount + 100) ** 2 // 100 / 100
    tokens["con"] = str(round((factor - 1) * 100 / (3 if factor > 1 else 1)))
    # thumbor runs its filters in the URL's order and the native steps contrast before
    # brightness and rgb: contrast after a shift scales the shift too, which is the same image
    # while contrast does not reduce (then whatever thumbor clipped stays clipped here too).
    for token, name in (("bri", "brightness"), ("rgb", "rgb")):
        if token not in tokens:
            continue
        shifts = [round(int(value) * factor) for value in tokens[token].split(":")]
        if factor < 1 or max(map(abs, shifts)) > 100:
            raise InvalidOptions(f"thumbor {name}() before this contrast() is not supported by "
                                 "this server (put contrast() first)")
        tokens[token] = ":".join(map(str, shifts))


def _rgb(args: list[str], tokens: dict[str, str]) -> None:
    """rgb(r,g,b): 255 x v / 100 added to each band. A shift of 100 or more saturates every
    value, so larger ones are 100 here; beside brightness() (added in the URL's order, clipped
    in between) only shifts of one sign per band give the same picture in either order."""
    if any(not re.fullmatch(r"-?[0-9]{1,6}", value) for value in args):
        raise InvalidOptions(f"thumbor rgb('{','.join(args)}'): expected three whole numbers")
    tokens["rgb"] = ":".join(str(max(-100, min(100, int(value)))) for value in args)
    _check_shifts(tokens)


def _sharpen(args: list[str], tokens: dict[str, str]) -> None:
    """sharpen(amount,radius,luminance_only): the native wavelet sharpen, the same algorithm."""
    amount, radius, luma = args
    if luma.lower() not in ("true", "false", "1", "0"):
        raise InvalidOptions(f"thumbor sharpen(): '{luma}' is not a boolean")
    tokens["wsharpen"] = f"{amount}:{radius}" + (":luma" if luma.lower() in ("true", "1") else "")


def _check_shifts(tokens: dict[str, str]) -> None:
    brightness = int(tokens.get("bri", "0"))
    if any(int(shift) * brightness < 0 for shift in tokens.get("rgb", "0").split(":")):
        raise InvalidOptions("thumbor rgb() and brightness() shifting a band both ways are not "
                             "supported by this server")


def _focal(value: str) -> list[tuple[int, int, int]]:
    """thumbor's focal(LxT:RxB) as its centre and weight (the area); a region without area is
    ignored, as in thumbor."""
    match = re.fullmatch(r"([0-9]{1,7})x([0-9]{1,7}):([0-9]{1,7})x([0-9]{1,7})", value)
    if match is None:
        raise InvalidOptions(f"thumbor focal('{value}'): expected LEFTxTOP:RIGHTxBOTTOM")
    left, top, right, bottom = map(int, match.groups())
    width, height = right - left, bottom - top
    if width <= 0 or height <= 0:
        return []
    return [(left + width // 2, top + height // 2, width * height)]


def _centre_of_mass(points: list[tuple[int, int, int]]) -> str:
    """The native gravity of thumbor's focal points: their centre weighted by area."""
    total = sum(weight for _, _, weight in points)
    x = sum(px * weight for px, _, weight in points) / total
    y = sum(py * weight for _, py, weight in points) / total
    return f"fpx:{round(x)}:{round(y)}"


def _colour(value: str, name: str) -> str:
    if name == "fill" and value.lower() == "transparent":
        return ""
    if name == "fill" and value in ("blur", "auto"):
        return value  # the image itself blurred and stretched, or its mean colour
    colour = hex_colour(value) or named_colour(value)
    if colour is not None and len(colour) == 6:
        return colour
    raise InvalidOptions(f"thumbor {name}('{value}'): a hex colour or a CSS colour name")


def _source(image: str) -> str:
    """thumbor's image URI, decoded once: an absolute URL stays absolute (and meets the host
    allowlist); anything else is a key under the default source."""
    source = unquote(image)
    if not source:
        raise InvalidSource("thumbor URL has no image")
    return source
