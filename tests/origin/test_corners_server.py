"""Rounded corners through a real server: `r_max` on `fmt_auto` negotiates a format that keeps
the transparent corners, a JPEG gets white ones, and the variant is cached like any other."""

from __future__ import annotations

import httpx
import pyvips

from tests.support.origin import OriginProcess


def test_an_avatar_circle_keeps_transparent_corners_in_a_modern_format(
        origin: OriginProcess) -> None:
    r = httpx.get(origin.url("/s_120x120,r_max,fmt_auto/landscape.jpg"),
                  headers={"Accept": "image/webp,image/*"}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/webp"
    image = pyvips.Image.new_from_buffer(r.content, "")
    assert (image.width, image.height, image.bands) == (120, 120, 4)
    assert image(0, 0)[3] == 0 and image(60, 60)[3] == 255
    again = httpx.get(origin.url("/s_120x120,r_max,fmt_auto/landscape.jpg"),
                      headers={"Accept": "image/webp,image/*"}, timeout=60)
    assert again.content == r.content and again.headers["etag"] == r.headers["etag"]


def test_a_jpeg_source_kept_as_jpeg_gets_white_corners(origin: OriginProcess) -> None:
    r = httpx.get(origin.url("/w_200,r_24/landscape.jpg"), timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    image = pyvips.Image.new_from_buffer(r.content, "")
    assert min(image(1, 1)) >= 245
    plain = pyvips.Image.new_from_buffer(
        httpx.get(origin.url("/w_200/landscape.jpg"), timeout=60).content, "")
    assert abs(image(100, 60)[0] - plain(100, 60)[0]) <= 3


def test_bad_radii_are_a_clear_400(origin: OriginProcess) -> None:
    r = httpx.get(origin.url("/w_200,r_1:2:3:4:5/landscape.jpg"), timeout=60)
    assert r.status_code == 400
    assert "r_1:2:3:4:5" in r.json()["detail"]
