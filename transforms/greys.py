"""Greys by Pillow's rule (`convert("L")`, ITU-R 601 luma in 16-bit fixed point, rounded), the
grey thumbor's `grayscale()` and its face detector read; libvips' own `b-w` weighs the bands in
linear light and differs by several levels on colourful pixels."""

from __future__ import annotations

import pyvips

# Pillow's L24 weights: 0.299, 0.587 and 0.114 in units of 1/65536; `HALF` rounds.
WEIGHTS = [[19595, 38470, 7471]]
HALF = 32768


def pillow_luma(image: pyvips.Image) -> pyvips.Image:
    """One 8-bit grey band (plus the image's alpha, if it has one) by Pillow's weights."""
    alpha = image.extract_band(image.bands - 1) if image.hasalpha() else None
    colour = image.extract_band(0, n=image.bands - 1) if alpha is not None else image
    if colour.format != "uchar" or colour.interpretation not in ("srgb", "b-w"):
        colour = colour.colourspace("srgb" if colour.bands >= 3 else "b-w").cast("uchar")
        if alpha is not None and alpha.format != "uchar":
            alpha = (alpha / 256).cast("uchar") if alpha.format == "ushort" else \
                alpha.cast("uchar")
    if colour.bands >= 3:
        grey = ((colour.extract_band(0, n=3).recomb(WEIGHTS) + HALF) / 65536).floor() \
            .cast("uchar")
    else:
        grey = colour.extract_band(0)
    if alpha is not None:
        grey = grey.bandjoin(alpha)
    return grey.copy(interpretation="b-w")
