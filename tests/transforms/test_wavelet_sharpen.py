"""`wsharpen_A:R[:luma]` (thumbor's sharpen()): spellings, the kernels, and the pixels against a
direct port of thumbor's C loops."""

from __future__ import annotations

import math

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import made
from transforms import wavelet
from transforms.grammar import parse, serialize
from transforms.options import WaveletSharpen


@pytest.mark.parametrize(("segment", "canonical"), [
    ("wsharpen_2:1", "wsharpen_2:1"),
    ("wsharpen_2.50:0.5:luma", "wsharpen_2.5:0.5:luma"),
    ("wsharpen_0:1:luma", "_"),
    ("wsharpen_10:6", "wsharpen_10:6"),
])
def test_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("token", ["wsharpen", "wsharpen_2", "wsharpen_2:1:y",
                                   "wsharpen_2:1:luma:1",
                                   "wsharpen_10.5:1", "wsharpen_2:6.5", "wsharpen_-1:1",
                                   "wsharpen_a:1"])
def test_bad_values_are_400(token: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(token)
    assert token in err.value.detail


@pytest.mark.parametrize("step", [1, 2, 4, 8, 16])
def test_each_level_is_the_hat_with_holes(step: int) -> None:
    taps = wavelet.hat(step).tolist()[0]
    assert len(taps) == 2 * step + 1 and math.isclose(sum(taps), 1.0)
    assert (taps[0], taps[step], taps[-1]) == (0.25, 0.5, 0.25)


def test_gains_are_thumbors() -> None:
    assert wavelet.gains(WaveletSharpen(2, 1)) == pytest.approx(
        [2 * math.exp(-((lev - 1) ** 2) / 1.5) + 1 for lev in range(5)])


# --- thumbor's loops, ported as they are ------------------------------------------------------

def _hat(base: list[float], sc: int) -> list[float]:
    size = len(base)
    out = []
    for i in range(size):
        left = base[sc - i] if i < sc else base[i - sc]
        right = base[i + sc] if i + sc < size else base[2 * size - 2 - (i + sc)]
        out.append((2 * base[i] + left + right) * 0.25)
    return out


def _thumbor_band(plane: list[list[float]], amount: float, radius: float) -> list[list[float]]:
    height, width = len(plane), len(plane[0])
    current = [row[:] for row in plane]
    result = [[0.0] * width for _ in range(height)]
    for lev in range(5):
        sc = 1 << lev
        rows = [_hat(row, sc) for row in current]
        cols = [_hat([rows[y][x] for y in range(height)], sc) for x in range(width)]
        low = [[cols[x][y] for x in range(width)] for y in range(height)]
        amt = amount * math.exp(-(lev - radius) * (lev - radius) / 1.5) + 1
        for y in range(height):
            for x in range(width):
                result[y][x] += (current[y][x] - low[y][x]) * amt
        current = low
    return [[result[y][x] + current[y][x] for x in range(width)] for y in range(height)]


def _thumbor(image: pyvips.Image, amount: float, radius: float,
             luma: bool = False) -> list[list[list[int]]]:
    r, g, b = (image[i].tolist() for i in range(3))
    h, w = image.height, image.width
    if luma:
        y = [[0.299 * r[j][i] + 0.587 * g[j][i] + 0.114 * b[j][i] for i in range(w)]
             for j in range(h)]
        cb = [[-0.1687 * r[j][i] - 0.3313 * g[j][i] + 0.5 * b[j][i] + 128 for i in range(w)]
              for j in range(h)]
        cr = [[0.5 * r[j][i] - 0.4187 * g[j][i] - 0.0813 * b[j][i] + 128 for i in range(w)]
              for j in range(h)]
        y = [[v * 255 for v in row]
             for row in _thumbor_band([[v / 255 for v in row] for row in y], amount, radius)]
        rgb = [[[y[j][i] + 1.402 * (cr[j][i] - 128),
                 y[j][i] - 0.34414 * (cb[j][i] - 128) - 0.71414 * (cr[j][i] - 128),
                 y[j][i] + 1.772 * (cb[j][i] - 128)] for i in range(w)] for j in range(h)]
    else:
        done = [_thumbor_band([[v / 255 for v in row] for row in plane], amount, radius)
                for plane in (r, g, b)]
        rgb = [[[done[c][j][i] * 255 for c in range(3)] for i in range(w)] for j in range(h)]
    return [[[int(min(255.0, max(0.0, v))) for v in px] for px in row] for row in rgb]


def pattern(width: int = 24, height: int = 20) -> pyvips.Image:
    """Detail at every scale: a ramp, a checker and a spot, different in each band."""
    xyz = pyvips.Image.xyz(width, height)
    x, y = xyz[0], xyz[1]
    red = x * 6 % 256
    green = ((x / 3).floor() + (y / 3).floor()).remainder(2) * 200 + 20
    blue = ((x - 12) ** 2 + (y - 10) ** 2 < 30).ifthenelse(240, 30)
    return red.bandjoin([green, blue]).cast("uchar").copy(interpretation="srgb")


def _pixels(image: pyvips.Image) -> list[list[list[int]]]:
    bands = [image[b].tolist() for b in range(image.bands)]
    return [[[int(bands[b][y][x]) for b in range(image.bands)] for x in range(image.width)]
            for y in range(image.height)]


def _worst(a: list[list[list[int]]], b: list[list[list[int]]]) -> int:
    return max(abs(p - q) for row_a, row_b in zip(a, b, strict=True)
               for pa, pb in zip(row_a, row_b, strict=True) for p, q in zip(pa, pb, strict=True))


def test_the_sharpen_is_thumbors_to_the_level() -> None:
    image = pattern()
    theirs = _thumbor(image, 2.5, 1.0)
    assert _worst(_pixels(wavelet.sharpened(image, WaveletSharpen(2.5, 1.0))), theirs) <= 1
    held = wavelet.sharpened(image, WaveletSharpen(2.5, 1.0), hold=lambda im: im.copy_memory())
    assert _worst(_pixels(held), theirs) <= 1
    # And the check can fail: a sharpen is far from the image itself.
    assert _worst(_pixels(image), theirs) > 20
    luma = _thumbor(image, 3, 0.5, luma=True)
    assert _worst(_pixels(wavelet.sharpened(image, WaveletSharpen(3, 0.5, luma=True))), luma) <= 1
    assert _worst(luma, theirs) > 10


@pytest.mark.parametrize("size", [(12, 9), (1, 1), (40, 2)])
def test_images_smaller_than_the_widest_kernel_are_sharpened_too(size: tuple[int, int]) -> None:
    """thumbor's loops read past such an image (the port above cannot run them); here libvips'
    mirror extends it."""
    image = pattern(*size)
    out = wavelet.sharpened(image, WaveletSharpen(3, 0))
    assert (out.width, out.height, out.bands, out.format) == (*size, 3, "uchar")
    if size != (1, 1):
        assert (out.cast("int") - image).abs().max() > 10


def test_luma_only_keeps_a_grey_image_grey_and_a_flat_one_flat() -> None:
    grey = pattern()[1]
    rgb = grey.bandjoin([grey, grey]).copy(interpretation="srgb")
    out = wavelet.sharpened(rgb, WaveletSharpen(3, 1, luma=True))
    spread = (out[0].cast("int") - out[1]).abs().max(), (out[1].cast("int") - out[2]).abs().max()
    assert max(spread) <= 2
    assert (out.cast("int") - rgb).abs().max() > 20
    flat = (pyvips.Image.black(20, 20) + [90, 140, 200]).cast("uchar").copy(
        interpretation="srgb")
    # Float arithmetic cut down, as thumbor's: a flat colour may lose one level.
    assert (wavelet.sharpened(flat, WaveletSharpen(8, 2)).cast("int") - flat).abs().max() <= 1
    luma_flat = wavelet.sharpened(flat, WaveletSharpen(8, 2, luma=True))
    assert all(abs(a - b) <= 1 for a, b in zip(luma_flat(5, 5), [90, 140, 200], strict=True))


def test_through_the_pipeline_alpha_is_kept() -> None:
    image = pattern().bandjoin(77)
    out = made(image.pngsave_buffer(), "wsharpen_2:1")
    assert out.bands == 4 and out[3].min() == 77 == out[3].max()
    plain = made(image.pngsave_buffer(), "_")
    assert (out.extract_band(0, n=3).cast("int") - plain.extract_band(0, n=3)).abs().max() > 20
