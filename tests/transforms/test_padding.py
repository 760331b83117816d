"""`pad` (imgix `pad`, imgproxy `padding`): CSS-shorthand edges in CSS px (times dpr), inside the
requested box when there is one, around the image when there is not; filled like `fit_contain`'s
padding."""

from __future__ import annotations

import time

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import animation
from transforms import Limits, prepare, probe, transform
from transforms.describe import describe
from transforms.grammar import parse, serialize
from transforms.options import Padding

RED = [255, 0, 0]


def solid(width: int = 200, height: int = 100, colour: list[int] = RED) -> bytes:
    image = (pyvips.Image.black(width, height) + colour).cast("uchar")
    return image.copy(interpretation="srgb").pngsave_buffer()


def run(data: bytes, spec: str, fmt: str = "png") -> pyvips.Image:
    body = transform(data, parse(spec).options, fmt, Limits(),
                     deadline=time.monotonic() + 30).body
    return pyvips.Image.new_from_buffer(body, "")


def predicted(data: bytes, spec: str, fmt: str = "png") -> tuple[int, int]:
    plan = prepare(probe(data), parse(spec).options, fmt, Limits())
    output = describe(plan, len(data))["output"]
    return output["width"], output["height"]


# --- grammar --------------------------------------------------------------------------------

@pytest.mark.parametrize(("token", "edges", "canonical"), [
    ("pad_10", (10, 10, 10, 10), "pad_10"),
    ("pad_10:20", (10, 20, 10, 20), "pad_10:20"),
    ("pad_10:20:30", (10, 20, 30, 20), "pad_10:20:30"),
    ("pad_10:20:30:40", (10, 20, 30, 40), "pad_10:20:30:40"),
    ("padding_5:5:5:5", (5, 5, 5, 5), "pad_5"),
    ("pad_5:7:5:7", (5, 7, 5, 7), "pad_5:7"),
    ("pad_5:7:9:7", (5, 7, 9, 7), "pad_5:7:9"),
    ("pad_0:0:0:3", (0, 0, 0, 3), "pad_0:0:0:3"),
])
def test_css_shorthand_in_and_shortest_out(token: str, edges: tuple[int, ...],
                                           canonical: str) -> None:
    options = parse(token).options
    assert options.padding == Padding(*edges)
    assert serialize(options) == canonical


def test_no_padding_is_no_option() -> None:
    assert serialize(parse("pad_0").options) == "_"
    assert serialize(parse("pad_0:0:0:0,w_10").options) == "w_10"


@pytest.mark.parametrize("token", ["pad", "pad_", "pad_1001", "pad_1:2:3:4:5", "pad_1::2",
                                   "pad_-1", "pad_01", "pad_1.5", "pad_a"])
def test_bad_padding_is_400(token: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(token)
    assert token in err.value.detail


# --- geometry and pixels --------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "size"), [
    ("pad_10", (220, 120)),                      # no size asked: around the image
    ("pad_10:20:30:40", (260, 140)),
    ("w_100,pad_10", (100, 60)),                 # inside the width: 80x40 content
    ("w_100,h_100,fit_contain,pad_10", (100, 100)),
    ("w_100,h_100,pad_10", (100, 100)),          # cover: an 80x80 crop inside
    ("w_100,h_100,fit_inside,pad_10", (100, 60)),
    ("w_50,dpr_2,pad_5", (100, 60)),             # edges times dpr, like the sizes
    ("w_400,h_400,pad_10", (120, 120)),          # no enlarge: the content box shrinks to 100
])
def test_output_sizes_and_the_document_agree(spec: str, size: tuple[int, int]) -> None:
    data = solid()
    image = run(data, spec)
    assert (image.width, image.height) == size
    assert predicted(data, spec) == size


def test_edges_are_where_css_puts_them() -> None:
    image = run(solid(), "pad_10:20:30:40,bg_0000ff")
    assert (image.width, image.height) == (260, 140)
    blue, red = [0, 0, 255], RED
    at = {(x, y): [round(v) for v in image(x, y)[:3]] for x, y in
          [(5, 5), (50, 9), (50, 10), (39, 50), (40, 50), (239, 50), (240, 50), (50, 109),
           (50, 110)]}
    assert at[(50, 9)] == blue and at[(50, 10)] == red        # top 10
    assert at[(39, 50)] == blue and at[(40, 50)] == red       # left 40
    assert at[(239, 50)] == red and at[(240, 50)] == blue     # right 20
    assert at[(50, 109)] == red and at[(50, 110)] == blue     # bottom 30
    assert at[(5, 5)] == blue


def test_fill_is_transparent_with_alpha_white_in_jpeg() -> None:
    png = run(solid(), "pad_8")
    assert png.hasalpha() and png(2, 2)[3] == 0 and png(50, 50)[3] == 255
    jpeg = run(solid(), "pad_8", "jpeg")
    assert all(v > 245 for v in jpeg(2, 2)[:3])


def test_trim_then_pad() -> None:
    framed = pyvips.Image.black(120, 80).copy(interpretation="srgb") + [255, 255, 255]
    framed = framed.draw_rect([255, 0, 0], 20, 20, 80, 40, fill=True).cast("uchar")
    image = run(framed.pngsave_buffer(), "trim_10,pad_5,bg_00ff00")
    assert (image.width, image.height) == (90, 50)
    assert [round(v) for v in image(2, 2)[:3]] == [0, 255, 0]
    assert [round(v) for v in image(45, 25)[:3]] == RED


def test_padding_that_leaves_no_room_is_400() -> None:
    with pytest.raises(InvalidOptions, match="padding"):
        run(solid(), "w_100,pad_50")


def test_every_frame_is_padded() -> None:
    frames = [(pyvips.Image.black(30, 20) + [40 * i, 0, 0]).cast("uchar")
              .copy(interpretation="srgb") for i in range(1, 4)]
    body = transform(animation(frames, 50, "gif"), parse("pad_4").options, "gif", Limits(),
                     deadline=time.monotonic() + 30).body
    image = pyvips.Image.new_from_buffer(body, "", n=-1)
    assert image.get("n-pages") == 3 and image.get("page-height") == 28
    assert image.width == 38


def test_padding_cannot_push_the_output_past_the_pixel_limit() -> None:
    data = solid(200, 100)
    limits = Limits(max_pixels=27_000)  # the 20 000-pixel source is within it
    assert transform(data, parse("pad_10").options, "png", limits,
                     deadline=time.monotonic() + 30).body
    with pytest.raises(InvalidOptions, match="padding makes the output 260x160"):
        transform(data, parse("pad_30").options, "png", limits, deadline=time.monotonic() + 30)
