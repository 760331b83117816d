"""The Redis tier (L2, shared by every worker of every host), single node or Cluster.

A read is one MGET of the source's generation and the value (same slot); a store is one Lua
script that checks the generation, writes the value and adds it to the source's purge index.
Every call has one short deadline and goes through a circuit breaker, so a slow or dead Redis
costs a request at most about one timeout and then nothing until a background probe sees it
back. Nothing here raises on the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.asyncio import RedisCluster
from redis.exceptions import (
    AskError,
    ClusterError,
    LockError,
    RedisError,
    ResponseError,
    TryAgainError,
)

from cache.entry import CachedVariant
from cache.journal import PurgeRecord
from cache.keys import purge_prefixes
from cache.redis_breaker import Breaker, mark_request_failed
from cache.redis_client import Client, make_cache, make_client, parse_url
from cache.redis_deadline import within
from cache.redis_keys import KeyLayout
from cache.redis_leases import RedisLeases
from cache.redis_pubsub import HEALTH_INTERVAL, PurgeSubscriber, encode
from cache.redis_scripts import (
    GENERATION,
    PURGE,
    STORE,
    current_blob,
    new_generation,
    pack,
    source_of,
)
from cache.tiers import PurgeCount
from origin import metrics
from origin.errors import Overloaded

log = logging.getLogger("imgorigin.cache")
T = TypeVar("T")

_AWAY = object()
# A store (Lua, the value copied a few times) gets 20 ms per MiB on top of the deadline. A read
# keeps the strict deadline, so a slow Redis costs a request at most one timeout; a variant too
# big to arrive within it (about 24 MiB in 50 ms on loopback) reads as a miss: raise the timeout
# if you serve such variants.
SECONDS_PER_BYTE = 0.020 / (1024 * 1024)
DIRECTORY_REFRESH_SECONDS = 60.0
SCAN_COUNT = 1000  # keys per SCAN call and generation values per read of a prefix purge's scan


class RedisTier:
    name = "redis"

    def __init__(self, client: Client, *, timeout: float, ttl: int, lease_ttl: float,
                 breaker: Breaker, purge_timeout: float, prefix: str) -> None:
        self.client = client
        self.cluster = isinstance(client, RedisCluster)
        self.cache = make_cache(client, timeout)
        self.timeout = timeout
        self.ttl_ms = ttl * 1000
        self.lease_ttl = lease_ttl
        self.breaker = breaker
        self.purge_timeout = purge_timeout
        self.layout = KeyLayout(prefix)
        self.pubsub_health = HEALTH_INTERVAL  # the subscriber's PING period (tests shorten it)
        self.subscriber: PurgeSubscriber | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._deliver: Callable[[PurgeRecord | None], None] | None = None
        self._errors = {op: metrics.CACHE_ERRORS.labels(self.name, op)
                        for op in ("get", "set", "purge", "lease", "generation", "publish",
                                   "touch", "edge-urls")}
        self._stale = metrics.STALE_STORES.labels(self.name)
        self._reads: dict[str, asyncio.Future[Any]] = {}
        self._refreshed: dict[str, float] = {}  # source id -> when its directories were touched
        self._background: set[asyncio.Future[Any]] = set()

    @classmethod
    def from_settings(cls, settings: Any) -> RedisTier:
        target = parse_url(settings.redis_url)
        client = make_client(target, settings.redis_timeout, settings.redis_max_connections)
        breaker = Breaker("redis", settings.redis_breaker_failures,
                          settings.redis_breaker_cooldown)
        return cls(client, timeout=settings.redis_timeout, ttl=settings.redis_ttl,
                   lease_ttl=settings.redis_lease_ttl, breaker=breaker,
                   purge_timeout=settings.redis_purge_timeout, prefix=settings.redis_prefix)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, deliver: Callable[[PurgeRecord | None], None]) -> None:
        """Check Redis once (a dead Redis opens the breaker: the worker starts degraded), then
        run the health probe and the purge subscriber in the background."""
        self._deliver = deliver
        if not await self._probe():
            self.breaker.trip()
        self.subscriber = PurgeSubscriber(self.client, self.layout.channel, deliver,
                                          self.pubsub_health)
        self._tasks = [asyncio.create_task(self._watch()), asyncio.create_task(
            self.subscriber.run())]

    async def _probe(self) -> bool:
        try:
            async with asyncio.timeout(max(self.timeout, 0.2)):
                await self.client.ping()
            return True
        except (RedisError, OSError, TimeoutError):
            return False

    async def _serves_requests(self) -> bool:
        """Whether Redis is back as requests will use it: a keyed read (a Cluster that answers
        PING but CLUSTERDOWN to keys is not back) within the requests' own deadline (a Redis
        slower than that would trip the breaker again at once)."""
        if not await self._probe():  # also (re)connects, which the request deadline may not fit
            return False
        probe_key = self.layout.source("imgorigin-breaker-probe").generation
        try:
            await within(lambda: self.client.exists(probe_key), self.timeout)
            return True
        except (RedisError, OSError, TimeoutError):
            return False

    async def _watch(self) -> None:
        """While the breaker is open, probe once per cooldown (counted from the trip, then from
        each failed probe); close it on the first success."""
        while True:
            if not self.breaker.is_open:
                await asyncio.sleep(0.25)
                continue
            await asyncio.sleep(self.breaker.until_probe())
            opened_at = self.breaker.opened_at
            if opened_at is None or self.breaker.until_probe() > 0:
                continue
            back = await self._serves_requests()
            self.breaker.probed()
            if not back:
                continue
            self.breaker.close()
            # Purges made elsewhere while Redis was unreachable from here reached this worker
            # only if its subscription held throughout; if it did not, start L1 afresh.
            subscriber = self.subscriber
            if self._deliver is not None and not (
                    subscriber is not None and subscriber.unbroken_since(opened_at)):
                self._deliver(None)

    async def close(self) -> None:
        tasks = [*self._tasks, *self._background]
        # Bounded: a task whose cancellation a client call swallowed is cancelled again, and
        # shutdown goes on without it rather than hanging.
        for _ in range(3):
            pending = [task for task in tasks if not task.done()]
            if not pending:
                break
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=1.0)
        for task in tasks:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved, so it is not reported as never retrieved
        with contextlib.suppress(Exception):
            await self.client.aclose()

    @property
    def healthy(self) -> bool:
        return not self.breaker.is_open

    def leases(self) -> RedisLeases:
        return RedisLeases(self, self.lease_ttl)

    # -- guarded calls ------------------------------------------------------------------------

    async def call(self, op: str, fn: Callable[[], Awaitable[T]], *, timeout: float = 0.0,
                   background: bool = False, default: Any = None) -> T | Any:
        """`fn()` under the breaker and a deadline; `default` when skipped or failed (counted).
        A `background` call (a lease's renewal or release, a touch) is off the request's
        latency path: it still runs after its request saw Redis fail, or a lease would stay
        held until its TTL while other hosts wait on it."""
        if not self.breaker.allow(in_request=not background):
            return default
        try:
            result = await within(fn, timeout or self.timeout)
        except LockError:
            return default  # an answer (the lease was lost), not an outage
        except (RedisError, OSError, TimeoutError) as exc:
            self._errors[op].inc()
            if _is_answer(exc):
                # Redis answered (OOM under noeviction, a script error): it is up, don't trip.
                log.debug("redis %s refused: %s", op, exc)
                return default
            self.breaker.failure(in_request=not background)
            return default
        self.breaker.success()
        return result

    # -- SharedTier ---------------------------------------------------------------------------

    async def get(self, key: str, source_id: str) -> CachedVariant | None:
        # Concurrent reads of one key in this worker share one MGET: a burst for a new variant
        # is one Redis call, not hundreds of connections at once.
        if not self.breaker.allow():
            return None
        read = self._reads.get(key)
        if read is None:
            read = asyncio.ensure_future(self._read(key, source_id))
            self._reads[key] = read
            read.add_done_callback(lambda r: self._reads.pop(key) if self._reads.get(key) is r
                                   else None)
        found = await asyncio.shield(read)
        if found is _AWAY:
            mark_request_failed()
            return None
        if found is not None:
            self._refresh_directories(source_id)
        return found

    def forget_reads(self) -> None:
        """A purge was applied here: requests from now on start their own reads, rather than
        join one whose MGET may have run before the purge (and would refill memory with it)."""
        self._reads.clear()

    def _refresh_directories(self, source_id: str) -> None:
        """Mark the directory indexes of a source read from here as recently used, at most once
        a minute: under an LRU policy they would otherwise age from their last store and be
        evicted before the values that are read, and a purge by prefix would miss those."""
        now = time.monotonic()
        if now - self._refreshed.get(source_id, -DIRECTORY_REFRESH_SECONDS) < (
                DIRECTORY_REFRESH_SECONDS):
            return
        if len(self._refreshed) >= 4096:
            self._refreshed.clear()
        self._refreshed[source_id] = now
        names = [self.layout.directory(prefix) for prefix in purge_prefixes(source_id)]
        if not names:
            return

        async def touch() -> None:
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                pipe.touch(name)
            await pipe.execute()

        task = asyncio.ensure_future(self.call("touch", touch, background=True))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _read(self, key: str, source_id: str) -> Any:
        """The entry, decoded once for every request that waits on this read."""
        keys = self.layout.source(source_id)
        found = await self.call("get", lambda: self.cache.multi_get(
            [keys.generation, keys.value(key)], timeout=0), background=True, default=_AWAY)
        if found is _AWAY:
            return _AWAY
        # A value stored under another generation (before a purge whose index delete missed
        # it), or whose generation is gone, is unreachable (cache/redis_scripts.py).
        blob = current_blob(found[0], found[1])
        return None if blob is None else CachedVariant.from_bytes(blob)

    async def generation(self, source_id: str) -> bytes | None:
        """The source's purge generation now, made if it has none; None if Redis is away."""
        keys = self.layout.source(source_id)
        return await self.call("generation", lambda: self.client.eval(
            GENERATION, 1, keys.generation, new_generation(source_id), self.ttl_ms))

    async def set(self, key: str, entry: CachedVariant,
                  generation: bytes | None = None) -> bool | None:
        """Store unless the source was purged since `generation` was read: True stored, False
        refused as stale, None not attempted or failed. Without a generation (Redis was away
        when the transform started) nothing is stored, since a purge may have been missed."""
        if generation is None:
            return None
        keys = self.layout.source(entry.source_id)
        value = pack(generation, entry.to_bytes())
        deadline = self.timeout + len(value) * SECONDS_PER_BYTE

        async def store() -> int:
            results = await asyncio.gather(
                self.client.eval(STORE, 3, keys.value(key), keys.index, keys.generation,
                                 generation, value, self.ttl_ms, key),
                self._index_directories(entry.source_id),
            )
            return int(results[0])

        stored = await self.call("set", store, timeout=deadline)
        if stored is None:
            return None
        if stored == 0:
            self._stale.inc()
        return bool(stored)

    async def _index_directories(self, source_id: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        if self.index_directories(pipe, source_id):
            await pipe.execute()

    def index_directories(self, pipe: Any, source_id: str) -> bool:
        """Queue on `pipe` the source's entry in the SET of each directory above it, which a
        purge by prefix reads; False when it has none (a top-level key)."""
        prefixes = purge_prefixes(source_id)
        for prefix in prefixes:
            name = self.layout.directory(prefix)
            pipe.sadd(name, source_id)
            pipe.pexpire(name, self.ttl_ms)
        return bool(prefixes)

    async def purge(self, sources: Sequence[str], prefixes: Sequence[str]) -> PurgeCount:
        """Delete every variant of these sources (and of the sources indexed under these
        directory prefixes), bump their generations and tell every worker. Raises `Overloaded`
        (503) when Redis cannot be reached: the caller must retry, nothing was promised."""
        if self.breaker.is_open:
            raise Overloaded("the shared cache is unavailable; purge not applied, retry")
        started = time.monotonic()
        count = PurgeCount()
        try:
            async with asyncio.timeout(self.purge_timeout):
                found = set(sources)
                for prefix in prefixes:
                    members = await self.client.smembers(self.layout.directory(prefix))
                    for member in members:
                        source = member.decode("utf-8", "surrogatepass")
                        if source.startswith(prefix):
                            found.add(source)
                            count.sources.add(source)
                if prefixes and await self._may_evict():
                    # An eviction may have taken a directory index: the generation keys name
                    # every source that can still serve a value from here.
                    under = await self._sources_under(tuple(prefixes))
                    found |= under
                    count.sources |= under
                removed = await asyncio.gather(*(self._purge_source(s) for s in sorted(found)))
                count.variants = sum(removed)
                await self.client.publish(self.layout.channel, encode(sources, prefixes))
        except (RedisError, OSError, TimeoutError) as exc:
            self._errors["purge"].inc()
            log.warning("redis purge failed after %.3f s: %r", time.monotonic() - started, exc)
            raise Overloaded("the shared cache did not answer; purge not applied, retry",
                             retry_after=1) from None
        return count

    async def _may_evict(self) -> bool:
        """Whether Redis may have evicted keys: it did since it started, or its `maxmemory`
        policy would (on any master of a Cluster)."""
        if self.cluster:
            info = await self.client.info(target_nodes=RedisCluster.PRIMARIES)
            nodes = list(info.values())
        else:
            nodes = [await self.client.info()]
        return any(
            int(node.get("evicted_keys", 0)) > 0
            or (int(node.get("maxmemory", 0)) > 0
                and node.get("maxmemory_policy", "noeviction") != "noeviction")
            for node in nodes if isinstance(node, dict))

    async def _sources_under(self, prefixes: tuple[str, ...]) -> set[str]:
        """Every source under these prefixes that has a generation in Redis, found by a SCAN of
        the generation keys (of every master): about a second per million keys held."""
        found: set[str] = set()
        batch: list[bytes] = []

        async def read(names: list[bytes]) -> None:
            values = await (self.client.mget_nonatomic(names) if self.cluster
                            else self.client.mget(names))
            for value in values:
                source = source_of(value) if value else None
                if source is not None and source.startswith(prefixes):
                    found.add(source)

        async for name in self.client.scan_iter(match=self.layout.generation_pattern(),
                                                count=SCAN_COUNT):
            batch.append(name)
            if len(batch) >= SCAN_COUNT:
                await read(batch)
                batch = []
        if batch:
            await read(batch)
        return found

    async def _purge_source(self, source_id: str) -> int:
        keys = self.layout.source(source_id)
        removed = await self.client.eval(PURGE, 4, keys.index, keys.generation, keys.version,
                                         keys.original, keys.value_prefix,
                                         new_generation(source_id), self.ttl_ms)
        return int(removed)


def _is_answer(exc: BaseException) -> bool:
    return isinstance(exc, ResponseError) and not isinstance(
        exc, ClusterError | AskError | TryAgainError)
