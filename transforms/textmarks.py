"""`text_`: a line of text rendered with libvips (Pango) in the host's default sans-serif font
and laid over the output as a watermark is. The text is escaped: Pango markup in a URL is text,
never formatting."""

from __future__ import annotations

import math
from html import escape

import pyvips

from transforms.options import DIRECTION_ANCHORS, TextOverlay, Watermark
from transforms.watermarks import WatermarkImage, overlay

FONT = "sans-serif"  # fontconfig's default sans: the operator's fonts decide the face
_STYLES = {"": "", "bold": " Bold", "italic": " Italic", "bolditalic": " Bold Italic"}


# Lines of wrapped text lean to the side the position names (Pango's alignment).
_ALIGN = {0.0: "low", 1.0: "high"}


def render(spec: TextOverlay, size: int, wrap: int = 0) -> pyvips.Image:
    """The text in its colour as 8-bit sRGB with alpha, `size` px per line of the font,
    wrapped at `wrap` px (0: one line)."""
    # At 72 dpi a point is a pixel; escape() keeps `<`, `>` and `&` out of Pango's markup.
    align = _ALIGN.get(DIRECTION_ANCHORS[spec.position][0], "centre")
    lines = {"width": wrap, "align": align} if wrap else {}
    mask = pyvips.Image.text(escape(spec.text, quote=False), font=f"{FONT}{_STYLES[spec.style]} "
                             f"{size}", dpi=72, **lines)
    rgb = [int(spec.colour[i:i + 2], 16) for i in (0, 2, 4)]
    alpha = int(spec.colour[6:8], 16) / 255 if len(spec.colour) == 8 else 1.0
    colour = mask.new_from_image(rgb).copy(interpretation="srgb")
    return colour.bandjoin((mask * alpha).cast("uchar")).cast("uchar")


def lay(base: pyvips.Image, spec: TextOverlay, dpr: float) -> pyvips.Image:
    """`base` (one frame) with the text over it where `spec` places it."""
    size = round(spec.size * dpr)
    wrap = min(base.width, round(spec.width * dpr)) if spec.width else 0
    # Never drawn much larger than what can show: overlay() shrinks a mark to fit the output,
    # so a size whose line could not fit (a glyph is at least a quarter of the size wide) only
    # costs memory. This bounds the drawing by the output's own size, whatever the URL asks:
    # one line by the output's width, wrapped lines by its area.
    if wrap:
        fits = math.ceil(math.sqrt(base.width * base.height / (0.25 * len(spec.text))))
    else:
        fits = math.ceil(base.width / (0.25 * len(spec.text)))
    size = max(1, min(size, base.height, fits))
    try:
        drawn = render(spec, size, wrap)
    except pyvips.Error as exc:
        if "no text to render" in str(exc):
            return base  # only spaces or invisible characters: nothing to lay
        raise
    mark = WatermarkImage("text", drawn, "")
    placement = Watermark("text", spec.position, 1.0, 0.0, round(spec.margin_x * dpr),
                          round(spec.margin_y * dpr))
    # Drawn at its output size already: placed at scale 1 (shrunk only to fit the output).
    return overlay(base, mark, placement, 1.0)
