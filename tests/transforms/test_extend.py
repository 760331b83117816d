"""`extend` (imgproxy's): `fit_contain` pads out to the whole requested box around an image smaller
than it, which without `enlarge` otherwise shrinks the box with the source."""

from __future__ import annotations

import pytest

from tests.transforms.test_padding import predicted, run, solid
from transforms.grammar import parse, serialize


@pytest.mark.parametrize(("segment", "canonical"), [
    ("w_300,h_300,fit_contain,extend", "extend,fit_contain,h_300,w_300"),
    ("w_300,h_300,fit_contain,extend_1", "extend,fit_contain,h_300,w_300"),
    # Nowhere else can it change the output, so it is dropped (one variant, one cache entry).
    ("w_300,h_300,extend", "h_300,w_300"),
    ("w_300,h_300,fit_inside,extend", "fit_inside,h_300,w_300"),
    ("w_300,fit_contain,extend", "w_300"),
    ("w_300,h_300,fit_contain,extend,enlarge", "enlarge,fit_contain,h_300,w_300"),
    ("extend_0,w_10", "w_10"),
])
def test_extend_only_where_it_changes_the_output(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


def test_a_small_image_is_padded_to_the_whole_box() -> None:
    source = solid(40, 30)
    plain = run(source, "w_300,h_300,fit_contain,bg_00ff00")
    assert (plain.width, plain.height) == (30, 30)  # the box shrinks with the source
    extended = run(source, "w_300,h_300,fit_contain,extend,bg_00ff00")
    assert (extended.width, extended.height) == (300, 300)
    # The image keeps its own size in the middle; the rest is the background.
    assert extended(150, 150)[:3] == [255.0, 0.0, 0.0]
    assert extended(130, 150)[:3] == [255.0, 0.0, 0.0]  # 40 px wide: 130..169
    assert extended(129, 150)[:3] == [0.0, 255.0, 0.0]
    assert extended(150, 134)[:3] == [0.0, 255.0, 0.0]  # 30 px high: 135..164
    assert predicted(source, "w_300,h_300,fit_contain,extend") == (300, 300)


def test_a_larger_image_is_fitted_as_without_extend() -> None:
    source = solid(600, 300)
    a = run(source, "w_300,h_300,fit_contain,extend,bg_00ff00")
    b = run(source, "w_300,h_300,fit_contain,bg_00ff00")
    assert (a.width, a.height) == (b.width, b.height) == (300, 300)
    assert (a == b).min() == 255  # the same pixels


def test_one_side_larger_shrinks_to_fit_and_pads_the_other() -> None:
    extended = run(solid(600, 20), "w_300,h_300,fit_contain,extend,bg_00ff00")
    assert (extended.width, extended.height) == (300, 300)
    assert extended(150, 150)[:3] == [255.0, 0.0, 0.0]  # 300x10 across the middle
    assert extended(150, 140)[:3] == [0.0, 255.0, 0.0]
