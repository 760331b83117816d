"""Embedded mode (no Redis): memory + on-disk tiers shared by the workers of one host.

Two origin processes over one cache directory stand in for two workers whose requests we can
address one by one; a 2-worker gunicorn checks the same through the real accept queue.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.origin import OriginProcess, sharing_one_cache

TOKEN = "t0ken"
SIZES = [101, 102, 103, 104, 105, 106, 107, 108, 109, 110]


@pytest.fixture(scope="module")
def source_dir(samples_dir: Path) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="imgorigin-src-"))
    shutil.copytree(samples_dir, path, dirs_exist_ok=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def pair(source_dir: Path) -> Iterator[tuple[OriginProcess, OriginProcess]]:
    with sharing_one_cache({"IMGORIGIN_SOURCE": str(source_dir),
                            "IMGORIGIN_PURGE_TOKENS": TOKEN}) as both:
        yield both


def tier(response: httpx.Response) -> str:
    return response.headers["server-timing"].split(";")[0]


def transforms(*servers: OriginProcess) -> float:
    return sum(s.metric("imgorigin_transforms_total") for s in servers)


def purge(server: OriginProcess, **body: list[str]) -> httpx.Response:
    return httpx.post(server.url("/-/purge"), json=body, timeout=30,
                      headers={"Authorization": f"Bearer {TOKEN}"})


def test_disk_tier_is_shared_and_memory_fills_from_it(pair: tuple[OriginProcess, ...]) -> None:
    a, b = pair
    before = transforms(a, b)
    first = httpx.get(a.url("/w_123/landscape.jpg"), timeout=30)
    assert tier(first) == "transform"
    from_disk = httpx.get(b.url("/w_123/landscape.jpg"), timeout=30)
    assert tier(from_disk) == "disk"
    from_memory = httpx.get(b.url("/w_123/landscape.jpg"), timeout=30)
    assert tier(from_memory) == "memory"
    assert first.content == from_disk.content == from_memory.content
    assert first.headers["etag"] == from_disk.headers["etag"]
    assert transforms(a, b) == before + 1


def test_concurrent_misses_across_processes_run_one_transform(
    pair: tuple[OriginProcess, ...],
) -> None:
    a, b = pair
    before = transforms(a, b)
    # Slow enough (a large AVIF) that the 80 requests overlap the one transform.
    path = "/w_1400,fmt_avif/landscape.jpg"

    def fetch(i: int) -> httpx.Response:
        server = a if i % 2 else b
        return httpx.get(server.url(path), timeout=60)

    with ThreadPoolExecutor(40) as pool:
        responses = list(pool.map(fetch, range(80)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert transforms(a, b) == before + 1
    assert a.metric("imgorigin_coalesced_total") + b.metric("imgorigin_coalesced_total") >= 1


def test_purge_reaches_every_process_memory_and_disk(pair: tuple[OriginProcess, ...]) -> None:
    a, b = pair
    paths = [f"/w_{w}/products/shoe.jpg" for w in SIZES]
    for server in (a, b, a, b):
        for path in paths:
            assert httpx.get(server.url(path), timeout=30).status_code == 200
    assert all(tier(httpx.get(b.url(p), timeout=30)) == "memory" for p in paths)
    before = transforms(a, b)

    answer = purge(a, sources=["products/shoe.jpg"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["variants"] >= len(SIZES)
    assert body["purged"]["disk"] >= len(SIZES)
    assert answer.headers["cache-control"] == "no-store"

    # b never saw the purge call, yet its next request for each variant recomputes.
    assert [tier(httpx.get(b.url(p), timeout=30)) for p in paths] == ["transform"] * len(SIZES)
    assert transforms(a, b) == before + len(SIZES)
    assert all(tier(httpx.get(a.url(p), timeout=30)) in ("disk", "memory") for p in paths)

    again = purge(b, sources=["products/shoe.jpg"])
    assert again.status_code == 200
    purge(b, sources=["products/shoe.jpg"])
    assert purge(b, sources=["products/shoe.jpg"]).json()["variants"] == 0


def test_prefix_purge(pair: tuple[OriginProcess, ...]) -> None:
    a, b = pair
    httpx.get(a.url("/w_77/products/shoe.jpg"), timeout=30)
    httpx.get(a.url("/w_77/landscape.jpg"), timeout=30)
    body = purge(b, prefixes=["products/"]).json()
    assert body["variants"] >= 1
    assert tier(httpx.get(a.url("/w_77/products/shoe.jpg"), timeout=30)) == "transform"
    assert tier(httpx.get(a.url("/w_77/landscape.jpg"), timeout=30)) != "transform"


def test_purge_auth(pair: tuple[OriginProcess, ...]) -> None:
    a, _ = pair
    none = httpx.post(a.url("/-/purge"), json={"sources": ["landscape.jpg"]}, timeout=10)
    assert none.status_code == 401
    wrong = httpx.post(a.url("/-/purge"), json={"sources": ["landscape.jpg"]}, timeout=10,
                       headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert wrong.headers["cache-control"] == "no-store"
    bad = purge(a, sources="landscape.jpg")  # type: ignore[arg-type]
    assert bad.status_code == 400


def test_replaced_source_gets_new_variants_without_purge(
    pair: tuple[OriginProcess, ...], source_dir: Path
) -> None:
    a, _ = pair
    first = httpx.get(a.url("/w_64/logo.png"), timeout=30)
    target = source_dir / "logo.png"
    replacement = (source_dir / "spinner.gif").read_bytes()
    time.sleep(0.01)
    target.write_bytes(replacement)
    os.utime(target)
    second = httpx.get(a.url("/w_64/logo.png"), timeout=30)
    assert tier(second) == "transform"
    assert second.headers["etag"] != first.headers["etag"]
    assert second.content != first.content


def test_gunicorn_workers_coalesce_and_serve_from_cache(
    samples_dir: Path, tmp_path: Path
) -> None:
    env = {"IMGORIGIN_SOURCE": str(samples_dir)}
    cache_dir = str(tmp_path / "cache")
    with OriginProcess(env, workers=2, cache_dir=cache_dir) as server:
        assert len(server.worker_pids()) == 2
        path = "/w_345,fmt_avif/landscape.jpg"

        def fetch(_: int) -> httpx.Response:
            return httpx.get(server.url(path), timeout=60)

        with ThreadPoolExecutor(50) as pool:
            responses = list(pool.map(fetch, range(100)))
        assert {r.status_code for r in responses} == {200}
        assert len({r.content for r in responses}) == 1
        assert server.metric("imgorigin_transforms_total") == 1

    # A restart over the same cache directory serves from disk, running no pipeline.
    with OriginProcess(env, cache_dir=cache_dir) as restarted:
        again = httpx.get(restarted.url(path), timeout=30)
        assert tier(again) == "disk"
        assert again.content == responses[0].content
        assert restarted.metric("imgorigin_transforms_total") == 0
