"""`g_fpx:X:Y` and `crop_W:H:fpx:X:Y`: a focal point in source pixels (thumbor's `focal`, the
pixel points CMSs store), its canonical form, its limits, and the fraction the plan makes of it."""

from __future__ import annotations

import pytest

from origin.errors import InvalidOptions
from transforms.grammar import parse, serialize
from transforms.options import CropBox, FocalPixel, FocalPoint, Region
from transforms.plan import focal_fraction, place_crop


@pytest.mark.parametrize(("segment", "canonical"), [
    ("s_300x200,g_fpx:1800:400", "g_fpx:1800:400,h_200,w_300"),
    ("w_300,h_200,gravity_fpx:0:0", "g_fpx:0:0,h_200,w_300"),
    ("crop_600:400:fpx:2000:100,w_200", "crop_600:400:fpx:2000:100,w_200"),
    # Without a box to crop to there is nothing to place: the point is dropped.
    ("w_300,g_fpx:10:10", "w_300"),
])
def test_canonical_form(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize(("segment", "words"), [
    ("s_10x10,g_fpx:1.5:2", "g_fpx:1.5:2"),
    ("s_10x10,g_fpx:-1:2", "g_fpx:-1:2"),
    ("s_10x10,g_fpx:5", "g_fpx:5"),
    ("s_10x10,g_fpx:1:1000001", "g_fpx:1:1000001"),
    ("crop_10:10:fpx:1", "crop_10:10:fpx:1"),
    # What trim takes off is known only after decoding; a fraction (g_fp) follows it.
    ("s_10x10,g_fpx:1:2,trim_5", "trim"),
])
def test_malformed_points_are_a_400_naming_them(segment: str, words: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(segment)
    assert words in err.value.detail


def test_a_trim_beside_a_fraction_or_without_a_crop_is_fine() -> None:
    assert parse("s_10x10,g_fp:0.1:0.2,trim_5").options.trim is not None
    assert parse("w_10,g_fpx:1:2,trim_5").options.gravity == "center"


@pytest.mark.parametrize(("point", "region", "size", "fraction"), [
    (FocalPixel(1800, 400), None, (2400, 1600), FocalPoint(0.75, 0.25)),
    (FocalPixel(2100, 200), Region(1200, 0, 1200, 800), (1200, 800), FocalPoint(0.75, 0.25)),
    # Outside the image or region: held to the nearest edge.
    (FocalPixel(5000, 10), None, (2400, 1600), FocalPoint(1.0, 10 / 1600)),
    (FocalPixel(100, 100), Region(200, 300, 100, 100), (100, 100), FocalPoint(0.0, 0.0)),
])
def test_the_plan_makes_a_fraction_of_the_image_cropped(point: FocalPixel, region: Region | None,
                                                        size: tuple[int, int],
                                                        fraction: FocalPoint) -> None:
    assert focal_fraction(point, region, *size) == fraction


def test_a_gravity_crop_centres_on_the_pixel() -> None:
    assert place_crop(CropBox(600, 400, FocalPixel(2000, 100)), 2400, 1600) == \
        Region(1700, 0, 600, 400)
    assert place_crop(CropBox(600, 400, FocalPixel(1001, 801)), 2400, 1600) == \
        Region(701, 601, 600, 400)
