"""Shared source versions and bytes in Redis, for every worker of every host.

`P:{h}:src` and `P:{h}:orig` sit in the source's slot beside its purge generation: a read is one
MGET of the generation and the entry, and a store one script that writes only while the
generation is still the one its fetch began with (a fetch that straddled a purge stores
nothing). Calls go through the tier's breaker and deadline, so with Redis away every worker
simply fetches for itself.
"""

from __future__ import annotations

import time
from typing import Any

from cache.coalesce import Leases
from cache.redis import SECONDS_PER_BYTE, RedisTier
from cache.redis_scripts import STORE_SOURCE, current_blob, pack
from origin.sources.shared import (
    SharedOriginal,
    SharedVersion,
    decode_original,
    decode_version,
    encode_original,
    encode_version,
)


class RedisSources:
    name = "redis"

    def __init__(self, tier: RedisTier, leases: Leases, *, version_ttl: int,
                 originals_ttl: float, max_bytes: int) -> None:
        self.tier = tier
        self.leases = leases
        self.version_ttl_ms = version_ttl * 1000
        self.originals_ttl = originals_ttl
        # Bytes above the cap stay out of Redis: big values stall it for every other client.
        self.max_bytes = max_bytes

    async def _current(self, generation_key: str, key: str, timeout: float = 0.0) -> bytes | None:
        found = await self.tier.call("get", lambda: self.tier.client.mget([generation_key, key]),
                                     timeout=timeout)
        if not found:
            return None
        # Stored under a generation a purge has replaced, or whose generation is gone: a miss.
        return current_blob(found[0], found[1])

    async def version(self, source_id: str) -> SharedVersion | None:
        keys = self.tier.layout.source(source_id)
        return decode_version(await self._current(keys.generation, keys.version))

    async def original(self, source_id: str) -> SharedOriginal | None:
        if self.max_bytes == 0:
            return None
        keys = self.tier.layout.source(source_id)
        # Up to `max_bytes` must arrive within the deadline, as a store gets time per byte.
        timeout = self.tier.timeout + self.max_bytes * SECONDS_PER_BYTE
        blob = await self._current(keys.generation, keys.original, timeout)
        return decode_original(blob, self.originals_ttl)

    async def mark(self, source_id: str) -> Any:
        return await self.tier.generation(source_id)

    async def store(self, source_id: str, mark: Any, version: str, data: bytes | None, *,
                    missing: bool = False) -> None:
        if mark is None:
            return
        keys = self.tier.layout.source(source_id)
        now = time.time()
        pipe = self.tier.client.pipeline(transaction=False)
        original = b""
        if data is not None and len(data) <= self.max_bytes:
            original = pack(mark, encode_original(SharedOriginal(version, data, now)))
        version_value = pack(mark, encode_version(SharedVersion(version, now, missing)))
        # Only under the generation its fetch began with: a fetch that straddled a purge (on
        # any host) stores nothing, as a variant's transform does (cache/redis_scripts.py).
        pipe.eval(STORE_SOURCE, 3, keys.generation, keys.version, keys.original, mark,
                  version_value, self.version_ttl_ms, original,
                  max(1, int(self.originals_ttl * 1000)))
        # Indexed under its directories, so a purge by prefix finds it before any variant.
        self.tier.index_directories(pipe, source_id)
        await self.tier.call("set", pipe.execute,
                             timeout=self.tier.timeout + len(original) * SECONDS_PER_BYTE)
