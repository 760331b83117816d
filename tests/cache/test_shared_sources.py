"""HTTP sources shared between workers and hosts: a new source is fetched once per host (embedded
mode, beside the on-disk tier) or once per cluster (Redis), revalidated once after
IMGORIGIN_SOURCE_TTL, fetched again once after a purge, and fetched per worker while Redis is down.
A source the upstream does not have is asked for once in the same way.

Two origin processes over one cache directory stand in for two workers of one host whose requests
we can address one by one (a gunicorn burst may land on a single worker); two 2-worker servers
with their own cache directories and one redis-server are two hosts.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis

from cache.keys import source_hash
from tests.support.net import wait_until
from tests.support.origin import OriginProcess, sharing_one_cache
from tests.support.redis_server import RedisCluster, RedisProcess
from tests.support.upstream import Upstream

TOKEN = "shared-t0ken"
DELAY = "0.5"  # seconds the upstream takes, so a burst's requests all overlap the first fetch
WIDTHS = range(101, 141)
NEW_WIDTHS = range(141, 181)


def get_all(servers: Sequence[OriginProcess], paths: Sequence[str]) -> list[httpx.Response]:
    """GET every path at once, one connection each, spread over the servers in turn."""
    jobs = [(servers[i % len(servers)], path) for i, path in enumerate(paths)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(lambda job: httpx.get(job[0].url(job[1]), timeout=60), jobs))


def serve(server: OriginProcess, path: str) -> None:
    response = httpx.get(server.url(path), timeout=60)
    assert response.status_code == 200, response.text


def purge(server: OriginProcess, **body: list[str]) -> httpx.Response:
    response = httpx.post(server.url("/-/purge"), json=body, timeout=30,
                          headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return response


def total(servers: Sequence[OriginProcess], name: str, **labels: str) -> float:
    return sum(s.metric(name, **labels) for s in servers)


def full_gets(upstream: Upstream, path: str) -> int:
    return upstream.hits[path] - upstream.conditional[path]


def purge_refetches_once(pair: tuple[OriginProcess, OriginProcess], upstream: Upstream,
                         data: bytes, top: str, *, settle: float, variants: int = 0) -> None:
    """Fetched once over both servers; a purge of the source on one, then of its directory on
    the other, each makes the next requests (on both) fetch it exactly once more. `variants`,
    when given, is what each purge must report."""
    a, b = pair
    name = f"{top}/dir/one.jpg"
    upstream.add(name, data, f'"{top}-1"')
    fetched = f"/delay/{DELAY}/{name}"
    serve(a, f"/w_60/{name}")
    serve(b, f"/w_61/{name}")
    assert full_gets(upstream, fetched) == 1
    for n, (by, body, then) in enumerate(((a, {"sources": [name]}, (b, a)),
                                          (b, {"prefixes": [f"{top}/"]}, (a, b))), start=2):
        answer = purge(by, **body).json()
        if variants:
            assert answer["variants"] == variants, answer
        time.sleep(settle)
        for i, server in enumerate(then):  # the first never saw the purge call
            serve(server, f"/w_{60 + 2 * n + i}/{name}")
        assert full_gets(upstream, fetched) == n


def missing_asked_once(servers: Sequence[OriginProcess], upstream: Upstream, name: str) -> None:
    """A source the upstream does not have: a burst over every worker, then more requests on
    each server, all 404, and the upstream asked once; a purge of the source asks once more."""
    fetched = f"/delay/{DELAY}/{name}"
    burst = get_all(servers, [f"/w_{w}/{name}" for w in WIDTHS])
    assert [r.status_code for r in burst] == [404] * len(WIDTHS)
    later = get_all(servers, [f"/w_{w}/{name}" for w in NEW_WIDTHS])
    assert [r.status_code for r in later] == [404] * len(NEW_WIDTHS)
    assert upstream.hits[fetched] == 1
    purge(servers[0], sources=[name])
    time.sleep(1.5)  # the purge's broadcast to every worker's memory
    again = get_all(servers, [f"/w_{w}/{name}" for w in WIDTHS])
    assert [r.status_code for r in again] == [404] * len(WIDTHS)
    assert upstream.hits[fetched] == 2


def shoe(samples_dir: Path) -> bytes:
    return (samples_dir / "products" / "shoe.jpg").read_bytes()


@contextmanager
def two_hosts(redis_url: str, upstream: Upstream,
              **extra: str) -> Iterator[tuple[OriginProcess, OriginProcess]]:
    """Two 2-worker servers with their own cache directories: only Redis connects them."""
    # A generous Redis deadline: on a loaded 2-core box a 50 ms call can time out, and a worker
    # that cannot ask Redis fetches for itself (by design, see the last test).
    env = {"IMGORIGIN_SOURCE": f"{upstream.base}/delay/{DELAY}/",
           "IMGORIGIN_REDIS_URL": redis_url, "IMGORIGIN_REDIS_TIMEOUT": "2",
           "IMGORIGIN_TRANSFORM_QUEUE": "64", "IMGORIGIN_MAX_QUEUE_WAIT": "0",
           "IMGORIGIN_PURGE_TOKENS": TOKEN, **extra}
    servers: list[OriginProcess] = []
    try:
        for _ in range(2):
            servers.append(OriginProcess(env, workers=2,
                                         cache_dir=tempfile.mkdtemp(prefix="imgorigin-host-")))
            servers[-1].start()
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()
            shutil.rmtree(server.cache_dir, ignore_errors=True)


class TestEmbedded:
    @pytest.fixture(scope="class")
    def host(self, upstream: Upstream) -> Iterator[tuple[OriginProcess, OriginProcess]]:
        with sharing_one_cache({"IMGORIGIN_SOURCE": f"{upstream.base}/delay/{DELAY}/",
                                "IMGORIGIN_SOURCE_TTL": "3", "IMGORIGIN_SOURCE_STALE": "0",
                                "IMGORIGIN_TRANSFORM_QUEUE": "64",
                                "IMGORIGIN_MAX_QUEUE_WAIT": "0",
                                "IMGORIGIN_PURGE_TOKENS": TOKEN}) as both:
            yield both

    def test_new_source_fetched_once_then_revalidated_once(
        self, host: tuple[OriginProcess, OriginProcess], upstream: Upstream, samples_dir: Path
    ) -> None:
        data = shoe(samples_dir)
        upstream.add("emb/new.jpg", data, '"emb-1"')
        fetched = f"/delay/{DELAY}/emb/new.jpg"
        paths = [f"/w_{w}/emb/new.jpg" for w in WIDTHS]
        source_bytes = total(host, "imgorigin_source_bytes_total")

        first = get_all(host, paths)
        assert [r.status_code for r in first] == [200] * len(paths)
        assert upstream.hits[fetched] == 1
        assert total(host, "imgorigin_source_bytes_total") - source_bytes == len(data)
        # The worker that did not fetch took the version and the bytes from the shared tier.
        assert total(host, "imgorigin_source_shared_hits_total", what="version") >= 1
        assert total(host, "imgorigin_source_shared_hits_total", what="original") >= 1

        time.sleep(3.2)  # past IMGORIGIN_SOURCE_TTL (3 s) since the fetch answered
        again = get_all(host, paths)
        assert [r.status_code for r in again] == [200] * len(paths)
        assert upstream.hits[fetched] == 2
        assert upstream.conditional[fetched] == 1  # one 304 for both workers
        assert total(host, "imgorigin_source_bytes_total") - source_bytes == len(data)
        assert [r.headers["etag"] for r in again] == [r.headers["etag"] for r in first]

    def test_purge_of_source_and_of_prefix_refetches_once(
        self, host: tuple[OriginProcess, OriginProcess], upstream: Upstream, samples_dir: Path
    ) -> None:
        # Purge counts are variants only: the shared version and bytes beside them are not.
        purge_refetches_once(host, upstream, shoe(samples_dir), "embp", settle=0.0, variants=2)

    def test_missing_source_asked_once_for_both_workers(
        self, host: tuple[OriginProcess, OriginProcess], upstream: Upstream
    ) -> None:
        missing_asked_once(host, upstream, "embm/nothing.jpg")


class TestRedis:
    @pytest.fixture(scope="class")
    def rserver(self) -> Iterator[RedisProcess]:
        proc = RedisProcess().start()
        yield proc
        proc.stop()

    @pytest.fixture(scope="class")
    def hosts(self, rserver: RedisProcess,
              upstream: Upstream) -> Iterator[tuple[OriginProcess, OriginProcess]]:
        with two_hosts(rserver.url, upstream) as both:
            yield both

    @pytest.fixture(scope="class")
    def short_ttl_hosts(self, rserver: RedisProcess,
                        upstream: Upstream) -> Iterator[tuple[OriginProcess, OriginProcess]]:
        with two_hosts(rserver.url, upstream, IMGORIGIN_SOURCE_TTL="3",
                       IMGORIGIN_SOURCE_STALE="0") as both:
            yield both

    def test_new_source_fetched_once_across_two_hosts(
        self, hosts: tuple[OriginProcess, OriginProcess], upstream: Upstream, samples_dir: Path
    ) -> None:
        data = shoe(samples_dir)
        upstream.add("red/new.jpg", data, '"red-1"')
        fetched = f"/delay/{DELAY}/red/new.jpg"
        source_bytes = total(hosts, "imgorigin_source_bytes_total")
        responses = get_all(hosts, [f"/w_{w}/red/new.jpg" for w in WIDTHS])
        assert [r.status_code for r in responses] == [200] * len(WIDTHS)
        assert upstream.hits[fetched] == 1
        assert total(hosts, "imgorigin_source_bytes_total") - source_bytes == len(data)
        assert total(hosts, "imgorigin_source_shared_hits_total", what="original") >= 1

    def test_new_source_revalidated_once_across_two_hosts(
        self, short_ttl_hosts: tuple[OriginProcess, OriginProcess], upstream: Upstream,
        samples_dir: Path,
    ) -> None:
        hosts = short_ttl_hosts
        data = shoe(samples_dir)
        upstream.add("redv/new.jpg", data, '"redv-1"')
        fetched = f"/delay/{DELAY}/redv/new.jpg"
        source_bytes = total(hosts, "imgorigin_source_bytes_total")

        first = get_all(hosts, [f"/w_{w}/redv/new.jpg" for w in WIDTHS])
        assert [r.status_code for r in first] == [200] * len(WIDTHS)
        assert upstream.hits[fetched] == 1
        versions_shared = total(hosts, "imgorigin_source_shared_hits_total", what="version")

        time.sleep(3.2)  # past IMGORIGIN_SOURCE_TTL (3 s) since the fetch answered
        # New variants, so every request needs the source's version (none is answered from a
        # cached variant), on all four workers of the two hosts at once.
        again = get_all(hosts, [f"/w_{w}/redv/new.jpg" for w in NEW_WIDTHS])
        assert [r.status_code for r in again] == [200] * len(NEW_WIDTHS)
        assert upstream.hits[fetched] == 2
        assert upstream.conditional[fetched] == 1  # one 304 for both hosts
        assert total(hosts, "imgorigin_source_bytes_total") - source_bytes == len(data)
        # The workers that did not revalidate took the version the one that did stored.
        assert total(hosts, "imgorigin_source_shared_hits_total",
                     what="version") > versions_shared

    def test_purge_of_source_and_of_prefix_refetches_once(
        self, hosts: tuple[OriginProcess, OriginProcess], upstream: Upstream, samples_dir: Path
    ) -> None:
        # The broadcast to every worker's memory takes a moment (R14 allows 1 s).
        purge_refetches_once(hosts, upstream, shoe(samples_dir), "redp", settle=1.5)

    def test_missing_source_asked_once_across_two_hosts(
        self, hosts: tuple[OriginProcess, OriginProcess], upstream: Upstream
    ) -> None:
        missing_asked_once(hosts, upstream, "redm/nothing.jpg")


class TestRedisCluster:
    @pytest.fixture(scope="class")
    def cluster(self) -> Iterator[RedisCluster]:
        built = RedisCluster().start()
        yield built
        built.stop()

    def test_new_source_fetched_once_and_again_once_after_purge(
        self, cluster: RedisCluster, upstream: Upstream, samples_dir: Path
    ) -> None:
        data = shoe(samples_dir)
        source = "clu/dir/new.jpg"
        upstream.add(source, data, '"clu-1"')
        fetched = f"/delay/{DELAY}/{source}"
        with two_hosts(cluster.url, upstream) as hosts:
            a, b = hosts
            source_bytes = total(hosts, "imgorigin_source_bytes_total")
            first = get_all(hosts, [f"/w_{w}/{source}" for w in WIDTHS])
            assert [r.status_code for r in first] == [200] * len(WIDTHS)
            assert upstream.hits[fetched] == 1
            assert total(hosts, "imgorigin_source_bytes_total") - source_bytes == len(data)
            assert total(hosts, "imgorigin_source_shared_hits_total", what="original") >= 1

            keys = source_keys(cluster, source)
            # The shared version and bytes sit in the slot of the source's variants, index and
            # generation (made by the first fetch), so the purge script, one multi-key EVAL,
            # may touch them all in a cluster.
            assert set(keys) == {"v", "idx", "gen", "src", "orig"}, keys

            assert purge(a, sources=[source]).json()["variants"] == len(WIDTHS)
            left = source_keys(cluster, source)
            assert set(left) == {"gen"}, left
            assert len(set(keys.values()) | set(left.values())) == 1, (keys, left)
            time.sleep(1.5)  # the broadcast to every worker's memory (R14 allows 1 s)
            again = get_all([b, a], [f"/w_{w}/{source}" for w in NEW_WIDTHS])
            assert [r.status_code for r in again] == [200] * len(NEW_WIDTHS)
            assert full_gets(upstream, fetched) == 2
            assert total(hosts, "imgorigin_source_bytes_total") - source_bytes == 2 * len(data)


def source_keys(cluster: RedisCluster, source: str) -> dict[str, int]:
    """The source's keys on every master, by kind (`gen`, `src`, ...), with their slots."""
    tag = "{" + source_hash(source) + "}"
    found: dict[str, int] = {}
    for node in cluster.nodes:
        client = redis.Redis(port=node.port)
        try:
            for key in client.keys(f"imgorigin:{tag}:*"):
                kind = key.decode().split(tag + ":", 1)[1].split(":", 1)[0]
                found[kind] = int(client.cluster("keyslot", key.decode()))
        finally:
            client.close()
    return found


def test_redis_down_sources_are_fetched_per_worker(upstream: Upstream, samples_dir: Path) -> None:
    own = RedisProcess().start()
    env = {"IMGORIGIN_SOURCE": f"{upstream.base}/files/", "IMGORIGIN_REDIS_URL": own.url,
           "IMGORIGIN_TRANSFORM_QUEUE": "64", "IMGORIGIN_MAX_QUEUE_WAIT": "0"}
    try:
        with OriginProcess(env, workers=2) as origin:
            own.kill()
            upstream.add("down/new.jpg", shoe(samples_dir), '"down-1"')
            responses = get_all([origin], [f"/w_{w}/down/new.jpg" for w in range(70, 90)])
            assert [r.status_code for r in responses] == [200] * 20
            # At most once per worker (each coalesces its own requests), never shared.
            assert 1 <= upstream.hits["/files/down/new.jpg"] <= 2
            assert wait_until(lambda: origin.metric("imgorigin_cache_breaker_open",
                                                    tier="redis") >= 1, 5)
            later = [httpx.get(origin.url(f"/w_{w}/down/new.jpg"), timeout=30)
                     for w in range(90, 96)]
            assert [r.status_code for r in later] == [200] * 6
            assert upstream.hits["/files/down/new.jpg"] <= 2
    finally:
        own.stop()
