"""`exar` (imgproxy's extend_aspect_ratio): `fit_inside`'s image (or `fit_auto`'s where it
fits), not enlarged, padded out to the box's aspect ratio on the side it falls short; sizes as
imgproxy's calcSizes makes them."""

from __future__ import annotations

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import flat, made
from transforms.grammar import parse, serialize
from transforms.imgproxy import translate
from transforms.plan import Geometry, fit_geometry


@pytest.mark.parametrize(("segment", "source", "geometry"), [
    # A source smaller than the box keeps its size and is padded out to the box's ratio.
    ("s_300x300,fit_inside,exar", (40, 30), Geometry((40, 30), (40, 40), "pad")),
    ("s_100x50,fit_inside,exar", (40, 30), Geometry((40, 30), (60, 30), "pad")),
    # Rounded half up, as imgproxy's imath.Scale: 41 x 1.5 = 61.5 -> 62, 35 x 1.5 = 52.5 -> 53.
    ("s_200x300,fit_inside,exar", (41, 30), Geometry((41, 30), (41, 62), "pad")),
    ("s_300x200,fit_inside,exar", (30, 35), Geometry((30, 35), (53, 35), "pad")),
    ("s_200x100,fit_inside,exar", (37, 20), Geometry((37, 20), (40, 20), "pad")),
    # A larger one is fitted first, then padded: the whole box, as fit_contain gives.
    ("s_300x300,fit_inside,exar", (600, 400), Geometry((300, 200), (300, 300), "pad")),
    # Already the box's ratio: nothing to pad.
    ("s_300x200,fit_inside,exar", (600, 400), Geometry((300, 200))),
    ("s_300x200,fit_inside,exar", (60, 40), Geometry((60, 40))),
    # With enlarge the image grows to the box first.
    ("s_300x300,fit_inside,exar,enlarge", (40, 30), Geometry((300, 225), (300, 300), "pad")),
    # fit_auto: a portrait source in a landscape box is fitted, then padded to the box's ratio;
    # a landscape one fills the box, which has its ratio already.
    ("s_300x200,fit_auto,exar", (400, 600), Geometry((133, 200), (300, 200), "pad")),
    ("s_300x200,fit_auto,exar", (600, 300), Geometry((400, 200), (300, 200), "crop")),
])
def test_sizes(segment: str, source: tuple[int, int], geometry: Geometry) -> None:
    assert fit_geometry(*source, parse(segment).options, 8192) == geometry


@pytest.mark.parametrize(("segment", "canonical"), [
    ("s_300x300,fit_inside,extendaspectratio", "exar,fit_inside,h_300,w_300"),
    ("s_300x300,fit_inside,exar,g_north", "exar,fit_inside,g_north,h_300,w_300"),
    # Where nothing is fitted inside a box it changes nothing, and is dropped.
    ("w_300,exar", "w_300"),
    ("s_300x300,exar", "h_300,w_300"),
    ("s_300x300,fit_contain,exar", "fit_contain,h_300,w_300"),
    ("s_300x300,fit_inside,g_north", "fit_inside,h_300,w_300"),
    ("s_300x200,fit_auto,exar", "exar,fit_auto,h_200,w_300"),
])
def test_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("segment", ["s_300x300,fit_inside,exar,minw_9",
                                     "s_300x300,fit_auto,exar,minh_9"])
def test_what_it_cannot_pad_is_a_400(segment: str) -> None:
    with pytest.raises(InvalidOptions, match="exar"):
        parse(segment)


def test_the_padding_sits_by_the_gravity_in_the_background() -> None:
    out = made(flat([255, 0, 0], 40, 30), "s_300x300,fit_inside,exar,g_north,bg_0000ff")
    assert (out.width, out.height) == (40, 40)
    column = [round(out(20, y)[0]) for y in range(40)]
    assert column == [255] * 30 + [0] * 10  # the image at the top, the padding under it
    centred = made(flat([255, 0, 0], 40, 30), "s_300x300,fit_inside,exar,bg_0000ff")
    assert [round(centred(20, y)[0]) for y in (4, 5, 34, 35)] == [0, 255, 255, 0]


@pytest.mark.parametrize(("path", "tokens"), [
    ("/rs:fit:300:300/exar:1/plain/a.jpg", "exar,fit_inside,h_300,w_300"),
    ("/rs:fit:300:300/extend_aspect_ratio:1:so/plain/a.jpg", "exar,fit_inside,g_south,h_300,w_300"),
    ("/rs:fit:300:300/exar:0/plain/a.jpg", "fit_inside,h_300,w_300"),
    # Beside extend (the whole box) and fill (the box's ratio already) it changes nothing.
    ("/rs:fit:300:300:0:1/exar:1/plain/a.jpg", "extend,fit_contain,h_300,w_300"),
    ("/rs:fill:300:300/exar:1/plain/a.jpg", "h_300,w_300"),
    # With auto: padded where auto fits, nothing where it fills (decided from the source).
    ("/rs:auto:300:200/exar:1/plain/a.jpg", "exar,fit_auto,h_200,w_300"),
    ("/rs:auto:300:200/g:so/exar:1:so/plain/a.jpg", "exar,fit_auto,g_south,h_200,w_300"),
])
def test_imgproxys_option(path: str, tokens: str) -> None:
    assert serialize(parse(translate(path).tokens).options) == tokens


@pytest.mark.parametrize(("path", "words"), [
    ("/rs:auto:300:300/g:no/exar:1:so/plain/a.jpg", "'auto'"),
    ("/rs:fit:300:300/exar:1:sm/plain/a.jpg", "'sm'"),
    ("/rs:fit:300:300/g:no/exar:1:so/plain/a.jpg", "differ"),
])
def test_imgproxys_option_refused(path: str, words: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        translate(path)
    assert words in str(err.value)


def test_a_grey_source_is_padded_in_grey() -> None:
    grey = (pyvips.Image.black(20, 10) + 200).cast("uchar").copy(interpretation="b-w")
    out = made(grey.pngsave_buffer(), "s_100x100,fit_inside,exar,bg_000000")
    assert (out.width, out.height) == (20, 20)
