"""`IMGORIGIN_CLIENT_HINTS`: `Sec-CH-DPR` in a few buckets for URLs that size the image and leave
`dpr` out, one variant with the URL that names the same `dpr`, and `Vary: Sec-CH-DPR` on every
answer that could have used it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import pyvips

from tests.support.origin import REPO, OriginProcess
from transforms.hints import DPR_BUCKETS, bucket_text, dpr_bucket


@pytest.mark.parametrize(("header", "bucket"), [
    ("", 1), ("1", 1), ("1.0", 1), ("0.5", 1), (".5", 1), ("0", 1), ("1.", 1),
    ("1.0001", 1.5), ("1.25", 1.5), ("1.5", 1.5), ("1.50", 1.5), ("1.51", 2), ("1.75", 2),
    ("2", 2), ("2.000", 2), ("2.0001", 3), ("2.625", 3), ("3", 3), ("3.01", 4), ("4", 4),
    ("99999999999", 4), (" 2 ", 2), ("02", 2),
    ("-2", 1), ("2e0", 1), ("inf", 1), ("nan", 1), ("2,3", 1), ("abc", 1), (".", 1),
])
def test_buckets(header: str, bucket: float) -> None:
    assert dpr_bucket(header) == bucket


def test_bucket_text_is_what_the_edges_write() -> None:
    assert [bucket_text(b) for b in DPR_BUCKETS] == ["1", "1.5", "2", "3", "4"]
    assert all(dpr_bucket(bucket_text(b)) == b for b in DPR_BUCKETS)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hint-sources")
    shutil.copy(REPO / "samples" / "landscape.jpg", root / "landscape.jpg")
    return root


@pytest.fixture(scope="module")
def server(sources: Path) -> Iterator[OriginProcess]:
    with OriginProcess({"IMGORIGIN_SOURCE": str(sources), "IMGORIGIN_CLIENT_HINTS": "true",
                        "IMGORIGIN_CLOUDINARY_PREFIX": "demo"}) as origin:
        yield origin


def _get(server: OriginProcess, path: str, **headers: str) -> httpx.Response:
    return httpx.get(server.url(path), headers=headers, timeout=30)


def _width(r: httpx.Response) -> int:
    assert r.status_code == 200, r.text
    return pyvips.Image.new_from_buffer(r.content, "").width


def test_the_hint_sizes_the_image_and_shares_the_explicit_variant(server: OriginProcess) -> None:
    explicit = _get(server, "/w_150,dpr_2/landscape.jpg")
    assert _width(explicit) == 300 and "vary" not in explicit.headers
    hinted = _get(server, "/w_150/landscape.jpg", **{"Sec-CH-DPR": "1.75"})
    assert _width(hinted) == 300
    assert hinted.headers["vary"] == "Sec-CH-DPR"
    # The same variant as the URL naming dpr_2: same key (ETag), from the cache.
    assert hinted.headers["etag"] == explicit.headers["etag"]
    assert hinted.headers["server-timing"].startswith("memory")
    plain = _get(server, "/w_150/landscape.jpg")
    assert _width(plain) == 150 and plain.headers["vary"] == "Sec-CH-DPR"
    assert plain.headers["etag"] != hinted.headers["etag"]
    one = _get(server, "/w_150/landscape.jpg", **{"Sec-CH-DPR": "1"})
    assert one.headers["etag"] == plain.headers["etag"]


@pytest.mark.parametrize(("header", "width"), [("1.25", 150), ("2.625", 300), ("9", 400),
                                               ("garbage", 100)])
def test_each_bucket(server: OriginProcess, header: str, width: int) -> None:
    assert _width(_get(server, "/w_100/landscape.jpg", **{"Sec-CH-DPR": header})) == width


def test_urls_the_hint_cannot_change_do_not_vary(server: OriginProcess) -> None:
    for path in ("/w_100,dpr_3/landscape.jpg", "/_/landscape.jpg", "/fmt_png/landscape.jpg"):
        r = _get(server, path, **{"Sec-CH-DPR": "2"})
        assert r.status_code == 200 and "vary" not in r.headers, path
    explicit_one = _get(server, "/w_90,dpr_3/landscape.jpg", **{"Sec-CH-DPR": "2"})
    assert _width(explicit_one) == 270


def test_with_fmt_auto_both_vary(server: OriginProcess) -> None:
    r = _get(server, "/w_80,fmt_auto/landscape.jpg",
             **{"Sec-CH-DPR": "2", "Accept": "image/webp,*/*"})
    assert r.headers["content-type"] == "image/webp" and _width(r) == 160
    assert r.headers["vary"] == "Accept, Sec-CH-DPR"


def test_revalidation_of_a_hinted_variant(server: OriginProcess) -> None:
    first = _get(server, "/w_70/landscape.jpg", **{"Sec-CH-DPR": "3"})
    again = _get(server, "/w_70/landscape.jpg",
                 **{"Sec-CH-DPR": "3", "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.headers["vary"] == "Sec-CH-DPR"
    other = _get(server, "/w_70/landscape.jpg",
                 **{"Sec-CH-DPR": "2", "If-None-Match": first.headers["etag"]})
    assert other.status_code == 200 and _width(other) == 140


def test_the_document_follows_the_hint(server: OriginProcess) -> None:
    r = _get(server, "/w_100,fmt_json/landscape.jpg", **{"Sec-CH-DPR": "2"})
    assert r.json()["output"]["width"] == 200 and r.headers["vary"] == "Sec-CH-DPR"


def test_off_by_default(sources: Path) -> None:
    with OriginProcess({"IMGORIGIN_SOURCE": str(sources)}) as plain:
        r = _get(plain, "/w_100/landscape.jpg", **{"Sec-CH-DPR": "2"})
        assert _width(r) == 100 and "vary" not in r.headers


def test_metrics_count_the_steps_used(server: OriginProcess) -> None:
    def count(step: str) -> float:
        return server.metric("imgorigin_client_hints_total", dpr=step)

    before = {step: count(step) for step in ("1", "1.5", "3")}
    _get(server, "/w_61/landscape.jpg", **{"Sec-CH-DPR": "1.3"})
    _get(server, "/w_61/landscape.jpg", **{"Sec-CH-DPR": "3"})
    _get(server, "/w_61/landscape.jpg")
    _get(server, "/w_61,dpr_2/landscape.jpg", **{"Sec-CH-DPR": "3"})  # not hinted: not counted
    assert {step: count(step) - before[step] for step in before} == {"1": 1, "1.5": 1, "3": 1}


def test_the_demo_page_asks_for_the_hint(server: OriginProcess, sources: Path) -> None:
    page = _get(server, "/index.html")
    assert page.status_code == 200 and page.headers["accept-ch"] == "Sec-CH-DPR"
    with OriginProcess({"IMGORIGIN_SOURCE": str(sources)}) as plain:
        assert "accept-ch" not in _get(plain, "/index.html").headers


def test_cloudinarys_dpr_auto_is_the_hint(server: OriginProcess) -> None:
    path = "/demo/image/upload/dpr_auto,w_140/landscape.jpg"
    hinted = _get(server, path, **{"Sec-CH-DPR": "2"})
    assert _width(hinted) == 280
    assert "Sec-CH-DPR" in hinted.headers["vary"]
    assert _width(_get(server, path)) == 140  # no hint: dpr 1, as Cloudinary without one
