"""Cross-host single-flight leases in Redis: redis-py's Lock (SET NX PX + token-checked Lua
release/extend), renewed while the holder works, so it expires soon after a holder dies.

When Redis cannot be asked (breaker open, timeout), `acquire` hands out a local lease: the
request computes at once rather than waiting on a lock nobody can see. A timed-out acquire may
still have set the lock (the reply was what came late), so its token is released in the
background; otherwise the other hosts would wait on it until its TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.asyncio.lock import Lock

from cache.coalesce import Lease
from cache.redis_client import Client
from cache.redis_keys import KeyLayout


class LeaseHost(Protocol):
    """What leases need of the Redis tier: its client, key layout and guarded call."""

    client: Client
    layout: KeyLayout

    async def call(self, op: str, fn: Callable[[], Awaitable[Any]], *,
                   background: bool = False) -> Any: ...


class _LocalLease:
    async def release(self) -> None:
        return None


class _RedisLease:
    def __init__(self, tier: LeaseHost, lock: Lock, ttl: float) -> None:
        self.tier = tier
        self.lock = lock
        self._renewer = asyncio.create_task(self._renew(ttl))

    async def _renew(self, ttl: float) -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            ok = await self.tier.call("lease", self.lock.reacquire, background=True)
            if not ok:
                return  # lost (expired, taken over) or Redis away: the waiters take over

    async def release(self) -> None:
        self._renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._renewer
        await self.tier.call("lease", self.lock.release, background=True)


class RedisLeases:
    def __init__(self, tier: LeaseHost, ttl: float) -> None:
        self.tier = tier
        self.ttl = ttl
        self._cleanups: set[asyncio.Task[Any]] = set()

    async def acquire(self, key: str) -> Lease | None:
        lock = self.tier.client.lock(self.tier.layout.lease(key), timeout=self.ttl,
                                     blocking=False, thread_local=False,
                                     raise_on_release_error=False)
        token = secrets.token_hex(16).encode()
        tried = False

        async def take() -> bool:
            nonlocal tried
            tried = True
            return bool(await lock.acquire(token=token))

        got = await self.tier.call("lease", take)
        if got is None and tried:
            # Failed after being sent: if the SET NX reached Redis, the lock is ours. Give it
            # back (compare-and-delete on the token, a no-op when it was never set).
            cleanup = asyncio.create_task(self.tier.call(
                "lease", lambda: lock.do_release(token), background=True))
            self._cleanups.add(cleanup)
            cleanup.add_done_callback(self._cleanups.discard)
        if got is None:
            return _LocalLease()
        if not got:
            return None
        return _RedisLease(self.tier, lock, self.ttl)
