"""Gravity crops through a real server: the same pixels as the region they resolve to, and an
area that covers the whole source is no crop at all (the same bytes as no `crop`)."""

from __future__ import annotations

import httpx
import pytest
import pyvips

from tests.support.origin import REPO, OriginProcess

SAMPLES = REPO / "samples"


def _pixels(origin: OriginProcess, path: str) -> pyvips.Image:
    r = httpx.get(origin.url(path), timeout=60)
    assert r.status_code == 200, r.text
    return pyvips.Image.new_from_buffer(r.content, "")


def assert_same_pixels(origin: OriginProcess, options: str, same_as: str) -> None:
    """Two option segments over landscape.jpg (2400x1600) give the same PNG pixels."""
    a = _pixels(origin, f"/{options},fmt_png/landscape.jpg")
    b = _pixels(origin, f"/{same_as},fmt_png/landscape.jpg")
    assert (a.width, a.height) == (b.width, b.height)
    assert (a - b).abs().max() == 0


@pytest.mark.parametrize(("gravity_crop", "region"), [
    # landscape.jpg is 2400x1600.
    ("crop_600:400:southeast", "crop_1800:1200:600:400"),
    ("crop_600:400", "crop_900:600:600:400"),
    ("crop_0.5:0.5:fp:0.9:0.1", "crop_1200:0:1200:800"),
    ("crop_0:300:north", "crop_0:0:2400:300"),
    ("crop_600:400:fpx:2000:100", "crop_1700:0:600:400"),
])
def test_a_gravity_crop_cuts_the_region_it_resolves_to(origin: OriginProcess, gravity_crop: str,
                                                        region: str) -> None:
    assert_same_pixels(origin, f"{gravity_crop},w_200", f"{region},w_200")


def test_an_area_covering_the_source_is_no_crop(origin: OriginProcess) -> None:
    whole = httpx.get(origin.url("/crop_5000:0,w_300/landscape.jpg"), timeout=60)
    plain = httpx.get(origin.url("/w_300/landscape.jpg"), timeout=60)
    assert whole.status_code == plain.status_code == 200
    # Same bytes: the same shrink-on-load decode, not a full decode and a crop of all of it.
    assert whole.content == plain.content
    assert whole.headers["etag"] != plain.headers["etag"]  # two URLs, two variants


def test_a_smart_gravity_places_the_region_on_the_decoded_source(origin: OriginProcess) -> None:
    r = httpx.get(origin.url("/crop_600:400:attention,fmt_png/landscape.jpg"), timeout=30)
    assert r.status_code == 200, r.text
    region = pyvips.Image.new_from_buffer(r.content, "")
    source = pyvips.Image.new_from_file(str(SAMPLES / "landscape.jpg"))
    assert (region - source.smartcrop(600, 400, interesting="attention")).abs().max() <= 1
    centre = source.crop(900, 600, 600, 400)
    assert (region - centre).abs().avg() > 5  # elsewhere than the centred region
    bad = httpx.get(origin.url("/crop_600:400:attention:1/landscape.jpg"), timeout=30)
    assert bad.status_code == 400 and "crop_600:400:attention:1" in bad.json()["detail"]


@pytest.mark.parametrize(("pixel", "fraction"), [
    # landscape.jpg is 2400x1600: 1800:400 is 0.75:0.25 of it.
    ("s_300x300,g_fpx:1800:400", "s_300x300,g_fp:0.75:0.25"),
    ("s_200x300,g_fpx:1800:400", "s_200x300,g_fp:0.75:0.25"),
    # A point of the source turns with it.
    ("rot_90,s_300x200,g_fpx:1800:400", "rot_90,s_300x200,g_fp:0.75:0.25"),
    # With a region, the point is still in source pixels: 2100:200 is 0.75:0.25 of the region.
    ("crop_1200:0:1200:800,s_200x200,g_fpx:2100:200", "crop_1200:0:1200:800,s_200x200,"
     "g_fp:0.75:0.25"),
    # A point outside the region holds the crop to the region's nearest edge.
    ("crop_0:0:1200:800,s_100x200,g_fpx:2000:100", "crop_0:0:1200:800,s_100x200,g_east"),
])
def test_a_focal_pixel_is_its_fraction_of_the_image_cropped(origin: OriginProcess, pixel: str,
                                                            fraction: str) -> None:
    assert_same_pixels(origin, pixel, fraction)
