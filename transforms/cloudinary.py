"""Cloudinary's delivery URL dialect, translated into this server's options, so a site moving off
Cloudinary changes only the host (and the cloud name into the configured prefix).

`{image}/{upload|fetch}/[{signature}/]{transformation}[/{transformation}…]/[v{version}/]{id}`
(what follows `res.cloudinary.com/{cloud}`): each transformation is `key_value` parameters
separated by `,`. Chained transformations are merged into one native segment when no parameter
repeats (SDKs put `f_auto` and `q_auto` in components of their own); a real chain (a parameter
twice, as in crop-then-scale) and what has no native equivalent are refused with a 400 naming
it. docs/cloudinary.md lists what maps to what; it follows Cloudinary's documentation, as no
Cloudinary runs here to compare against.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import unquote

from origin.errors import InvalidOptions, InvalidSource
from transforms.dialect import (
    Translated,
    check_length,
    named_colour,
    native_segment,
    whole_number,
)
from transforms.grammar import format_number, text_token
from transforms.options import DIRECTION_ANCHORS

_FORMATS = {"jpg": "jpeg", "jpeg": "jpeg", "jpe": "jpeg", "png": "png", "webp": "webp",
            "avif": "avif", "gif": "gif", "auto": "auto"}
_GRAVITIES = {"north": "north", "south": "south", "east": "east", "west": "west",
              "north_east": "northeast", "north_west": "northwest", "south_east": "southeast",
              "south_west": "southwest", "center": "center", "auto": "attention",
              "auto:subject": "attention", "xy_center": "xy_center", "face": "face",
              "faces": "faces", "auto:faces": "faces"}
_QUALITY_LEVELS = ("best", "good", "eco", "low")
# Crop modes: the native fit, whether the image may grow past its own size, and whether the
# box needs both sides.
_MODES = {
    "scale": ("fill", True), "fit": ("inside", True), "limit": ("inside", False),
    "fill": ("cover", True), "lfill": ("cover", False), "pad": ("contain", True),
    "lpad": ("contain", False), "crop": ("", False), "thumb": ("cover", True),
    "auto": ("cover", True),
}
# c_thumb with a face gravity: the face area grown this many times fills the box at z_1 (this
# server's choice; Cloudinary's default framing is not published). z_ divides it.
THUMB_FACE_PAD = 2.0
# Keys of Cloudinary's transformation parameters: a path segment whose every part starts with
# one of them is a transformation, not a folder of the public ID.
_PARAMETERS = frozenset({
    "w", "h", "c", "g", "x", "y", "ar", "f", "q", "dpr", "e", "r", "a", "b", "bo", "o", "l",
    "u", "fl", "t", "z", "pg", "co", "d", "cs", "dn", "if", "fn", "so", "eo", "du", "ac", "vc",
    "br", "sp", "af", "ki",
})
# What may follow an overlay: the watermark is the last pixel step here.
_OUTPUT_ONLY = frozenset({"f", "q", "fl"})
_VERSION = re.compile(r"v[0-9]+")
# w_auto, w_auto:100, w_auto:100:400, w_auto:breakpoints[_MIN_MAX_KB_COUNT][:400]: group 1 is
# the fallback width.
_AUTO_WIDTH = re.compile(r"auto(?::(?:[0-9]{1,5}|breakpoints(?:_[0-9]{1,5}){0,4})"
                         r"(?::([1-9][0-9]{0,4}))?)?")
_SIGNATURE = re.compile(r"s--[A-Za-z0-9_-]{8,32}--")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?|\.[0-9]+")
_SIGNED = re.compile(r"-?(?:[0-9]+(\.[0-9]+)?|\.[0-9]+)")


def translate(path: str) -> Translated:
    """Translate the path after the cloud name (the configured prefix); raises 400."""
    delivery, _signature, components, rest = _split(path)
    check_length(",".join(components), "Cloudinary")
    components, overlays = _overlay(components)
    components, region = _leading_crop(components)
    params = _merged(components)
    public = "/".join(rest)
    if delivery == "fetch":
        source = unquote(public)
        if not source.startswith(("http://", "https://")):
            raise InvalidSource("Cloudinary fetch URLs name an http(s) image URL")
        extension = ""
    else:
        source = unquote(public).lstrip("/")
        extension = PurePosixPath(source).suffix.removeprefix(".").lower()
    if not source:
        raise InvalidSource("Cloudinary URL has no public ID")
    tokens = _tokens(params, extension, region)
    if overlays:
        tokens = ",".join(t for t in (tokens, *_layers(overlays)) if t and t != "_") or "_"
    return Translated(tokens, source)


def signed_part(path: str) -> tuple[str, str]:
    """(signature, signed string) of the path after the cloud name: the hash inside `s--…--`
    ("" when the URL has none), and what Cloudinary's SDKs sign, the transformations and the
    public ID as sent, without the version segment."""
    _delivery, signature, components, rest = _split(path)
    return signature, "/".join((*components, *rest))


def _split(path: str) -> tuple[str, str, list[str], list[str]]:
    """(delivery type, signature, transformation components, public ID segments); the
    version segment, a cache buster as in Cloudinary, is dropped."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "image" or parts[1] not in ("upload", "fetch"):
        raise InvalidSource("Cloudinary URLs here are image/upload/... or image/fetch/...")
    delivery, rest = parts[1], parts[2:]
    signature = ""
    if rest and _SIGNATURE.fullmatch(rest[0]):
        signature = rest.pop(0)[3:-2]
    components: list[str] = []
    while rest and _is_transformation(rest[0]) and len(rest) > 1:
        components.append(rest.pop(0))
    if rest and _VERSION.fullmatch(rest[0]) and len(rest) > 1:
        rest = rest[1:]
    return delivery, signature, components, rest


def _is_transformation(segment: str) -> bool:
    keys = [part.partition("_")[0] for part in segment.split(",")]
    return all(part and "_" in part for part in segment.split(",")) and all(
        key in _PARAMETERS for key in keys)


def _parts(component: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in component.split(","):
        key, _, value = part.partition("_")
        if key in params:
            raise InvalidOptions(f"Cloudinary '{key}_' given twice in one component")
        params[key] = unquote(value)
    return params


def _overlay(components: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    """The components of the base image, and its overlays (`l_…`), each with its placement: in
    its own component, or (the newer form) opened by `l_` and placed by a later
    `fl_layer_apply` component with nothing between them. After the first overlay only
    overlays and what does not move pixels may follow."""
    base: list[str] = []
    overlays: list[dict[str, str]] = []
    pending: dict[str, str] | None = None
    for component in components:
        params = _parts(component)
        if pending is not None and params.get("fl") == "layer_apply":
            del params["fl"]
            overlays.append({**pending, **params})
            pending = None
            continue
        if pending is not None:
            overlays.append(pending)  # placed as it is: no fl_layer_apply came for it
            pending = None
        if "l" in params:
            if params.get("fl") == "layer_apply":
                del params["fl"]
                overlays.append(params)
            elif set(params) <= {"l", "w", "h", "o", "fl", "co", "c"}:
                pending = params  # placed by a later fl_layer_apply, or in place as it is
            else:
                overlays.append(params)
        elif overlays:
            # The overlays go on last here: after them, only what does not move pixels.
            if not set(params) <= _OUTPUT_ONLY:
                raise InvalidOptions("Cloudinary transformations after (or of) an overlay are "
                                     "not supported by this server: it puts the overlay on "
                                     "last (f_, q_ and fl_ may follow)")
            base.append(component)
        else:
            base.append(component)
    if pending is not None:
        overlays.append(pending)
    return base, overlays


def _layers(overlays: list[dict[str, str]]) -> list[str]:
    """The native tokens of the overlays: one image (`wm`) and one text (`text`) at most; the
    text is drawn over the image, whatever their order in the URL."""
    texts = [o for o in overlays if o["l"].startswith("text:")]
    images = [o for o in overlays if not o["l"].startswith("text:")]
    if len(texts) > 1 or len(images) > 1:
        raise InvalidOptions("Cloudinary overlays here are one image and one text at most")
    return [t for t in (*(_watermark(o) for o in images), *(_caption(o) for o in texts)) if t]


def _watermark(overlay: dict[str, str]) -> str:
    """`l_NAME` as the server's watermark NAME (IMGORIGIN_WATERMARKS): the native `wm` token."""
    unknown = set(overlay) - {"l", "g", "x", "y", "w", "h", "o", "fl"}
    if unknown:
        raise InvalidOptions("Cloudinary overlay parameter '" + sorted(unknown)[0]
                             + "_' is not supported by this server")
    name = overlay["l"]
    if not name or name.startswith(("text:", "fetch:", "video:")) or ":" in name:
        raise InvalidOptions(f"Cloudinary overlay '{name}': only an image named like one of "
                             "the server's watermarks (IMGORIGIN_WATERMARKS) here")
    direction, margins = _placement(overlay)
    flags = overlay.get("fl", "")
    if flags not in ("", "relative"):
        raise InvalidOptions(f"Cloudinary overlay flag '{flags}' is not supported by this "
                             "server (fl_relative is)")
    opacity = _opacity(overlay)
    if opacity == 0:
        return ""  # fully transparent: no overlay
    scale = "0"
    if "w" in overlay or "h" in overlay:
        if flags != "relative":
            raise InvalidOptions("Cloudinary overlay w_/h_ are supported as shares of the image "
                                 "with fl_relative")
        sides = [_side(overlay[k], k) if k in overlay else "0" for k in ("w", "h")]
        if any(float(side) >= 1 for side in sides):
            raise InvalidOptions("Cloudinary overlay w_/h_ with fl_relative are shares below 1")
        scale = f"{sides[0]}x{sides[1]}"
    return "wm_" + ":".join([name, direction, format_number(opacity / 100), scale, *margins])


def _placement(overlay: dict[str, str]) -> tuple[str, list[str]]:
    """An overlay's position (`g_`, centre by default) and its `x_`/`y_` as margins off the
    edges the position names."""
    position = overlay.get("g", "center")
    direction = _GRAVITIES.get(position)
    if direction is None or direction in ("attention", "xy_center", "face", "faces"):
        raise InvalidOptions(f"Cloudinary overlay gravity '{position}' is not supported by "
                             "this server")
    fx, fy = DIRECTION_ANCHORS[direction]
    margins = []
    for axis, anchor in (("x", fx), ("y", fy)):
        offset = _whole(overlay.get(axis, "0"), axis)
        if offset != "0" and anchor == 0.5:
            raise InvalidOptions(f"Cloudinary overlay {axis}_ on a centred axis is not "
                                 "supported by this server (margins keep it off an edge)")
        margins.append(offset)
    return direction, margins


def _opacity(overlay: dict[str, str]) -> int:
    opacity = int(_whole(overlay.get("o", "100"), "o"))
    if opacity > 100:
        raise InvalidOptions(f"Cloudinary o_{opacity}: an opacity is 0..100")
    return opacity


# What a chain's leading c_crop consumes: the region's own parameters.
_REGION = ("c", "w", "h", "x", "y", "g")


def _leading_crop(components: list[str]) -> tuple[list[str], dict[str, str]]:
    """A chain that starts with `c_crop` (a region of the original, then what follows resizes
    it), as the native crop that comes before the resize (or the face area, `facepad`); the
    crop's other parameters join the rest of the chain. Returns the remaining components and
    the native tokens of the region."""
    if len(components) < 2:
        return components, {}
    first = _parts(components[0])
    if first.get("c") != "crop":
        return components, {}
    crop = {k: first.pop(k) for k in (*_REGION, "z", "ar") if k in first}
    if "r" in first and first["r"] != "max":
        # Corners in px are drawn at the output's scale here, after the resize.
        raise InvalidOptions("Cloudinary r_ in px on a c_crop that a later step resizes is not "
                             "supported by this server (r_max is)")
    tokens: dict[str, str] = {}
    _crop(crop.get("w", ""), crop.get("h", ""), _gravity(crop), {**first, **crop}, tokens)
    rest = ",".join(f"{k}_{v}" for k, v in first.items())
    return ([rest] if rest else []) + components[1:], tokens


# Cloudinary's text styles this server draws (the font's family is the host's sans-serif).
_TEXT_STYLES = {"normal": "", "bold": "bold", "italic": "italic"}


def _caption(overlay: dict[str, str]) -> str:
    """`l_text:FAMILY_SIZE[_STYLE…]:TEXT` as the native `text_` token: the text in the host's
    sans-serif at SIZE px, `co_` its colour (black by default, as in Cloudinary), `o_` its
    opacity, placed by `g_` with `x_`/`y_` as margins, as an image overlay is."""
    unknown = set(overlay) - {"l", "g", "x", "y", "o", "co", "fl", "w", "c"}
    if unknown or overlay.get("fl", ""):
        name = sorted(unknown)[0] + "_" if unknown else "fl_" + overlay["fl"]
        raise InvalidOptions(f"Cloudinary text overlay parameter '{name}' is not supported by "
                             "this server")
    style, sep, text = overlay["l"].removeprefix("text:").partition(":")
    parts = style.split("_")
    # Cloudinary asks commas and slashes in the text escaped twice: decoded once more here.
    text = unquote(text)
    if not sep or not text or len(parts) < 2 or not whole_number(parts[1]):
        raise InvalidOptions("Cloudinary text overlays here are l_text:FAMILY_SIZE[_bold]"
                             "[_italic]:TEXT")
    styles = [_TEXT_STYLES.get(p) for p in parts[2:]]
    if None in styles:
        raise InvalidOptions(f"Cloudinary text style '{style}': only bold, italic and normal "
                             "here")
    drawn = "".join(sorted({s for s in styles if s}))  # "bolditalic", "bold", "italic" or ""
    colour = _colour(overlay["co"]) if "co" in overlay else "000000"
    opacity = _opacity(overlay)
    if opacity == 0:
        return ""
    if opacity < 100:
        alpha = int(colour[6:8], 16) if len(colour) == 8 else 255
        colour = colour[:6] + f"{round(alpha * opacity / 100):02x}"
    wrap = ""
    if "w" in overlay or "c" in overlay:
        # w_ with c_fit is the text box's width: the lines wrap at it (a caption's layout);
        # w_ alone would scale the drawn text, which this server does not do.
        if overlay.get("c") != "fit" or not whole_number(overlay.get("w", "")):
            raise InvalidOptions("Cloudinary text overlays take w_ (px) with c_fit here: the "
                                 "width the lines wrap at")
        wrap = str(int(overlay["w"]))
    direction, margins = _placement(overlay)
    return "text_" + ":".join([text_token(text), direction, str(int(parts[1])), colour,
                               *margins, drawn or "", wrap]).rstrip(":")


def _merged(components: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for component in components:
        parts = _parts(component)
        repeated = sorted(parts.keys() & params.keys())
        if repeated:
            raise InvalidOptions(f"Cloudinary '{repeated[0]}_' given twice: chained "
                                 "transformations are not supported by this server (one step "
                                 "each)")
        params.update(parts)
    return params


def _tokens(params: dict[str, str], extension: str,
            region: dict[str, str] | None = None) -> str:
    tokens: dict[str, str] = {}
    handled = {"w", "h", "c", "g", "x", "y", "ar", "f", "q", "dpr", "e", "r", "a", "b", "fl",
               "t", "pg", "z", "d", "co"}
    if "co" in params and not params.get("e", "").startswith("colorize"):
        raise InvalidOptions("Cloudinary co_ is supported with e_colorize and in a text overlay "
                             "here")
    for key in params:
        if key not in handled:
            raise InvalidOptions(f"Cloudinary parameter '{key}_' is not supported by this server")
    _geometry(params, tokens)
    for key, value in (region or {}).items():
        if key in tokens and tokens[key] != value:
            raise InvalidOptions("Cloudinary c_crop twice in a chain, or a gravity after a face "
                                 "crop, is not supported by this server (one region)")
        tokens[key] = value
    fmt = params.get("f") or extension
    if fmt:
        native = _FORMATS.get(fmt.lower())
        if native is None:
            raise InvalidOptions(f"Cloudinary format '{fmt}' is not a format this server writes")
        tokens["fmt"] = native
    if "q" in params:
        tokens["q"] = _quality(params["q"])
    if "dpr" in params and params["dpr"] != "auto":
        # dpr_auto is the browser's Sec-CH-DPR, else 1: a URL without `dpr` here, which takes
        # the hint when IMGORIGIN_CLIENT_HINTS is on.
        tokens["dpr"] = _number(params["dpr"], "dpr")
    if "e" in params:
        _effect(params["e"], tokens, params.get("co", ""))
    if "r" in params:
        radii = params["r"]
        tokens["r"] = "max" if radii == "max" else ":".join(
            _whole(v, "r") for v in radii.split(":"))
    if "a" in params:
        _angle(params["a"], tokens)
    if "b" in params:
        tokens["bg"] = _colour(params["b"])
    if "fl" in params:
        _flags(params["fl"], tokens)
    if "t" in params:
        tokens["p"] = params["t"]  # a named transformation: a preset of the same name here
    if "d" in params:
        # The default image shown for a missing public ID: a key (its folders written with
        # `:`, as Cloudinary writes them) under the configured source.
        tokens["default"] = params["d"]
    if "pg" in params:
        page = int(_whole(params["pg"], "pg"))
        if page < 1:
            raise InvalidOptions("Cloudinary pg_ counts pages from 1")
        tokens["page"] = str(page - 1)
    return native_segment(tokens)


def _geometry(params: dict[str, str], tokens: dict[str, str]) -> None:
    mode = params.get("c", "scale")
    if mode not in _MODES:
        raise InvalidOptions(f"Cloudinary crop mode '{mode}' is not supported by this server")
    fit, grows = _MODES[mode]
    width, height = params.get("w", ""), params.get("h", "")
    if width.startswith("auto"):
        width = _auto_width(width)
    gravity = _gravity(params)
    if mode == "crop":
        _crop(width, height, gravity, params, tokens)
        return
    if "x" in params or "y" in params:
        raise InvalidOptions("Cloudinary x_ and y_ place a c_crop region or an xy_center "
                             "gravity; with c_" + mode + " they are not supported here")
    for name, value in (("w", width), ("h", height)):
        if value:
            tokens[name] = _side(value, name)
    relative = [tokens[k] for k in ("w", "h") if k in tokens and "." in tokens[k]]
    if relative:
        _zoom(tokens, relative, width, height)
    if "ar" in params:
        tokens["ar"] = params["ar"]
    # A box: both sides, or a ratio (with a side, or alone: the original cut or padded to it).
    if ("w" in tokens and "h" in tokens) or "ar" in tokens:
        tokens["fit"] = fit
        if fit == "contain":
            tokens["extend"] = ""  # the whole box, padded around a smaller image too
    if grows and ("w" in tokens or "h" in tokens):
        # Cloudinary scales up unless the mode is a limit one (a share below 1 never does).
        tokens["enlarge"] = ""
    if mode == "auto" and not gravity:
        gravity = "attention"  # c_auto goes with g_auto, which is libvips' attention here
    if gravity:
        tokens["g"] = gravity
    if mode == "thumb" and gravity in ("face", "faces"):
        tokens["facepad"] = _face_pad(params.get("z", "1"))
    elif "z" in params:
        raise InvalidOptions("Cloudinary z_ is supported with c_thumb and a face gravity "
                             "(g_face, g_faces) only")


def _auto_width(value: str) -> str:
    """`w_auto[:STEP|:breakpoints…][:FALLBACK]` as Cloudinary answers a browser that sends no
    `Sec-CH-Width` (Firefox and Safari never do; it is not read here): the fallback width, else
    the original's."""
    match = _AUTO_WIDTH.fullmatch(value)
    if match is None:
        raise InvalidOptions(f"Cloudinary w_ '{value}' is not supported by this server "
                             "(w_auto[:STEP[:FALLBACK]] is; its JSON breakpoints are not)")
    return match.group(1) or ""


def _face_pad(zoom: str) -> str:
    """c_thumb's framing: z_1 is THUMB_FACE_PAD times the face area, z_2 half as much."""
    value = float(_number(zoom, "z"))
    if not 0.2 <= value <= 8:
        raise InvalidOptions(f"Cloudinary z_ '{zoom}' is out of range (0.2..8 here)")
    return format_number(THUMB_FACE_PAD / value)


def _zoom(tokens: dict[str, str], relative: list[str], width: str, height: str) -> None:
    """`w_0.5`: a share of the original's side; both sides the same share is a zoom."""
    if len(relative) == 1 and not (width and height):
        tokens["zoom"] = tokens.pop("w", None) or tokens.pop("h")
        return
    if len(relative) == 2 and tokens["w"] == tokens["h"]:
        tokens["zoom"] = tokens.pop("w")
        del tokens["h"]
        return
    raise InvalidOptions("Cloudinary relative w_/h_ (below 1) are supported alone or as one "
                         "share of both sides")


def _crop(width: str, height: str, gravity: str, params: dict[str, str],
          tokens: dict[str, str]) -> None:
    """c_crop: a region of the original, not resized: `crop_W:H:GRAVITY`, offsets by x/y; with
    a face gravity and no size, the face area at the original's scale (`facepad`, `z_`)."""
    if gravity in ("face", "faces") and not (width or height):
        if "dpr" in params:
            raise InvalidOptions("Cloudinary c_crop with dpr_ is not supported by this server")
        tokens["g"] = gravity
        tokens["facepad"] = _face_pad(params.get("z", "1"))
        if "ar" in params:
            tokens["ar"] = params["ar"]
        return
    if "z" in params:
        raise InvalidOptions("Cloudinary z_ is supported with c_thumb and a face gravity, or "
                             "c_crop and a face gravity without w_ and h_, only")
    if not (width or height):
        raise InvalidOptions("Cloudinary c_crop needs w_ or h_ (or a face gravity)")
    for key in ("ar", "dpr"):
        if key in params:
            # Cloudinary sizes the region by them; the native region is in source pixels.
            raise InvalidOptions(f"Cloudinary c_crop with {key}_ is not supported by this server")
    sides = [_side(v, n) if v else "0" for v, n in ((width, "w"), (height, "h"))]
    x, y = (_signed(params.get(k, "0"), k) for k in ("x", "y"))
    if gravity in ("attention", "face", "faces"):
        # The region around the faces (or the most interesting one) at the original's scale;
        # x_ and y_ do not move it, as in Cloudinary.
        tokens["crop"] = f"{sides[0]}:{sides[1]}:{gravity}"
        return
    if gravity == "fpx":
        place = f"fpx:{x}:{y}"
    else:
        direction = gravity or ("northwest" if ("x" in params or "y" in params) else "center")
        place = direction if x == y == "0" else f"{direction}:{x}:{y}"
    tokens["crop"] = f"{sides[0]}:{sides[1]}:{place}"


def _gravity(params: dict[str, str]) -> str:
    value = params.get("g", "")
    if not value:
        return ""
    gravity = _GRAVITIES.get(value)
    if gravity is None:
        raise InvalidOptions(f"Cloudinary gravity '{value}' is not supported by this server "
                             "(no object detection here)")
    if gravity == "xy_center":
        if params.get("c") != "crop":
            raise InvalidOptions("Cloudinary g_xy_center is supported with c_crop only")
        return "fpx"
    return gravity


def _quality(value: str) -> str:
    if value == "auto":
        return "auto"
    level = value.removeprefix("auto:")
    if value.startswith("auto:") and level in _QUALITY_LEVELS:
        return f"auto:{level}"
    return _whole(value, "q")


# Cloudinary's effects with a strength, as (range, default): the strength is mapped onto the
# native step of the same kind (`_effect`); Cloudinary's own algorithms are not published.
_STRENGTHS = {
    "blur": ((1, 2000), 100), "sharpen": ((1, 2000), 100), "unsharp_mask": ((1, 2000), 100),
    "brightness": ((-99, 100), 80), "contrast": ((-100, 100), 0),
    "saturation": ((-100, 100), 80), "blackwhite": ((0, 100), 50),
}
# sharp's sepia recipe (a tint of the grey levels), for Cloudinary's e_sepia at its default.
SEPIA = "704214"


def _effect(value: str, tokens: dict[str, str], colour: str = "") -> None:
    name, _, argument = value.partition(":")
    if name in ("grayscale", "greyscale") and not argument:
        tokens["gray"] = ""
    elif name == "negate" and not argument:
        tokens["neg"] = ""
    elif name == "pixelate" and argument:
        tokens["px"] = _whole(argument, "e_pixelate")
    elif name == "sepia" and not argument:
        tokens["tint"] = SEPIA
    elif name == "colorize":
        # e_colorize[:LEVEL] with co_: every band LEVEL percent (100 by default) of the way to
        # the colour, the native colorize (thumbor's blend; Cloudinary's formula is its own).
        if not colour:
            raise InvalidOptions("Cloudinary e_colorize needs its colour, co_ (co_rgb:RRGGBB or "
                                 "a CSS colour name)")
        level = _strength(argument, name) if argument else 100
        if not 0 <= level <= 100:
            raise InvalidOptions(f"Cloudinary e_colorize takes 0..100, not {level}")
        rgb = _colour(colour)[:6]
        tokens["colorize"] = f"{level}:{level}:{level}:{rgb}"
    elif name in _STRENGTHS:
        (low, high), default = _STRENGTHS[name]
        level = _strength(argument, name) if argument else default
        if not low <= level <= high:
            raise InvalidOptions(f"Cloudinary e_{name} takes {low}..{high}, not {level}")
        if name == "blur":  # 100 (the default) is a 5 px Gaussian, 2000 the native 100
            tokens["blur"] = format_number(max(0.3, level / 20))
        elif name == "sharpen":  # 100 (the default) is sigma 1, up to the native 10
            tokens["sharpen"] = format_number(min(10.0, max(0.5, level / 100)))
        elif name == "unsharp_mask":  # the strength as the mask's percent (to 500), sigma 1
            tokens["usm"] = f"{min(500, level)}:1"
        elif name == "blackwhite":  # a threshold in percent of white
            tokens["threshold"] = str(max(1, (level * 255 + 50) // 100))
        elif level:
            tokens[{"brightness": "bri", "contrast": "con", "saturation": "sat"}[name]] = \
                str(level)
    else:
        raise InvalidOptions(f"Cloudinary effect '{value}' is not supported by this server")


def _strength(value: str, name: str) -> int:
    digits = value.removeprefix("-")
    if not whole_number(digits) or len(digits) > 6:
        raise InvalidOptions(f"Cloudinary e_{name}:{value}: the strength is a whole number")
    return int(value)


def _angle(value: str, tokens: dict[str, str]) -> None:
    if value in ("hflip", "vflip"):
        tokens["flop" if value == "hflip" else "flip"] = ""
        return
    if value in ("exif", "auto_right", "auto_left", "ignore") or not _SIGNED.fullmatch(value):
        raise InvalidOptions(f"Cloudinary angle '{value}' is not supported by this server")
    angle = float(value)
    if angle % 90:
        raise InvalidOptions(f"Cloudinary angle '{value}': only multiples of 90 degrees here")
    turn = int(angle) % 360
    if turn:
        tokens["rot"] = str(turn)


def _colour(value: str) -> str:
    if value.startswith("rgb:"):
        digits = value[4:].lower()
        if len(digits) in (3, 4):
            digits = "".join(c * 2 for c in digits)
        if len(digits) in (6, 8) and all(c in "0123456789abcdef" for c in digits):
            return digits
    elif value == "transparent":
        return "00000000"
    else:
        named = named_colour(value)
        if named is not None:
            return named
    raise InvalidOptions(f"Cloudinary background '{value}': rgb:RRGGBB[AA] or a CSS colour "
                         "name")


def _flags(value: str, tokens: dict[str, str]) -> None:
    for flag in value.split("."):
        name, _, argument = flag.partition(":")
        if name == "progressive":
            tokens["progressive"] = ""
        elif name == "attachment":
            tokens["dl"] = argument
        elif name == "keep_iptc" and not argument:
            tokens["strip"] = "0"  # all of the metadata kept, as Cloudinary's flag keeps it
        elif name == "keep_attribution" and not argument:
            tokens["copyright"] = ""  # the credit kept, the rest stripped
        elif name == "getinfo" and not argument:
            tokens["fmt"] = "json"  # the description of the answer, as Cloudinary's JSON is
        elif name in ("lossy", "preserve_transparency", "strip_profile", "force_strip",
                      "animated", "awebp", "any_format", "immutable_cache") and not argument:
            continue  # what this server does anyway
        else:
            raise InvalidOptions(f"Cloudinary flag '{flag}' is not supported by this server")


def _side(value: str, name: str) -> str:
    """A side in px, or below 1 a share of the original's (kept with its decimals)."""
    if not _NUMBER.fullmatch(value):
        raise InvalidOptions(f"Cloudinary {name}_ '{value}' is not a number")
    number = float(value)
    if number < 1:
        if number <= 0:
            raise InvalidOptions(f"Cloudinary {name}_ '{value}' is out of range")
        return format_number(number)
    return str(round(number))


def _whole(value: str, name: str) -> str:
    if not whole_number(value) or len(value) > 9:
        raise InvalidOptions(f"Cloudinary {name}_ '{value}' is not a whole number")
    return str(int(value))


def _number(value: str, name: str) -> str:
    if not _NUMBER.fullmatch(value) or len(value) > 12:
        raise InvalidOptions(f"Cloudinary {name}_ '{value}' is not a number")
    return format_number(float(value))


def _signed(value: str, name: str) -> str:
    if not _SIGNED.fullmatch(value) or len(value) > 12:
        raise InvalidOptions(f"Cloudinary {name}_ '{value}' is not a number")
    number = float(value)
    return format_number(number) if round(number, 3) else "0"
