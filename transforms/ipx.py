"""ipx's URL dialect (Nuxt Image's default provider), translated into this server's options.

`{modifiers}/{id}` (what follows ipx's mount, `/_ipx` by default): modifiers separated by `,` or
`&`, a name and its arguments by `_`, `:` or `=`, or `_` for none. They become one native options
segment, following ipx (and sharp) where its defaults differ from the native ones; what has no
native equivalent is refused with a 400 naming it. docs/ipx.md lists what maps to what.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from origin.errors import InvalidOptions, InvalidSource
from transforms.dialect import (
    Translated,
    check_length,
    hex_colour,
    native_segment,
    padded_box,
    whole_number,
)
from transforms.options import KERNELS

_SEPARATORS = re.compile(r"[&,]")
_NAME_VALUE = re.compile(r"[:=_]")
_POSITIONS = {
    "top": "north", "right top": "northeast", "right": "east", "right bottom": "southeast",
    "bottom": "south", "left bottom": "southwest", "left": "west", "left top": "northwest",
    "north": "north", "northeast": "northeast", "east": "east", "southeast": "southeast",
    "south": "south", "southwest": "southwest", "west": "west", "northwest": "northwest",
    "center": "center", "centre": "center", "entropy": "entropy", "attention": "attention",
}
_FORMATS = {"jpeg": "jpeg", "jpg": "jpeg", "png": "png", "webp": "webp", "avif": "avif",
            "gif": "gif", "auto": "auto"}
_ALIASES = {"w": "width", "h": "height", "s": "resize", "q": "quality", "b": "background",
            "pos": "position", "crop": "extract", "f": "format", "a": "animated"}
_SIZE = re.compile(r"([0-9]+)(?:x([0-9]+))?")


def translate(path: str) -> Translated:
    """Translate `{modifiers}/{id}` (the path after ipx's mount); raises 400."""
    segment, slash, image = path.partition("/")
    if not segment:
        raise InvalidOptions("ipx modifiers are missing (`_` for none)")
    check_length(segment, "ipx")
    source = unquote(image)
    if not slash or not source.strip("/"):
        raise InvalidSource("ipx URL has no image id")
    modifiers = [] if segment == "_" else [_modifier(p) for p in _SEPARATORS.split(segment) if p]
    tokens = _tokens(modifiers)
    if not source.startswith(("http://", "https://")):
        source = source.lstrip("/")  # an id under ipx's directory: a key here
    return Translated(tokens, source)


def _modifier(text: str) -> tuple[str, str, list[str]]:
    """(name as written, canonical name, arguments)."""
    name, *args = _NAME_VALUE.split(unquote(text))
    return name, _ALIASES.get(name, name), args


def _tokens(modifiers: list[tuple[str, str, list[str]]]) -> str:
    tokens: dict[str, str] = {}
    # ipx applies its modifiers sorted by the name written, and sharp keeps only the last
    # resize: of `w_300&h_200` only `w` counts, of `s_..&w_..` only `w`.
    sizes: dict[str, tuple[int | None, int | None]] = {}
    fit = ""
    animated = False
    kernel = ""
    padding: tuple[int, int, int, int] | None = None
    for written, name, args in modifiers:
        if name in ("width", "height"):
            value = _int(_one(args, name), name)
            sizes[written] = (value, None) if name == "width" else (None, value)
        elif name == "resize":
            match = _SIZE.fullmatch(_one(args, name))
            if match is None:
                raise InvalidOptions(f"ipx resize '{'_'.join(args)}': expected WxH")
            width = int(match.group(1))
            sizes[written] = (width, int(match.group(2)) if match.group(2) else width)
        elif name == "extract":
            # Sorted by name, extract (and crop) come before any resize: a crop of the source.
            if len(args) != 4:
                raise InvalidOptions("ipx extract takes left_top_width_height")
            tokens["crop"] = ":".join(str(_int(a, name)) for a in args)
        elif name == "fit":
            fit = _one(args, name)
            tokens["fit"] = fit
        elif name == "position":
            position = _POSITIONS.get(_one(args, name).replace("-", " "))
            if position is None:
                raise InvalidOptions(f"ipx position '{'_'.join(args)}' is not supported by this "
                                     "server")
            tokens["g"] = position
        elif name == "background":
            tokens["bg"] = _colour(_one(args, name), name)
        elif name == "tint":
            colour = _colour(_one(args, name), name)
            if len(colour) != 6:
                raise InvalidOptions(f"ipx tint '{args[0]}': an opaque colour (RRGGBB) here")
            tokens["tint"] = colour
        elif name == "negate":
            tokens["neg"] = ""
        elif name == "modulate":
            # sharp's modulate({brightness, saturation, hue}); ipx passes no lightness.
            if len(args) > 3:
                raise InvalidOptions("ipx modulate takes brightness_saturation_hue")
            brightness, saturation, hue = (args + ["", "", ""])[:3]
            tokens["modulate"] = f"{brightness or 1}:{saturation or 1}:{hue or 0}"
        elif name == "flatten":
            tokens["flatten"] = ""  # over `b`, else sharp's default black (below)
        elif name == "normalize":
            tokens["norm"] = ""  # sharp's defaults: the 1st and 99th percentiles
        elif name == "kernel":
            kernel = _one(args, name)
            if kernel not in KERNELS:
                raise InvalidOptions(f"ipx kernel '{kernel}': one of {', '.join(KERNELS)}")
        elif name == "gamma":
            # sharp's gamma(gamma = 2.2, gammaOut = gamma); ipx passes no third argument on.
            if len(args) > 2:
                raise InvalidOptions("ipx gamma takes gamma_gammaOut")
            encode, decode = (args + ["", ""])[:2]
            tokens["gamma"] = (encode or "2.2") + (f":{decode}" if decode else "")
        elif name == "threshold":
            # sharp's threshold() is 128; 0 turns it off.
            value = args[0] if args and args[0] else "128"
            if len(args) > 1:
                raise InvalidOptions("ipx threshold takes one argument")
            if value != "0":
                tokens["threshold"] = value
        elif name == "median":
            # sharp's median without a size is 3.
            tokens["median"] = args[0] if args and args[0] else "3"
        elif name == "quality":
            tokens["q"] = _one(args, name)
        elif name == "format":
            fmt = _FORMATS.get(_one(args, name).lower())
            if fmt is None:
                raise InvalidOptions(f"ipx format '{'_'.join(args)}' is not a format this "
                                     "server writes")
            tokens["fmt"] = fmt
        elif name in ("enlarge", "flip", "flop", "grayscale"):
            # ipx ignores a flag's value: Nuxt Image writes `enlarge_true`.
            tokens["gray" if name == "grayscale" else name] = ""
        elif name == "animated":
            animated = True
        elif name in ("blur", "trim"):
            tokens[name] = _one(args, name)
        elif name == "sharpen":
            if len(args) > 1:
                raise InvalidOptions("ipx sharpen flat/jagged arguments are not supported by "
                                     "this server")
            tokens["sharpen"] = _one(args, name)
        elif name == "rotate":
            value = _one(args, name)
            angle = -_int(value[1:], name) if value.startswith("-") else _int(value, name)
            if angle % 90:
                raise InvalidOptions("ipx rotate: only multiples of 90 degrees here")
            if angle % 360:
                tokens["rot"] = str(angle % 360)
        elif name == "extend":
            if len(args) > 4 and args[4] not in ("", "background"):
                raise InvalidOptions("ipx extend: only extending with the background here")
            top, right, bottom, left = ((_int(a, name) if a else 0)
                                        for a in (args + ["", "", "", ""])[:4])
            padding = (top, right, bottom, left)
        else:
            raise InvalidOptions(f"ipx modifier '{name}' is not supported by this server")
    recolours = [name for name in ("tint", "neg", "modulate") if name in tokens]
    if padding is not None and recolours:
        # sharp tints, negates and modulates the extended edges too; the native padding
        # keeps `bg`.
        raise InvalidOptions("ipx extend together with tint, negate or modulate is not "
                             "supported by this server")
    if "flatten" in tokens and recolours:
        # sharp flattens first and then recolours the background too.
        raise InvalidOptions("ipx flatten together with tint, negate or modulate is not "
                             "supported by this server")
    if "gray" in tokens:
        # sharp tints a greyscale image back into its own (grey) colour space: no tint shows.
        tokens.pop("tint", None)
    width, height = sizes[max(sizes)] if sizes else (None, None)
    last = max(sizes) if sizes else ""
    if kernel not in ("", "lanczos3") and _ALIASES.get(last, last) == "resize":
        # ipx hands the kernel to sharp with `s`/`resize` only; `w` and `h` resize without it.
        tokens["kernel"] = kernel
    # sharp extends the resized image, so the box grows by the edges.
    padded_box(width or 0, height or 0, padding or (0, 0, 0, 0), tokens)
    if (fit == "contain" or "flatten" in tokens) and "bg" not in tokens:
        tokens["bg"] = "000000"  # sharp letterboxes and flattens onto opaque black by default
    if not animated and tokens.get("fmt") in ("webp", "auto"):
        # ipx decodes the first frame unless asked for the animation or writing a GIF (a
        # source's own format included, so without `f` the native default stands); of the
        # other formats it could write, only WebP holds an animation.
        tokens["anim"] = "0"
    return native_segment(tokens)


def _one(args: list[str], name: str) -> str:
    if len(args) != 1 or not args[0]:
        raise InvalidOptions(f"ipx {name} takes one argument")
    return args[0]


def _int(value: str, name: str) -> int:
    if not whole_number(value):
        raise InvalidOptions(f"ipx {name}: '{value}' is not a whole number")
    return int(value)


def _colour(value: str, name: str) -> str:
    colour = hex_colour(value)
    if colour is None:
        raise InvalidOptions(f"ipx {name} '{value}': only hex colours are supported here")
    return colour
