"""Single-flight: one transform per variant, however many requests and workers want it.

Within a worker, concurrent requests await the same task. Across workers (and hosts, with a
`Leases` implementation in Redis) the first worker takes a lease; the others poll the shared tier
for the result, take over when the lease is released without a result (the holder died or
failed), and compute themselves when their deadline comes.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from origin import metrics

T = TypeVar("T")
POLL_INTERVAL = 0.015


class Lease(Protocol):
    async def release(self) -> None: ...


class Leases(Protocol):
    """Cross-worker mutual exclusion per variant key."""

    async def acquire(self, key: str) -> Lease | None:
        """A lease, or None when another worker holds it."""
        ...


class _FileLease:
    def __init__(self, fd: int, offset: int) -> None:
        self.fd = fd
        self.offset = offset

    async def release(self) -> None:
        fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, self.offset)


class FileLeases:
    """Leases for the workers of one host: POSIX byte-range locks on one shared file.

    A key maps to one byte; the kernel releases a dead worker's locks at once. Record locks
    belong to the process, so they never block the same worker (its tasks coalesce in-process).
    """

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.fd = os.open(os.path.join(directory, "leases.lock"), os.O_RDWR | os.O_CREAT, 0o644)

    async def acquire(self, key: str) -> Lease | None:
        offset = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=5).digest(), "big")
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
        except OSError:
            return None
        return _FileLease(self.fd, offset)

    def close(self) -> None:
        os.close(self.fd)


class SingleFlight:
    """`waited` counts the requests that waited for someone else's work (a Prometheus counter)."""

    def __init__(self, leases: Leases | None, wait_limit: float,
                 waited: Any = metrics.COALESCED) -> None:
        self.leases = leases
        self.wait_limit = wait_limit
        self.waited = waited
        self._inflight: dict[str, asyncio.Task[object]] = {}

    async def run(
        self,
        key: str,
        lookup: Callable[[], Awaitable[T | None]],
        compute: Callable[[], Awaitable[T]],
    ) -> tuple[T, bool]:
        """The result for `key` and whether this request waited for someone else's work.

        The work runs in its own task, so a leaving client does not cancel it for the others.
        """
        task = self._inflight.get(key)
        waited = task is not None
        if task is None:
            task = asyncio.create_task(self._lead(key, lookup, compute))
            self._inflight[key] = task
            task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        else:
            self.waited.inc()
        result = await asyncio.shield(task)
        return result, waited  # type: ignore[return-value]

    async def _lead(
        self,
        key: str,
        lookup: Callable[[], Awaitable[T | None]],
        compute: Callable[[], Awaitable[T]],
    ) -> T:
        if self.leases is None:
            return await compute()
        lease = await self.leases.acquire(key)
        look_again = False
        if lease is None:
            self.waited.inc()
            deadline = time.monotonic() + self.wait_limit
            while lease is None and time.monotonic() < deadline:
                await asyncio.sleep(POLL_INTERVAL)
                found = await lookup()
                if found is not None:
                    return found
                lease = await self.leases.acquire(key)
            # The holder finished (or died) between our last look and the lease.
            look_again = lease is not None
        try:
            if look_again:
                found = await lookup()  # may raise: a source the holder found missing
                if found is not None:
                    return found
            return await compute()
        finally:
            if lease is not None:
                await lease.release()
