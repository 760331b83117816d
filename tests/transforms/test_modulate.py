"""`modulate_B[:S[:H[:L]]]` (sharp's and ipx's modulate): CIE LCh lightness times B plus L, chroma
times S, hue turned by H degrees; alpha kept, a grey image left grey."""

from __future__ import annotations

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import flat, made
from transforms.grammar import parse, serialize


@pytest.mark.parametrize(("segment", "canonical"), [
    ("modulate_1.2", "modulate_1.2"),
    ("mod_1:0.5", "modulate_1:0.5"),
    ("modulate_1:1:-90", "modulate_1:1:270"),      # one spelling per turn
    ("modulate_1:1:360", "_"),
    ("modulate_1:1:0:0", "_"),
    ("modulate_0.5:2:90:-10", "modulate_0.5:2:90:-10"),
    ("modulate_1:1:0:12.5", "modulate_1:1:0:12.5"),
])
def test_canonical_forms(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("segment", [
    "modulate_11", "modulate_-1", "modulate_1:1:1:1:1", "modulate_1:1:0.5", "modulate_1:1:361",
    "modulate_1:1:0:101", "modulate_a", "modulate_1::90",
])
def test_bad_values_are_a_400_naming_the_shape(segment: str) -> None:
    with pytest.raises(InvalidOptions, match=r"B\[:S\[:H\[:L\]\]\]"):
        parse(segment)


def lch(pixel: list[float]) -> list[float]:
    image = (pyvips.Image.black(1, 1) + pixel[:3]).cast("uchar").copy(interpretation="srgb")
    return image.colourspace("lch").getpoint(0, 0)


def test_the_hue_turns_and_lightness_and_chroma_keep() -> None:
    muted = [150, 120, 110]
    before = lch(muted)
    after = lch(made(flat(muted), "modulate_1:1:120,fmt_png")(5, 5))
    assert after[0] == pytest.approx(before[0], abs=1.5)
    assert after[1] == pytest.approx(before[1], rel=0.1)
    assert (after[2] - before[2]) % 360 == pytest.approx(120, abs=3)


def test_brightness_and_saturation_scale_lightness_and_chroma() -> None:
    muted = [150, 120, 110]
    before = lch(muted)
    dim = lch(made(flat(muted), "modulate_0.5,fmt_png")(5, 5))
    assert dim[0] == pytest.approx(before[0] * 0.5, abs=1.5)
    grey = made(flat(muted), "modulate_1:0,fmt_png")(5, 5)
    assert max(grey[:3]) - min(grey[:3]) <= 1
    lighter = lch(made(flat(muted), "modulate_1:1:0:20,fmt_png")(5, 5))
    assert lighter[0] == pytest.approx(before[0] + 20, abs=1.5)


def test_alpha_is_kept_and_a_grey_image_stays_grey() -> None:
    image = made(flat([200, 30, 30], alpha=128), "modulate_1:1:90,fmt_png")
    assert image.bands == 4 and image(5, 5)[3] == 128
    grey = made(flat([200, 30, 30]), "gray,modulate_0.5,fmt_png")
    assert grey.bands == 1 and grey.interpretation == "b-w"
    assert grey(5, 5)[0] < made(flat([200, 30, 30]), "gray,fmt_png")(5, 5)[0]
