"""IMGORIGIN_FALLBACK_IMAGE: a source that cannot be shown is answered with the operator's
fallback image made to the request's options, with the error's status and caching, tagged so that
a purge of the source replaces it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import pyvips

from tests.support.origin import OriginProcess
from tests.support.upstream import Upstream

TOKEN = "fallback-token"
GREEN = [0.0, 255.0, 0.0]
BLUE = [0.0, 0.0, 255.0]


def _solid(path: Path, width: int, height: int, colour: list[float]) -> None:
    (pyvips.Image.black(width, height) + colour).cast("uchar").copy(
        interpretation="srgb").pngsave(str(path))


def _pixels(body: bytes) -> tuple[int, int, list[float]]:
    image = pyvips.Image.new_from_buffer(body, "")
    return image.width, image.height, image.getpoint(image.width // 2, image.height // 2)[:3]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    _solid(tmp_path / "fallback.png", 300, 300, GREEN)
    (tmp_path / "src" / "notes.png").write_bytes(b"not an image\n" * 50)
    return tmp_path


def _env(site: Path, **extra: str) -> dict[str, str]:
    return {"IMGORIGIN_SOURCE": str(site / "src"),
            "IMGORIGIN_FALLBACK_IMAGE": str(site / "fallback.png"),
            "IMGORIGIN_PURGE_TOKENS": TOKEN, **extra}


@pytest.fixture
def origin(site: Path) -> Iterator[OriginProcess]:
    with OriginProcess(_env(site)) as server:
        yield server


def _get(origin: OriginProcess, path: str, **headers: str) -> httpx.Response:
    return httpx.get(origin.url(path), headers=headers, timeout=30)


def test_a_missing_source_gets_the_fallback_until_it_is_uploaded_and_purged(
        origin: OriginProcess, site: Path) -> None:
    path = "/w_120,h_60,fmt_png/new.png"
    missing = _get(origin, path)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "image/png"
    assert missing.headers["imgorigin-fallback"] == "not_found"
    assert missing.headers["cache-control"] == "public, max-age=60"  # IMGORIGIN_NOT_FOUND_TTL
    assert "etag" not in missing.headers
    assert _pixels(missing.content) == (120, 60, GREEN)
    assert origin.metric("imgorigin_fallbacks_total", error="not_found") == 1
    # Made once per options and format, then a cache hit like any variant.
    transforms = origin.metric("imgorigin_transforms_total")
    again = _get(origin, path)
    assert again.status_code == 404 and again.content == missing.content
    assert again.headers["server-timing"].startswith("memory")
    assert origin.metric("imgorigin_transforms_total") == transforms

    # The image is uploaded and its source purged (which a CDN holding the fallback gets, as
    # the fallback carried the source's tags): the real image from then on.
    _solid(site / "src" / "new.png", 400, 200, BLUE)
    purged = httpx.post(origin.url("/-/purge"), json={"sources": ["new.png"]},
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert purged.status_code == 200
    found = _get(origin, path)
    assert found.status_code == 200 and "imgorigin-fallback" not in found.headers
    assert _pixels(found.content) == (120, 60, BLUE)
    assert found.headers["surrogate-key"] == missing.headers["surrogate-key"]
    assert found.headers["cache-tag"] == missing.headers["cache-tag"]


def test_a_broken_source_gets_the_fallback_with_its_422(origin: OriginProcess) -> None:
    for _ in range(2):  # the second answer comes from the remembered failure
        broken = _get(origin, "/w_50,fmt_webp/notes.png")
        assert broken.status_code == 422
        assert broken.headers["imgorigin-fallback"] == "unprocessable_image"
        assert broken.headers["content-type"] == "image/webp"
        assert broken.headers["cache-control"] == "no-store"
        assert _pixels(broken.content)[:2] == (50, 50)


def test_a_negotiated_fallback_varies_on_accept(origin: OriginProcess) -> None:
    avif = _get(origin, "/w_40,fmt_auto/gone.png", Accept="image/avif,image/webp,*/*")
    assert avif.status_code == 404 and avif.headers["content-type"] == "image/avif"
    assert avif.headers["vary"] == "Accept"
    legacy = _get(origin, "/w_40,fmt_auto/gone.png", Accept="*/*")
    assert legacy.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize(("path", "status"), [
    ("/w_0/gone.png", 400),            # the client's mistake, not the source's
    ("/fmt_json/gone.png", 404),       # a document, not an image, was asked for
    ("/page_3/gone.png", 404),         # the fallback cannot be made to these options
])
def test_errors_without_a_fallback_stay_json(origin: OriginProcess, path: str,
                                             status: int) -> None:
    answer = _get(origin, path)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    assert "imgorigin-fallback" not in answer.headers


def test_a_failing_upstream_gets_the_fallback_with_status_200(site: Path,
                                                               upstream: Upstream) -> None:
    env = _env(site, IMGORIGIN_SOURCE=upstream.base + "/status/", IMGORIGIN_FALLBACK_STATUS="200")
    with OriginProcess(env) as origin:
        failed = _get(origin, "/w_30,fmt_png/500")
        assert failed.status_code == 200
        assert failed.headers["imgorigin-fallback"] == "upstream_error"
        assert failed.headers["cache-control"] == "no-store"
        assert _pixels(failed.content) == (30, 30, GREEN)


def test_an_unusable_fallback_file_stops_the_worker_at_startup(site: Path) -> None:
    (site / "fallback.png").write_bytes(b"<html>nope</html>")
    with pytest.raises(RuntimeError, match=r"IMGORIGIN_FALLBACK_IMAGE: .*fallback\.png"):
        OriginProcess(_env(site)).start(timeout=20)
