"""`tint_RRGGBB` (sharp's tint) and `neg` (the negative): spellings, the tint's table, and the
pixels they make, alpha and animation frames untouched."""

from __future__ import annotations

import time

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import animation, flat, made
from transforms import Limits, transform
from transforms.grammar import parse, serialize
from transforms.pipeline import tint_table


def image(colour: list[int], alpha: int | None = None) -> bytes:
    return flat(colour, alpha=alpha)


run = made


@pytest.mark.parametrize(("segment", "canonical"), [
    ("tint_00DC82", "tint_00dc82"),
    ("negate", "neg"),
    ("invert,w_10", "neg,w_10"),
    ("neg_0", "_"),
    ("gray,tint_ff0000", "gray,tint_ff0000"),
])
def test_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("token", ["tint_fff", "tint_ff000080", "tint_red", "tint", "neg_2"])
def test_bad_values_are_400(token: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(token)
    assert token in err.value.detail


def test_the_tint_table_keeps_black_and_white_and_colours_the_mid_tones() -> None:
    table = tint_table("00dc82")
    assert (table.width, table.height, table.bands, table.format) == (256, 1, 3, "uchar")
    assert table(0, 0) == [0, 0, 0] and table(255, 0) == [255, 255, 255]
    red, green, blue = table(128, 0)
    assert green > blue > red  # the tint's hue, at the grey level's lightness
    lightness = table.colourspace("lab", source_space="srgb")[0]
    grey = pyvips.Image.identity().colourspace("lab", source_space="b-w")[0]
    # The same lightness, but where the tint's chroma leaves the sRGB gamut and is clipped.
    assert (lightness - grey).abs().max() < 3
    assert (lightness - grey).abs().avg() < 1


def test_a_tint_is_the_grey_image_through_the_table() -> None:
    data = image([200, 100, 50])
    out = run(data, "tint_00dc82")
    level = round(run(data, "gray")(0, 0)[0])
    assert out.bands == 3 and out(5, 5) == tint_table("00dc82")(level, 0)
    # A grey output is tinted all the same (it becomes colour).
    assert run(data, "gray,tint_00dc82", "jpeg").bands == 3


def test_negative_inverts_the_colours_and_keeps_alpha() -> None:
    assert run(image([200, 100, 50]), "neg")(3, 3) == [55, 155, 205]
    assert run(image([200, 100, 50], alpha=90), "neg")(3, 3) == [55, 155, 205, 90]
    tinted = run(image([200, 100, 50], alpha=90), "tint_00dc82")
    assert tinted.bands == 4 and tinted(3, 3)[3] == 90


def test_the_negative_comes_after_the_adjustments_and_the_tint() -> None:
    # bri_20 adds 51 before the negative: 255 - (200 + 51) = 4.
    assert run(image([200, 100, 50]), "bri_20,neg")(0, 0)[0] == 4
    tinted = run(image([200, 100, 50]), "tint_00dc82")(0, 0)
    assert run(image([200, 100, 50]), "tint_00dc82,neg")(0, 0) == [255 - v for v in tinted]


def test_every_frame_is_changed() -> None:
    frames = [(pyvips.Image.black(20, 10) + c).cast("uchar").copy(interpretation="srgb")
              for c in ([255, 0, 0], [0, 0, 255])]
    body = transform(animation(frames, 100, "gif"), parse("neg").options, "gif", Limits(),
                     deadline=time.monotonic() + 30).body
    out = pyvips.Image.new_from_buffer(body, "", n=-1)
    assert out.height == 20
    assert out(5, 5)[:3] == [0, 255, 255] and out(5, 15)[:3] == [255, 255, 0]


# --- sharp's normalise and median ---------------------------------------------------------------

def test_normalize_and_median_spellings() -> None:
    assert serialize(parse("normalise,median_5").options) == "median_5,norm"
    assert serialize(parse("normalize_0").options) == "_"
    for token in ("median_4", "median_1", "median_13", "median"):
        with pytest.raises(InvalidOptions) as err:
            parse(token)
        assert token in err.value.detail


def test_normalize_stretches_lightness_over_the_whole_range() -> None:
    # A grey ramp from 60 to 180: stretched, its ends reach (about) black and white.
    ramp = (pyvips.Image.xyz(256, 8)[0] * 120 / 255 + 60).cast("uchar")
    data = ramp.bandjoin([ramp, ramp]).copy(interpretation="srgb").pngsave_buffer()
    plain, stretched = made(data, "_"), made(data, "norm")
    assert plain(0, 0)[0] == 60 and plain(255, 0)[0] == 180
    assert stretched(1, 0)[0] < 10 and stretched(254, 0)[0] > 245
    assert stretched(0, 0)[0] <= stretched(128, 0)[0] <= stretched(255, 0)[0]
    # Alpha is kept, and a flat image (no range to stretch) is left as it is.
    assert made(flat([200, 100, 50], alpha=90), "norm")(3, 3) == [200, 100, 50, 90]


def test_median_removes_a_speck() -> None:
    field = (pyvips.Image.black(20, 20) + [40, 80, 120]).cast("uchar").copy(
        interpretation="srgb")
    speck = field.draw_rect([255, 255, 255], 9, 9, 1, 1)
    data = speck.pngsave_buffer()
    assert made(data, "_")(9, 9) == [255, 255, 255]
    assert made(data, "median_3")(9, 9) == [40, 80, 120]


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (4, 9)])
def test_median_and_normalize_take_images_smaller_than_the_window(size: tuple[int, int]) -> None:
    # libvips' median refuses a window larger than the image (found by the hostile corpus).
    data = flat([10, 200, 90], *size)
    out = made(data, "median_9,norm")
    assert (out.width, out.height) == size
    assert out(0, 0) == [10, 200, 90]
