"""IMGORIGIN_SOURCE_STALE: past IMGORIGIN_SOURCE_TTL an HTTP source's known version keeps serving
while one revalidation runs behind it, so a hit never waits for the upstream; a change or a
removal upstream shows once that revalidation is back; after the stale window a request waits."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support.net import wait_until
from tests.support.origin import OriginProcess
from tests.support.upstream import Upstream

DELAY = 3  # every upstream answer, so a request that waits for one is plain to see
PATH = "/w_60/swr/a.jpg"
FETCHED = f"/delay/{DELAY}/swr/a.jpg"


def _env(upstream: Upstream, ttl: int, stale: int) -> dict[str, str]:
    return {"IMGORIGIN_SOURCE": f"{upstream.base}/delay/{DELAY}/",
            "IMGORIGIN_SOURCE_TTL": str(ttl), "IMGORIGIN_SOURCE_STALE": str(stale),
            "IMGORIGIN_NOT_FOUND_TTL": "0", "IMGORIGIN_REQUEST_TIMEOUT": "20"}


def _timed_get(origin: OriginProcess, path: str = PATH) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(origin.url(path), timeout=30)
    return response, time.monotonic() - started


def test_a_stale_version_serves_while_it_is_revalidated_behind(upstream: Upstream,
                                                               samples_dir: Path) -> None:
    upstream.add("swr/a.jpg", (samples_dir / "products" / "shoe.jpg").read_bytes(), '"swr-1"')
    with OriginProcess(_env(upstream, ttl=1, stale=120)) as origin:

        def behind(result: str) -> float:
            return origin.metric("imgorigin_source_background_revalidations_total",
                                 result=result)

        first, _ = _timed_get(origin)
        assert first.status_code == 200 and upstream.hits[FETCHED] == 1

        time.sleep(1.2)  # past the TTL
        hit, took = _timed_get(origin)
        assert hit.headers["server-timing"].startswith("memory")
        assert took < 1.5, took  # did not wait for the upstream's 3 s
        assert hit.headers["etag"] == first.headers["etag"]
        # The revalidation ran behind it, and is back: one conditional GET (a 304).
        assert wait_until(lambda: behind("ok") == 1, 10)
        assert upstream.conditional[FETCHED] == 1 and upstream.hits[FETCHED] == 2

        # Changed upstream: after the TTL the old variant answers once more, at once, and the
        # new version serves as soon as the revalidation behind it is back.
        upstream.add("swr/a.jpg", (samples_dir / "landscape.jpg").read_bytes(), '"swr-2"')
        time.sleep(1.2)
        stale, took = _timed_get(origin)
        assert stale.headers["etag"] == first.headers["etag"] and took < 1.5, took
        assert wait_until(lambda: _timed_get(origin)[0].headers["etag"] != first.headers["etag"],
                          15, interval=0.3)
        assert wait_until(lambda: behind("ok") == 2, 5)
        assert upstream.conditional[FETCHED] == 2

        # Removed upstream: the same, ending in a 404.
        del upstream.files["swr/a.jpg"]
        time.sleep(1.2)
        assert _timed_get(origin)[0].status_code == 200
        assert wait_until(lambda: _timed_get(origin)[0].status_code == 404, 15, interval=0.3)
        assert wait_until(lambda: behind("not_found") == 1, 5) and behind("failed") == 0


def test_past_the_stale_window_a_request_waits_for_the_revalidation(upstream: Upstream,
                                                                    samples_dir: Path) -> None:
    upstream.add("swr/b.jpg", (samples_dir / "products" / "shoe.jpg").read_bytes(), '"swrb-1"')
    with OriginProcess(_env(upstream, ttl=1, stale=1)) as origin:
        first, _ = _timed_get(origin, "/w_60/swr/b.jpg")
        assert first.status_code == 200
        time.sleep(2.2)  # past TTL + stale window
        again, took = _timed_get(origin, "/w_60/swr/b.jpg")
        assert again.headers["etag"] == first.headers["etag"]
        assert took >= DELAY - 0.5, took  # it waited for the conditional GET
        assert upstream.conditional[f"/delay/{DELAY}/swr/b.jpg"] == 1
