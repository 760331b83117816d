"""The origin with Redis as its shared tier, end to end: real gunicorn servers, a real
redis-server (or Cluster) on free ports, a real upstream. Separate cache directories make two
servers behave as two hosts: only Redis connects them (no shared file leases or journal)."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.net import free_port, wait_until
from tests.support.origin import OriginProcess
from tests.support.redis_server import RedisCluster, RedisProcess
from tests.support.upstream import Upstream

TOKEN = "redis-t0ken"
SIZES = [201, 202, 203, 204, 205, 206, 207, 208, 209, 210]


def tier(response: httpx.Response) -> str:
    return response.headers["server-timing"].split(";")[0]


def purge(server: OriginProcess, **body: list[str]) -> httpx.Response:
    return httpx.post(server.url("/-/purge"), json=body, timeout=30,
                      headers={"Authorization": f"Bearer {TOKEN}"})


def transforms(*servers: OriginProcess) -> float:
    return sum(s.metric("imgorigin_transforms_total") for s in servers)


@pytest.fixture(scope="module")
def rserver() -> Iterator[RedisProcess]:
    proc = RedisProcess().start()
    yield proc
    proc.stop()


def server(env: dict[str, str], workers: int = 1) -> OriginProcess:
    """A server as its own host: its own cache directory (so only Redis is shared)."""
    return OriginProcess({"IMGORIGIN_PURGE_TOKENS": TOKEN, **env}, workers=workers,
                         cache_dir=tempfile.mkdtemp(prefix="imgorigin-host-"))


@pytest.fixture(scope="module")
def hosts(rserver: RedisProcess, samples_dir: Path) -> Iterator[tuple[OriginProcess, ...]]:
    """Two hosts over the bundled samples; B has L1 off (the bench's Redis hit path)."""
    env = {"IMGORIGIN_SOURCE": str(samples_dir), "IMGORIGIN_REDIS_URL": rserver.url}
    a = server(env).start()
    b = server({**env, "IMGORIGIN_MEMORY_CACHE_MAX_BYTES": "0"}).start()
    yield a, b
    a.stop()
    b.stop()


def test_hit_runs_no_pipeline_and_reads_no_source(hosts: tuple[OriginProcess, ...]) -> None:
    a, b = hosts
    path = "/w_150,fmt_webp/landscape.jpg"
    source_bytes = b.metric("imgorigin_source_bytes_total")
    first = httpx.get(a.url(path), timeout=30)
    assert tier(first) == "transform"
    before = transforms(a, b)
    from_redis = [httpx.get(b.url(path), timeout=30) for _ in range(3)]
    from_memory = httpx.get(a.url(path), timeout=30)
    assert [tier(r) for r in from_redis] == ["redis"] * 3  # L1 off: every hit is a Redis hit
    assert tier(from_memory) == "memory"
    assert {r.content for r in [first, *from_redis, from_memory]} == {first.content}
    assert {r.headers["etag"] for r in [first, *from_redis]} == {first.headers["etag"]}
    assert from_redis[0].headers["content-type"] == "image/webp"
    assert transforms(a, b) == before
    assert b.metric("imgorigin_source_bytes_total") == source_bytes
    assert b.metric("imgorigin_cache_hits_total", tier="redis") >= 3


def test_http_source_hit_within_source_ttl_fetches_nothing(
    rserver: RedisProcess, upstream: Upstream, samples_dir: Path
) -> None:
    upstream.add("redis/shoe.jpg", (samples_dir / "products" / "shoe.jpg").read_bytes(), '"s1"')
    env = {"IMGORIGIN_SOURCE": upstream.base + "/files/", "IMGORIGIN_REDIS_URL": rserver.url,
           "IMGORIGIN_MEMORY_CACHE_MAX_BYTES": "0"}
    with server(env) as origin:
        first = httpx.get(origin.url("/w_90/redis/shoe.jpg"), timeout=30)
        assert tier(first) == "transform"
        hits = upstream.total_hits("/files/redis/")
        again = [httpx.get(origin.url("/w_90/redis/shoe.jpg"), timeout=30) for _ in range(3)]
        assert [tier(r) for r in again] == ["redis"] * 3
        assert upstream.total_hits("/files/redis/") == hits
        assert origin.metric("imgorigin_transforms_total") == 1


def test_r2_200_concurrent_requests_over_two_workers_run_one_transform(
    rserver: RedisProcess, upstream: Upstream, samples_dir: Path
) -> None:
    upstream.add("r2/landscape.jpg", (samples_dir / "landscape.jpg").read_bytes(), '"r2"')
    # The source answers after 0.5 s, so all 200 requests are in flight together. A lease call
    # past IMGORIGIN_REDIS_TIMEOUT (50 ms) falls back to a local transform by design (R6); 200
    # requests on a loaded 2-core box most likely pushed one past it in a full `make test` once
    # (2 transforms; a 0.3 ms timeout gives 4 with 13 Redis errors), so this test, which is
    # about coalescing, gives Redis a second and names the errors if it fails again.
    env = {"IMGORIGIN_SOURCE": upstream.base + "/delay/0.5/", "IMGORIGIN_REDIS_URL": rserver.url,
           "IMGORIGIN_REDIS_TIMEOUT": "1"}
    with server(env, workers=2) as origin:
        assert len(origin.worker_pids()) == 2
        path = "/w_480,fmt_webp/r2/landscape.jpg"

        def fetch(_: int) -> httpx.Response:
            return httpx.get(origin.url(path), timeout=60)

        with ThreadPoolExecutor(200) as pool:
            responses = list(pool.map(fetch, range(200)))
        assert Counter(r.status_code for r in responses) == {200: 200}
        assert len({r.content for r in responses}) == 1
        assert len({r.headers["etag"] for r in responses}) == 1
        errors = origin.metric("imgorigin_cache_errors_total")
        assert origin.metric("imgorigin_transforms_total") == 1, f"redis errors: {errors}"
        assert origin.metric("imgorigin_coalesced_total") >= 1
        # One version fetch per worker at most (each worker learns the version itself).
        assert upstream.hits["/delay/0.5/r2/landscape.jpg"] <= 2


def test_concurrent_misses_on_two_hosts_run_one_transform(
    hosts: tuple[OriginProcess, ...],
) -> None:
    a, b = hosts
    before = transforms(a, b)
    path = "/w_333,h_222,fmt_avif/products/shoe.jpg"

    def fetch(i: int) -> httpx.Response:
        return httpx.get((a if i % 2 else b).url(path), timeout=60)

    with ThreadPoolExecutor(60) as pool:
        responses = list(pool.map(fetch, range(120)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert transforms(a, b) == before + 1


def test_purge_of_ten_variants_reaches_redis_and_every_l1(
    rserver: RedisProcess, samples_dir: Path
) -> None:
    redis.Redis(port=rserver.port).flushall()  # only this test's variants of the source
    env = {"IMGORIGIN_SOURCE": str(samples_dir), "IMGORIGIN_REDIS_URL": rserver.url}
    with server(env) as a, server(env) as b:
        paths = [f"/w_{w}/products/shoe.jpg" for w in SIZES]
        for host in (a, b, a, b):
            for path in paths:
                assert httpx.get(host.url(path), timeout=30).status_code == 200
        assert all(tier(httpx.get(h.url(p), timeout=30)) == "memory"
                   for h in (a, b) for p in paths)
        before = transforms(a, b)

        answer = purge(a, sources=["products/shoe.jpg"])
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["variants"] == len(SIZES)
        assert body["purged"]["redis"] == len(SIZES)
        time.sleep(0.2)  # the broadcast to b's L1 (R14 allows 1 s)

        # b never saw the purge call: its L1 was emptied by the broadcast, Redis by the purge.
        assert [tier(httpx.get(b.url(p), timeout=30)) for p in paths] == ["transform"] * 10
        assert transforms(a, b) == before + len(SIZES)
        assert [tier(httpx.get(a.url(p), timeout=30)) for p in paths] == ["redis"] * 10

        for _ in range(2):
            purge(b, sources=["products/shoe.jpg"])
        again = purge(b, sources=["products/shoe.jpg"])
        assert again.status_code == 200
        assert again.json()["variants"] == 0


@pytest.mark.parametrize("disk", ["off", "on"])
def test_r14_transform_straddling_a_purge_on_another_host_is_not_stored(
    rserver: RedisProcess, upstream: Upstream, samples_dir: Path, disk: str
) -> None:
    """With the disk tier on too (before Redis, and written first), the result that Redis'
    generation refuses must not stay on disk either."""
    source = f"r14{disk}/logo.png"
    upstream.add(source, (samples_dir / "logo.png").read_bytes(), f'"r14{disk}"')
    # No originals kept (per worker or shared): the transform's own read goes upstream again,
    # and takes 1 s.
    env = {"IMGORIGIN_SOURCE": upstream.base + "/delay/1/", "IMGORIGIN_REDIS_URL": rserver.url,
           "IMGORIGIN_ORIGINALS_CACHE_MAX_BYTES": "0",
           "IMGORIGIN_SHARED_ORIGINALS_MAX_BYTES": "0", "IMGORIGIN_DISK_CACHE": disk}
    with server(env) as a, server(env) as b:
        path = f"/w_64/{source}"
        result: dict[str, httpx.Response] = {}
        worker = threading.Thread(target=lambda: result.setdefault(
            "r", httpx.get(a.url(path), timeout=30)))
        worker.start()
        time.sleep(1.5)  # version learnt (1 s), transform's read under way (1 s more)
        assert purge(b, sources=[source]).json()["purged"]["redis"] == 0
        worker.join()
        assert result["r"].status_code == 200  # its own client still gets an answer
        # Either guard may stop it first: the broadcast purge in a's journal, or Redis' generation.
        assert a.metric("imgorigin_cache_stale_stores_total") == 1
        client = redis.Redis(port=rserver.port)
        assert not [k for k in client.keys("*:v:*")
                    if client.get(k) and source.encode() in (client.get(k) or b"")]
        client.close()
        assert tier(httpx.get(a.url(path), timeout=30)) == "transform"


def test_r14_with_the_disk_tier_on_too_a_purge_on_one_host_empties_the_others_disk(
    rserver: RedisProcess, samples_dir: Path
) -> None:
    """`IMGORIGIN_DISK_CACHE=on` beside Redis: the disk tier sits before Redis, so a purge made
    on another host must reach this host's disk (through the broadcast), not only its memory."""
    env = {"IMGORIGIN_SOURCE": str(samples_dir), "IMGORIGIN_REDIS_URL": rserver.url,
           "IMGORIGIN_DISK_CACHE": "on", "IMGORIGIN_MEMORY_CACHE_MAX_BYTES": "0"}
    with server(env) as a, server(env) as b:
        paths = [f"/w_{w},fmt_png/products/shoe.jpg" for w in SIZES[:3]]
        assert [tier(httpx.get(b.url(p), timeout=30)) for p in paths] == ["transform"] * 3
        assert [tier(httpx.get(b.url(p), timeout=30)) for p in paths] == ["disk"] * 3
        answer = purge(a, sources=["products/shoe.jpg"])
        assert answer.status_code == 200, answer.text
        assert wait_until(lambda: tier(httpx.get(b.url(paths[0]), timeout=30)) == "transform",
                          1.0), "b kept answering from its disk tier after the purge"
        assert [tier(httpx.get(b.url(p), timeout=30)) for p in paths[1:]] == ["transform"] * 2


def test_lease_holder_dies_and_a_waiter_on_another_host_takes_over(
    rserver: RedisProcess, upstream: Upstream, samples_dir: Path
) -> None:
    upstream.add("lease/shoe.jpg", (samples_dir / "products" / "shoe.jpg").read_bytes(), '"l"')
    env = {"IMGORIGIN_SOURCE": upstream.base + "/delay/1.5/", "IMGORIGIN_REDIS_URL": rserver.url,
           "IMGORIGIN_REDIS_LEASE_TTL": "1"}
    with server({**env, "IMGORIGIN_ORIGINALS_CACHE_MAX_BYTES": "0",
                 "IMGORIGIN_SHARED_ORIGINALS_MAX_BYTES": "0"}) as a, server(env) as b:
        path = "/w_77/lease/shoe.jpg"
        def doomed() -> None:
            with contextlib.suppress(httpx.HTTPError):  # its worker is killed under it
                httpx.get(a.url(path), timeout=30)

        threading.Thread(target=doomed, daemon=True).start()
        # a holds the lease from 1.5 s (version known) while its read takes 1.5 s more. b comes
        # after that: it takes the version a shared, then waits on a's lease.
        time.sleep(1.8)
        started = time.monotonic()
        result: dict[str, httpx.Response] = {}
        waiter = threading.Thread(target=lambda: result.setdefault(
            "r", httpx.get(b.url(path), timeout=30)))
        waiter.start()
        time.sleep(0.4)
        for pid in a.worker_pids():
            os.kill(pid, signal.SIGKILL)
        waiter.join()
        took = time.monotonic() - started
        assert result["r"].status_code == 200
        assert tier(result["r"]) == "transform"
        # It waited for the dead holder's leases to expire (1 s), then read the source (1.5 s),
        # not for its own deadline (15 s).
        assert took < 6, took
        assert b.metric("imgorigin_coalesced_total") >= 1


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    proc = RedisProcess().start()
    yield proc
    proc.stop()


def _load(origin: OriginProcess, seconds: float, paths: list[str],
          statuses: Counter[int], latencies: list[float]) -> None:
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=30) as client:
        i = 0
        while time.monotonic() < deadline:
            i += 1
            started = time.monotonic()
            try:
                statuses[client.get(origin.url(paths[i % len(paths)])).status_code] += 1
            except httpx.HTTPError:
                statuses[-1] += 1
            latencies.append(time.monotonic() - started)


def test_r5_redis_killed_mid_load_no_5xx_and_use_resumes(
    own_redis: RedisProcess, samples_dir: Path
) -> None:
    env = {"IMGORIGIN_SOURCE": str(samples_dir), "IMGORIGIN_REDIS_URL": own_redis.url,
           "IMGORIGIN_REDIS_BREAKER_COOLDOWN": "0.5"}
    with server(env, workers=2) as origin:
        # 90 % hits: 9 warm paths repeated, plus a stream of new variants.
        warm = [f"/w_{w}/landscape.jpg" for w in range(60, 69)]
        for p in warm:
            assert httpx.get(origin.url(p), timeout=30).status_code == 200
        statuses: Counter[int] = Counter()
        latencies: list[float] = []
        fresh = iter(range(400, 4000))

        def misses() -> None:
            end = time.monotonic() + 6
            while time.monotonic() < end:
                r = httpx.get(origin.url(f"/w_{next(fresh)}/logo.png"), timeout=30)
                statuses[r.status_code] += 1
                time.sleep(0.05)

        threads = [threading.Thread(target=_load, args=(origin, 6, warm, statuses, latencies))
                   for _ in range(4)] + [threading.Thread(target=misses)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        own_redis.kill()
        assert wait_until(lambda: origin.metric("imgorigin_cache_breaker_open",
                                                tier="redis") >= 1, 3)
        time.sleep(1.5)
        own_redis.start()
        restarted = time.monotonic()
        assert wait_until(lambda: origin.metric("imgorigin_cache_breaker_open",
                                                tier="redis") == 0, 10)
        closed_after = time.monotonic() - restarted
        for t in threads:
            t.join()
        assert set(statuses) == {200}, statuses
        assert origin.metric("imgorigin_cache_errors_total", tier="redis") > 0
        # Redis is used again: new variants land in it.
        client = redis.Redis(port=own_redis.port)
        assert wait_until(lambda: (httpx.get(origin.url(f"/w_{next(fresh)}/logo.png"),
                                             timeout=30).status_code == 200
                                   and client.dbsize() > 0), 5)
        client.close()
        assert closed_after < 5


def test_r6_slow_or_stopped_redis_bounds_request_latency(
    own_redis: RedisProcess, samples_dir: Path
) -> None:
    timeout = 0.05
    env = {"IMGORIGIN_SOURCE": str(samples_dir), "IMGORIGIN_REDIS_URL": own_redis.url,
           "IMGORIGIN_MEMORY_CACHE_MAX_BYTES": "0", "IMGORIGIN_REDIS_TIMEOUT": str(timeout),
           "IMGORIGIN_REDIS_BREAKER_FAILURES": "1000"}  # keep asking Redis: each request pays
    with server(env) as origin:
        path = "/w_16/logo.png"
        assert tier(httpx.get(origin.url(path), timeout=30)) == "transform"
        assert tier(httpx.get(origin.url(path), timeout=30)) == "redis"
        sleeper = threading.Thread(target=lambda: redis.Redis(port=own_redis.port)
                                   .execute_command("DEBUG", "SLEEP", "2"))
        sleeper.start()
        time.sleep(0.1)
        slow = []
        with httpx.Client(timeout=30) as client:
            for _ in range(8):
                started = time.monotonic()
                r = client.get(origin.url(path))
                took = time.monotonic() - started
                transform_ms = float(r.headers["server-timing"].split("dur=")[1].split(",")[0])
                slow.append((r.status_code, tier(r), took - transform_ms / 1000))
            sleeper.join()
            own_redis.pause()
            try:
                for _ in range(8):
                    started = time.monotonic()
                    r = client.get(origin.url(path))
                    took = time.monotonic() - started
                    transform_ms = float(
                        r.headers["server-timing"].split("dur=")[1].split(",")[0])
                    slow.append((r.status_code, tier(r), took - transform_ms / 1000))
            finally:
                own_redis.resume()
        assert {s for s, _, _ in slow} == {200}
        assert {t for _, t, _ in slow} == {"transform"}  # Redis skipped, computed instead
        # Time outside the transform: one Redis timeout plus HTTP and bookkeeping.
        assert max(extra for _, _, extra in slow) < timeout + 0.1, slow
        assert tier(httpx.get(origin.url(path), timeout=30)) == "redis"


def test_r7_noeviction_at_maxmemory_keeps_serving_and_counts_write_errors(
    own_redis: RedisProcess, samples_dir: Path
) -> None:
    client = redis.Redis(port=own_redis.port)
    client.config_set("maxmemory-policy", "noeviction")
    client.set("filler", b"x" * 2_000_000)
    client.config_set("maxmemory", "1mb")  # below what is used: every write is refused
    env = {"IMGORIGIN_SOURCE": str(samples_dir), "IMGORIGIN_REDIS_URL": own_redis.url}
    with server(env) as origin:
        statuses = Counter(httpx.get(origin.url(f"/w_{w},fmt_png/landscape.jpg"),
                                     timeout=30).status_code for w in range(300, 320))
        assert statuses == {200: 20}
        # A new source's first write is its generation (made when its first transform starts),
        # then the value: either refusal is counted, once per miss: no retry storm.
        errors = sum(origin.metric("imgorigin_cache_errors_total", tier="redis", op=op)
                     for op in ("generation", "set"))
        assert 1 <= errors <= 20
        assert origin.metric("imgorigin_cache_breaker_open", tier="redis") == 0
        ready = httpx.get(origin.url("/-/readyz"), timeout=5).json()
        assert ready["status"] == "ok"
    client.close()


def test_r20_start_with_redis_down_serves_degraded_then_recovers(samples_dir: Path) -> None:
    port = free_port()
    env = {"IMGORIGIN_SOURCE": str(samples_dir),
           "IMGORIGIN_REDIS_URL": f"redis://127.0.0.1:{port}/0",
           "IMGORIGIN_REDIS_BREAKER_COOLDOWN": "0.3"}
    late = RedisProcess(port=port)
    with server(env) as origin:
        ready = httpx.get(origin.url("/-/readyz"), timeout=5)
        assert ready.status_code == 200
        assert ready.json() == {"status": "degraded", "degraded": ["redis"]}
        first = httpx.get(origin.url("/w_120/landscape.jpg"), timeout=30)
        second = httpx.get(origin.url("/w_120/landscape.jpg"), timeout=30)
        assert (first.status_code, tier(first)) == (200, "transform")
        assert (second.status_code, tier(second)) == (200, "memory")
        late.start()
        try:
            assert wait_until(lambda: httpx.get(origin.url("/-/readyz"), timeout=5).json()[
                "status"] == "ok", 5)
        finally:
            late.stop()


def test_cluster_url_serves_and_purges_through_the_same_path(samples_dir: Path) -> None:
    cluster = RedisCluster().start()
    try:
        env = {"IMGORIGIN_SOURCE": str(samples_dir), "IMGORIGIN_REDIS_URL": cluster.url,
               "IMGORIGIN_MEMORY_CACHE_MAX_BYTES": "0"}
        with server(env) as origin:
            paths = [f"/w_{w}/products/shoe.jpg" for w in (31, 32, 33)] + [
                f"/w_{w}/landscape.jpg" for w in (31, 32)]
            assert [tier(httpx.get(origin.url(p), timeout=30)) for p in paths] == [
                "transform"] * 5
            assert [tier(httpx.get(origin.url(p), timeout=30)) for p in paths] == ["redis"] * 5
            body = purge(origin, sources=["products/shoe.jpg"]).json()
            assert body["variants"] == 3
            assert [tier(httpx.get(origin.url(p), timeout=30)) for p in paths] == [
                "transform"] * 3 + ["redis"] * 2
            assert purge(origin, prefixes=["products/"]).json()["variants"] == 3
    finally:
        cluster.stop()


def test_warm_on_one_host_makes_every_accept_class_a_redis_hit_on_another(
        hosts: tuple[OriginProcess, ...]) -> None:
    a, b = hosts
    path = "/w_133,fmt_auto/landscape.jpg"
    r = httpx.post(a.url("/-/warm"), json={"paths": [path]}, timeout=60,
                   headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    warmed = {v["accept"]: v for v in r.json()["variants"]}
    assert [v["status"] for v in warmed.values()] == [200, 200, 200]
    before = transforms(a, b)
    for accept, cls in (("image/avif,*/*", "avif"), ("image/webp,*/*", "webp"), ("*/*", "legacy")):
        got = httpx.get(b.url(path), headers={"Accept": accept}, timeout=30)
        assert tier(got) == "redis" and got.headers["etag"] == warmed[cls]["etag"], cls
    assert transforms(a, b) == before


def test_revalidation_after_a_purge_is_a_304_without_transform_for_an_http_source(
        rserver: RedisProcess, upstream: Upstream, samples_dir: Path) -> None:
    upstream.add("reval/shoe.jpg", (samples_dir / "products" / "shoe.jpg").read_bytes(), '"r1"')
    env = {"IMGORIGIN_SOURCE": upstream.base + "/files/", "IMGORIGIN_REDIS_URL": rserver.url}
    with server(env) as origin:
        path = "/w_95,fmt_webp/reval/shoe.jpg"
        first = httpx.get(origin.url(path), timeout=30)
        assert tier(first) == "transform"
        assert purge(origin, sources=["reval/shoe.jpg"]).status_code == 200
        # The purge dropped the remembered version and bytes: the source is read from the
        # upstream again, and the version it has gives the key the client holds.
        again = httpx.get(origin.url(path), headers={"If-None-Match": first.headers["etag"]},
                          timeout=30)
        assert again.status_code == 304 and tier(again) == "none"
        assert origin.metric("imgorigin_transforms_total") == 1
        assert upstream.hits["/files/reval/shoe.jpg"] == 2
