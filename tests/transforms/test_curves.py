"""`curve_A[;R;G;B]` (thumbor's curve()): the tables thumbor 7.8 makes, the spellings, and the
pixels."""

from __future__ import annotations

import hashlib

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import animation, encoded, made
from transforms import curves
from transforms.grammar import parse, serialize
from transforms.options import Curve

# thumbor's own example (its curve.py docstring): the tables its C extension made for it, read
# off thumbor 7.8.0's `_curve.apply` over all 256 levels in session 37 (401 curve sets were
# compared the same way, every level equal; the others are not kept here).
EXAMPLE = Curve(
    ((0, 0), (40, 59), (255, 255)),
    ((32, 59), (64, 80), (92, 111), (128, 153), (140, 169), (164, 201), (192, 214), (224, 215),
     (240, 214), (255, 212)),
    ((34, 41), (64, 51), (92, 76), (128, 112), (140, 124), (164, 147), (192, 180), (224, 216),
     (240, 236), (255, 255)),
    ((40, 46), (64, 55), (92, 83), (128, 127), (140, 144), (164, 174), (192, 197), (224, 199),
     (240, 197), (255, 198)),
)
THUMBOR_SHA256 = "bbda3b55e9860fa4d3a51920f74cc4bfb0282cc84e56a6e75c3ca0556f788fed"


def test_the_tables_are_thumbors() -> None:
    red, green, blue = curves.band_tables(EXAMPLE)
    assert hashlib.sha256(bytes(red + green + blue)).hexdigest() == THUMBOR_SHA256
    assert [red[i] for i in (0, 31, 32, 64, 128, 200, 255)] == [84, 84, 84, 109, 181, 228, 226]
    assert [green[i] for i in (0, 33, 34, 128, 255)] == [60, 60, 60, 144, 255]
    assert [blue[i] for i in (0, 39, 40, 128, 255)] == [67, 67, 67, 158, 216]


def test_a_spline_through_its_points() -> None:
    points = ((0, 10), (60, 200), (128, 90), (255, 250))
    table = curves.table(points)
    assert all(table[x] == y for x, y in points)
    assert curves.table(((5, 77),)) == (77,) * 256  # one point: a constant
    assert curves.table(((0, 0), (255, 255))) == tuple(range(256))  # two: a line
    # Below the first point its level, from the last point on the last level.
    assert curves.table(((50, 20), (100, 80), (200, 120)))[:50] == (20,) * 50
    assert curves.table(((50, 20), (100, 80), (200, 120)))[200:] == (120,) * 56
    # A curve that overshoots is clipped to 0..255.
    steep = curves.table(((0, 0), (10, 255), (20, 0), (255, 0)))
    assert min(steep) == 0 and max(steep) == 255


@pytest.mark.parametrize(("segment", "canonical"), [
    ("curve_0-0:40-59:255-255", "curve_0-0:40-59:255-255"),
    ("curve_0-0:40-59:255-255;0-0:255-255;0-0:255-255;0-0:255-255", "curve_0-0:40-59:255-255"),
    ("curve_0-0:255-255", "_"),
    ("curve_0-0:128-128:255-255", "_"),  # identity however it is written
    ("curve_0-0:255-255;0-50:255-254;0-0:255-255;0-0:255-255",
     "curve_0-0:255-255;0-50:255-254;0-0:255-255;0-0:255-255"),
])
def test_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("token", [
    "curve", "curve_", "curve_0-0;1-1", "curve_0-0:0-5", "curve_10-0:5-5", "curve_0-256",
    "curve_a-b", "curve_0-0:255-255;0-0;0-0", "curve_0:0", "curve_" + ":".join(
        f"{i}-{i}" for i in range(65)),
])
def test_bad_curves_are_400(token: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(token)
    assert token[:40] in err.value.detail


def ramp(bands: int = 3, alpha: bool = False) -> bytes:
    grey = pyvips.Image.xyz(256, 2)[0].cast("uchar")
    image = (grey.bandjoin([grey, grey]) if bands == 3 else grey).copy(
        interpretation="srgb" if bands == 3 else "b-w")
    if alpha:
        image = image.bandjoin((pyvips.Image.xyz(256, 2)[1] * 100 + 50).cast("uchar"))
    return image.pngsave_buffer()


def test_each_band_takes_its_table() -> None:
    out = made(ramp(), "curve_" + ";".join(
        ":".join(f"{x}-{y}" for x, y in points) for points in
        (EXAMPLE.all, EXAMPLE.red, EXAMPLE.green, EXAMPLE.blue)))
    tables = curves.band_tables(EXAMPLE)
    for x in (0, 17, 64, 128, 200, 255):
        assert out(x, 0)[:3] == [float(t[x]) for t in tables]


def test_grey_turns_colour_only_when_the_bands_differ_and_alpha_stays() -> None:
    same = made(ramp(1), "curve_0-255:255-0")  # an inverting line
    assert same.bands == 1 and same(0, 0) == [255.0] and same(255, 0) == [0.0]
    coloured = made(ramp(1), "curve_0-0:255-255;0-0:255-255;0-0:255-255;0-255:255-0")
    assert coloured.bands == 3 and coloured(0, 0) == [0.0, 0.0, 255.0]
    with_alpha = made(ramp(alpha=True), "curve_0-255:255-0")
    assert with_alpha.bands == 4 and with_alpha(10, 1) == [245.0, 245.0, 245.0, 150.0]


def test_every_frame_is_curved() -> None:
    frames = [(pyvips.Image.black(8, 4) + [v, v, v]).cast("uchar").copy(interpretation="srgb")
              for v in (10, 200)]
    out = pyvips.Image.new_from_buffer(
        encoded(animation(frames, 100, "gif"), "curve_0-255:255-0,fmt_gif", "gif"), "", n=-1)
    assert out.get("page-height") == 4
    assert out(1, 1)[:3] == [245.0] * 3 and out(1, 5)[:3] == [55.0] * 3


def test_a_duotone_is_grey_then_a_line_per_band() -> None:
    """imgix's duotone as translated: grey levels from navy (black) to gold (white)."""
    out = made(ramp(), "gray,curve_0-0:255-255;0-0:255-255;0-0:255-215;0-128:255-0")
    assert out.bands == 3
    assert out(0, 0) == [0.0, 0.0, 128.0] and out(255, 0) == [255.0, 215.0, 0.0]
    assert out(128, 0) == [128.0, 108.0, 64.0]


# --- colorize_R:G:B:RRGGBB (thumbor's colorize()) ----------------------------------------------

@pytest.mark.parametrize(("segment", "canonical"), [
    ("colorize_10:20:30:FF0000", "colorize_10:20:30:ff0000"),
    ("colourize_0:0:0:ff0000", "_"),
])
def test_colorize_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("token", ["colorize", "colorize_1:2:3", "colorize_101:0:0:ff0000",
                                   "colorize_1:2:3:red", "colorize_1:2:3:fff",
                                   "colorize_-1:0:0:fff000"])
def test_bad_colorize_is_400(token: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(token)
    assert token in err.value.detail


def test_colorize_moves_each_band_toward_the_colour_and_cuts_down() -> None:
    # thumbor's arithmetic: (level * (100 - pct) + colour * pct) / 100, truncated.
    red, green, blue = curves.colorize_tables(10, 50, 100, "ff8000")
    assert red[0] == 25 and red[200] == 205 and red[255] == 255
    assert green[0] == 64 and green[99] == 113 and green[255] == 191
    assert blue == (0,) * 256
    out = made(ramp(), "colorize_10:50:100:ff8000")
    for x in (0, 99, 200, 255):
        assert out(x, 0) == [float(red[x]), float(green[x]), 0.0]
    grey = made(ramp(1), "colorize_20:20:20:000000")  # equal tables: grey stays grey
    assert grey.bands == 1 and grey(100, 0) == [80.0]
    tinted = made(ramp(1), "colorize_0:0:50:0000ff")
    assert tinted.bands == 3 and tinted(100, 0) == [100.0, 100.0, 177.0]
