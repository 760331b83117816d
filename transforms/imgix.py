"""imgix's URL dialect (its Rendering API's query parameters), translated into this server's
options.

`{image}?{parameters}` (what follows the configured prefix): the image is a key under the
default source, or an absolute URL percent-encoded into the path as imgix's Web Proxy sources
take it. The parameters become one native options segment, following imgix where its defaults
differ from the native ones (`fit=clip` enlarges, `q` is 75); what has no native equivalent is
refused with a 400 naming it. docs/imgix.md lists what maps to what.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from pathlib import PurePosixPath
from urllib.parse import parse_qsl, unquote, urlsplit

from origin.errors import InvalidOptions, InvalidSource
from transforms.dialect import (
    Translated,
    check_length,
    hex_colour,
    named_colour,
    native_segment,
    whole_number,
)
from transforms.grammar import format_number, text_token

# The names imgix takes for one parameter (its parameters.json), as the long name.
_ALIASES = {
    "width": "w", "height": "h", "f": "fit", "fillcolor": "fill-color", "inv": "invert",
    "monochrome": "mono", "or": "orient", "m": "mark", "t": "txt",
    "txtcolor": "txt-color", "txt-clr": "txt-color", "txtclr": "txt-color", "tc": "txt-color",
    "tsz": "txt-size", "txtsize": "txt-size", "ta": "txt-align", "txtalign": "txt-align",
    "tp": "txt-pad", "txtpad": "txt-pad", "tf": "txt-font", "txtfont": "txt-font",
    "ma": "mark-align", "markalign": "mark-align", "malph": "mark-alpha",
    "markalpha": "mark-alpha", "mp": "mark-pad", "markpad": "mark-pad",
    "trimcolor": "trim-color", "trimtol": "trim-tol", "trimmd": "trim-md",
    "trimsd": "trim-sd", "min-width": "min-w", "min-height": "min-h",
    "max-width": "max-w", "max-height": "max-h",
}
# imgix's own parameters (its Rendering API and parameters.json, with their short names) that
# draw what no native step draws: a 400 naming them. Every other name changes nothing: the SDKs'
# `ixlib`, `s` and `expires` (read elsewhere), `ch` (IMGORIGIN_CLIENT_HINTS decides here), the
# class parameters of this repository's Cloudflare Worker, and names imgix does not know either
# (a cache-buster such as `v=2`, a tracking tag), in imgix as here.
_REFUSED = frozenset({
    "gam", "exp", "high", "shad", "vib", "sepia", "htn", "nr", "nrs", "orient", "faceindex",
    "fp-debug", "max-w", "max-h",
    "chromasub", "colorquant",
    "dpi", "colors", "palette", "prefix", "page", "pdf-annotation", "frame", "reverse", "loop",
    "fps", "skip", "bg-remove", "bg-replace", "fill-max",
    "border", "border-top", "border-right", "border-bottom", "border-left", "border-radius",
    "border-radius-inner", "blend", "b", "blend-align", "ba", "blend-alpha", "balph",
    "blend-color", "bc", "blend-crop", "bcrop", "blend-fit", "bf", "blend-h", "bh", "blend-mode",
    "bm", "blend-pad", "bp", "blend-size", "bs", "blend-w", "bw", "blend-x", "bx", "blend-y",
    "by", "mark-base", "mb", "mark-fit", "mf", "mark-h", "mh", "mark-w", "mw", "mark-x", "mx",
    "mark-y", "my", "mark-scale", "ms", "mark-tile", "mtile", "mark-rot", "txt-clip", "tcl",
    "txtclip", "txt-fit", "txtfit", "txt-lig", "txt-line", "tl", "txtline", "txt-line-color",
    "txt-shad", "tsh", "txtshad", "txt-x", "txt-y", "txt-lead", "txt-track",
    "txt-bg", "trim-pad", "trimpad", "hue-set",
})
# Not part of what an imgix signature covers: `s` itself and this repository's edge parameters.
_UNSIGNED = frozenset({"s", "imgorigin-accept", "imgorigin-dpr"})
_FORMATS = {"jpg": "jpeg", "jpeg": "jpeg", "pjpg": "jpeg", "png": "png", "png32": "png",
            "webp": "webp", "avif": "avif", "gif": "gif", "json": "json",
            "blurhash": "blurhash"}
# imgix's default `q` for the lossy formats, and the one `auto=compress` picks.
DEFAULT_QUALITY = 75
COMPRESS_QUALITY = 45
_CORNERS = {
    frozenset(): "center", frozenset({"top"}): "north", frozenset({"bottom"}): "south",
    frozenset({"left"}): "west", frozenset({"right"}): "east",
    frozenset({"top", "left"}): "northwest", frozenset({"top", "right"}): "northeast",
    frozenset({"bottom", "left"}): "southwest", frozenset({"bottom", "right"}): "southeast",
}
# Only the host's sans-serif draws text here; imgix's default is Helvetica.
_SANS = frozenset({"", "sans-serif", "sans", "helvetica", "helvetica neue", "arial"})
_MAX_PARAMETERS = 64
_IMGIX_NAMES = {"pad": "pad", "text": "txt", "wm": "mark", "r": "corner-radius",
                "minw": "min-w", "minh": "min-h"}
MAX_DPR = 5  # imgix's
MAX_SIDE = 8192  # imgix's largest output side


def signature_of(query: str) -> tuple[str, str]:
    """(the `s` parameter, the query an imgix signature covers: the parameters as sent, in
    their order, without `s` and the edge's own class parameters)."""
    signature = ""
    kept = []
    for part in query.split("&") if query else ():
        name, _, value = part.partition("=")
        if name == "s":
            if signature:
                raise InvalidOptions("imgix URL has more than one `s` signature")
            signature = value
        elif name not in _UNSIGNED:
            kept.append(part)
    return signature, "&".join(kept)


def translate(rest: str, watermarks: Mapping[str, str] | None = None) -> Translated:
    """Translate `{image}?{parameters}` (the path after the prefix, and the query); raises
    400. `watermarks` names the server's watermarks by file name, for `mark`."""
    path, _, query = rest.partition("?")
    check_length(query, "imgix")
    source = unquote(path)
    if not source.strip("/"):
        raise InvalidSource("imgix URL has no image path")
    if not source.startswith(("http://", "https://")):
        source = source.lstrip("/")  # an image under imgix's source: a key here
    params = _params(query)
    tokens = _tokens(params, watermarks or {})
    expires = params.get("expires")
    if expires is not None and not whole_number(expires):
        raise InvalidOptions(f"imgix expires '{expires}': unix seconds")
    return Translated(native_segment(tokens), source,
                      int(expires) if expires is not None else None)


def _params(query: str) -> dict[str, str]:
    """The parameters by their long name; a `64` suffix (URL-safe base64 of the value) decoded."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=_MAX_PARAMETERS)
    except ValueError:
        raise InvalidOptions(f"imgix URL has more than {_MAX_PARAMETERS} parameters") from None
    params: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name, value = raw_name, raw_value
        if name.endswith("64") and name not in ("auto64", "ch64"):
            name, value = name[:-2], _base64(value, raw_name)
        name = _ALIASES.get(name, name)
        if name in params:
            raise InvalidOptions(f"imgix parameter '{name}' is given twice")
        params[name] = value
    return params


def _base64(value: str, name: str) -> str:
    try:
        padded = value + "=" * (-len(value) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidOptions(f"imgix {name}: not URL-safe base64 of UTF-8 text") from None


def _tokens(params: dict[str, str], watermarks: Mapping[str, str]) -> dict[str, str]:
    tokens: dict[str, str] = {}
    auto = {a.strip() for a in params.pop("auto", "").split(",") if a.strip()}
    unknown_auto = auto - {"format", "compress"}
    if unknown_auto:
        raise InvalidOptions(f"imgix auto={sorted(unknown_auto)[0]} is not supported by this "
                             "server (format and compress are)")
    folded = _size(params, tokens)
    _output(params, auto, tokens)
    _adjust(params, tokens)
    _mask(params, watermarks, tokens)
    _overlays(params, watermarks, tokens)
    scaled = [name for name in ("pad", "text", "wm", "minw", "minh") if name in tokens]
    if tokens.get("r", "max") != "max" and "." not in tokens["r"]:
        scaled.append("r")  # radii in px, not a share of the side
    if folded and scaled:
        # They are CSS px times the native dpr, which the sides no longer carry.
        raise InvalidOptions(f"imgix dpr above 4 with {_IMGIX_NAMES[scaled[0]]} is not "
                             "supported by this server")
    for name in params:
        if name in _REFUSED:
            raise InvalidOptions(f"imgix parameter '{name}' is not supported by this server")
    return tokens


def _size(params: dict[str, str], tokens: dict[str, str]) -> bool:
    """The size, fit, crop and padding tokens; whether `dpr` above 4 went into the sides."""
    fit = params.pop("fit", "clip")
    width, height = params.pop("w", ""), params.pop("h", "")
    # Normalised (`0.50` is `0.5`), so that equal shares compare equal.
    fractions = [share for share in (_fraction(v) for v in (width, height) if v) if share]
    if fractions:
        # 0..1: a share of the source's side. Both sides the same share (or one alone) is a
        # scale of the whole source.
        if len(set(fractions)) != 1 or (width and height and len(fractions) != 2):
            raise InvalidOptions("imgix w/h as shares of the source are supported as one "
                                 "share for both sides here")
        tokens["zoom"] = fractions[0]
        width = height = ""
    else:
        for name, value in (("w", width), ("h", height)):
            if value:
                tokens[name] = _whole(value, name)
    both = bool(width and height)
    aspect = params.pop("ar", "")
    background = _background(params, tokens)
    if "rect" in params:
        parts = params.pop("rect").split(",")
        if len(parts) != 4:
            raise InvalidOptions("imgix rect is x,y,w,h in source pixels")
        tokens["crop"] = ":".join(_whole(p, "rect", zero=True) for p in parts)
    crop = params.pop("crop", "")
    fp = (params.pop("fp-x", "0.5"), params.pop("fp-y", "0.5"), params.pop("fp-z", "1"))
    facepad = params.pop("facepad", "")
    if fit in ("clip", "max"):
        if both:
            tokens["fit"] = "inside"
        if fit == "clip":
            _enlarge(tokens)  # imgix's default fit grows a small image to the box
    elif fit in ("crop", "min", "fill", "fillmax"):
        # A box (or `ar` beside one side) cropped to or padded out to; `min` and `fillmax`
        # never outgrow the source, `fillmax` keeping the box's size around it.
        cropping = fit in ("crop", "min")
        if aspect and not both:
            tokens["ar"] = aspect
        if both or aspect:
            tokens["fit"] = "cover" if cropping else "contain"
            if cropping:
                tokens["g"] = _gravity(crop, fp)
            else:
                tokens["bg"] = _fill(params, background)
        if fit in ("crop", "fill"):
            _enlarge(tokens)
        elif fit == "fillmax" and both:
            tokens["extend"] = ""
    elif fit == "scale":
        if both:
            tokens["fit"] = "fill"
        _enlarge(tokens)
    elif fit == "facearea":
        tokens["g"] = "faces"
        tokens["facepad"] = facepad or "1"
        if both:
            tokens["fit"] = "cover"
        _enlarge(tokens)
    else:
        raise InvalidOptions(f"imgix fit={fit} is not supported by this server")
    for name, native in (("min-w", "minw"), ("min-h", "minh")):
        if name in params:
            value = _whole(params.pop(name), name)
            if fit == "crop":  # imgix: "only works if fit=crop is present"
                tokens[native] = value
                # What grows past the requested side is cut where `crop` says.
                tokens.setdefault("g", _gravity(crop, fp))
    if facepad and fit != "facearea":
        raise InvalidOptions("imgix facepad goes with fit=facearea")
    for name in ("fill", "fill-color"):
        if name in params:
            raise InvalidOptions(f"imgix {name} goes with fit=fill or fit=fillmax and both w "
                                 "and h (or ar)")
    folded = _density(params.pop("dpr"), tokens) if "dpr" in params else False
    edges = [params.pop(f"pad-{side}", "") for side in ("top", "right", "bottom", "left")]
    pad = params.pop("pad", "")
    if pad or any(edges):
        every = _whole(pad, "pad", zero=True) if pad else "0"
        sides = [_whole(e, "pad", zero=True) if e else every for e in edges]
        if any(s != "0" for s in sides):
            tokens["pad"] = ":".join(sides)
    return folded


def _density(value: str, tokens: dict[str, str]) -> bool:
    """imgix's `dpr` goes to 5 (its SDKs' fixed-width srcsets list 1x to 5x), the native one to
    4: above 4 the sides are multiplied here, in output pixels, so the output has imgix's size
    (capped as a whole at imgix's 8192). Whether it did."""
    try:
        dpr = float(value)
    except ValueError:
        dpr = math.nan
    if not 4 < dpr <= MAX_DPR:
        tokens["dpr"] = value  # the native grammar checks it
        return False
    sides = {s: int(tokens[s]) * dpr for s in ("w", "h") if s in tokens}
    cap = min([1.0] + [MAX_SIDE / side for side in sides.values()])
    for name, side in sides.items():
        tokens[name] = str(max(1, math.floor(side * cap + 0.5)))
    return True


def _enlarge(tokens: dict[str, str]) -> None:
    """imgix's enlarging fits: only a size asked for in pixels can outgrow the source."""
    if "w" in tokens or "h" in tokens:
        tokens["enlarge"] = ""


def _gravity(crop: str, fp: tuple[str, str, str]) -> str:
    """imgix's `crop` modes as a native gravity; faces first (falling back, natively, to
    attention rather than to the modes after it)."""
    modes = {m.strip() for m in crop.split(",") if m.strip()}
    unknown = modes - {"top", "bottom", "left", "right", "faces", "focalpoint", "edges",
                       "entropy"}
    if unknown:
        raise InvalidOptions(f"imgix crop={sorted(unknown)[0]} is not supported by this server")
    if fp[2] not in ("1", "1.0"):
        raise InvalidOptions("imgix fp-z (a zoom on the focal point) is not supported by this "
                             "server")
    if "faces" in modes:
        return "faces"
    if "focalpoint" in modes:
        return f"fp:{_share(fp[0], 'fp-x')}:{_share(fp[1], 'fp-y')}"
    if "entropy" in modes:
        return "entropy"
    if "edges" in modes:
        return "attention"
    corner = _CORNERS.get(frozenset(modes))
    if corner is None:
        raise InvalidOptions(f"imgix crop={crop}: top or bottom, left or right")
    return corner


def _background(params: dict[str, str], tokens: dict[str, str]) -> str:
    """imgix's `bg`: transparent areas and padding filled with an opaque colour, which is the
    native `flatten` over `bg`."""
    if "bg" not in params:
        return ""
    colour = _colour(params.pop("bg"), "bg")
    if len(colour) == 8 and not colour.endswith("ff"):
        raise InvalidOptions("imgix bg: an opaque colour here (RGB or RRGGBB)")
    tokens["bg"] = colour[:6]
    tokens["flatten"] = ""
    return colour[:6]


def _fill(params: dict[str, str], background: str) -> str:
    fill = params.pop("fill", "solid")
    colour = params.pop("fill-color", "")
    if fill == "blur":
        if background:
            raise InvalidOptions("imgix fill=blur with bg is not supported by this server")
        return "blur"
    if fill != "solid":
        raise InvalidOptions(f"imgix fill={fill} is not supported by this server (solid and "
                             "blur are)")
    if colour:
        fill_colour = _colour(colour, "fill-color")
        if background and fill_colour[:6] != background:
            raise InvalidOptions("imgix fill-color and bg differ: one colour fills both here")
        return fill_colour
    # imgix's default fill is transparent white (0FFF), which `bg` then fills.
    return background or "ffffff00"


def _output(params: dict[str, str], auto: set[str], tokens: dict[str, str]) -> None:
    fm = params.pop("fm", "").lower()
    fmt = _FORMATS.get(fm) if fm else None
    if fm and fmt is None:
        raise InvalidOptions(f"imgix fm={fm} is not a format this server writes")
    if "format" in auto and fmt not in ("json", "blurhash", "gif"):
        # AVIF or WebP where the browser takes them; the fallback is the native one (JPEG,
        # PNG for alpha), not `fm`.
        tokens["fmt"] = "auto"
    elif fmt is not None:
        tokens["fmt"] = fmt
    else:
        tokens["fmt"] = "original"  # the source's format, whatever the server's default
    if fm == "pjpg":
        tokens["progressive"] = ""
    quality = params.pop("q", "")
    if quality:
        value = int(_whole(quality, "q", zero=True))
        if value > 100:
            raise InvalidOptions(f"imgix q={quality}: 0..100")
        tokens["q"] = str(max(1, value))
    else:
        tokens["q"] = str(COMPRESS_QUALITY if "compress" in auto else DEFAULT_QUALITY)
    lossless = params.pop("lossless", "")
    if lossless in ("1", "true"):
        tokens["lossless"] = ""
    elif lossless not in ("", "0", "false"):
        raise InvalidOptions(f"imgix lossless={lossless}: 1 or 0")
    cs = params.pop("cs", "srgb")
    if cs not in ("srgb", "origin", "tinysrgb", "strip"):
        # Every output here is sRGB, without a profile.
        raise InvalidOptions(f"imgix cs={cs} is not supported by this server (sRGB only)")
    if "dl" in params:
        name = params.pop("dl")
        stem = PurePosixPath(name).stem if "." in name else name
        tokens["dl"] = stem


def _adjust(params: dict[str, str], tokens: dict[str, str]) -> None:
    for name in ("bri", "con", "sat"):
        if name in params:
            value = _signed(params.pop(name), name, -100, 100)
            if value:
                tokens[name] = str(value)
    if "hue" in params:
        value = _signed(params.pop("hue"), "hue", 0, 359)
        if value:
            tokens["modulate"] = f"1:1:{value}"
    if "mono" in params:
        colour = _colour(params.pop("mono"), "mono")
        tokens["tint"] = colour[:6]
    _duotone(params, tokens)
    if params.pop("invert", "false") in ("1", "true"):
        tokens["neg"] = ""
    if "blur" in params:
        # imgix's 0..2000 is ten times a Gaussian sigma (its video API's fill-blur says so).
        sigma = _signed(params.pop("blur"), "blur", 0, 2000) / 10
        if sigma:
            tokens["blur"] = format_number(max(0.3, min(100.0, sigma)))
    _unsharp(params, tokens)
    if "px" in params:
        value = _signed(params.pop("px"), "px", 0, 100)
        if value >= 2:
            tokens["px"] = str(value)
    if "rot" in params:
        angle = _signed(params.pop("rot"), "rot", 0, 359)
        if angle % 90:
            raise InvalidOptions("imgix rot: only multiples of 90 degrees here")
        if angle:
            tokens["rot"] = str(360 - angle)  # imgix turns counter-clockwise
    if "flip" in params:
        flip = params.pop("flip")
        if flip not in ("h", "v", "hv", "vh"):
            raise InvalidOptions(f"imgix flip={flip}: h, v or hv")
        if "h" in flip:
            tokens["flop"] = ""
        if "v" in flip:
            tokens["flip"] = ""
    if "trim" in params:
        _trim(params, tokens)


# imgix's `usmrad` default; `sharp` is a fine-detail unsharp mask at this sigma (imgix does not
# publish its sharpening, so the radius is this server's choice: the scale of a resize's blur).
USM_RADIUS = 2.5
SHARP_RADIUS = 1.0


def _unsharp(params: dict[str, str], tokens: dict[str, str]) -> None:
    sharp = _signed(params.pop("sharp"), "sharp", 0, 100) if "sharp" in params else 0
    usm = _signed(params.pop("usm"), "usm", -100, 100) if "usm" in params else 0
    radius = _radius(params.pop("usmrad")) if "usmrad" in params else USM_RADIUS
    if sharp and usm:
        raise InvalidOptions("imgix sharp with usm: one unsharp mask per image here")
    if sharp:
        tokens["usm"] = f"{sharp}:{format_number(SHARP_RADIUS)}"
    elif usm:
        tokens["usm"] = f"{usm}:{format_number(radius)}"


def _radius(value: str) -> float:
    # Within the native range: a sigma of 0.3 changes little.
    return max(0.3, min(100.0, _number(value, "usmrad", 0, 500)))


def _duotone(params: dict[str, str], tokens: dict[str, str]) -> None:
    """imgix's `duotone=SHADOWS,HIGHLIGHTS`: the image's grey levels mapped from the first
    colour (black) to the second (white), each band a straight line: the native `gray` and a
    `curve` per band. `duotone-alpha` below 100 (a blend with the original) → 400."""
    alpha = params.pop("duotone-alpha", "100")
    if "duotone" not in params:
        if alpha != "100":
            raise InvalidOptions("imgix duotone-alpha goes with duotone")
        return
    colours = params.pop("duotone").split(",")
    if len(colours) != 2:
        raise InvalidOptions("imgix duotone: two colours, shadows and highlights")
    dark, light = (_colour(c, "duotone")[:6] for c in colours)
    if _signed(alpha, "duotone-alpha", 0, 100) != 100:
        raise InvalidOptions("imgix duotone-alpha below 100 is not supported by this server")
    if "tint" in tokens:
        raise InvalidOptions("imgix duotone with mono is not supported by this server")
    bands = [f"0-{int(dark[i:i + 2], 16)}:255-{int(light[i:i + 2], 16)}" for i in (0, 2, 4)]
    tokens["gray"] = ""
    tokens["curve"] = ";".join(["0-0:255-255", *bands])


def _trim(params: dict[str, str], tokens: dict[str, str]) -> None:
    mode = params.pop("trim")
    colour = params.pop("trim-color", "")
    tolerance = params.pop("trim-tol", "")
    params.pop("trim-md", None)
    params.pop("trim-sd", None)
    if mode == "auto":
        tokens["trim"] = "10"  # imgix's mean and deviation thresholds, as one native level
    elif mode == "color":
        level = max(1, _signed(tolerance, "trim-tol", 0, 100)) if tolerance else 1
        tokens["trim"] = str(level) + (f":{_colour(colour, 'trim-color')[:6]}" if colour else "")
    else:
        raise InvalidOptions(f"imgix trim={mode}: auto or color")


# imgix's corner radius when `corner-radius` is absent or not above 0: a share of the shorter
# side.
DEFAULT_CORNER_SHARE = "0.2"


def _mask(params: dict[str, str], watermarks: Mapping[str, str],
          tokens: dict[str, str]) -> None:
    """imgix's `mask`: `ellipse` is `r_max`; `corners` rounds them by `corner-radius`; an image
    URL is `mask_NAME`, the server's watermark image of that file name. The area cut off takes
    `mask-bg`, else is transparent where the format holds alpha and white where not (the native
    fill without `bg`)."""
    mask = params.pop("mask", "")
    radius = params.pop("corner-radius", "")  # alone it changes nothing, as in imgix
    mask_bg = params.pop("mask-bg", "")
    if not mask:
        if mask_bg:
            raise InvalidOptions("imgix mask-bg goes with mask")
        return
    if mask == "ellipse":
        tokens["r"] = "max"
    elif mask == "corners":
        tokens["r"] = _corner_radius(radius)
    else:
        name = watermarks.get(PurePosixPath(urlsplit(mask).path).name)
        if name is None:
            raise InvalidOptions("imgix mask: ellipse, corners, or an image named like one of "
                                 "the server's watermarks (IMGORIGIN_WATERMARKS) here")
        tokens["mask"] = name
    # One native colour fills the mask's area, fit=fill's bars and bg's transparency.
    current = tokens.get("bg", "")
    if mask_bg:
        fill = _opaque_short(_colour(mask_bg, "mask-bg"))
        if current and _opaque_short(current) != fill:
            raise InvalidOptions("imgix mask-bg beside another bg, fill-color or fill=blur: "
                                 "one colour fills them all here")
        tokens["bg"] = fill
    elif current and "flatten" not in tokens and current not in ("ffffff00", "blur"):
        raise InvalidOptions("imgix fill-color with mask needs mask-bg of the same colour here "
                             "(one colour fills both)")


def _opaque_short(colour: str) -> str:
    return colour[:6] if colour.endswith("ff") and len(colour) == 8 else colour


def _corner_radius(value: str) -> str:
    """`corner-radius` as native `r`: one radius (px, or a share of the shorter side below 1;
    0 or less is imgix's default 20 %), or four (top-left, top-right, bottom-right, bottom-left;
    px, negative squares a corner)."""
    parts = [p.strip() for p in value.replace(";", ",").replace("|", ",").split(",")]
    if len(parts) == 4:
        return ":".join(str(max(0, _signed(p, "corner-radius", -8192, 8192))) for p in parts)
    if len(parts) != 1:
        raise InvalidOptions(f"imgix corner-radius={value}: one radius or four")
    if not parts[0]:
        return DEFAULT_CORNER_SHARE
    number = _number(parts[0], "corner-radius", -8192, 8192)
    if number <= 0:
        return DEFAULT_CORNER_SHARE
    if number < 1:
        return format_number(min(0.5, max(0.001, number)))
    return _whole(parts[0], "corner-radius")


def _overlays(params: dict[str, str], watermarks: Mapping[str, str],
              tokens: dict[str, str]) -> None:
    if "mark" in params:
        url = params.pop("mark")
        name = watermarks.get(PurePosixPath(urlsplit(url).path).name)
        if name is None:
            raise InvalidOptions("imgix mark: only an image named like one of the server's "
                                 "watermarks (IMGORIGIN_WATERMARKS) here")
        position = _align(params.pop("mark-align", "bottom,right"), "mark-align")
        alpha = _signed(params.pop("mark-alpha", "100"), "mark-alpha", 0, 100)
        pad = _whole(params.pop("mark-pad", "5"), "mark-pad", zero=True)
        if alpha:
            tokens["wm"] = ":".join([name, position, format_number(alpha / 100), "0", pad, pad])
    if "txt" in params:
        text = params.pop("txt")
        position = _align(params.pop("txt-align", "bottom,right"), "txt-align")
        size = _whole(params.pop("txt-size", "12"), "txt-size")
        colour = _colour(params.pop("txt-color", "000"), "txt-color")
        pad = _whole(params.pop("txt-pad", "10"), "txt-pad", zero=True)
        style = _font(params.pop("txt-font", ""))
        # txt-width: the box the lines wrap in, aligned as txt-align says.
        width = _whole(params.pop("txt-width"), "txt-width") if "txt-width" in params else ""
        if text:
            tokens["text"] = ":".join([text_token(text), position, size, colour, pad, pad,
                                       style, width]).rstrip(":")
    for name in ("mark-align", "mark-alpha", "mark-pad"):
        if name in params:
            raise InvalidOptions(f"imgix {name} goes with mark")
    for name in ("txt-align", "txt-size", "txt-color", "txt-pad", "txt-font", "txt-width"):
        if name in params:
            raise InvalidOptions(f"imgix {name} goes with txt")


def _align(value: str, name: str) -> str:
    words = {w.strip() for w in value.split(",") if w.strip()}
    words.discard("center")
    words.discard("middle")
    position = _CORNERS.get(frozenset(words))
    if position is None:
        raise InvalidOptions(f"imgix {name}={value}: top, middle or bottom, and left, center or "
                             "right")
    return position


def _font(value: str) -> str:
    family, *styles = [p.strip().lower() for p in value.split(",")] if value else [""]
    if family not in _SANS or not set(styles) <= {"bold", "italic"}:
        raise InvalidOptions(f"imgix txt-font={value}: the host's sans-serif only here "
                             "(sans-serif, with bold and italic)")
    return "".join(sorted(set(styles)))  # "bold", "bolditalic", "italic" or ""


def _colour(value: str, name: str) -> str:
    """imgix's hex colour (alpha first in its 4- and 8-digit forms) or CSS colour keyword as
    native RRGGBB[AA]."""
    named = named_colour(value) if not hex_colour(value) else None
    if named is not None:
        return named
    digits = value.lower().removeprefix("#")
    if len(digits) == 4:
        digits = digits[1:] + digits[0]
    elif len(digits) == 8:
        digits = digits[2:] + digits[:2]
    colour = hex_colour(digits)
    if colour is None:
        raise InvalidOptions(f"imgix {name}={value}: a hex colour (RGB, ARGB, RRGGBB or "
                             "AARRGGBB) or a CSS colour name")
    return colour


def _fraction(value: str) -> str:
    """A share of the source (0 < v < 1, written with a `.`) as native text, or ""."""
    if "." not in value:
        return ""
    try:
        number = float(value)
    except ValueError:
        raise InvalidOptions(f"imgix size '{value}': whole pixels or a share below 1") from None
    if not (0 < number < 1) or not math.isfinite(number):
        if number.is_integer() and number >= 1:
            return ""
        raise InvalidOptions(f"imgix size '{value}': whole pixels or a share below 1")
    return format_number(number)


def _whole(value: str, name: str, zero: bool = False) -> str:
    text = value.removesuffix(".0") if value.endswith(".0") else value
    if not whole_number(text) or (not zero and int(text) == 0):
        raise InvalidOptions(f"imgix {name}={value}: a whole number of pixels")
    return str(int(text))


def _signed(value: str, name: str, low: int, high: int) -> int:
    text = value.removeprefix("-")
    if not whole_number(text):
        raise InvalidOptions(f"imgix {name}={value}: a whole number {low}..{high}")
    number = -int(text) if value.startswith("-") else int(text)
    if not low <= number <= high:
        raise InvalidOptions(f"imgix {name}={value}: {low}..{high}")
    return number


def _share(value: str, name: str) -> str:
    return format_number(_number(value, name, 0, 1))


def _number(value: str, name: str, low: float, high: float) -> float:
    """A decimal within low..high (NaN and infinities refused); 400 naming the parameter."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not low <= number <= high:
        raise InvalidOptions(f"imgix {name}={value}: {format_number(low)}..{format_number(high)}")
    return number
