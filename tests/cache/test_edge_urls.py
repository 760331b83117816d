"""The record of answered paths the nginx purger reads (cache/edge_urls.py): its file store
under concurrent workers, its Redis store on a real redis-server and a real Cluster, each
directory's index of the sources recorded under it, and the recorder's behaviour when the store
is away."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
import redis
from prometheus_client import REGISTRY

from cache import edge_urls
from cache.edge_urls import DiskUrlStore, EdgeUrl, EdgeUrls, RecordUnavailable, RedisUrlStore
from cache.redis import RedisTier
from origin.settings import Settings
from tests.support.redis_server import RedisCluster, RedisProcess


def errors(op: str) -> float:
    return REGISTRY.get_sample_value("imgorigin_cache_errors_total",
                                     {"tier": "edge-urls", "op": op}) or 0.0


@pytest.mark.parametrize("url", [EdgeUrl("/w_10/a.jpg", False), EdgeUrl("/w_1/é b%20c", True)])
def test_edge_url_round_trips(url: EdgeUrl) -> None:
    assert EdgeUrl.decode(url.encode()) == url


@pytest.mark.parametrize("text", ["", "h", "-", "x/a", "-a", "/a", "ha"])
def test_edge_url_refuses_what_it_did_not_write(text: str) -> None:
    assert EdgeUrl.decode(text) is None


def test_disk_store_loses_no_path_to_concurrent_appends_and_takes(tmp_path: Any) -> None:
    """Four writers (as workers would) append while a fifth takes over and over: every path
    written comes out of exactly one take or the last one."""
    store = DiskUrlStore(str(tmp_path), ttl=3600)
    source = "products/shoe.jpg"
    written: list[str] = []
    taken: list[str] = []
    start = threading.Barrier(5)

    def writer(n: int) -> None:
        start.wait()
        for i in range(300):
            path = f"-/w_{n}_{i}/products/shoe.jpg"
            store._add({source: {path}})
            written.append(path)

    def taker() -> None:
        start.wait()
        for _ in range(200):
            taken.extend(store._take([source]).get(source, ()))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=taker))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken.extend(store._take([source]).get(source, ()))
    assert len(written) == 1200
    assert sorted(taken) == sorted(written)  # none lost, none twice
    assert store._take([source]) == {}


def test_disk_store_compacts_repeats_and_bounds_each_file(tmp_path: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edge_urls, "MAX_FILE_BYTES", 400)
    store = DiskUrlStore(str(tmp_path), ttl=3600)
    line = "-/w_100,fmt_webp/products/shoe.jpg"
    for _ in range(50):  # the edge refetching one URL again and again
        store._add({"products/shoe.jpg": {line}})
    name = store._file("products/shoe.jpg")
    assert os.path.getsize(name) <= 400
    dropped = errors("dropped")
    many = {f"-/w_{i},fmt_webp/products/shoe.jpg" for i in range(100, 140)}
    store._add({"products/shoe.jpg": many})  # 40 distinct paths: past the cap even compacted
    assert errors("dropped") == dropped + 1
    assert os.path.getsize(name) <= 400
    assert store._take(["products/shoe.jpg"]) == {"products/shoe.jpg": {line}}


def test_disk_store_forgets_files_not_written_for_a_lifetime(tmp_path: Any) -> None:
    store = DiskUrlStore(str(tmp_path), ttl=100)
    store._add({"old.jpg": {"-/w_1/old.jpg"}, "new.jpg": {"-/w_1/new.jpg"}})
    old = store._file("old.jpg")
    past = time.time() - 101
    os.utime(old, (past, past))
    assert store.sweep() == 1
    assert not os.path.exists(old) and os.path.exists(store._file("new.jpg"))
    assert store._take(["old.jpg", "new.jpg"]) == {"new.jpg": {"-/w_1/new.jpg"}}
    # A path answered again writes a new file.
    store._add({"old.jpg": {"-/w_2/old.jpg"}})
    assert store._take(["old.jpg"]) == {"old.jpg": {"-/w_2/old.jpg"}}


def test_an_append_waiting_on_a_swept_file_writes_to_a_new_one(tmp_path: Any) -> None:
    """The sweep holds the lock and unlinks; the appender that waited on the lock finds its file
    gone and opens the name again, so its line is not written into a removed file."""
    store = DiskUrlStore(str(tmp_path), ttl=100)
    store._add({"a.jpg": {"-/w_1/a.jpg"}})
    name = store._file("a.jpg")
    past = time.time() - 101
    os.utime(name, (past, past))
    holder = os.open(name, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)  # the sweep's position: lock held
    appender = threading.Thread(target=store._add, args=({"a.jpg": {"-/w_2/a.jpg"}},))
    appender.start()
    time.sleep(0.2)  # the appender now waits on the lock of the old file
    os.unlink(name)
    os.close(holder)
    appender.join(5)
    assert store._take(["a.jpg"]) == {"a.jpg": {"-/w_2/a.jpg"}}


# --- each directory's index of recorded sources ------------------------------------------------

RECORDED = {
    "a/b/1.jpg": {"-/w_1/a/b/1.jpg"},
    "a/c/2.jpg": {"-/w_1/a/c/2.jpg"},
    "a/new\nline.jpg": {"-/w_1/a/new%0Aline.jpg"},  # a key may hold a newline
    "x/3.jpg": {"-/w_1/x/3.jpg"},
    "top.jpg": {"-/w_1/top.jpg"},
    "https://img.example.com/p/4.jpg": {"-/w_1/https://img.example.com/p/4.jpg"},
    "tag:w-0123": {"-/w_1,wm_logo/a/b/1.jpg"},  # a watermark's record: in no directory
}


@pytest.mark.parametrize(("prefixes", "under"), [
    (["a/"], {"a/b/1.jpg", "a/c/2.jpg", "a/new\nline.jpg"}),
    (["a/b/"], {"a/b/1.jpg"}),
    (["a/n"], {"a/new\nline.jpg"}),  # part of a name: the index of the directory it is in
    (["x/", "a/c/"], {"x/3.jpg", "a/c/2.jpg"}),
    (["https://img.example.com/"], {"https://img.example.com/p/4.jpg"}),
    (["https://img.example.com/p/"], {"https://img.example.com/p/4.jpg"}),
    (["to"], set()),  # part of a top-level name: no directory indexes those
    (["b/"], set()),
])
def test_disk_store_indexes_each_directorys_recorded_sources(
        tmp_path: Any, prefixes: list[str], under: set[str]) -> None:
    store = DiskUrlStore(str(tmp_path), ttl=100)
    store._add(RECORDED)
    assert asyncio.run(store.sources_under(prefixes)) == under


def test_a_directory_take_hands_over_the_paths_of_the_sources_under_it(tmp_path: Any) -> None:
    async def run() -> tuple[dict[str, list[EdgeUrl]], dict[str, list[EdgeUrl]]]:
        urls = EdgeUrls(DiskUrlStore(str(tmp_path), ttl=100))
        for source, paths in RECORDED.items():
            for path in paths:
                urls.record(source, path[1:], False)
        first = await urls.take(["x/3.jpg"], ["a/"])
        return first, await urls.take([], ["a/", "x/"])

    first, again = asyncio.run(run())
    assert first == {s: [EdgeUrl(p[1:], False) for p in RECORDED[s]]
                     for s in ("x/3.jpg", "a/b/1.jpg", "a/c/2.jpg", "a/new\nline.jpg")}
    assert again == {}  # taken once; the index still names them, their records are empty


def test_a_directorys_index_lasts_one_lifetime_after_its_last_write(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Written under the lifetime's period it was written in and read for this period and the
    one before: found for at least a lifetime, gone two periods on (its entries with it)."""
    clock = [100 * 1000 + 99.0]  # the end of period 1000, for a lifetime of 100 s
    monkeypatch.setattr(edge_urls.time, "time", lambda: clock[0])
    store = DiskUrlStore(str(tmp_path), ttl=100)
    store._add({"a/1.jpg": {"-/w_1/a/1.jpg"}})
    for now, found in ((100 * 1000 + 99.0, True), (100 * 1001 + 99.0, True),
                       (100 * 1002 + 0.0, False)):
        clock[0] = now
        assert (asyncio.run(store.sources_under(["a/"])) == {"a/1.jpg"}) is found, now


def test_an_unreadable_index_fails_the_take(tmp_path: Any) -> None:
    store = DiskUrlStore(str(tmp_path), ttl=100)
    store._add(RECORDED)
    name = store._index_file("a/", edge_urls.period(100))
    os.unlink(name)
    os.mkdir(name)  # opens, but reading it fails (EISDIR), as a damaged disk's read would
    with pytest.raises(RecordUnavailable, match="index"):
        asyncio.run(EdgeUrls(store).take([], ["a/"]))


class _AwayStore:
    def __init__(self) -> None:
        self.calls = 0

    async def add(self, entries: Mapping[str, set[str]]) -> None:
        self.calls += 1
        raise ConnectionError("store away")

    async def take(self, sources: Sequence[str]) -> dict[str, set[str]]:
        return {}

    async def sources_under(self, prefixes: Sequence[str]) -> set[str]:
        return set()


def test_recording_never_fails_a_request_when_the_store_is_away() -> None:
    async def run() -> int:
        store = _AwayStore()
        urls = EdgeUrls(store)
        for i in range(5):
            urls.record("a.jpg", f"/w_{i}/a.jpg", False)  # returns at once, raises nothing
        await urls.drain()
        return store.calls

    before = errors("write")
    calls = asyncio.run(run())
    assert calls >= 1
    assert errors("write") == before + calls


def test_recording_is_bounded_while_the_store_is_slow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edge_urls, "MAX_PENDING", 10)

    class Slow(_AwayStore):
        async def add(self, entries: Mapping[str, set[str]]) -> None:
            await asyncio.sleep(0.05)
            self.calls += sum(len(v) for v in entries.values())

    async def run() -> int:
        store = Slow()
        urls = EdgeUrls(store)
        urls.record("a.jpg", "/w_0/a.jpg", False)
        await asyncio.sleep(0)  # the first write is under way
        for i in range(1, 40):
            urls.record("a.jpg", f"/w_{i}/a.jpg", False)
        await urls.drain()
        return store.calls

    before = errors("dropped")
    assert asyncio.run(run()) == 11  # the first, then ten pending
    assert errors("dropped") == before + 29


# --- Redis ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[RedisProcess]:
    proc = RedisProcess().start()
    yield proc
    proc.stop()


def make_tier(url: str) -> RedisTier:
    return RedisTier.from_settings(Settings.from_env({}, redis_url=url))


async def _round_trip(url: str, sources: list[str]) -> tuple[dict[str, list[EdgeUrl]], Any]:
    tier = make_tier(url)
    try:
        urls = EdgeUrls(RedisUrlStore(tier, ttl=60))
        for source in sources:
            urls.record(source, f"/w_10/{source}", False)
            urls.record(source, f"/w_20,fmt_auto/{source}", True)
            urls.record(source, f"/w_10/{source}", False)  # twice: kept once
        await urls.drain()
        ttl = await tier.client.pttl(tier.layout.source(sources[0]).edge_urls)
        taken = await urls.take(sources)
        again = await urls.take(sources)
        return taken, (ttl, again)
    finally:
        await tier.close()


def test_redis_store_keeps_each_path_once_with_a_lifetime_and_hands_it_over_once(
        server: RedisProcess) -> None:
    sources = ["products/shoe.jpg", "a b.jpg"]
    taken, (ttl, again) = asyncio.run(_round_trip(server.url, sources))
    assert taken == {s: [EdgeUrl(f"/w_10/{s}", False), EdgeUrl(f"/w_20,fmt_auto/{s}", True)]
                     for s in sources}
    assert 0 < ttl <= 60_000
    assert again == {}
    client = redis.Redis(port=server.port)
    try:
        assert not [k for k in client.scan_iter(match="*:edge")]
    finally:
        client.close()


def test_redis_store_caps_the_paths_of_one_source(server: RedisProcess,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edge_urls, "MAX_SET_MEMBERS", 5)

    async def run() -> int:
        tier = make_tier(server.url)
        try:
            store = RedisUrlStore(tier, ttl=60)
            for i in range(3):
                await store.add({"cap.jpg": {f"-/w_{i}{j}/cap.jpg" for j in range(3)}})
            return len((await store.take(["cap.jpg"]))["cap.jpg"])
        finally:
            await tier.close()

    # Below the cap a batch lands whole; once at or past it, none does.
    assert asyncio.run(run()) == 6


def test_redis_store_away_loses_records_not_requests_and_says_so_to_a_purge() -> None:
    async def run() -> None:
        tier = make_tier("redis://127.0.0.1:1/0")  # nothing listens on port 1
        try:
            urls = EdgeUrls(RedisUrlStore(tier, ttl=60))
            urls.record("a.jpg", "/w_1/a.jpg", False)  # returns at once, raises nothing
            await urls.drain()
            with pytest.raises(RecordUnavailable, match="Redis"):
                await urls.take(["a.jpg"])
        finally:
            await tier.close()

    asyncio.run(run())


def test_redis_store_indexes_each_directorys_recorded_sources(server: RedisProcess) -> None:
    async def run() -> tuple[set[str], set[str], int, dict[str, list[EdgeUrl]]]:
        tier = make_tier(server.url)
        try:
            store = RedisUrlStore(tier, ttl=60)
            await store.add(RECORDED)
            under = await store.sources_under(["a/"])
            partial = await store.sources_under(["a/n", "https://img.example.com/"])
            ttl = await tier.client.pttl(tier.layout.edge_directory("a/",
                                                                    edge_urls.period(60)))
            taken = await EdgeUrls(store).take([], ["a/b/"])
            return under, partial, ttl, taken
        finally:
            await tier.close()

    under, partial, ttl, taken = asyncio.run(run())
    assert under == {"a/b/1.jpg", "a/c/2.jpg", "a/new\nline.jpg"}
    assert partial == {"a/new\nline.jpg", "https://img.example.com/p/4.jpg"}
    assert 60_000 < ttl <= 120_000  # two lifetimes: read for its period and the next
    assert taken == {"a/b/1.jpg": [EdgeUrl("/w_1/a/b/1.jpg", False)]}


def test_redis_store_on_a_cluster_keeps_each_source_in_its_slot() -> None:
    cluster = RedisCluster().start()
    try:
        sources = [f"catalog/{i}/item.jpg" for i in range(12)]
        taken, (_, again) = asyncio.run(_round_trip(cluster.url, sources))
        assert sorted(taken) == sorted(sources) and again == {}
        assert all(len(urls) == 2 for urls in taken.values())

        async def by_directory() -> dict[str, list[EdgeUrl]]:
            tier = make_tier(cluster.url)
            try:
                urls = EdgeUrls(RedisUrlStore(tier, ttl=60))
                for source in sources:  # twelve directories' indexes, on their own slots
                    urls.record(source, f"/w_30/{source}", False)
                return await urls.take([], ["catalog/"])
            finally:
                await tier.close()

        by_prefix = asyncio.run(by_directory())
        assert sorted(by_prefix) == sorted(sources)
    finally:
        cluster.stop()
