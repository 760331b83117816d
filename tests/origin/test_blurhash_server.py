"""`fmt_blurhash` through a real server: a BlurHash string as `text/plain`, readable by page
scripts on other origins, cached, revalidated and purged like any variant, keyed apart from the
image of the same options, and failing as that image would."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import blurhash
import httpx
import pytest

from tests.origin.variant_checks import assert_cached_revalidated_purged
from tests.support.origin import REPO, OriginProcess

TOKEN = "blurhash-token"


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OriginProcess]:
    root: Path = tmp_path_factory.mktemp("blurhash-sources")
    for name in ("landscape.jpg", "spinner.gif"):
        shutil.copy(REPO / "samples" / name, root / name)
    (root / "truncated.jpg").write_bytes((REPO / "samples" / "landscape.jpg").read_bytes()[:3000])
    with OriginProcess({"IMGORIGIN_SOURCE": str(root),
                        "IMGORIGIN_PURGE_TOKENS": TOKEN}) as server:
        yield server


def _get(origin: OriginProcess, path: str, **headers: str) -> httpx.Response:
    return httpx.get(origin.url(path), headers=headers, timeout=30)


def test_the_answer_is_a_blurhash_string(origin: OriginProcess) -> None:
    r = _get(origin, "/w_300,h_200,fmt_blurhash/landscape.jpg")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["access-control-allow-origin"] == "*"
    assert blurhash.components(r.text) == (4, 3)
    assert len(r.content) == int(r.headers["content-length"]) == 28  # 4x3: 4 + 2 * 12 chars
    pixels = blurhash.decode(r.text, 4, 3)
    assert all(0 <= value <= 255 for row in pixels for pixel in row for value in pixel)
    # An animation's placeholder is its first frame's.
    gif = _get(origin, "/w_40,fmt_blurhash/spinner.gif")
    assert gif.status_code == 200 and blurhash.components(gif.text) in ((4, 3), (3, 4))


def test_the_string_is_cached_revalidated_and_purged(origin: OriginProcess) -> None:
    first = assert_cached_revalidated_purged(origin, "/w_120,fmt_blurhash/landscape.jpg",
                                             "/w_120/landscape.jpg", "landscape.jpg", TOKEN)
    assert blurhash.components(first.text) == (4, 3)


def test_a_placeholder_fails_as_its_image_would(origin: OriginProcess) -> None:
    for path in ("/w_100,fmt_blurhash/truncated.jpg", "/w_100/truncated.jpg"):
        r = _get(origin, path)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["error"] == "unprocessable_image"
    missing = _get(origin, "/fmt_blurhash/missing.jpg")
    assert missing.status_code == 404
