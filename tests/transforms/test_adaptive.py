"""`adaptive` (thumbor's adaptive-fit-in): the box turned a quarter when the source's
orientation is the other one, decided by the plan from the (cropped, turned) source."""

from __future__ import annotations

import pytest

from tests.support.images import flat, made
from transforms.grammar import parse
from transforms.plan import fit_geometry


@pytest.mark.parametrize(("source", "output"), [
    ((600, 900), (200, 300)),   # portrait source, landscape box: turned
    ((900, 600), (300, 200)),   # same orientation: as asked
    ((600, 600), (200, 200)),   # a square source has no orientation: as asked
])
def test_the_box_turns_for_a_source_of_the_other_orientation(
        source: tuple[int, int], output: tuple[int, int]) -> None:
    options = parse("s_300x200,fit_inside,adaptive").options
    assert fit_geometry(*source, options, 8192).output == output


def test_a_crop_box_and_padding_turn_with_it() -> None:
    cover = parse("s_300x200,adaptive").options
    assert fit_geometry(600, 900, cover, 8192).box == (200, 300)
    padded = parse("s_300x200,fit_contain,extend,adaptive").options
    assert fit_geometry(600, 900, padded, 8192).box == (200, 300)


@pytest.mark.parametrize(("segment", "same_as"), [
    ("w_300,adaptive", "w_300"), ("s_300x300,adaptive", "s_300x300"), ("ar_1,adaptive", "ar_1"),
])
def test_without_a_box_to_turn_it_is_dropped(segment: str, same_as: str) -> None:
    assert parse(segment).options == parse(same_as).options


def test_the_region_and_rotation_decide_the_orientation() -> None:
    # A landscape region of a portrait source is landscape; a quarter turn makes it portrait.
    image = made(flat([10, 20, 30], 60, 90), "crop_0:0:60:30,s_30x20,fit_inside,adaptive")
    assert (image.width, image.height) == (30, 15)
    turned = made(flat([10, 20, 30], 60, 90), "crop_0:0:60:30,rot_90,s_30x20,fit_inside,adaptive")
    assert (turned.width, turned.height) == (15, 30)  # 30x60 into the box turned to 20x30
