"""`px` (pixelate), `bri`, `con`, `sat` and `rgb`: the grammar's spellings and exact pixels."""

from __future__ import annotations

import time

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import animation
from transforms import Limits, transform
from transforms.grammar import parse, serialize

COLOUR = [200, 100, 50]


def flat(colour: list[int] = COLOUR, bands_alpha: int | None = None) -> bytes:
    image = (pyvips.Image.black(40, 30) + colour).cast("uchar").copy(interpretation="srgb")
    if bands_alpha is not None:
        image = image.bandjoin(bands_alpha)
    return image.pngsave_buffer()


def pattern(width: int = 96, height: int = 64) -> pyvips.Image:
    """Every pixel different from its neighbours: (7x + 13y) mod 256, three equal bands."""
    xyz = pyvips.Image.xyz(width, height)
    grey = ((xyz[0] * 7 + xyz[1] * 13) % 256).cast("uchar")
    return grey.bandjoin([grey, grey]).copy(interpretation="srgb")


def run(data: bytes, spec: str, fmt: str = "png") -> pyvips.Image:
    body = transform(data, parse(spec).options, fmt, Limits(),
                     deadline=time.monotonic() + 30).body
    return pyvips.Image.new_from_buffer(body, "")


# --- grammar --------------------------------------------------------------------------------

def test_spellings() -> None:
    options = parse("brightness_-20,contrast_35,saturation_-100,pixelate_8").options
    assert (options.brightness, options.contrast, options.saturation, options.pixelate) == (
        -20, 35, -100, 8)
    assert serialize(options) == "bri_-20,con_35,px_8,sat_-100"
    assert serialize(parse("bri_0,con_0,sat_0").options) == "_"


@pytest.mark.parametrize(("segment", "canonical"), [
    ("rgb_10:0:-5", "rgb_10:0:-5"),
    ("rgb_0:0:0", "_"),
    ("rgb_-7:-7:-7", "bri_-7"),  # one shift for every band is a brightness
    ("rgb_30:30:30,bri_20", "bri_50"),
    ("rgb_30:30:30,bri_80", "bri_80,rgb_30:30:30"),  # past bri's range: kept apart
    ("gray,rgb_10:0:0", "gray,rgb_10:0:0"),
])
def test_rgb_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("token", ["bri_-0", "bri_101", "bri_-101", "con_+5", "sat_--5",
                                   "sat_05", "con_1.5", "bri", "px_1", "px_257", "px_-4",
                                   "rgb_1:2", "rgb_1:2:3:4", "rgb_101:0:0", "rgb_-0:0:1",
                                   "rgb_a:b:c", "rgb"])
def test_bad_values_are_400(token: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(token)
    assert token in err.value.detail


def test_saturation_of_a_grey_output_is_dropped() -> None:
    assert serialize(parse("gray,sat_50").options) == "gray"


# --- pixels ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "expected"), [
    ("bri_20", [251, 151, 101]),          # + 0.2 x 255
    ("bri_-100", [0, 0, 0]),
    ("con_-50", [164, 114, 89]),          # half the distance from 128
    ("con_-100", [128, 128, 128]),
    ("con_50", [255, 58, 0]),             # 2.5 x the distance, clipped
    ("sat_-100", [118, 118, 118]),        # Rec. 709 luma of the colour
    ("sat_100", [255, 82, 0]),            # twice the distance from it, clipped
    ("sat_-50,con_20,bri_10", [203, 123, 83]),  # in that order
    ("rgb_10:-20:100", [226, 49, 255]),   # 25.5, -51 and 255 added, rounded, clipped
    ("bri_10,rgb_0:0:-40", [226, 126, 0]),  # after the brightness
    ("con_-100,rgb_0:10:0", [128, 154, 128]),
])
def test_adjustments_are_exact(spec: str, expected: list[int]) -> None:
    image = run(flat(), spec)
    assert [round(v) for v in image(5, 5)] == expected


def test_alpha_is_left_alone_and_grey_stays_grey() -> None:
    image = run(flat(bands_alpha=90), "bri_20,sat_-100")
    assert image.bands == 4 and round(image(3, 3)[3]) == 90
    grey = run(flat(), "gray,con_-100")
    assert grey.bands == 1 and round(grey(3, 3)[0]) == 128
    tinted = run(flat(bands_alpha=90), "gray,con_-100,rgb_0:0:20")
    assert [round(v) for v in tinted(3, 3)] == [128, 128, 179, 90]  # a grey output turns colour


def test_pixelate_fills_each_block_with_its_mean() -> None:
    source = pattern()
    image = run(source.pngsave_buffer(), "px_8")
    assert (image.width, image.height) == (96, 64)
    for bx in range(0, 96, 8):
        for by in range(0, 64, 8):
            block = image.crop(bx, by, 8, 8)[0]
            mean = source.crop(bx, by, 8, 8)[0].avg()
            assert block.min() == block.max(), (bx, by)
            assert abs(block.min() - mean) <= 1, (bx, by)


def test_pixelate_edge_blocks_and_dpr() -> None:
    source = pattern(100, 70)  # not a multiple of the block
    image = run(source.pngsave_buffer(), "w_50,dpr_2,px_8")  # 16 output px per block
    assert (image.width, image.height) == (100, 70)
    corner = image.crop(96, 64, 4, 6)[0]  # the last, partial block
    assert corner.min() == corner.max()
    first = image.crop(0, 0, 16, 16)[0]
    assert first.min() == first.max()
    assert image.crop(0, 0, 17, 1)[0].max() != image.crop(0, 0, 17, 1)[0].min()


def test_pixelate_every_frame_of_an_animation() -> None:
    frames = [(pattern(48, 32) + 40 * i).cast("uchar") for i in range(3)]  # three different
    body = transform(animation(frames, 80, "gif"), parse("px_16").options, "gif", Limits(),
                     deadline=time.monotonic() + 30).body
    image = pyvips.Image.new_from_buffer(body, "", n=-1)
    assert image.get("n-pages") == 3
    for page in range(3):
        block = image.crop(16, page * 32 + 16, 16, 16)[0]
        assert block.min() == block.max(), page
