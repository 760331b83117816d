"""`minw_N`/`minh_N` (imgproxy's min-width/min-height): the resize grows until the image is that
wide/high, past the source too, and is then cut to the requested sides where `g` says."""

from __future__ import annotations

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import made
from transforms.grammar import parse, serialize
from transforms.plan import Geometry, fit_geometry


@pytest.mark.parametrize(("segment", "source", "geometry"), [
    # fit inside 300x300 makes 300x150; at least 400 wide makes 400x200, cut to 300 wide.
    ("s_300x300,fit_inside,minw_400", (1000, 500), Geometry((400, 200), (300, 200), "crop")),
    ("w_300,minw_400", (1000, 500), Geometry((400, 200), (300, 200), "crop")),
    ("h_100,minw_500", (1000, 500), Geometry((500, 250), (500, 100), "crop")),
    ("s_300x200,minh_300", (900, 600), Geometry((450, 300), (300, 200), "crop")),
    ("minw_400", (200, 100), Geometry((400, 200))),           # past the source's own size
    ("minw_400,dpr_2", (2000, 1000), Geometry((2000, 1000))),  # 800 px: the source as it is
    ("w_100,minw_50", (1000, 500), Geometry((100, 50))),      # met already: nothing changes
    ("s_300x300,minw_100", (1000, 500), Geometry((600, 300), (300, 300), "crop")),
    ("minw_500,minh_500", (1000, 500), Geometry((1000, 500))),
    ("minw_9000", (100, 100), Geometry((8192, 8192))),          # capped at MAX_DIM
])
def test_the_resize_grows_and_is_cut_to_the_requested_sides(
        segment: str, source: tuple[int, int], geometry: Geometry) -> None:
    options = parse(segment, max_dim=9000).options
    assert fit_geometry(*source, options, 8192) == geometry


@pytest.mark.parametrize(("segment", "canonical"), [
    ("minwidth_400,w_300", "minw_400,w_300"),
    ("minheight_20", "minh_20"),
    ("w_300,minw_400,g_north", "g_north,minw_400,w_300"),  # it may cut: the gravity stays
    ("s_300x200,fit_inside,g_east", "fit_inside,h_200,w_300"),  # without it, as before
    ("s_300x200,fit_inside,minh_300,g_east", "fit_inside,g_east,h_200,minh_300,w_300"),
])
def test_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize(("segment", "words"), [
    ("minw_0", "minw_0"), ("minh_99999", "minh_99999"), ("minw", "needs a value"),
    ("s_30x20,fit_contain,minw_40", "not fit_contain"),
    ("s_30x20,fit_fill,minh_40", "not fit_fill"),
    ("ar_2,minw_40", "'ar_' alone"),
])
def test_what_cannot_grow_is_a_400(segment: str, words: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(segment)
    assert words in err.value.detail


def halves() -> bytes:
    """100x50: the left half red, the right half blue."""
    red = (pyvips.Image.black(50, 50) + [255, 0, 0]).cast("uchar")
    blue = (pyvips.Image.black(50, 50) + [0, 0, 255]).cast("uchar")
    return red.join(blue, "horizontal").copy(interpretation="srgb").pngsave_buffer()


@pytest.mark.parametrize(("gravity", "colour"), [("west", [255, 0, 0]), ("east", [0, 0, 255])])
def test_the_cut_follows_the_gravity(gravity: str, colour: list[int]) -> None:
    # 20 wide at most, but at least 40 high: 80x40, cut to 20x40 from where g says.
    out = made(halves(), f"w_20,minh_40,g_{gravity}")
    assert (out.width, out.height) == (20, 40)
    assert [round(v) for v in out(10, 20)] == colour


def test_an_attention_crop_cuts_the_grown_image() -> None:
    out = made(halves(), "s_20x40,fit_inside,minh_40,g_attention")
    assert (out.width, out.height) == (20, 40)
