"""A check the document-like variants (`fmt_json`, `fmt_blurhash`) share: cached in memory,
answered 304 for its ETag, keyed apart from the image of the same options, and made again after
its source's purge."""

from __future__ import annotations

import httpx

from tests.support.origin import OriginProcess


def assert_cached_revalidated_purged(origin: OriginProcess, path: str, image_path: str,
                                     source: str, token: str) -> httpx.Response:
    """`path` is transformed, then a hit; its ETag gives 304; `image_path` (the image of the same
    options) has another ETag; a purge of `source` makes `path` transform again, to the same
    bytes. Returns the first answer."""
    first = httpx.get(origin.url(path), timeout=30)
    assert first.headers["server-timing"].startswith("transform")
    again = httpx.get(origin.url(path), timeout=30)
    assert again.headers["server-timing"].startswith("memory")
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    unchanged = httpx.get(origin.url(path), headers={"If-None-Match": first.headers["etag"]},
                          timeout=30)
    assert unchanged.status_code == 304 and unchanged.content == b""
    image = httpx.get(origin.url(image_path), timeout=30)
    assert image.status_code == 200 and image.headers["etag"] != first.headers["etag"]
    purged = httpx.post(origin.url("/-/purge"), json={"sources": [source]},
                        headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert purged.status_code == 200
    after = httpx.get(origin.url(path), timeout=30)
    assert after.headers["server-timing"].startswith("transform")
    assert after.content == first.content
    return first
