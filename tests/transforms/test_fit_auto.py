"""`fit_auto` (imgproxy's resizing type `auto`): `cover` when the source and the box have the same
orientation, `inside` when not, decided by the plan from the (cropped, turned) source."""

from __future__ import annotations

import pytest

from tests.support.images import flat, made
from transforms.grammar import parse, serialize
from transforms.plan import fit_geometry


@pytest.mark.parametrize(("source", "box", "output", "mode"), [
    ((900, 600), "s_300x200", (300, 200), "crop"),   # both landscape: cover
    ((600, 900), "s_200x300", (200, 300), "crop"),   # both portrait: cover
    ((600, 900), "s_300x200", (133, 200), ""),       # portrait into landscape: inside
    ((900, 600), "s_200x300", (200, 133), ""),       # landscape into portrait: inside
    ((600, 600), "s_300x200", (300, 200), "crop"),   # a square counts as landscape (imgproxy)
    ((900, 600), "s_300x300", (300, 300), "crop"),
    ((600, 900), "s_300x300", (200, 300), ""),
])
def test_cover_or_inside_by_orientation(source: tuple[int, int], box: str,
                                        output: tuple[int, int], mode: str) -> None:
    geometry = fit_geometry(*source, parse(f"{box},fit_auto").options, 8192)
    assert (geometry.output, geometry.mode) == (output, mode)


@pytest.mark.parametrize(("segment", "canonical"), [
    ("s_300x200,fit_auto", "fit_auto,h_200,w_300"),
    ("w_300,fit_auto", "w_300"),  # one side: nothing to choose
    ("s_300x200,fit_auto,g_north", "fit_auto,g_north,h_200,w_300"),  # it may crop
    ("s_300x200,fit_auto,extend", "fit_auto,h_200,w_300"),  # it never pads
])
def test_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


def test_the_region_and_rotation_decide_the_orientation() -> None:
    # A landscape region of a portrait source is cut to the landscape box; turned, it is fitted.
    image = made(flat([10, 20, 30], 60, 90), "crop_0:0:60:30,s_30x20,fit_auto")
    assert (image.width, image.height) == (30, 20)
    turned = made(flat([10, 20, 30], 60, 90), "crop_0:0:60:30,rot_90,s_30x20,fit_auto")
    assert (turned.width, turned.height) == (10, 20)  # 30x60 inside 30x20
