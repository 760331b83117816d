"""thumbor's sharpen(): Marco Rossini's wavelet sharpen, in libvips operations.

thumbor's C code splits a band into five levels of an a-trous wavelet (the hat [1 2 1] / 4,
dilated 2^level, edges reflected without repeating the edge pixel) and scales each level's detail
by `1 + amount x exp(-(level - radius)^2 / 1.5)`. The sum of scaled details is a weighted sum of
the band and its five smoothed copies, `amt0 x band + sum((amt[l] - amt[l-1]) x low[l]) +
(1 - amt4) x low5`, each copy the hat of the one before (libvips skips the hat's holes).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import pyvips

from transforms.options import WaveletSharpen

LEVELS = 5
# Up to this many band-pixels (2 MP of RGB) each level is held in memory as it is made (at most
# two float copies, 8 bytes a band-pixel): over twice as fast as leaving libvips to recompute
# the chain of smoothed copies for every use. Larger images stream.
HOLD_LIMIT = 6_000_000
Hold = Callable[[pyvips.Image], pyvips.Image]
# thumbor's YCbCr (JPEG's, on 0..255 values) and back.
TO_YCBCR = [[0.2990, 0.5870, 0.1140], [-0.1687, -0.3313, 0.5000], [0.5000, -0.4187, -0.0813]]
FROM_YCBCR = [[1.0, 0.0, 1.40200], [1.0, -0.34414, -0.71414], [1.0, 1.77200, 0.0]]


@functools.cache
def hat(step: int) -> pyvips.Image:
    """The 1-D hat [1 2 1] / 4 with `step - 1` zeros between its taps."""
    taps = [0.0] * (2 * step + 1)
    taps[0], taps[step], taps[-1] = 0.25, 0.5, 0.25
    return pyvips.Image.new_from_list([taps])


def gains(spec: WaveletSharpen) -> list[float]:
    """Each level's detail factor, thumbor's `amount x exp(-(level - radius)^2 / 1.5) + 1`."""
    return [spec.amount * math.exp(-((level - spec.radius) ** 2) / 1.5) + 1
            for level in range(LEVELS)]


def _reflected(im: pyvips.Image, n: int) -> pyvips.Image:
    """`im` grown by n px on each side by reflection about the edge pixels (dcb|abcd, again and
    again for an image narrower than n), as thumbor's hat transform reads past the edges;
    libvips' own mirror repeats the edge pixel."""
    w, h = im.width, im.height
    if w <= n or h <= n:
        return _reflected_rows(_reflected_rows(im, n).rot90(), n).rot270()
    row = im.crop(1, 0, n, h).flip("horizontal").join(im, "horizontal").join(
        im.crop(w - 1 - n, 0, n, h).flip("horizontal"), "horizontal")
    return row.crop(0, 1, row.width, n).flip("vertical").join(row, "vertical").join(
        row.crop(0, h - 1 - n, row.width, n).flip("vertical"), "vertical")


def _reflected_rows(im: pyvips.Image, n: int) -> pyvips.Image:
    w = im.width
    if w == 1:
        return im.embed(n, 0, 1 + 2 * n, im.height, extend="copy")
    # One period of the reflected row: abcd then cb (2w - 2 px), repeated.
    period = im if w == 2 else im.join(im.crop(1, 0, w - 2, im.height).flip("horizontal"),
                                       "horizontal")
    length = period.width
    tiled = period.replicate(-(-(w + 2 * n) // length) + 2, 1)
    return tiled.crop(-n % length, 0, w + 2 * n, im.height)


def _sharpened_bands(bands: pyvips.Image, spec: WaveletSharpen,
                     hold: Hold | None) -> pyvips.Image:
    """Float bands (0..1) sharpened, each on its own."""
    amt = gains(spec)
    weights = [amt[level] - amt[level - 1] for level in range(1, LEVELS)] + [1 - amt[-1]]
    if hold is None or bands.width * bands.height * bands.bands > HOLD_LIMIT:
        hold = _lazy
    out = bands * amt[0]
    low = bands
    for level, weight in enumerate(weights):
        step = 1 << level
        low = hold(_reflected(low, step).convsep(hat(step), precision="float").crop(
            step, step, bands.width, bands.height))
        out = hold(out + low * weight)
    return out


def _lazy(image: pyvips.Image) -> pyvips.Image:
    return image


def sharpened(colour: pyvips.Image, spec: WaveletSharpen, hold: Hold | None = None) -> pyvips.Image:
    """8-bit colour bands (no alpha) sharpened as thumbor's sharpen() does, values cut down;
    `hold` puts an image's pixels in memory (the pipeline's, under its deadline guard)."""
    if spec.luma and colour.bands == 3:
        ycc = (colour.cast("float").recomb(TO_YCBCR) + [0, 128, 128]) / 255
        luma = _sharpened_bands(ycc[0], spec, hold)
        rgb = (luma.bandjoin(ycc[1:3]) * 255 - [0, 128, 128]).recomb(FROM_YCBCR)
    else:
        rgb = _sharpened_bands(colour.cast("float") / 255, spec, hold) * 255
    clipped = (rgb < 0).ifthenelse(0, (rgb > 255).ifthenelse(255, rgb))
    return clipped.floor().cast("uchar").copy(interpretation=colour.interpretation)
