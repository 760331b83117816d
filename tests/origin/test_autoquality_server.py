"""`q_auto` through a real server: the search runs once per variant (a repeat is a cache hit with
the same bytes), each negotiated format gets its own choice, and the metrics count them."""

from __future__ import annotations

import httpx

from tests.support.origin import OriginProcess


def test_q_auto_is_chosen_once_per_variant_and_counted(origin: OriginProcess) -> None:
    before = origin.metric("imgorigin_auto_quality_count", format="jpeg")
    encodes_before = origin.metric("imgorigin_auto_quality_encodes_total")
    first = httpx.get(origin.url("/w_360,q_auto:eco/landscape.jpg"), timeout=60)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "image/jpeg"
    again = httpx.get(origin.url("/w_360,q_auto:eco/landscape.jpg"), timeout=60)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert origin.metric("imgorigin_auto_quality_count", format="jpeg") == before + 1
    encodes = origin.metric("imgorigin_auto_quality_encodes_total") - encodes_before
    assert 1 <= encodes <= 5
    # Smaller than the default quality's answer: the landscape sample is an easy image.
    plain = httpx.get(origin.url("/w_360/landscape.jpg"), timeout=60)
    assert len(first.content) < len(plain.content)


def test_each_negotiated_format_gets_its_own_choice(origin: OriginProcess) -> None:
    answers = {}
    for accept in ("image/avif,image/webp,*/*", "image/webp,*/*", "*/*"):
        r = httpx.get(origin.url("/w_300,q_auto,fmt_auto/landscape.jpg"),
                      headers={"Accept": accept}, timeout=60)
        assert r.status_code == 200, r.text
        answers[r.headers["content-type"]] = r.content
    assert set(answers) == {"image/avif", "image/webp", "image/jpeg"}
    for fmt in ("avif", "webp", "jpeg"):
        assert origin.metric("imgorigin_auto_quality_count", format=fmt) >= 1
