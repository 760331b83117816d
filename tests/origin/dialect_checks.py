"""Checks the imgproxy, thumbor and ipx server tests share: a dialect URL is its native twin's
variant, and a bad one is a clear JSON error that leaves the server healthy."""

from __future__ import annotations

import httpx

from tests.support.origin import OriginProcess


def tier(response: httpx.Response) -> str:
    return response.headers["server-timing"].split(";")[0]


def get(server: OriginProcess, path: str, **headers: str) -> httpx.Response:
    return httpx.get(server.url(path), headers=headers, timeout=30)


def assert_native_twin(server: OriginProcess, dialect_path: str, native_path: str) -> None:
    """The dialect URL transforms; the native URL is then a hit on the same entry."""
    first = get(server, dialect_path)
    assert first.status_code == 200, first.text
    assert tier(first) == "transform"
    again = get(server, native_path)
    assert again.status_code == 200
    assert tier(again) == "memory"
    assert again.content == first.content
    for header in ("etag", "surrogate-key", "content-type"):
        assert again.headers[header] == first.headers[header], header


def assert_clear_error(server: OriginProcess, path: str, status: int, words: str) -> None:
    r = get(server, path)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert words in r.json()["detail"]
    assert get(server, "/-/healthz").status_code == 200


def assert_purge_reaches(server: OriginProcess, path: str, source: str, token: str) -> None:
    """A cached dialect URL transforms again after its source's purge."""
    assert tier(get(server, path)) == "transform"
    assert tier(get(server, path)) == "memory"
    purged = httpx.post(server.url("/-/purge"), json={"sources": [source]}, timeout=30,
                        headers={"Authorization": f"Bearer {token}"})
    assert purged.status_code == 200
    assert tier(get(server, path)) == "transform"
