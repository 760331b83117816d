"""`threshold_T` (sharp's threshold) and `equalize` (thumbor's equalize()): spellings, and the
pixels they make."""

from __future__ import annotations

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import animation, encoded, made
from transforms.grammar import parse, serialize


@pytest.mark.parametrize(("segment", "canonical"), [
    ("threshold_128", "threshold_128"),
    ("threshold_1,gray", "threshold_1"),  # the threshold greys anyway
    ("threshold_200,sat_50", "threshold_200"),
    ("equalise", "equalize"),
    ("equalize_1,w_10", "equalize,w_10"),
    ("equalize_0", "_"),
])
def test_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("token", ["threshold_0", "threshold_256", "threshold", "threshold_1.5",
                                   "equalize_2"])
def test_bad_values_are_400(token: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(token)
    assert token in err.value.detail


def ramp(alpha: pyvips.Image | None = None) -> bytes:
    """A 256x4 grey ramp 0..255 as sRGB, with an alpha band if given."""
    grey = pyvips.Image.xyz(256, 4)[0].cast("uchar")
    image = grey.bandjoin([grey, grey]).copy(interpretation="srgb")
    if alpha is not None:
        image = image.bandjoin(alpha)
    return image.pngsave_buffer()


def test_threshold_cuts_grey_at_the_level() -> None:
    out = made(ramp(), "threshold_100")
    assert out.bands == 1 and out.interpretation == "b-w"
    row = [int(v) for v in out.tolist()[0]]
    assert row == [0] * 100 + [255] * 156


def test_threshold_measures_colour_by_its_grey() -> None:
    data = (pyvips.Image.black(4, 4) + [0, 0, 255]).cast("uchar").copy(
        interpretation="srgb").pngsave_buffer()
    grey = made(data, "gray")(1, 1)[0]  # a saturated blue is a dark grey
    assert made(data, f"threshold_{int(grey)}")(1, 1) == [255.0]
    assert made(data, f"threshold_{int(grey) + 2}")(1, 1) == [0.0]


def test_threshold_cuts_alpha_too_as_sharp_does() -> None:
    alpha = pyvips.Image.xyz(256, 4)[0].cast("uchar")  # transparent to opaque, left to right
    out = made(ramp(alpha), "threshold_128")
    assert out.bands == 2
    assert [int(v) for v in out[1].tolist()[0]] == [0] * 128 + [255] * 128


def test_threshold_of_a_16_bit_image_is_at_the_same_share() -> None:
    grey = (pyvips.Image.xyz(256, 4)[0] * 257).cast("ushort")
    data = grey.copy(interpretation="grey16").pngsave_buffer()
    row = [int(v) for v in made(data, "threshold_100").tolist()[0]]
    assert row == [0] * 100 + [255] * 156


def levels(counts: list[tuple[int, int]]) -> pyvips.Image:
    """A one-row grey image: `count` pixels of each `value`."""
    row = [value for value, count in counts for _ in range(count)]
    return pyvips.Image.new_from_list([row]).cast("uchar")


def test_equalize_maps_each_level_to_its_share_of_the_pixels_above_the_darkest() -> None:
    # 8 pixels at 10, 4 at 100, 4 at 200: cdf 8, 12, 16, the darkest level's 8 mapped to 0.
    grey = levels([(10, 8), (100, 4), (200, 4)])
    out = made(grey.copy(interpretation="b-w").pngsave_buffer(), "equalize")
    assert sorted({int(v) for v in out.tolist()[0]}) == [0, 127, 255]  # 255 * 4/8, cut down


def test_equalize_works_band_by_band() -> None:
    red = levels([(10, 8), (100, 8)])
    green = levels([(50, 4), (60, 12)])
    blue = levels([(0, 12), (255, 4)])
    data = red.bandjoin([green, blue]).copy(interpretation="srgb").pngsave_buffer()
    out = made(data, "equalize")
    first, last = out(0, 0), out(15, 0)
    assert first == [0.0, 0.0, 0.0]
    assert last == [255.0, 255.0, 255.0]
    assert out(4, 0) == [0.0, 255.0, 0.0]  # green's 60 is its top; red and blue still at 0


def test_equalize_keeps_alpha_and_counts_every_frame() -> None:
    dark = (pyvips.Image.black(4, 4) + [20, 20, 20]).cast("uchar").copy(interpretation="srgb")
    light = (pyvips.Image.black(4, 4) + [90, 90, 90]).cast("uchar").copy(interpretation="srgb")
    data = animation([dark, light], 100, "gif")
    out = pyvips.Image.new_from_buffer(encoded(data, "equalize,fmt_gif", "gif"), "", n=-1)
    assert out.get("page-height") == 4
    assert out(0, 0)[:3] == [0.0, 0.0, 0.0] and out(0, 4)[:3] == [255.0, 255.0, 255.0]
    half = (pyvips.Image.black(4, 4) + [20, 40, 60, 77]).cast("uchar").copy(
        interpretation="srgb").pngsave_buffer()
    assert made(half, "equalize")(1, 1)[3] == 77


def test_a_flat_image_is_left_as_it_is() -> None:
    data = (pyvips.Image.black(4, 4) + [30, 60, 90]).cast("uchar").copy(
        interpretation="srgb").pngsave_buffer()
    assert made(data, "equalize")(1, 1) == [30.0, 60.0, 90.0]
