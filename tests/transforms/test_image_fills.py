"""`bg_blur` and `bg_auto`: `fit_contain`'s padding made of the image itself, blurred and
stretched to the box, or in its mean colour (thumbor's fill(blur) and fill(auto); `make parity`
compares both with thumbor)."""

from __future__ import annotations

import time

import pytest
import pyvips

from origin.errors import InvalidOptions
from transforms import Limits, prepare, probe, render
from transforms.grammar import parse, serialize


def _halves(width: int = 200, height: int = 100) -> bytes:
    """Red left half, blue right half."""
    red = pyvips.Image.black(width // 2, height) + [255, 0, 0]
    blue = pyvips.Image.black(width // 2, height) + [0, 0, 255]
    return red.join(blue, "horizontal").cast("uchar").copy(interpretation="srgb").pngsave_buffer()


def _render(options: str, data: bytes, fmt: str = "png") -> pyvips.Image:
    plan = prepare(probe(data), parse(options).options, fmt, Limits(), {})
    result = render(data, plan, Limits(), deadline=time.monotonic() + 30)
    return pyvips.Image.new_from_buffer(result.body, "", **({"n": -1} if fmt == "gif" else {}))


def test_the_grammar() -> None:
    assert serialize(parse("s_100x100,fit_contain,background_blur").options) == (
        "bg_blur,fit_contain,h_100,w_100")
    assert serialize(parse("bg_auto,w_5").options) == "bg_auto,w_5"
    for bad in ("bg_BLUR", "bg_blurry", "bg_blur:5", "bg_Auto", "bg_median"):
        with pytest.raises(InvalidOptions):
            parse(bad)


def test_the_padding_is_the_image_blurred_and_stretched() -> None:
    data = _halves()
    # The image 100x50 at rows 25-74.
    blurred = _render("s_100x100,fit_contain,extend,bg_blur", data)
    plain = _render("s_100x100,fit_contain,extend,bg_ffffff", data)
    assert (blurred.width, blurred.height, blurred.bands) == (100, 100, 3)
    # The image itself as without the blur, pixel for pixel.
    assert (blurred.crop(0, 25, 100, 50) - plain.crop(0, 25, 100, 50)).abs().max() == 0
    # Above and below it: red at the left, blue at the right, both mixed in the middle (the
    # blur's reach, 50 px on a 100 px wide image, spans the whole width).
    for y in (3, 96):
        left, middle, right = (blurred.getpoint(x, y) for x in (2, 50, 97))
        assert left[0] > 150 > left[2] and right[2] > 150 > right[0], (y, left, right)
        assert 60 < middle[0] < 200 and 60 < middle[2] < 200, (y, middle)
    # Not white anywhere in the padding.
    assert blurred.crop(0, 0, 100, 25).extract_band(1).max() < 50


def test_transparency_stays_in_the_image_and_the_padding_keeps_alpha() -> None:
    opaque = pyvips.Image.black(100, 50) + [0, 200, 0, 255]
    hole = pyvips.Image.black(20, 20) + [0, 0, 0, 0]
    data = opaque.insert(hole, 40, 15).cast("uchar").copy(interpretation="srgb").pngsave_buffer()
    image = _render("s_100x100,fit_contain,extend,bg_blur", data)  # rows 25-74 are the image
    assert image.bands == 4
    assert image.getpoint(50, 50)[3] == 0  # the image's own hole is not filled
    assert image.getpoint(50, 5)[3] > 200 and image.getpoint(50, 5)[1] > 150  # green padding


def test_every_frame_of_an_animation_is_padded() -> None:
    frames = [(pyvips.Image.black(40, 20) + colour).cast("uchar")
              for colour in ([255, 0, 0], [0, 0, 255])]
    strip = frames[0].join(frames[1], "vertical").copy(interpretation="srgb")
    strip.set_type(pyvips.GValue.gint_type, "page-height", 20)
    data = strip.gifsave_buffer()
    image = _render("s_40x40,fit_contain,extend,bg_blur", data, "gif")
    assert image.get("n-pages") == 2 and (image.width, image.get("page-height")) == (40, 40)
    first, second = image.getpoint(20, 2), image.getpoint(20, 42)
    assert first[0] > 150 > first[2] and second[2] > 150 > second[0]


def test_auto_pads_with_the_mean_colour_rounded_down() -> None:
    data = _halves()  # half 255,0,0 and half 0,0,255: the mean is 127.5, 0, 127.5
    image = _render("s_100x100,fit_contain,extend,bg_auto", data)
    plain = _render("s_100x100,fit_contain,extend,bg_ffffff", data)
    assert (image.width, image.height, image.bands) == (100, 100, 3)
    for x, y in ((0, 0), (99, 24), (50, 80), (99, 99)):
        assert image.getpoint(x, y) == [127, 0, 127], (x, y)
    assert (image.crop(0, 25, 100, 50) - plain.crop(0, 25, 100, 50)).abs().max() == 0


def test_auto_ignores_alpha_and_pads_opaque() -> None:
    opaque = pyvips.Image.black(100, 50) + [0, 200, 0, 255]
    hole = pyvips.Image.black(50, 50) + [200, 0, 0, 0]  # transparent red counts as red
    data = opaque.insert(hole, 50, 0).cast("uchar").copy(interpretation="srgb").pngsave_buffer()
    image = _render("s_100x100,fit_contain,extend,bg_auto", data)
    assert image.bands == 4
    assert image.getpoint(10, 5) == [100, 100, 0, 255]
    assert image.getpoint(75, 50)[3] == 0  # the image's own transparency stays
