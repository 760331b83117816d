"""Gravity offsets (`g_DIR:X:Y`, imgproxy's `g:DIR:X:Y`): a direction moved inward from the edges
it names (right and down from the centre), in px times dpr, or below 1 a share of the side; kept
inside the image. Checked on images whose pixels say where they came from."""

from __future__ import annotations

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import made
from transforms.grammar import parse, serialize
from transforms.imgproxy import translate
from transforms.options import CropBox, Region, ShiftedDirection
from transforms.plan import place_crop


@pytest.mark.parametrize(("segment", "canonical"), [
    ("w_10,h_10,g_north:10:-5", "g_north:10:-5,h_10,w_10"),
    ("w_10,h_10,g_se:0.25:3.50", "g_southeast:0.25:3.5,h_10,w_10"),
    # No offset is the bare direction: one variant, one spelling.
    ("w_10,h_10,g_n:0:0", "g_north,h_10,w_10"),
    ("w_10,h_10,g_center:-0:0.0001", "h_10,w_10"),
    # Without a box nothing is placed, so the gravity is dropped as a bare one is.
    ("w_10,g_north:10:5", "w_10"),
    ("crop_50:50:nw:10:10", "crop_50:50:northwest:10:10"),
])
def test_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical
    assert serialize(parse(canonical).options) == canonical


@pytest.mark.parametrize("segment", [
    "w_10,h_10,g_north:10",  # both offsets or none
    "w_10,h_10,g_north:10:5:1",
    "w_10,h_10,g_attention:1:1",  # smart crops and focal points take none
    "w_10,h_10,g_north:1e2:0",
    "w_10,h_10,g_north:100001:0",
    "w_10,h_10,g_north:--1:0",
    "crop_50:50:north:5",
])
def test_malformed_offsets_are_400s(segment: str) -> None:
    with pytest.raises(InvalidOptions, match="DIR"):
        parse(segment)


@pytest.mark.parametrize(("crop", "region"), [
    # imgproxy's calcPosition: the base placement, then the offset inward from the named edge.
    (CropBox(50, 50, ShiftedDirection("southeast", 10, 5)), Region(41, 45, 50, 50)),
    (CropBox(50, 50, ShiftedDirection("northwest", 10, 5)), Region(10, 5, 50, 50)),
    # From the centre: right and down; below 1, a share of the image's side (rounded to even).
    (CropBox(50, 50, ShiftedDirection("center", -0.1, 0.2)), Region(16, 46, 50, 50)),
    # Never past an edge.
    (CropBox(50, 50, ShiftedDirection("north", 1000, -3)), Region(51, 0, 50, 50)),
])
def test_a_gravity_crop_moves_by_the_offsets(crop: CropBox, region: Region) -> None:
    assert place_crop(crop, 101, 100) == region


def coordinates() -> bytes:
    """256x256: red is the column, green the row, so any pixel says where it came from."""
    x = pyvips.Image.xyz(256, 256)
    return x.bandjoin(0).cast("uchar").copy(interpretation="srgb").pngsave_buffer()


def origin_of(segment: str) -> tuple[int, int]:
    """The source pixel the output's top-left pixel came from."""
    out = made(coordinates(), segment)
    red, green, *_ = out(0, 0)
    return round(red), round(green)


@pytest.mark.parametrize(("segment", "corner"), [
    # A 256x100 box of the 256x256 image: 156 rows to spare, none across.
    ("w_256,h_100,g_north", (0, 0)),
    ("w_256,h_100,g_north:0:7", (0, 7)),
    ("w_256,h_100,g_south:0:7", (0, 149)),  # 156 - 7, up from the bottom edge
    ("w_256,h_100,g_center:0:-10", (0, 68)),  # 78 - 10
    ("w_256,h_100,g_north:0:0.1", (0, 26)),  # a tenth of 256 rows, rounded
    ("w_256,h_100,g_north:0:500", (0, 156)),  # held at the edge
    ("w_256,h_100,g_south:0:500", (0, 0)),
    ("w_128,h_50,dpr_2,g_north:0:7", (0, 14)),  # px offsets are CSS px
    # Across: a 100x256 box.
    ("w_100,h_256,g_west:9:0", (9, 0)),
    ("w_100,h_256,g_east:9:0", (147, 0)),
    ("w_100,h_256,g_northeast:9:3", (147, 0)),
])
def test_the_cover_crop_moves_by_the_offsets(segment: str, corner: tuple[int, int]) -> None:
    assert origin_of(segment) == corner


def rows(out: pyvips.Image) -> list[bool]:
    """Per row of the middle column: is it the image (red) rather than the padding (blue)."""
    return [out(out.width // 2, y)[0] > 128 for y in range(out.height)]


@pytest.mark.parametrize(("gravity", "first", "last"), [
    ("north", 0, 49),
    ("north:0:10", 10, 59),
    ("south:0:10", 40, 89),
    ("center:0:-5", 20, 69),
    ("north:0:80", 50, 99),  # the image stays inside the box
])
def test_padding_places_the_image_by_the_offsets(gravity: str, first: int, last: int) -> None:
    red = (pyvips.Image.black(100, 50) + [255, 0, 0]).cast("uchar").copy(interpretation="srgb")
    out = made(red.pngsave_buffer(), f"s_100x100,fit_contain,extend,bg_0000ff,g_{gravity}")
    inside = rows(out)
    assert inside.index(True) == first
    assert len(inside) - 1 - inside[::-1].index(True) == last


@pytest.mark.parametrize(("path", "tokens"), [
    ("/rs:fill:10:10/g:no:10:-5/plain/a.jpg", "g_north:10:-5,h_10,w_10"),
    ("/rs:fill:10:10/g:ce:0:0/plain/a.jpg", "h_10,w_10"),
    ("/rs:fill:10:10/g:no:1e2:-0/plain/a.jpg", "g_north:100:0,h_10,w_10"),
    # imgproxy's smart crop ignores offsets.
    ("/rs:fill:10:10/g:sm:10:5/plain/a.jpg", "g_attention,h_10,w_10"),
    ("/rs:fit:10:10/ex:1:so:0:10/plain/a.jpg", "extend,fit_contain,g_south:0:10,h_10,w_10"),
    ("/c:50:50:nowe:0.1:2/plain/a.jpg", "crop_50:50:northwest:0.1:2"),
])
def test_imgproxy_offsets(path: str, tokens: str) -> None:
    assert serialize(parse(translate(path).tokens).options) == tokens
