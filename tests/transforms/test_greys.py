"""`gray_luma`: Pillow's grey (`convert("L")`: ITU-R 601 weights in 16-bit fixed point,
rounded), which thumbor's `grayscale()` makes, against a port of Pillow's rule on 4096 colours."""

from __future__ import annotations

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import made
from transforms.grammar import parse, serialize


def colours(alpha: bool = False) -> pyvips.Image:
    """64x64: every (r, g, b) on a 16-level grid (0, 17, ..., 255), optionally half-transparent."""
    x = pyvips.Image.xyz(64, 64)
    r = (x[0] % 16) * 17
    g = (x[0] // 16 + (x[1] % 4) * 4) * 17
    b = (x[1] // 4) * 17
    image = r.bandjoin([g, b]).cast("uchar").copy(interpretation="srgb")
    return image.bandjoin(128).cast("uchar") if alpha else image


def pillow_l(r: int, g: int, b: int) -> int:
    return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16


@pytest.mark.parametrize("alpha", [False, True])
def test_gray_luma_is_pillows_grey_to_the_level(alpha: bool) -> None:
    source = colours(alpha)
    out = made(source.pngsave_buffer(), "gray_luma")
    assert out.bands == (2 if alpha else 1)
    seen = set()
    for y in range(64):
        for x in range(64):
            r, g, b = (int(v) for v in source(x, y)[:3])
            seen.add((r, g, b))
            assert out(x, y)[0] == pillow_l(r, g, b), (r, g, b)
            if alpha:
                assert out(x, y)[1] == 128
    assert len(seen) == 4096
    # libvips' own grey weighs the bands in linear light: another grey, many levels off.
    other = made(source.pngsave_buffer(), "gray")
    assert (other[0] - out[0]).abs().max() > 10


def test_spellings() -> None:
    assert serialize(parse("w_10,grayscale_luma").options) == "gray_luma,w_10"
    assert serialize(parse("w_10,gray_1").options) == "gray,w_10"
    with pytest.raises(InvalidOptions, match="a boolean or luma"):
        parse("w_10,gray_601")
