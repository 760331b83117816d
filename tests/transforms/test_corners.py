"""`r_N[:N:N:N]`, `r_0.S` and `r_max`: rounded corners and the inscribed ellipse, their
spellings, and the pixels they cut (filled as `fit_contain`'s padding is), frame by frame."""

from __future__ import annotations

import time

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support import images
from tests.support.images import animation
from transforms import Limits, transform
from transforms.grammar import parse, serialize
from transforms.options import Corners

COLOUR = [200, 100, 50]


def flat(width: int = 100, height: int = 60, alpha: int | None = None) -> bytes:
    return images.flat(COLOUR, width, height, alpha)


run = images.made


def alpha_at(image: pyvips.Image, x: int, y: int) -> int:
    return round(image(x, y)[image.bands - 1])


# --- grammar --------------------------------------------------------------------------------

@pytest.mark.parametrize(("segment", "canonical", "corners"), [
    ("r_12", "r_12", Corners(12, 12, 12, 12)),
    ("radius_12:0", "r_12:0", Corners(12, 0, 12, 0)),
    ("r_1:2:3", "r_1:2:3", Corners(1, 2, 3, 2)),
    ("r_1:2:3:4", "r_1:2:3:4", Corners(1, 2, 3, 4)),
    ("r_5:5:5:5", "r_5", Corners(5, 5, 5, 5)),
    ("r_1:2:1:2", "r_1:2", Corners(1, 2, 1, 2)),
    ("r_max", "r_max", Corners(ellipse=True)),
    ("r_0:0", "_", None),
    ("r_0.2", "r_0.2", Corners(share=0.2)),
    ("r_0.500", "r_0.5", Corners(share=0.5)),
])
def test_spellings(segment: str, canonical: str, corners: Corners | None) -> None:
    options = parse(segment).options
    assert options.corners == corners
    assert serialize(options) == canonical


@pytest.mark.parametrize("token", ["r_1001", "r_-1", "r_1:2:3:4:5", "r_1.5", "r_maximum", "r",
                                   "r_:4", "r_0.0", "r_0.6", "r_.2", "r_0.2:3"])
def test_bad_values_are_400(token: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(token)
    assert token in err.value.detail


# --- pixels ---------------------------------------------------------------------------------

def test_corners_are_transparent_where_the_output_holds_alpha() -> None:
    out = run(flat(), "r_20")
    assert (out.width, out.height, out.bands) == (100, 60, 4)
    for x, y in ((0, 0), (99, 0), (0, 59), (99, 59), (3, 3)):
        assert alpha_at(out, x, y) == 0, (x, y)
    # Inside the arc, along the edges and in the middle: the image itself.
    for x, y in ((50, 0), (0, 30), (10, 10), (50, 30)):
        assert out(x, y) == [*COLOUR, 255], (x, y)
    # The arc is antialiased: some pixels are part covered, and keep their colour.
    partial = [(x, y) for x in range(20) for y in range(20) if 0 < alpha_at(out, x, y) < 255]
    assert partial
    assert all(out(x, y)[:3] == COLOUR for x, y in partial)


def test_corners_are_white_in_a_jpeg_and_the_background_when_asked() -> None:
    white = run(flat(), "r_20", "jpeg")
    assert all(v >= 250 for v in white(1, 1))
    red = run(flat(), "r_20,bg_ff0000")
    assert red.bands == 3 and red(1, 1) == [255, 0, 0]
    half = run(flat(), "r_20,bg_00ff0080")
    assert half(1, 1) == [0, 255, 0, 128]


def test_each_corner_has_its_radius_clockwise_from_the_top_left() -> None:
    out = run(flat(), "r_20:0:10:0")
    assert alpha_at(out, 2, 2) == 0  # top left, 20
    assert alpha_at(out, 97, 2) == 255  # top right, square
    assert alpha_at(out, 98, 58) == 0  # bottom right, 10
    assert alpha_at(out, 94, 54) == 255  # ...whose arc is closer to the corner than 20's
    assert alpha_at(out, 5, 5) == 0 and alpha_at(out, 95, 55) == 255
    assert alpha_at(out, 1, 58) == 255  # bottom left, square


def test_radii_are_css_px_times_dpr_and_at_most_half_the_shorter_side() -> None:
    assert alpha_at(run(flat(), "w_100,r_10"), 5, 5) == 255
    doubled = run(flat(200, 120), "w_100,dpr_2,r_10")
    assert doubled.width == 200 and alpha_at(doubled, 5, 5) == 0
    # 1000 on a 100x60 image is a radius of 30: a pill, the middle of each side kept.
    pill = run(flat(), "r_1000")
    assert alpha_at(pill, 50, 0) == 255 and alpha_at(pill, 1, 30) == 255
    assert alpha_at(pill, 4, 4) == 0 and alpha_at(pill, 20, 3) == 255


def test_a_share_is_of_the_output_shorter_side_whatever_the_dpr() -> None:
    """`r_0.2` on 100x60 is a radius of 12 px, on 200x120 (`dpr_2`) 24 px: a share, not CSS px."""
    out = run(flat(), "r_0.2")
    assert alpha_at(out, 1, 1) == 0 and alpha_at(out, 4, 4) == 255  # 12's arc, not 20's
    assert out(4, 4)[:3] == COLOUR
    assert [alpha_at(out, x, y) for x, y in ((98, 1), (98, 58), (1, 58))] == [0, 0, 0]
    assert identical(out, run(flat(), "r_12"))
    assert not identical(out, run(flat(), "r_11"))
    doubled = run(flat(200, 120), "w_100,dpr_2,r_0.2")
    assert identical(doubled, run(flat(200, 120), "r_24"))
    assert identical(run(flat(), "r_0.5"), run(flat(), "r_1000"))


def identical(a: pyvips.Image, b: pyvips.Image) -> bool:
    return (a.width, a.height, a.bands) == (b.width, b.height, b.bands) and (
        (a.cast("int") - b.cast("int")).abs().max() == 0)


def test_max_is_the_ellipse_inscribed_in_the_image() -> None:
    out = run(flat(), "r_max")
    # Where the ellipse touches each side it covers most of the edge pixel, all a little in.
    for x, y in ((50, 0), (0, 30), (99, 30), (50, 59)):
        assert alpha_at(out, x, y) > 200, (x, y)
    for x, y in ((50, 2), (2, 30), (97, 30), (50, 57), (50, 30)):
        assert alpha_at(out, x, y) == 255, (x, y)
    # (20, 3) lies outside the ellipse, inside a 30 px pill (r_1000 above).
    for x, y in ((0, 0), (99, 59), (20, 3)):
        assert alpha_at(out, x, y) == 0, (x, y)
    square = run(flat(), "s_60x60,r_max")
    assert alpha_at(square, 30, 1) == 255 and alpha_at(square, 6, 6) == 0


def test_a_transparent_image_keeps_its_alpha_inside() -> None:
    out = run(flat(alpha=100), "r_20")
    assert alpha_at(out, 0, 0) == 0 and out(50, 30) == [*COLOUR, 100]


def test_a_grey_output_stays_grey() -> None:
    grey = run(flat(), "gray,r_20,bg_ffffff", "jpeg")
    assert grey.bands == 1 and grey(1, 1) == [255]
    with_alpha = run(flat(), "gray,r_20")
    assert with_alpha.bands == 2 and with_alpha(1, 1)[1] == 0


def test_padding_stays_square_around_the_rounded_image() -> None:
    out = run(flat(), "pad_10,r_20,bg_00ff00")
    assert (out.width, out.height) == (120, 80)
    assert out(0, 0) == [0, 255, 0] and out(11, 11) == [0, 255, 0]
    assert out(60, 10) == COLOUR


def test_every_frame_of_an_animation_is_cut() -> None:
    frames = [(pyvips.Image.black(40, 30) + c).cast("uchar").copy(interpretation="srgb")
              for c in ([255, 0, 0], [0, 0, 255])]
    data = animation(frames, 100, "webp")
    body = transform(data, parse("r_10").options, "webp", Limits(),
                     deadline=time.monotonic() + 30).body
    out = pyvips.Image.new_from_buffer(body, "", n=-1)
    assert out.get("page-height") == 30 and out.height == 60
    for top in (0, 30):
        assert alpha_at(out, 0, top) == 0 and alpha_at(out, 20, top + 15) == 255
