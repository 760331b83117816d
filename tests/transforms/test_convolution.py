"""`conv_C:W…[:norm]`, thumbor's convolution(): every band (alpha too) weighted over the kernel,
edges repeated, levels cut toward zero and clipped; checked against a port of thumbor's C loop,
asymmetric kernels included (a flipped kernel would fail them), and the thumbor filter's order."""

from __future__ import annotations

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import made
from transforms.grammar import parse, serialize
from transforms.thumbor import translate


def thumbor_convolution(bands: list[list[list[int]]], columns: int, weights: list[float],
                        normalize: bool) -> list[list[list[int]]]:
    """thumbor/ext/filters/_convolution.c over each band."""
    total = sum(weights)
    kernel = [w / total for w in weights] if normalize and total else weights
    rows = len(weights) // columns
    mid_x, mid_y = columns // 2, rows // 2
    height, width = len(bands[0]), len(bands[0][0])
    out = []
    for band in bands:
        plane = []
        for y in range(height):
            line = []
            for x in range(width):
                acc = 0.0
                for ky in range(rows):
                    for kx in range(columns):
                        py = min(max(y + ky - mid_y, 0), height - 1)
                        px = min(max(x + kx - mid_x, 0), width - 1)
                        acc += band[py][px] * kernel[ky * columns + kx]
                line.append(max(0, min(255, int(acc))))
            plane.append(line)
        out.append(plane)
    return out


def source(alpha: bool = False) -> pyvips.Image:
    xy = pyvips.Image.xyz(16, 12)
    image = (xy[0] * 13 + xy[1] * 7).bandjoin([xy[0] * 15, (xy[1] * 21) % 256])
    if alpha:
        image = image.bandjoin(255 - xy[0] * 9)
    return image.cast("uchar").copy(interpretation="srgb")


@pytest.mark.parametrize(("columns", "weights", "normalize"), [
    (3, [1, 2, 1, 2, 4, 2, 1, 2, 1], True),  # a blur
    (3, [0, -1, 0, -1, 5, -1, 0, -1, 0], False),  # a sharpen
    (3, [1, 0, -1, 2, 0, -2, 1, 0, -1], False),  # Sobel: left and right differ
    (5, [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0], True),  # 5 wide, 3 high, lopsided
    (1, [0.5, 0, 0.5], False),  # 1 wide: above and below only
])
@pytest.mark.parametrize("alpha", [False, True])
def test_the_loop_of_thumbor(columns: int, weights: list[float], normalize: bool,
                             alpha: bool) -> None:
    image = source(alpha)
    segment = f"conv_{columns}:" + ":".join(map(str, weights)) + (":norm" if normalize else "")
    out = made(image.pngsave_buffer(), segment)
    assert (out.width, out.height, out.bands) == (image.width, image.height, image.bands)
    expected = thumbor_convolution([image[i].tolist() for i in range(image.bands)], columns,
                                   weights, normalize)
    got = [out[i].tolist() for i in range(out.bands)]
    off = [abs(g - e) for gp, ep in zip(got, expected, strict=True)
           for gl, el in zip(gp, ep, strict=True) for g, e in zip(gl, el, strict=True)]
    assert max(off) <= 1  # float32 sums right at a whole level, rarely
    assert sum(1 for d in off if d) <= len(off) // 100


@pytest.mark.parametrize(("segment", "canonical"), [
    ("conv_3:1:2:1:2:4:2:1:2:1:norm", "conv_3:1:2:1:2:4:2:1:2:1:norm"),
    ("convolution_3:0:-1:0:-1:5:-1:0:-1:0:norm", "conv_3:0:-1:0:-1:5:-1:0:-1:0"),  # sum 1
    ("conv_3:-1:-1:-1:-1:8:-1:-1:-1:-1:norm", "conv_3:-1:-1:-1:-1:8:-1:-1:-1:-1"),  # sum 0
    ("conv_3:0:0:0:0:1:0:0:0:0", "_"),  # the identity
    ("conv_1:2", "conv_1:2"),
    ("conv_3:0.50:1.0:0.5", "conv_3:0.5:1:0.5"),
])
def test_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("segment", [
    "conv_2:1:1:1:1",  # an even side has no centre
    "conv_3:1:1",
    "conv_3:1:1:1:1:1:1",  # two rows
    "conv_11:" + ":".join(["1"] * 11),  # wider than 9
    "conv_1:" + ":".join(["1"] * 11),  # taller than 9
    "conv_3:1:x:1",
    "conv_3:1:2000:1",
    "conv_3",
    "conv_3:1:1:1:norm:norm",
])
def test_a_bad_kernel_is_a_400(segment: str) -> None:
    with pytest.raises(InvalidOptions, match="COLUMNS"):
        parse(segment)


def native(path: str) -> str:
    return serialize(parse(translate(path, {}).tokens).options)


def test_thumbors_filter() -> None:
    assert native("filters:convolution(1;2;1;2;4;2;1;2;1,3,true)/a.jpg") == \
        "conv_3:1:2:1:2:4:2:1:2:1:norm"
    assert native("filters:convolution(-1;-1;-1;-1;8;-1;-1;-1;-1,3,false)/a.jpg") == \
        "conv_3:-1:-1:-1:-1:8:-1:-1:-1:-1"
    assert native("filters:grayscale():convolution(1.;2;1,3,0):saturation(2)/a.jpg") == \
        "conv_3:1:2:1,gray_luma"  # grey: nothing left to saturate


@pytest.mark.parametrize(("path", "words"), [
    ("filters:saturation(2):convolution(1;2;1,3,true)/a.jpg", "convolution() stands"),
    ("filters:convolution(1;2;1,3,true):blur(2)/a.jpg", "blur() stands"),
    ("filters:convolution(1;2;1,3,true):convolution(1;2;1,3,true)/a.jpg", "twice"),
    ("filters:convolution(1;2;1,3,maybe)/a.jpg", "true or false"),
    ("filters:convolution(1;a;1,3,true)/a.jpg", "separated by ';'"),
    ("filters:convolution(1;2;1;2,2,true)/a.jpg", "COLUMNS"),
])
def test_thumbor_refusals(path: str, words: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        native(path)
    assert words in str(err.value)
