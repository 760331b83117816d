"""`fq` through a server: one `fmt_auto` URL answers each negotiated format at its own quality."""

from __future__ import annotations

import httpx
import pytest

from tests.support.origin import OriginProcess


@pytest.mark.parametrize(("accept", "fmt", "quality"), [
    ("image/avif,image/webp,*/*", "avif", 35), ("image/webp,*/*", "webp", 60),
    ("*/*", "jpeg", 70),
])
def test_one_auto_url_gives_each_format_its_quality(origin: OriginProcess, accept: str,
                                                    fmt: str, quality: int) -> None:
    auto = httpx.get(origin.url("/w_240,fmt_auto,q_70,fq_avif:35:webp:60/landscape.jpg"),
                     headers={"Accept": accept}, timeout=30)
    explicit = httpx.get(origin.url(f"/w_240,fmt_{fmt},q_{quality}/landscape.jpg"), timeout=30)
    assert auto.status_code == explicit.status_code == 200
    assert auto.headers["content-type"] == f"image/{fmt}"
    assert auto.content == explicit.content
    assert auto.headers["vary"] == "Accept"
