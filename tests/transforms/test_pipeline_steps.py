"""Geometry and pipeline steps on synthetic images: fits, gravity, focal point, rotation, region
crops, trim, enlarge and dpr caps, colour and bit depth, and the deadline between steps."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import pyvips

from origin.errors import InvalidOptions, UpstreamTimeout
from transforms import Limits, pipeline, transform
from transforms.grammar import parse
from transforms.pipeline import PIPELINE, Context, encode, load, run
from transforms.plan import fit_geometry, make_plan
from transforms.probe import probe

RED, BLUE, GREEN = [255, 0, 0], [0, 0, 255], [0, 255, 0]


def halves(width: int = 400, height: int = 200) -> bytes:
    """Left half red, right half blue, as a PNG."""
    left = pyvips.Image.black(width // 2, height) + RED
    right = pyvips.Image.black(width - width // 2, height) + BLUE
    return left.join(right, "horizontal").cast("uchar").copy(interpretation="srgb").pngsave_buffer()


def run_spec(data: bytes, spec: str, fmt: str = "png", max_dim: int = 8192) -> pyvips.Image:
    options = parse(spec, max_dim=max_dim).options
    result = transform(data, options, fmt, Limits(max_dim=max_dim),
                       deadline=time.monotonic() + 30)
    return pyvips.Image.new_from_buffer(result.body, "")


def colour_at(image: pyvips.Image, x: int, y: int) -> list[int]:
    return [round(v) for v in image(x, y)[:3]]


@pytest.mark.parametrize(("fit", "size"), [
    ("cover", (100, 100)), ("contain", (100, 100)), ("fill", (100, 100)),
    ("inside", (100, 50)), ("outside", (200, 100)),
])
def test_fit_sizes(fit: str, size: tuple[int, int]) -> None:
    image = run_spec(halves(), f"w_100,h_100,fit_{fit}")
    assert (image.width, image.height) == size


def test_cover_centre_keeps_both_halves() -> None:
    image = run_spec(halves(), "w_100,h_100")
    assert colour_at(image, 5, 50) == RED and colour_at(image, 95, 50) == BLUE


def test_contain_pads_transparent_in_png_and_white_in_jpeg() -> None:
    png = run_spec(halves(), "w_100,h_100,fit_contain")
    assert png.hasalpha() and png(50, 5)[3] == 0 and png(50, 50)[3] == 255
    jpeg = run_spec(halves(), "w_100,h_100,fit_contain", "jpeg")
    assert all(v > 245 for v in jpeg(50, 5)[:3])
    padded = run_spec(halves(), "w_100,h_100,fit_contain,bg_00ff00", "jpeg")
    assert padded(50, 5)[1] > 240 and padded(50, 5)[0] < 15


def test_fill_stretches() -> None:
    image = run_spec(halves(), "w_100,h_100,fit_fill")
    assert colour_at(image, 10, 90) == RED and colour_at(image, 90, 10) == BLUE


@pytest.mark.parametrize(("gravity", "colour"), [("west", RED), ("east", BLUE),
                                                  ("fp:0.95:0.5", BLUE), ("fp:0.05:0.5", RED)])
def test_gravity_and_focal_point_pick_the_side(gravity: str, colour: list[int]) -> None:
    image = run_spec(halves(), f"w_50,h_50,g_{gravity}")
    assert (image.width, image.height) == (50, 50)
    assert colour_at(image, 5, 25) == colour and colour_at(image, 45, 25) == colour


def test_rot_90_turns_clockwise_after_orientation() -> None:
    image = run_spec(halves(), "rot_90")
    assert (image.width, image.height) == (200, 400)
    assert colour_at(image, 100, 10) == RED and colour_at(image, 100, 390) == BLUE


def quadrants_jpeg(width: int = 1200, height: int = 800) -> bytes:
    """Red top-left, blue top-right, green bottom-left, black bottom-right, as a JPEG: big
    enough that a near-full-size output decodes without shrink-on-load, in sequence."""
    top = (pyvips.Image.black(width // 2, height // 2) + RED).join(
        pyvips.Image.black(width // 2, height // 2) + BLUE, "horizontal")
    bottom = (pyvips.Image.black(width // 2, height // 2) + GREEN).join(
        pyvips.Image.black(width // 2, height // 2), "horizontal")
    image = top.join(bottom, "vertical").cast("uchar").copy(interpretation="srgb")
    return bytes(image.jpegsave_buffer(Q=95))


@pytest.mark.parametrize(("spec", "top_left"), [
    ("flip", GREEN), ("flop", BLUE), ("rot_90", GREEN), ("rot_180", [0, 0, 0]),
    ("rot_270", BLUE), ("w_1000,flip", GREEN), ("dpr_2,w_550,flop", BLUE),
])
def test_turns_and_mirrors_of_a_jpeg_decoded_in_sequence(spec: str, top_left: list[int]) -> None:
    """They read the image out of order, which a sequential JPEG decode refused (422)."""
    image = run_spec(quadrants_jpeg(), spec, fmt="jpeg")
    assert all(abs(a - b) <= 24 for a, b in zip(colour_at(image, 20, 20), top_left, strict=True))


def test_focal_point_turns_with_the_image() -> None:
    # fp near the left edge of the source is near the top once turned 90 degrees clockwise.
    image = run_spec(halves(), "rot_90,w_100,h_100,g_fp:0.05:0.5")
    assert colour_at(image, 50, 5) == RED and colour_at(image, 50, 95) == RED


def test_region_crop_in_source_pixels() -> None:
    image = run_spec(halves(), "crop_300:0:100:200")
    assert (image.width, image.height) == (100, 200)
    assert colour_at(image, 0, 0) == BLUE and colour_at(image, 99, 199) == BLUE


def test_region_outside_the_source_is_400() -> None:
    with pytest.raises(InvalidOptions):
        run_spec(halves(), "crop_500:0:10:10")


def test_trim_removes_uniform_border() -> None:
    inner = (pyvips.Image.black(100, 50) + GREEN).cast("uchar")
    framed = inner.embed(20, 30, 140, 110, extend="white").copy(interpretation="srgb")
    image = run_spec(framed.pngsave_buffer(), "trim_10")
    assert (image.width, image.height) == (100, 50)
    assert colour_at(image, 0, 0) == GREEN


def test_trim_of_a_uniform_image_keeps_it() -> None:
    blank = (pyvips.Image.black(30, 20) + 255).cast("uchar").pngsave_buffer()
    image = run_spec(blank, "trim_10")
    assert (image.width, image.height) == (30, 20)


@pytest.mark.parametrize("border", [[0, 0, 0], [200, 30, 90], [255, 255, 255]])
def test_trim_takes_the_border_colour_from_the_top_left_pixel(border: list[int]) -> None:
    """As sharp, imgproxy and thumbor trim: any uniform border, not only white (libvips'
    default background)."""
    inner = (pyvips.Image.black(100, 50) + GREEN).cast("uchar")
    framed = inner.embed(20, 30, 140, 110, extend="background", background=border)
    image = run_spec(framed.copy(interpretation="srgb").pngsave_buffer(), "trim_10")
    assert (image.width, image.height) == (100, 50)
    assert colour_at(image, 0, 0) == GREEN and colour_at(image, 99, 49) == GREEN


def _two_borders() -> bytes:
    """A 100x50 green block in a red frame (10 px on each side) whose first row is black: the
    top-left pixel is black, the bottom-right red."""
    inner = (pyvips.Image.black(100, 50) + GREEN).cast("uchar")
    framed = inner.embed(10, 10, 120, 70, extend="background", background=RED)
    framed = framed.insert(pyvips.Image.black(120, 1, bands=3).cast("uchar"), 0, 0)
    return framed.copy(interpretation="srgb").pngsave_buffer()


@pytest.mark.parametrize(("spec", "size"), [
    ("trim_10", (120, 69)),  # black is the border: only the first row goes
    ("trim_10:000000", (120, 69)),
    ("trim_10:southeast", (120, 60)),  # thumbor's bottom-right: the red below the green goes
    ("trim_10:ff0000", (120, 60)),  # imgproxy's colour
])
def test_trim_takes_its_border_from_a_corner_or_a_named_colour(
        spec: str, size: tuple[int, int]) -> None:
    image = run_spec(_two_borders(), spec)
    assert (image.width, image.height) == size
    assert colour_at(image, 60, 30) == GREEN


def test_trim_with_a_colour_of_a_grey_image_compares_its_luma() -> None:
    """Pure red is luma 54: a grey frame of 54 goes, under a black first row that keeps the top
    (the top-left pixel's black would take only that row; red's mean, 85, nothing)."""
    inner = (pyvips.Image.black(40, 20) + 200).cast("uchar")
    framed = inner.embed(6, 4, 52, 28, extend="background", background=[54])
    framed = framed.insert(pyvips.Image.black(52, 1).cast("uchar"), 0, 0)
    image = run_spec(framed.copy(interpretation="b-w").pngsave_buffer(), "trim_5:ff0000")
    assert (image.width, image.height) == (52, 24)


def test_trim_removes_a_transparent_border_whatever_colour_it_hides() -> None:
    inner = (pyvips.Image.black(60, 40) + [0, 0, 0, 255]).cast("uchar")  # opaque black
    hidden = (pyvips.Image.black(100, 80) + [250, 20, 20, 0]).cast("uchar")  # transparent red
    # Transparent pixels of two colours in the border: only the alpha tells them apart.
    hidden = hidden.insert((pyvips.Image.black(10, 10) + [0, 0, 0, 0]).cast("uchar"), 85, 5)
    framed = hidden.insert(inner, 20, 20).copy(interpretation="srgb")
    image = run_spec(framed.pngsave_buffer(), "trim_10")
    assert (image.width, image.height) == (60, 40)


def test_trim_of_a_16_bit_image_uses_the_same_threshold() -> None:
    inner = (pyvips.Image.black(50, 30) + 30000).cast("ushort")
    framed = inner.embed(5, 7, 70, 50, extend="background", background=[1000])
    noisy = framed.insert((pyvips.Image.black(70, 3) + 1000 + 5 * 257).cast("ushort"), 0, 1)
    data = noisy.copy(interpretation="grey16").pngsave_buffer()
    image = run_spec(data, "trim_10")  # rows 5 levels off the border are border at 10
    assert (image.width, image.height) == (50, 30)


@pytest.mark.parametrize("size", [(1, 1), (2, 9), (9, 2)])
def test_trim_of_an_image_smaller_than_3x3_keeps_it(size: tuple[int, int]) -> None:
    tiny = (pyvips.Image.black(*size) + 128).cast("uchar").pngsave_buffer()
    image = run_spec(tiny, "trim_10")
    assert (image.width, image.height) == size


def test_enlarge_off_caps_at_source_size() -> None:
    assert run_spec(halves(), "w_800").width == 400
    box = run_spec(halves(), "w_800,h_800")
    assert (box.width, box.height) == (200, 200)  # the box keeps its ratio, within the source
    big = run_spec(halves(), "w_800,enlarge")
    assert (big.width, big.height) == (800, 400)


def test_dpr_multiplies_and_is_capped() -> None:
    assert run_spec(halves(), "w_100,dpr_2").width == 200
    assert run_spec(halves(), "w_150,dpr_4").width == 400  # source size without enlarge
    capped = run_spec(halves(), "w_300,dpr_4,enlarge", max_dim=1000)
    assert (capped.width, capped.height) == (1000, 500)


@pytest.mark.parametrize("fit", ["cover", "fill", "contain"])
def test_a_box_capped_by_max_dim_keeps_its_aspect_ratio(fit: str) -> None:
    capped = run_spec(halves(), f"s_600x300,dpr_2,enlarge,fit_{fit}", max_dim=1000)
    assert (capped.width, capped.height) == (1000, 500)  # not 1000x600


def test_fit_geometry_never_exceeds_max_dim() -> None:
    options = parse("w_1000,h_10,fit_outside,enlarge,dpr_4", max_dim=1000).options
    geometry = fit_geometry(10, 1000, options, 1000)
    assert max(geometry.resize) <= 1000


def test_sixteen_bit_becomes_eight_bit() -> None:
    deep = (pyvips.Image.black(16, 16) + [60000, 30000, 0]).cast("ushort")
    data = deep.copy(interpretation="rgb16").pngsave_buffer()
    image = run_spec(data, "w_8")
    assert image.format == "uchar"
    assert image(0, 0)[0] > 200 and image(0, 0)[2] < 10


def test_cmyk_without_profile_becomes_srgb() -> None:
    cyan = (pyvips.Image.black(32, 32) + [255, 0, 0, 0]).cast("uchar")
    data = cyan.copy(interpretation="cmyk").jpegsave_buffer()
    image = run_spec(data, "w_16", "jpeg")
    assert image.bands == 3 and image.interpretation == "srgb"
    red, green, blue = image(8, 8)[:3]
    assert red < 100 and green > 120 and blue > 180  # cyan, not inverted


def test_grey_with_alpha_keeps_alpha_in_png_and_flattens_in_jpeg() -> None:
    grey = pyvips.Image.black(20, 20) + 128
    transparent = pyvips.Image.black(20, 20)
    data = grey.bandjoin(transparent).cast("uchar").pngsave_buffer()
    png = run_spec(data, "w_10")
    assert png.hasalpha() and png(5, 5)[-1] == 0
    jpeg = run_spec(data, "w_10", "jpeg")
    assert jpeg.bands in (1, 3) and jpeg(5, 5)[0] > 245  # flattened on white


def test_single_frame_gif_is_a_still() -> None:
    data = (pyvips.Image.black(10, 10) + RED).cast("uchar").gifsave_buffer()
    info = probe(data)
    assert info.pages == 1 and not info.animated
    body = transform(data, parse("w_5").options, "gif", Limits(),
                     deadline=time.monotonic() + 30).body
    image = pyvips.Image.new_from_buffer(body, "", n=-1)
    assert image.get("n-pages") == 1 and image.width == 5


def test_deadline_checked_between_steps() -> None:
    data = halves()
    info = probe(data)
    plan = make_plan(info, parse("w_100").options, "png", Limits())

    def slow_step(ctx: Context) -> None:
        time.sleep(0.3)

    ctx = Context(data=data, plan=plan, deadline=time.monotonic() + 0.2)
    with pytest.raises(UpstreamTimeout):
        run(ctx, (load, slow_step, encode))
    assert ctx.output == b""  # the encode step never ran
    assert PIPELINE[-1] is encode


class _KillAtOnce:
    """The watchdog with its deadline already passed: kills the guarded image as it is armed
    (the real one kills it from its own thread, which a tiny image can outrun)."""

    @contextmanager
    def guard(self, image: pyvips.Image, deadline: float) -> Iterator[None]:
        image.set_kill(True)
        yield


@pytest.mark.parametrize("spec", ["w_100,rot_90", "w_100,flip", "trim_10"])
def test_steps_that_read_every_pixel_early_stop_at_the_deadline(
        spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A turned JPEG is copied to memory and trim reads its pixels inside `load`, not at the
    encoder; both run under the deadline's kill switch, which ends them with a 504."""
    monkeypatch.setattr(pipeline, "WATCHDOG", _KillAtOnce())
    data = pyvips.Image.black(640, 480).cast("uchar").copy(interpretation="b-w").jpegsave_buffer()
    plan = make_plan(probe(data), parse(spec).options, "jpeg", Limits())
    ctx = Context(data=data, plan=plan, deadline=time.monotonic() - 1)
    with pytest.raises(UpstreamTimeout):
        load(ctx)
