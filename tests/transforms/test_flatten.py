"""`flatten` (sharp's and ipx's): no alpha in the output, transparency filled with `bg` (white
without one), whatever the format; `fmt_auto` without a modern format then writes a JPEG."""

from __future__ import annotations

import time

import pytest
import pyvips

from transforms import Limits, transform
from transforms.grammar import parse


def _half_clear() -> bytes:
    """40x20 PNG: the left half opaque blue, the right half fully transparent red."""
    left = pyvips.Image.black(20, 20) + [0, 0, 255, 255]
    right = pyvips.Image.black(20, 20) + [255, 0, 0, 0]
    return left.join(right, "horizontal").cast("uchar").copy(
        interpretation="srgb").pngsave_buffer()


def _made(segment: str, requested: str) -> tuple[str, pyvips.Image]:
    result = transform(_half_clear(), parse(segment).options, requested, Limits(),
                       deadline=time.monotonic() + 30)
    return result.format, pyvips.Image.new_from_buffer(result.body, "")


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_a_format_with_alpha_is_written_opaque_over_white(fmt: str) -> None:
    written, image = _made("flatten", fmt)
    assert written == fmt and not image.hasalpha()
    assert image(5, 10)[:3] == pytest.approx([0, 0, 255], abs=3)
    assert image(35, 10)[:3] == pytest.approx([255, 255, 255], abs=3)


def test_bg_is_the_fill_and_padding_is_opaque_too() -> None:
    _, image = _made("flatten,bg_00ff00,s_60x20,fit_contain,extend", "png")
    assert (image.width, image.height, image.bands) == (60, 20, 3)
    assert image(35, 10)[:3] == [0, 255, 0]   # the transparent half
    assert image(2, 10)[:3] == [0, 255, 0]    # the padding
    assert image(20, 10)[:3] == [0, 0, 255]


def test_without_alpha_the_legacy_auto_choice_is_a_jpeg() -> None:
    assert _made("_", "legacy")[0] == "png"
    assert _made("flatten", "legacy")[0] == "jpeg"


def test_a_jpeg_is_flat_already_so_the_option_is_dropped() -> None:
    assert parse("flatten,fmt_jpeg").options == parse("fmt_jpeg").options
    assert parse("flatten,fmt_png").options != parse("fmt_png").options
