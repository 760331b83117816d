"""S19: every answer carries `nosniff` and the sandbox CSP, its Content-Type is the encoder's
(never the source's name or bytes), and no SVG is ever served. Real server, own sources."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.origin import OriginProcess

SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48">'
       b'<rect width="64" height="48" fill="#c03"/><script>alert(1)</script></svg>')


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> Iterator[OriginProcess]:
    source = tmp_path_factory.mktemp("s19")
    shutil.copy(samples_dir / "landscape.jpg", source / "photo.png")  # a JPEG named .png
    shutil.copy(samples_dir / "logo.png", source / "logo.jpg")  # a PNG named .jpg
    (source / "drawing.svg").write_bytes(SVG)
    (source / "drawing.jpg").write_bytes(SVG)  # an SVG hiding behind a raster name
    with OriginProcess({"IMGORIGIN_SOURCE": str(source)}) as proc:
        yield proc


CASES = {
    "/w_100/photo.png": "image/jpeg",  # original format: what the bytes are, re-encoded
    "/w_100/logo.jpg": "image/png",
    "/w_100,fmt_webp/photo.png": "image/webp",
    "/w_100/drawing.svg": "image/png",  # rasterized, with its alpha kept
    "/w_100/drawing.jpg": "image/png",
    "/w_100,fmt_auto/drawing.svg": "image/png",
    "/w_100/missing.jpg": "application/json",
    "/w_0/photo.png": "application/json",
    "/not-options/photo.png": "application/json",
}


@pytest.mark.parametrize("path", list(CASES))
def test_s19_headers_and_content_type_come_from_the_server(server: OriginProcess,
                                                           path: str) -> None:
    for _ in range(2):  # the transform, then the cached answer
        r = httpx.get(server.url(path), headers={"accept": "image/svg+xml,*/*"}, timeout=30)
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert r.headers["content-type"] == CASES[path], (r.status_code, r.text[:200])
        assert b"<svg" not in r.content and b"<script" not in r.content
