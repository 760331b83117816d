"""`zoom_` through a real server, natively and from imgproxy's `zoom` and thumbor's
`proportion()`: with a side it is the explicit size's variant (one ETag), alone the source scaled,
and `fmt_json` knows the size unseen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import pyvips

from tests.support.origin import OriginProcess


@pytest.fixture(scope="module")
def server(samples_dir: Path) -> Iterator[OriginProcess]:
    with OriginProcess({"IMGORIGIN_SOURCE": str(samples_dir),
                        "IMGORIGIN_IMGPROXY_PREFIX": "ip",
                        "IMGORIGIN_THUMBOR_PREFIX": "th"}) as origin:
        yield origin


def get(server: OriginProcess, path: str) -> httpx.Response:
    r = httpx.get(server.url(path), timeout=60)
    assert r.status_code == 200, (path, r.text)
    return r


def test_a_zoomed_side_is_the_variant_of_the_explicit_one(server: OriginProcess) -> None:
    explicit = get(server, "/w_320,fmt_webp/landscape.jpg")
    for path in ("/w_640,zoom_0.5,fmt_webp/landscape.jpg",
                 "/ip/unsafe/w:640/zoom:0.5/f:webp/plain/landscape.jpg",
                 "/th/unsafe/fit-in/640x0/filters:proportion(0.5):format(webp)/landscape.jpg"):
        zoomed = get(server, path)
        assert zoomed.headers["etag"] == explicit.headers["etag"], path
        assert zoomed.content == explicit.content


def test_alone_zoom_scales_the_source_and_json_knows_it(server: OriginProcess) -> None:
    source = get(server, "/fmt_json/landscape.jpg").json()["source"]
    expected = {"width": round(source["width"] / 4), "height": round(source["height"] / 4)}
    assert get(server, "/zoom_0.25,fmt_json/landscape.jpg").json()["output"] == expected
    for path in ("/zoom_0.25,fmt_png/landscape.jpg",
                 "/ip/unsafe/z:0.25/f:png/plain/landscape.jpg",
                 "/th/unsafe/filters:proportion(0.25):format(png)/landscape.jpg"):
        image = pyvips.Image.new_from_buffer(get(server, path).content, "")
        assert {"width": image.width, "height": image.height} == expected, path


def test_a_zoom_that_leaves_no_pixel_is_a_clear_400(server: OriginProcess) -> None:
    r = httpx.get(server.url("/h_10,zoom_0.01/landscape.jpg"), timeout=60)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_options" and "zoom_0.01" in r.json()["detail"]
