"""POST /-/warm: variants computed before anyone asks, so the first requests are cache hits;
bad entries are reported one by one with the status a GET would get, and nothing breaks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from cache.entry import CachedVariant
from origin.cli import build_url
from origin.service import Answer
from origin.warm import warm as warm_paths
from tests.support.origin import REPO, OriginProcess

TOKEN = "warm-token"
SIGNING_KEY = "0123456789abcdef0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def warm(origin: OriginProcess, body: Any, headers: dict[str, str] = AUTH) -> httpx.Response:
    return httpx.post(origin.url("/-/warm"), json=body, headers=headers, timeout=60)


def tier(response: httpx.Response) -> str:
    return response.headers["server-timing"].split(";")[0]


@pytest.fixture(scope="module")
def origin() -> Iterator[OriginProcess]:
    env = {"IMGORIGIN_SOURCE": str(REPO / "samples"), "IMGORIGIN_PURGE_TOKENS": TOKEN,
           "IMGORIGIN_IMGIX_PREFIX": "imgix"}
    with OriginProcess(env, workers=2) as server:
        yield server


def test_warmed_variants_are_cache_hits_for_every_accept_class(origin: OriginProcess) -> None:
    auto, webp = "/w_140,fmt_auto/landscape.jpg", "/w_150,fmt_webp/products/shoe.jpg"
    before = origin.metric("imgorigin_transforms_total")
    r = warm(origin, {"paths": [auto, webp]})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store", r.text
    variants = r.json()["variants"]
    assert [(v["path"], v.get("accept"), v["status"], v["tier"], v["format"])
            for v in variants] == [
        (auto, "avif", 200, "transform", "avif"),
        (auto, "webp", 200, "transform", "webp"),
        (auto, "legacy", 200, "transform", "jpeg"),
        (webp, None, 200, "transform", "webp"),
    ]
    assert origin.metric("imgorigin_transforms_total") == before + 4

    # Every worker finds them (the shared disk tier): no request transforms again.
    for accept, warmed in zip(("image/avif,image/webp,*/*", "image/webp,*/*", "*/*"),
                              variants[:3], strict=True):
        for _ in range(4):
            got = httpx.get(origin.url(auto), headers={"Accept": accept}, timeout=30)
            assert got.status_code == 200 and tier(got) in ("memory", "disk"), got.headers
            assert got.headers["etag"] == warmed["etag"]
            assert int(got.headers["content-length"]) == warmed["bytes"]
    assert tier(httpx.get(origin.url(webp), timeout=30)) in ("memory", "disk")
    assert origin.metric("imgorigin_transforms_total") == before + 4

    # Warming again finds them.
    again = warm(origin, {"paths": [webp]}).json()["variants"]
    assert again[0]["tier"] in ("memory", "disk")
    assert origin.metric("imgorigin_transforms_total") == before + 4


def test_a_path_is_read_with_its_query_as_a_get_reads_it(origin: OriginProcess) -> None:
    imgix = "/imgix/landscape.jpg?w=130&fm=webp"  # the query is the options
    native = "/w_120,fmt_webp/landscape.jpg?cachebust=1"  # the query is ignored
    variants = warm(origin, {"paths": [imgix, native]}).json()["variants"]
    assert [(v["path"], v["status"], v["tier"], v["format"]) for v in variants] == [
        (imgix, 200, "transform", "webp"), (native, 200, "transform", "webp")]
    for path, warmed in ((imgix, variants[0]), (native, variants[1])):
        got = httpx.get(origin.url(path), timeout=30)
        assert tier(got) in ("memory", "disk") and got.headers["etag"] == warmed["etag"]


def test_bad_entries_are_reported_one_by_one_and_the_rest_is_warmed(
        origin: OriginProcess) -> None:
    good = "/w_160,fmt_jpeg/landscape.jpg"
    r = warm(origin, {"paths": ["/w_abc/landscape.jpg", "/w_10/missing.jpg", "/-/metrics",
                                "landscape.jpg", good]})
    assert r.status_code == 200, r.text
    by_path = {v["path"]: v for v in r.json()["variants"]}
    assert by_path["/w_abc/landscape.jpg"]["status"] == 400
    assert "w_abc" in by_path["/w_abc/landscape.jpg"]["detail"]
    assert by_path["/w_10/missing.jpg"]["status"] == 404
    assert by_path["/-/metrics"]["status"] == 400
    assert by_path["landscape.jpg"]["status"] == 400
    assert by_path[good]["status"] == 200 and by_path[good]["format"] == "jpeg"


@pytest.mark.parametrize(("body", "headers", "status"), [
    ({"paths": ["/w_10/landscape.jpg"]}, {}, 401),
    ({"paths": ["/w_10/landscape.jpg"]}, {"Authorization": "Bearer nope"}, 403),
    ({"paths": "/w_10/landscape.jpg"}, AUTH, 400),
    ({"paths": []}, AUTH, 400),
    ({"paths": [f"/w_{i + 1}/landscape.jpg" for i in range(101)]}, AUTH, 400),
    ({"paths": ["/w_10/landscape.jpg"], "force": True}, AUTH, 400),
    ([], AUTH, 400),
])
def test_malformed_or_unauthorised_warm_calls_warm_nothing(
        origin: OriginProcess, body: Any, headers: dict[str, str], status: int) -> None:
    before = origin.metric("imgorigin_transforms_total")
    r = warm(origin, body, headers)
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error", "detail"} and r.headers["cache-control"] == "no-store"
    assert origin.metric("imgorigin_transforms_total") == before


def test_with_signed_urls_only_signed_paths_are_warmed() -> None:
    env = {"IMGORIGIN_SOURCE": str(REPO / "samples"), "IMGORIGIN_PURGE_TOKENS": TOKEN,
           "IMGORIGIN_SIGNING_KEYS": SIGNING_KEY}
    with OriginProcess(env) as server:
        signed = build_url("w_90,fmt_webp", "landscape.jpg", sign_key=SIGNING_KEY)
        r = warm(server, {"paths": ["/w_90,fmt_webp/landscape.jpg", signed]})
        first, second = r.json()["variants"]
        assert first["status"] == 403 and second["status"] == 200, r.text
        assert tier(httpx.get(server.url(signed), timeout=30)) in ("memory", "disk")


class SlowService:
    """The warm loop's seam (origin.warm.Service) with variants that take 50 ms each."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def admit(self, raw_path: str, query: str = "") -> Any:
        return SimpleNamespace(requested_format="webp", expires=None, path=raw_path)

    async def answer(self, req: Any, accept: str, client: str = "",
                     if_none_match: str = "") -> Answer:
        await asyncio.sleep(0.05)
        self.made.append(req.path)
        entry = CachedVariant(b"x", "image/webp", '"k"', "s", "v", "webp", 1, 1, 0.0)
        return Answer(entry, "transform", False, "")


def test_a_call_starts_nothing_after_its_budget_and_says_what_it_left() -> None:
    service = SlowService()
    paths = [f"/w_{i + 1},fmt_webp/a.jpg" for i in range(6)]
    results = asyncio.run(warm_paths(service, paths, "a:test", budget=0.12))
    assert [r["path"] for r in results] == paths  # every path answered, in order
    made = [r for r in results if r["status"] == 200]
    left = [r for r in results if r["status"] != 200]
    assert made and left, results
    assert results == made + left  # nothing started after the first one left out
    assert [r["path"] for r in made] == service.made
    assert all(r["status"] == 503 and r["error"] == "not_attempted" for r in left)
