"""Gravity crops (`crop_W:H[:GRAVITY]`, imgproxy's `crop`): where the area lands in the source,
with imgproxy's own rounding, so its URLs cut the same pixels here."""

from __future__ import annotations

import pytest

from transforms.options import CropBox, FocalPoint, Region
from transforms.plan import place_crop


@pytest.mark.parametrize(("crop", "size", "region"), [
    # The centre rounds the slack (plus one) half to even: 52 / 2 -> 26, 51 / 2 -> 26.
    (CropBox(50, 50), (101, 100), Region(26, 26, 50, 50)),
    (CropBox(51, 51), (100, 100), Region(25, 25, 51, 51)),
    # Edges and corners are flush.
    (CropBox(50, 50, "southeast"), (101, 100), Region(51, 50, 50, 50)),
    (CropBox(50, 50, "west"), (101, 100), Region(0, 26, 50, 50)),
    (CropBox(30, 20, "north"), (101, 100), Region(36, 0, 30, 20)),
    # A side larger than the source's, or 0, is all of it.
    (CropBox(500, 40, "north"), (200, 100), Region(0, 0, 200, 40)),
    (CropBox(0, 40, "south"), (200, 100), Region(0, 60, 200, 40)),
    # A share of a side rounds half away from zero (imgproxy's), never under one pixel.
    (CropBox(0.5, 0.001), (101, 100), Region(26, 50, 51, 1)),
    # A focal point centres the area on it, kept inside the image.
    (CropBox(0.5, 0, FocalPoint(0.9, 0.1)), (200, 100), Region(100, 0, 100, 100)),
    (CropBox(20, 20, FocalPoint(0.5, 0.5)), (101, 101), Region(40, 40, 20, 20)),
    (CropBox(20, 10, FocalPoint(0.3, 0.8)), (100, 100), Region(20, 75, 20, 10)),
])
def test_the_area_lands_where_imgproxy_puts_it(crop: CropBox, size: tuple[int, int],
                                               region: Region) -> None:
    assert place_crop(crop, *size) == region
