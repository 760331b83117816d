"""Shared source versions and bytes in Redis, for every worker of every host.

`P:{h}:src` and `P:{h}:orig` sit in the source's slot beside its purge generation: a read is one
MGET of the generation and the entry, and an entry stored under an older generation (its fetch
straddled a purge) reads as a miss. Calls go through the tier's breaker and deadline, so with
Redis away every worker simply fetches for itself.
"""

from __future__ import annotations

import time
from typing import Any

from cache.coalesce import Leases
from cache.redis import SECONDS_PER_BYTE, RedisTier
from cache.redis_scripts import pack, unpack
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
        if not found or found[1] is None:
            return None
        parts = unpack(found[1])
        if parts is None or parts[0] != (found[0] or b""):
            return None  # stored under a generation a purge has replaced
        return parts[1]

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
        size = 0
        if data is not None and len(data) <= self.max_bytes:
            value = pack(mark, encode_original(SharedOriginal(version, data, now)))
            size = len(value)
            pipe.set(keys.original, value, px=max(1, int(self.originals_ttl * 1000)))
        pipe.set(keys.version, pack(mark, encode_version(SharedVersion(version, now, missing))),
                 px=self.version_ttl_ms)
        # Indexed under its directories, so a purge by prefix finds it before any variant.
        self.tier.index_directories(pipe, source_id)
        await self.tier.call("set", pipe.execute,
                             timeout=self.tier.timeout + size * SECONDS_PER_BYTE)
