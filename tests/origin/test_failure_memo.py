"""IMGORIGIN_FAILURE_TTL: a variant that failed because of its source is answered with the same
error without reading or decoding the source again, until the source changes or the time is up."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from cache.journal import PurgeRecord
from origin.errors import SourceTooLarge, UnprocessableImage, UpstreamTimeout
from origin.failures import FailureMemo
from tests.support.origin import REPO, OriginProcess

GOOD = (REPO / "samples" / "landscape.jpg").read_bytes()


def test_a_broken_source_is_decoded_once_per_variant_until_it_is_fixed(tmp_path: Path) -> None:
    source = tmp_path / "broken.jpg"
    source.write_bytes(GOOD[: len(GOOD) // 2])  # a valid header, half the scan data
    env = {"IMGORIGIN_SOURCE": str(tmp_path), "IMGORIGIN_PURGE_TOKENS": "t"}
    with OriginProcess(env) as origin:
        def get(path: str) -> httpx.Response:
            return httpx.get(origin.url(path), timeout=30)

        def remembered() -> float:
            return origin.metric("imgorigin_failures_remembered_total")

        first = get("/w_100/broken.jpg")
        assert first.status_code == 422 and first.headers["cache-control"] == "no-store"
        assert remembered() == 0
        for _ in range(3):
            again = get("/w_100/broken.jpg")
            assert (again.status_code, again.json()) == (422, first.json())
        assert remembered() == 3
        # Another variant of it is its own key: decoded (and refused) once too.
        assert get("/w_101/broken.jpg").status_code == 422
        assert remembered() == 3
        # A purge of the source forgets its failures: the next request decodes it again.
        purged = httpx.post(origin.url("/-/purge"), json={"sources": ["broken.jpg"]},
                            headers={"Authorization": "Bearer t"}, timeout=30)
        assert purged.status_code == 200
        assert get("/w_100/broken.jpg").status_code == 422
        assert remembered() == 3
        assert get("/w_100/broken.jpg").status_code == 422
        assert remembered() == 4
        # Fixed: a new version, a new key, served at once.
        source.write_bytes(GOOD)
        assert get("/w_100/broken.jpg").status_code == 200
        assert remembered() == 4


def test_ttl_zero_remembers_nothing(tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(GOOD[: len(GOOD) // 2])
    env = {"IMGORIGIN_SOURCE": str(tmp_path), "IMGORIGIN_FAILURE_TTL": "0"}
    with OriginProcess(env) as origin:
        for _ in range(3):
            assert httpx.get(origin.url("/w_100/broken.jpg"), timeout=30).status_code == 422
        assert origin.metric("imgorigin_failures_remembered_total") == 0


def test_only_failures_the_key_decides_are_remembered_and_only_for_the_ttl() -> None:
    memo = FailureMemo(ttl=60)
    memo.remember("k-timeout", "a.jpg", UpstreamTimeout("slow"))  # may pass next time
    memo.remember("k-big", "a.jpg", SourceTooLarge("too big", internal="42 MiB"))
    assert memo.recall("k-timeout") is None
    recalled = memo.recall("k-big")
    assert isinstance(recalled, SourceTooLarge)
    assert (recalled.detail, recalled.internal) == ("too big", "42 MiB")
    assert memo.recall("k-big") is not recalled  # a fresh error each time
    memo.remember("k-other", "b/c.jpg", UnprocessableImage("corrupt"))
    memo.forget(PurgeRecord(("a.jpg",), ()))
    assert memo.recall("k-big") is None and memo.recall("k-other") is not None
    memo.forget(PurgeRecord((), ("b/",)))
    assert memo.recall("k-other") is None

    expired = FailureMemo(ttl=0.01)
    expired.remember("k", "a.jpg", UnprocessableImage("corrupt"))
    time.sleep(0.02)
    assert expired.recall("k") is None
