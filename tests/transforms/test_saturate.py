"""`saturate_F`, thumbor's saturation(): colours moved from their perceived brightness
sqrt(0.299 r² + 0.587 g² + 0.114 b²) by a factor, cut toward zero and clipped as thumbor's C loop
does; checked against a port of that loop, and through the thumbor dialect's order rules."""

from __future__ import annotations

import math
import struct

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import made
from transforms.grammar import parse, serialize
from transforms.thumbor import translate


def f32(value: float) -> float:
    """`value` as a C float, as thumbor's loop holds it."""
    return struct.unpack("f", struct.pack("f", value))[0]


def thumbor_saturation(pixel: tuple[int, int, int], change: float) -> list[int]:
    """thumbor/ext/filters/_saturation.c for one pixel."""
    r, g, b = pixel
    p = f32(math.sqrt(r * r * 0.299 + g * g * 0.587 + b * b * 0.114))
    factor = f32(change)
    return [max(0, min(255, math.trunc(f32(p + f32((c - p) * factor))))) for c in (r, g, b)]


def palette() -> pyvips.Image:
    """64x64: every pixel a different colour, red and green in steps of 4, blue from both."""
    xy = pyvips.Image.xyz(64, 64)
    r, g = xy[0] * 4, xy[1] * 4
    b = (xy[0] * 7 + xy[1] * 3) % 256
    return r.bandjoin([g, b]).cast("uchar").copy(interpretation="srgb")


@pytest.mark.parametrize("factor", [-1.0, -0.5, 0.0, 0.5, 1.5, 2.0, 4.25])
def test_the_loop_of_thumbor(factor: float) -> None:
    source = palette()
    out = made(source.pngsave_buffer(), f"saturate_{factor}")
    bands = [source[i].tolist() for i in range(3)]  # tolist reads one band at a time
    got = [out[i].tolist() for i in range(3)]
    off = [abs(got[i][y][x] - want)
           for y in range(64) for x in range(64)
           for i, want in enumerate(thumbor_saturation(
               (bands[0][y][x], bands[1][y][x], bands[2][y][x]), factor))]
    # Float rounding right at a whole level may land one level off, rarely; the factor moves
    # colours far more, and rounding instead of cutting would miss half of all values.
    assert max(off) <= 1
    assert sum(1 for d in off if d) <= len(off) // 100
    if factor != 1:
        assert (out - source).abs().max() > 20


def test_grey_and_alpha_are_kept() -> None:
    grey = (pyvips.Image.xyz(32, 8)[0] * 8).cast("uchar").copy(interpretation="b-w")
    out = made(grey.pngsave_buffer(), "saturate_3")
    assert out.bands == 1 and (out - grey).abs().max() == 0
    rgba = palette().bandjoin(pyvips.Image.xyz(64, 64)[0].cast("uchar") * 3)
    out = made(rgba.pngsave_buffer(), "saturate_2")
    assert out.bands == 4 and (out[3] - rgba[3]).abs().max() == 0


@pytest.mark.parametrize(("segment", "canonical"), [
    ("saturate_1.50", "saturate_1.5"),
    ("saturate_1", "_"),  # the default: no change
    ("saturate_0", "saturate_0"),
    ("saturate_-1.0", "saturate_-1"),  # through the grey: thumbor's saturation(-1)
    ("saturate_-0", "saturate_0"),
    ("gray,saturate_2", "gray"),  # no colour left
    ("saturate_2,sat_10", "sat_10,saturate_2"),  # imgix's is another operation
])
def test_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("segment", ["saturate_11", "saturate_-10.5", "saturate", "saturate_x",
                                     "saturate_--1"])
def test_out_of_range_is_a_400(segment: str) -> None:
    with pytest.raises(InvalidOptions, match="saturate"):
        parse(segment)


def native(path: str) -> str:
    return serialize(parse(translate(path, {}).tokens).options)


def test_thumbors_filter() -> None:
    assert native("fit-in/300x200/filters:saturation(1.5)/a.jpg") == \
        "fit_inside,h_200,saturate_1.5,w_300"
    assert native("filters:grayscale():saturation(2)/a.jpg") == "gray_luma"
    assert native("filters:saturation(-1)/a.jpg") == "saturate_-1"
    assert native("filters:saturation(0.5):brightness(10):rgb(1,2,3)/a.jpg") == \
        "bri_10,rgb_1:2:3,saturate_0.5"


@pytest.mark.parametrize(("path", "words"), [
    ("filters:saturation(1.5):grayscale()/a.jpg", "grayscale() stands on the other side"),
    ("filters:brightness(10):saturation(1.5)/a.jpg", "saturation() stands on the other side"),
    ("filters:saturation(2):blur(3)/a.jpg", "blur() stands on the other side"),
    ("filters:saturation(-11)/a.jpg", "-10..10"),
    ("filters:saturation(x)/a.jpg", "-10..10"),
])
def test_thumbor_refusals(path: str, words: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        translate(path, {})
    assert words in str(err.value)
