"""`kernel_K` (the resize's kernel) and `gamma_G[:OUT]` (sharp's gamma around the resize):
spellings, and the pixels the resize makes outside libvips' thumbnail."""

from __future__ import annotations

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import animation, encoded, made
from transforms.grammar import parse, serialize
from transforms.options import KERNELS


@pytest.mark.parametrize(("segment", "canonical"), [
    ("w_30,kernel_nearest", "kernel_nearest,w_30"),
    ("w_30,kernel_lanczos3", "w_30"),  # thumbnail's own
    ("kernel_nearest", "_"),  # no resize for it to run
    ("kernel_cubic,crop_0:0:5:5", "crop_0:0:5:5"),
    ("zoom_2,enlarge,kernel_nearest", "enlarge,kernel_nearest,zoom_2"),
    ("ar_2:1,kernel_linear", "ar_2,kernel_linear"),
    ("gamma_2.2,w_30", "gamma_2.2,w_30"),
    ("gamma_2.2:2.2,w_30", "gamma_2.2,w_30"),
    ("gamma_2.20:1.5", "gamma_2.2:1.5"),
    ("gamma_1", "_"),
    ("gamma_1:1", "_"),
    ("gamma_1:3", "gamma_1:3"),  # no resize, but a brighter picture
])
def test_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("token", ["kernel_box", "kernel", "kernel_Nearest", "gamma_0.9",
                                   "gamma_3.5", "gamma_2:0", "gamma_2:", "gamma_:2",
                                   "gamma_2:2:2", "gamma"])
def test_bad_values_are_400(token: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(token)
    assert token in err.value.detail


def checker(cells: int, size: int) -> pyvips.Image:
    """cells x cells squares of `size` px, black and white alternating."""
    xyz = pyvips.Image.xyz(cells * size, cells * size)
    grey = ((xyz[0] / size).floor() + (xyz[1] / size).floor()).remainder(2) * 255
    return grey.bandjoin([grey, grey]).cast("uchar").copy(interpretation="srgb")


def levels(image: pyvips.Image) -> set[int]:
    return {int(v) for row in image.extract_band(0).tolist() for v in row}


def test_nearest_enlarges_pixel_art_into_square_blocks() -> None:
    data = checker(4, 1).pngsave_buffer()  # 4x4 single pixels
    out = made(data, "w_32,enlarge,kernel_nearest")
    assert (out.width, out.height) == (32, 32)
    assert out.crop(0, 0, 8, 8).min() == 0 and out.crop(0, 0, 8, 8).max() == 0
    assert out.crop(8, 0, 8, 8).min() == 255
    assert levels(out) == {0, 255}
    # Checked against the default: lanczos3 rings and blends at the block edges.
    assert len(levels(made(data, "w_32,enlarge"))) > 2


def test_nearest_shrinks_by_picking_pixels_not_averaging_them() -> None:
    data = checker(40, 3).pngsave_buffer()  # 120x120
    assert levels(made(data, "w_17,kernel_nearest")) == {0, 255}
    assert len(levels(made(data, "w_17,kernel_linear"))) > 2


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(("segment", "size"), [
    ("w_37", (37, 37)), ("w_299,h_17,fit_fill,enlarge", (299, 17)), ("h_1", (1, 1)),
    ("w_333,enlarge", (333, 333)), ("w_50,h_20", (50, 20)), ("w_50,h_20,fit_contain", (50, 20)),
])
def test_every_kernel_answers_the_exact_size(kernel: str, segment: str,
                                             size: tuple[int, int]) -> None:
    data = checker(25, 4).pngsave_buffer()  # 100x100
    out = made(data, f"{segment},kernel_{kernel}")
    assert (out.width, out.height) == size


def test_colour_under_transparent_pixels_does_not_bleed_into_the_edge() -> None:
    red = (pyvips.Image.black(20, 20) + [255, 0, 0, 255]).cast("uchar")
    green_hidden = (pyvips.Image.black(20, 20) + [0, 255, 0, 0]).cast("uchar")
    data = red.join(green_hidden, "horizontal").copy(interpretation="srgb").pngsave_buffer()
    out = made(data, "w_13,kernel_linear")
    edge = [out(x, 3) for x in range(out.width) if 0 < out(x, 3)[3] < 255]
    assert edge, "the resize leaves a half-transparent edge"
    assert all(g < 8 for _, g, _, _ in edge), edge  # no green where the red fades out


def test_a_jpeg_at_an_exact_dct_scale_still_meets_the_kernel() -> None:
    """2400x2400 to 300x300 decodes at 1/8 exactly; the kernel must still resize (from 1/4,
    as sharp does). 4 px squares: at 1/8 they average to grey, at 1/4 they are single pixels
    of which nearest keeps every other one, all of one colour."""
    jpeg = checker(600, 4).jpegsave_buffer(Q=95)
    nearest = made(jpeg, "w_300,kernel_nearest")
    default = made(jpeg, "w_300")
    assert (nearest.width, nearest.height) == (300, 300)
    assert abs(default.avg() - 128) < 10
    assert abs(nearest.avg() - 128) > 80


def test_animation_frames_are_resized_one_by_one() -> None:
    frames = [checker(4, 1) * 0 + 200, checker(4, 1)]
    data = animation([f.cast("uchar").copy(interpretation="srgb") for f in frames], 100, "gif")
    out = pyvips.Image.new_from_buffer(
        encoded(data, "w_16,enlarge,kernel_nearest,fmt_gif", "gif"), "", n=-1)
    assert (out.width, out.get("page-height"), out.height) == (16, 16, 32)
    first, second = out.crop(0, 0, 16, 16), out.crop(0, 16, 16, 16)
    assert levels(first) == {200}  # no bleeding between the frames
    assert levels(second) == {0, 255}


def test_gamma_averages_in_a_darker_space_so_fine_detail_keeps_its_light() -> None:
    data = checker(64, 1).pngsave_buffer()  # single-pixel checker: the mean is all that stays
    plain = made(data, "w_8,kernel_linear").avg()
    gamma = made(data, "w_8,kernel_linear,gamma_2.2").avg()
    assert abs(plain - 127.5) < 3
    # ((0 + 1) / 2) ** (1 / 2.2) of white: the mean of the darkened values, brightened back.
    assert abs(gamma - 255 * 0.5 ** (1 / 2.2)) < 3


def test_gamma_with_another_output_value_changes_a_flat_colour() -> None:
    data = (pyvips.Image.black(10, 10) + [100, 150, 200]).cast("uchar").copy(
        interpretation="srgb").pngsave_buffer()
    same = made(data, "w_5,gamma_2.2")(2, 2)
    assert all(abs(a - b) <= 1 for a, b in zip(same, [100, 150, 200], strict=True))
    brighter = made(data, "w_5,gamma_2.2:1.5")(2, 2)
    expected = [255 * (v / 255) ** (2.2 / 1.5) for v in (100, 150, 200)]
    assert all(abs(a - b) <= 2 for a, b in zip(brighter, expected, strict=True)), brighter


def test_gamma_leaves_alpha_alone() -> None:
    data = (pyvips.Image.black(10, 10) + [100, 150, 200, 90]).cast("uchar").copy(
        interpretation="srgb").pngsave_buffer()
    out = made(data, "w_5,gamma_2:3")
    assert out.bands == 4 and out(2, 2)[3] == 90


def test_an_svg_is_drawn_at_the_output_size_whatever_the_kernel_or_gamma() -> None:
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
           b'<circle cx="5" cy="5" r="4" fill="red"/></svg>')
    drawn = made(svg, "w_200,enlarge")
    for extra in ("kernel_nearest", "gamma_2:1.5"):
        out = made(svg, f"w_200,enlarge,{extra}")
        assert (out.width, out.height) == (200, 200)
        assert (out - drawn).abs().max() == 0, extra  # not a 10 px drawing blown up
