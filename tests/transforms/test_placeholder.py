"""`fmt_blurhash`: the BlurHash of the finished variant (its framing, its first frame, alpha on
its background), decoded back to check what it says."""

from __future__ import annotations

import time

import blurhash
import pyvips

from transforms import Limits, prepare, probe, render_blurhash
from transforms.grammar import parse
from transforms.placeholder import PLANNED_AS, encode_image

RED, BLUE = [220, 20, 20], [20, 20, 220]


def _halves(width: int, height: int) -> pyvips.Image:
    left = pyvips.Image.black(width // 2, height) + RED
    right = pyvips.Image.black(width - width // 2, height) + BLUE
    return left.join(right, "horizontal").cast("uchar").copy(interpretation="srgb")


def _decoded(text: str, width: int = 8, height: int = 6) -> list[list[list[float]]]:
    return blurhash.decode(text, width, height)  # type: ignore[no-any-return]


def _hash(data: bytes, segment: str) -> str:
    plan = prepare(probe(data), parse(segment).options, PLANNED_AS, Limits())
    result = render_blurhash(data, plan, Limits(), deadline=time.monotonic() + 30)
    assert (result.format, result.content_type) == ("blurhash", "text/plain; charset=utf-8")
    return result.body.decode("ascii")


def test_the_hash_keeps_where_the_colours_are() -> None:
    text = _hash(_halves(400, 200).pngsave_buffer(), "w_200")
    assert blurhash.components(text) == (4, 3)  # landscape: 4 across, 3 down
    pixels = _decoded(text)
    left, right = pixels[3][0], pixels[3][7]
    assert left[0] > 2 * left[2] and right[2] > 2 * right[0]


def test_a_portrait_variant_gets_more_components_down() -> None:
    text = _hash(_halves(400, 200).pngsave_buffer(), "w_100,rot_90")
    assert blurhash.components(text) == (3, 4)
    # Turned clockwise: the red left half is now on top.
    pixels = _decoded(text, 6, 8)
    top, bottom = pixels[0][3], pixels[7][3]
    assert top[0] > 2 * top[2] and bottom[2] > 2 * bottom[0]


def test_the_hash_follows_the_variants_crop() -> None:
    # A crop of the right half alone is all blue.
    text = _hash(_halves(400, 200).pngsave_buffer(), "crop_200:0:east")
    for row in _decoded(text):
        for r, _g, b in row:
            assert b > 2 * r


def test_transparency_is_flattened_on_the_background() -> None:
    clear = (pyvips.Image.black(40, 30) + [0, 0, 0, 0]).cast("uchar").copy(interpretation="srgb")
    data = clear.pngsave_buffer()
    white = _decoded(_hash(data, "w_40"))
    green = _decoded(_hash(data, "w_40,bg_00c000"))
    assert min(white[2][2]) > 240
    r, g, b = green[2][2]
    assert g > 150 and r < 40 and b < 40


def test_a_grey_image_is_hashed_as_grey() -> None:
    grey = (pyvips.Image.black(40, 30) + 90).cast("uchar").copy(interpretation="b-w")
    r, g, b = _decoded(encode_image(grey))[2][2]
    assert abs(r - 90) < 3 and r == g == b


def test_an_animation_is_hashed_from_its_first_frame() -> None:
    frames = [(pyvips.Image.black(30, 20) + colour).cast("uchar") for colour in (RED, BLUE)]
    strip = pyvips.Image.arrayjoin(frames, across=1).copy(interpretation="srgb")
    strip.set_type(pyvips.GValue.gint_type, "page-height", 20)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [100, 100])
    text = _hash(strip.gifsave_buffer(), "w_30")
    r, _g, b = _decoded(text)[3][4]
    assert r > 2 * b  # red, the first frame
