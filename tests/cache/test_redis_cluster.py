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
    holders = 0
    for node in cluster.nodes:
        with redis.Redis(port=node.port) as client:
            names = [v.partition(b" ")[2] for v in map(client.get, client.keys("*:gen")) if v]
            holders += any(name.startswith(b"lost/") for name in names)
    assert holders == 3  # the purged sources were on every master, so every master was scanned


def test_r5_breaker_stays_open_while_the_cluster_is_down_and_closes_when_it_is_back() -> None:
    """Its own cluster: one master's slots are unassigned on every node, so the cluster state
    is `fail` and every keyed command answers CLUSTERDOWN while PING still answers PONG. The
    breaker opens, its probes (a keyed read) keep it open, and it closes once the slots are
    served again."""
    built = RedisCluster().start()
    owner = built.nodes[1]
    line = next(x for x in built.cli(owner, "cluster", "nodes").splitlines() if "myself" in x)
    low, high = line.split()[8].split("-")

    def state_is(state: str) -> bool:
        return all(f"cluster_state:{state}" in built.cli(n, "cluster", "info")
                   for n in built.nodes)

    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        tier = make_tier(built.url, redis_breaker_cooldown=0.2, redis_breaker_failures=3)
        await tier.start(lambda _record: None)
        assert await tier.set("k", entry("down/a.jpg"), await tier.generation("down/a.jpg"))
        for node in built.nodes:
            built.cli(node, "cluster", "delslotsrange", low, high)
        out["down"] = await asyncio.to_thread(wait_until, lambda: state_is("fail"), 10)
        out["pong"] = all(built.cli(n, "ping").strip() == "PONG" for n in built.nodes)
        for _ in range(5):  # separate tasks: separate requests
            await asyncio.create_task(tier.get("k", "down/a.jpg"))
        out["opened"] = tier.breaker.is_open
        probes = []
        for _ in range(6):  # about five probes' time
            await asyncio.sleep(0.25)
            probes.append(tier.breaker.last_probe)
        out["probed"] = len({p for p in probes if p is not None})
        out["held_open"] = tier.breaker.is_open
        built.cli(owner, "cluster", "addslotsrange", low, high)
        out["up"] = await asyncio.to_thread(wait_until, lambda: state_is("ok"), 15)
        out["closed"] = await asyncio.to_thread(wait_until, lambda: tier.healthy, 10)
        out["served"] = await tier.get("k", "down/a.jpg")
        await tier.close()
        return out

    try:
        out = asyncio.run(scenario())
    finally:
        built.stop()
    assert out["down"] and out["pong"]
    assert out["opened"]
    assert out["probed"] >= 2 and out["held_open"]  # PONG alone would have closed it
    assert out["up"] and out["closed"]
    assert out["served"] is not None and out["served"].source_id == "down/a.jpg"
