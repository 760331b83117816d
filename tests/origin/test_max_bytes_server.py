"""`mb_N` through a real server: the answer fits, is a variant of its own (cached, validated),
negotiates formats like any other, and its size is what `fmt_json` predicts."""

from __future__ import annotations

import httpx
import pytest
import pyvips

from tests.support.origin import OriginProcess


def _get(origin: OriginProcess, path: str, **headers: str) -> httpx.Response:
    return httpx.get(origin.url(path), headers=headers, timeout=30)


def test_the_answer_fits_and_is_cached(origin: OriginProcess) -> None:
    plain = _get(origin, "/w_800/landscape.jpg")
    budget = len(plain.content) // 2
    path = f"/w_800,mb_{budget}/landscape.jpg"
    first = _get(origin, path)
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    assert len(first.content) <= budget
    assert int(first.headers["content-length"]) == len(first.content)
    assert pyvips.Image.new_from_buffer(first.content, "").width == 800
    assert first.headers["server-timing"].startswith("transform")
    again = _get(origin, path)
    assert again.headers["server-timing"].startswith("memory")
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert again.headers["etag"] != plain.headers["etag"]
    # The alias and another token order are the same variant.
    alias = _get(origin, f"/maxbytes_{budget},w_800/landscape.jpg")
    assert alias.headers["etag"] == first.headers["etag"]


@pytest.mark.parametrize(("accept", "content_type"), [
    ("image/avif,image/webp,*/*", "image/avif"),
    ("image/webp,*/*", "image/webp"),
    ("*/*", "image/jpeg"),
])
def test_each_negotiated_format_fits(origin: OriginProcess, accept: str,
                                     content_type: str) -> None:
    plain = _get(origin, "/w_500,fmt_auto/landscape.jpg", Accept=accept)
    budget = len(plain.content) * 2 // 3
    r = _get(origin, f"/w_500,fmt_auto,mb_{budget}/landscape.jpg", Accept=accept)
    assert r.status_code == 200 and r.headers["content-type"] == content_type
    assert len(r.content) <= budget
    assert r.headers["vary"] == plain.headers["vary"]


def test_a_bad_budget_is_a_400_naming_the_token(origin: OriginProcess) -> None:
    r = _get(origin, "/w_100,mb_50/landscape.jpg")
    assert r.status_code == 400
    assert "mb_50" in r.json()["detail"]


def test_the_document_predicts_the_size(origin: OriginProcess) -> None:
    document = _get(origin, "/w_640,mb_9000,fmt_json/landscape.jpg")
    image = _get(origin, "/w_640,mb_9000/landscape.jpg")
    decoded = pyvips.Image.new_from_buffer(image.content, "")
    assert document.json()["output"] == {"width": decoded.width, "height": decoded.height}


def test_metrics_count_budgets_and_their_encodes(origin: OriginProcess) -> None:
    def counts() -> tuple[float, float, float, float]:
        return (origin.metric("imgorigin_byte_budgets_total", result="fit"),
                origin.metric("imgorigin_byte_budgets_total", result="lowered"),
                origin.metric("imgorigin_byte_budgets_total", result="unmet"),
                origin.metric("imgorigin_byte_budget_encodes_total"))

    before = counts()
    assert _get(origin, "/w_333,mb_100000000/landscape.jpg").status_code == 200  # fits at once
    after_fit = counts()
    assert after_fit == (before[0] + 1, before[1], before[2], before[3] + 1)
    assert _get(origin, "/w_333,mb_100/landscape.jpg").status_code == 200  # never fits
    after_unmet = counts()
    # Quality 80, then 40, 20, 10, 5, 2 and 1: seven encodes.
    assert after_unmet == (after_fit[0], after_fit[1], after_fit[2] + 1, after_fit[3] + 7)
    plain = len(_get(origin, "/w_333/landscape.jpg").content)
    assert _get(origin, f"/w_333,mb_{plain * 2 // 3}/landscape.jpg").status_code == 200
    lowered = counts()
    assert lowered[1] == after_unmet[1] + 1 and lowered[3] > after_unmet[3] + 1
    # A cache hit runs no encode at all.
    assert _get(origin, "/w_333,mb_100/landscape.jpg").status_code == 200
    assert counts() == lowered
