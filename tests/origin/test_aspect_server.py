"""`ar_` through a real server: a ratio with one side shares the explicit URL's variant (same
bytes, same ETag), alone it cuts the source to the ratio, and `fmt_json` says so unseen."""

from __future__ import annotations

import httpx
import pyvips

from tests.support.origin import OriginProcess


def test_a_ratio_and_one_side_is_the_same_variant_as_both_sides(origin: OriginProcess) -> None:
    by_ratio = httpx.get(origin.url("/w_320,ar_16:9,fmt_webp/landscape.jpg"), timeout=60)
    explicit = httpx.get(origin.url("/w_320,h_180,fmt_webp/landscape.jpg"), timeout=60)
    assert by_ratio.status_code == explicit.status_code == 200, by_ratio.text
    assert by_ratio.headers["etag"] == explicit.headers["etag"]
    assert by_ratio.content == explicit.content
    image = pyvips.Image.new_from_buffer(by_ratio.content, "")
    assert (image.width, image.height) == (320, 180)


def test_alone_a_ratio_cuts_the_source_and_json_knows_the_size(origin: OriginProcess) -> None:
    facts = httpx.get(origin.url("/ar_1:1,fmt_json/landscape.jpg"), timeout=60).json()
    side = min(facts["source"]["width"], facts["source"]["height"])
    assert facts["output"] == {"width": side, "height": side}
    r = httpx.get(origin.url("/ar_1:1,fmt_png/landscape.jpg"), timeout=60)
    assert r.status_code == 200, r.text
    image = pyvips.Image.new_from_buffer(r.content, "")
    assert (image.width, image.height) == (side, side)


def test_a_ratio_with_both_sides_is_a_clear_400(origin: OriginProcess) -> None:
    r = httpx.get(origin.url("/s_300x200,ar_16:9/landscape.jpg"), timeout=60)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_options" and "ar_16:9" in r.json()["detail"]
