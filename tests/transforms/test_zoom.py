"""`zoom_F`: with `w` or `h` the grammar multiplies them (one variant with the explicit URL, as
imgproxy's zoom multiplies the size it asks for); alone it scales the (cropped) source, never
above its own size without `enlarge`."""

from __future__ import annotations

import pytest

from origin.errors import InvalidOptions
from tests.support.images import flat, made
from transforms.grammar import parse, serialize
from transforms.plan import fit_geometry


@pytest.mark.parametrize(("segment", "same_as"), [
    ("w_400,zoom_0.5", "w_200"),
    ("s_300x200,zoom_1.5,fit_contain", "s_450x300,fit_contain"),
    ("h_101,zoom_0.5", "h_51"),                        # 50.5, rounded half up
    ("w_400,zoom_0.5,ar_16:9", "w_200,ar_16:9"),       # the side first, then the ratio
    ("w_400,zoom_0.25,dpr_2", "w_100,dpr_2"),          # dpr still multiplies what is left
    ("zoom_1", "_"),
    ("zoom_2", "_"),                                   # no larger than the source without enlarge
    ("ar_1,zoom_2,enlarge", "ar_1"),                   # `ar_` alone keeps the source's scale
    ("zoom_0.3333", "zoom_0.333"),
])
def test_zoom_with_a_side_is_the_explicit_size(segment: str, same_as: str) -> None:
    options = parse(segment).options
    assert options == parse(same_as).options
    assert serialize(options) == serialize(parse(same_as).options)


def test_zoom_alone_stays_in_the_canonical_form() -> None:
    assert serialize(parse("zoom_0.5").options) == "zoom_0.5"
    assert serialize(parse("enlarge,zoom_2").options) == "enlarge,zoom_2"


@pytest.mark.parametrize(("segment", "says"), [
    ("zoom_0", "0.01..100"), ("zoom_-1", "0.01..100"), ("zoom_101", "0.01..100"),
    ("zoom_a", "0.01..100"), ("zoom", "needs a value"),
    ("h_10,zoom_0.01", "h_0"), ("w_8000,zoom_2", "w_16000"),
    ("zoom_0.5,zoom_0.25", "duplicate"),
])
def test_bad_zooms_are_a_400_naming_them(segment: str, says: str) -> None:
    with pytest.raises(InvalidOptions, match=says):
        parse(segment)


@pytest.mark.parametrize(("segment", "source", "output"), [
    ("zoom_0.5", (640, 427), (320, 214)),              # 213.5 rounded
    ("zoom_2", (640, 427), (640, 427)),                # canonically dropped: no enlarge
    ("zoom_2,enlarge", (640, 427), (1280, 854)),
    ("zoom_50,enlarge", (640, 427), (8192, 5466)),     # capped at MAX_DIM, ratio kept
    ("ar_1,zoom_0.5", (640, 427), (214, 214)),         # the ratio's box, then the factor
    ("ar_1,fit_contain,zoom_0.5", (640, 427), (320, 320)),
])
def test_alone_zoom_scales_the_source(segment: str, source: tuple[int, int],
                                      output: tuple[int, int]) -> None:
    geometry = fit_geometry(*source, parse(segment).options, 8192)
    assert geometry.output == output


def test_zoom_scales_what_the_crop_keeps() -> None:
    image = made(flat([200, 30, 30], 120, 80), "crop_0:0:60:40,zoom_0.5")
    assert (image.width, image.height) == (30, 20)
    assert [round(v) for v in image(15, 10)[:3]] == [200, 30, 30]
