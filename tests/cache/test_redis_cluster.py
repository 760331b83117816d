"""The same Redis tier code path on a real 3-master Redis Cluster the test builds itself
(`redis-server --cluster-enabled yes` x3 + `redis-cli --cluster create`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from cache.entry import CachedVariant
from cache.journal import PurgeRecord
from cache.redis import RedisTier
from origin.settings import Settings
from tests.cache.listening import start_listening
from tests.support.net import wait_until
from tests.support.redis_server import RedisCluster

SOURCES = [f"catalog/{i}/item.jpg" for i in range(24)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    built = RedisCluster().start()
    yield built
    built.stop()


def make_tier(url: str, **overrides: Any) -> RedisTier:
    return RedisTier.from_settings(Settings.from_env({}, redis_url=url, **overrides))


def entry(source: str) -> CachedVariant:
    return CachedVariant(body=source.encode() * 100, content_type="image/jpeg", etag='"e"',
                         source_id=source, source_version="v1", format="jpeg", width=1,
                         height=1, created=1.0)


def test_sources_spread_over_masters_each_in_one_slot(cluster: RedisCluster) -> None:
    async def scenario() -> list[CachedVariant | None]:
        tier = make_tier(cluster.url)
        for source in SOURCES:
            generation = await tier.generation(source)
            for size in ("w_100", "w_200", "w_300"):
                assert await tier.set(size, entry(source), generation) is True
        got = [await tier.get(size, s) for s in SOURCES for size in ("w_100", "w_300")]
        await tier.close()
        return got

    got = asyncio.run(scenario())
    assert all(g is not None and g.source_id.encode() in g.body for g in got)
    per_node = []
    for node in cluster.nodes:
        client = redis.Redis(port=node.port)
        keys = [k for k in client.keys("*") if b":dir" not in k]
        per_node.append(len(keys))
        by_tag: dict[bytes, set[int]] = {}
        for key in keys:
            tag = key.split(b"{")[1].split(b"}")[0]
            by_tag.setdefault(tag, set()).add(int(client.cluster("keyslot", key.decode())))
        # A source's values, index and generation share its hash tag: one slot, one node.
        assert all(len(slots) == 1 for slots in by_tag.values())
        client.close()
    assert all(n > 0 for n in per_node), per_node  # the sources really are spread


def test_purge_and_prefix_purge_on_cluster(cluster: RedisCluster) -> None:
    async def scenario() -> tuple[int, int, int, list[CachedVariant | None]]:
        tier = make_tier(cluster.url)
        first = await tier.purge([SOURCES[0]], [])
        second = await tier.purge([SOURCES[0]], [])
        by_prefix = await tier.purge([], ["catalog/"])
        left = [await tier.get("w_100", s) for s in SOURCES]
        await tier.close()
        return first.variants, second.variants, by_prefix.variants, left

    first, second, by_prefix, left = asyncio.run(scenario())
    assert (first, second) == (3, 0)
    assert by_prefix == 3 * (len(SOURCES) - 1)
    assert left == [None] * len(SOURCES)


def test_generation_check_and_broadcast_on_cluster(cluster: RedisCluster) -> None:
    async def scenario() -> tuple[bool | None, list[PurgeRecord | None], bool]:
        seen: list[PurgeRecord | None] = []
        # The listener talks to one node, the purger publishes through another: cluster pub/sub
        # carries the message over the cluster bus.
        listener = make_tier(f"redis+cluster://127.0.0.1:{cluster.nodes[2].port}")
        purger = make_tier(f"redis+cluster://127.0.0.1:{cluster.nodes[0].port}")
        await start_listening(listener, purger, seen)
        started_at = await purger.generation("g.jpg")
        await purger.purge(["g.jpg"], [])
        late = await purger.set("k", entry("g.jpg"), started_at)
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.01)
        leases = purger.leases()
        held = await leases.acquire("k")
        exclusive = held is not None and await listener.leases().acquire("k") is None
        assert held is not None
        await held.release()
        await listener.close()
        await purger.close()
        return late, seen, exclusive

    late, seen, exclusive = asyncio.run(scenario())
    assert late is False
    assert seen == [PurgeRecord(("g.jpg",), ())]
    assert exclusive


def test_the_purge_subscription_health_check_works_on_cluster(cluster: RedisCluster) -> None:
    """The subscriber's PING goes over the cluster pub/sub connection and its PONG comes back:
    a healthy subscription is kept across many checks (no resubscribe, no dropped caches)."""
    async def scenario() -> tuple[int, list[PurgeRecord | None], bool]:
        seen: list[PurgeRecord | None] = []
        listener = make_tier(cluster.url)
        listener.pubsub_health = 0.1
        purger = make_tier(cluster.url)
        await start_listening(listener, purger, seen)
        subscribed_since = listener.subscriber.connected_since  # type: ignore[union-attr]
        await asyncio.sleep(1.5)  # about 15 health checks
        await purger.purge(["h.jpg"], [])
        await asyncio.to_thread(wait_until, lambda: bool(seen), 5)
        kept = listener.subscriber.connected_since == subscribed_since  # type: ignore[union-attr]
        reconnects = listener.subscriber.reconnects  # type: ignore[union-attr]
        await listener.close()
        await purger.close()
        return reconnects, seen, kept

    reconnects, seen, kept = asyncio.run(scenario())
    assert reconnects == 0 and kept
    assert seen == [PurgeRecord(("h.jpg",), ())]


def test_r21_prefix_purge_on_cluster_scans_every_master_when_one_may_evict(
    cluster: RedisCluster,
) -> None:
    """One master under an LRU policy is enough for a purge by prefix to scan the generation
    keys of all three, so sources whose directory index was lost are purged on every master."""
    sources = [f"lost/{i}/item.jpg" for i in range(12)]
    clients = [redis.Redis(port=node.port) for node in cluster.nodes]

    async def scenario() -> tuple[Any, list[CachedVariant | None]]:
        tier = make_tier(cluster.url)
        for source in sources:
            assert await tier.set("w_100", entry(source), await tier.generation(source))
        for client in clients:
            for lost in client.keys("*:dir"):  # one by one: each is in a slot of its own
                client.delete(lost)
        clients[1].config_set("maxmemory", 512 * 1024 * 1024)
        clients[1].config_set("maxmemory-policy", "allkeys-lru")
        count = await tier.purge([], ["lost/"])
        left = [await tier.get("w_100", s) for s in sources]
        await tier.close()
        return count, left

    try:
        count, left = asyncio.run(scenario())
    finally:
        clients[1].config_set("maxmemory", 0)
        clients[1].config_set("maxmemory-policy", "noeviction")
        for client in clients:
            client.close()
    assert count.sources == set(sources)
    assert left == [None] * len(sources)
    holders = [n for n in cluster.nodes
               if any(redis.Redis(port=n.port).keys("*:gen"))]
    assert len(holders) == 3  # the sources were spread, so every master was scanned
