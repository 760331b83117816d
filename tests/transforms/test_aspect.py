"""`ar_W:H`: with one side given the grammar writes the other (one variant with the explicit
URL); alone it cuts (`fit_cover`, by gravity) or pads (`fit_contain`) the source to the ratio."""

from __future__ import annotations

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import made
from transforms.grammar import parse, serialize
from transforms.plan import fit_geometry


@pytest.mark.parametrize(("segment", "same_as"), [
    ("w_400,ar_16:9", "w_400,h_225"),
    ("h_300,ar_4:3", "w_400,h_300"),
    ("width_1000,aspect_16:9", "w_1000,h_563"),   # 562.5, rounded half up
    ("w_400,ar_1.5", "w_400,h_267"),
    ("w_400,ar_2.35:1,fit_contain", "w_400,h_170,fit_contain"),
    ("h_90,ar_1:1,dpr_2", "s_90x90,dpr_2"),
    ("ar_16:9", "ar_1.778"),
    ("aspectratio_1.7778", "ar_1.778"),
    ("ar_1,fit_contain,extend,enlarge", "ar_1,fit_contain"),
    ("ar_1,dpr_3", "ar_1"),
])
def test_one_side_and_a_ratio_is_the_explicit_box(segment: str, same_as: str) -> None:
    options = parse(segment).options
    assert options == parse(same_as).options
    assert serialize(options) == serialize(parse(same_as).options)


@pytest.mark.parametrize(("segment", "says"), [
    ("w_400,h_300,ar_16:9", "both w and h"),
    ("s_400x300,ar_1", "both w and h"),
    ("ar_0", "W:H"), ("ar_16:0", "W:H"), ("ar_16:9:1", "W:H"), ("ar_-1", "W:H"),
    ("ar_1:101", "between 1:100 and 100:1"), ("ar_100.5", "W:H"),
    ("w_8000,ar_1:10", "h_80000"),
    ("ar_16:9,fit_fill", "fit_fill"), ("ar_1,fit_inside", "fit_inside"),
    ("ar", "needs a value"), ("w_10,ar_16:9,ar_1", "duplicate"),
])
def test_bad_ratios_and_combinations_are_a_400_naming_them(segment: str, says: str) -> None:
    with pytest.raises(InvalidOptions, match=says):
        parse(segment)


@pytest.mark.parametrize(("segment", "source", "box", "mode"), [
    ("ar_16:9", (4000, 3000), (4000, 2250), "crop"),   # wider than the source: cut its height
    ("ar_16:9", (3000, 4000), (3000, 1687), "crop"),  # 3000 / 1.778, the canonical ratio
    ("ar_1", (640, 427), (427, 427), "crop"),          # narrower: cut its width
    ("ar_1,fit_contain", (640, 427), (640, 640), "pad"),
    ("ar_16:9,fit_contain", (300, 400), (711, 400), "pad"),
])
def test_alone_the_ratio_cuts_or_pads_the_source_at_its_own_scale(
        segment: str, source: tuple[int, int], box: tuple[int, int], mode: str) -> None:
    geometry = fit_geometry(*source, parse(segment).options, 8192)
    assert geometry.box == box and geometry.mode == mode
    assert geometry.resize == source  # never scaled


def _bands() -> bytes:
    """80x40: the top quarter red, the rest blue."""
    red = pyvips.Image.black(80, 10) + [255, 0, 0]
    blue = pyvips.Image.black(80, 30) + [0, 0, 255]
    return red.join(blue, "vertical").cast("uchar").copy(interpretation="srgb").pngsave_buffer()


def test_the_cut_follows_the_gravity() -> None:
    top = made(_bands(), "ar_8:1,g_north")
    assert (top.width, top.height) == (80, 10)
    assert top(40, 5)[:3] == [255.0, 0.0, 0.0]
    bottom = made(_bands(), "ar_8:1,g_south")
    assert bottom(40, 5)[:3] == [0.0, 0.0, 255.0]


def test_padding_out_to_the_ratio_keeps_every_pixel_and_fills_with_bg() -> None:
    image = made(_bands(), "ar_1,fit_contain,bg_00ff00", "png")
    assert (image.width, image.height) == (80, 80)
    assert image(40, 2)[:3] == [0.0, 255.0, 0.0]     # the band added above
    assert image(40, 25)[:3] == [255.0, 0.0, 0.0]    # the red top, now 20 px down
    assert image(40, 78)[:3] == [0.0, 255.0, 0.0]
