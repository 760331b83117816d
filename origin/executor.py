"""The bounded transform pool of a worker: transforms never run on the event loop, and when the
threads and the queue are full new misses are refused at once with 503 (cache hits never queue)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from origin import metrics
from origin.errors import Overloaded

T = TypeVar("T")


class TransformExecutor:
    def __init__(self, threads: int, queue: int) -> None:
        self.threads = threads
        self.capacity = threads + queue
        self.pending = 0
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="transform")

    async def run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        if self.pending >= self.capacity:
            metrics.SHED.inc()
            raise Overloaded("server is busy; retry shortly", retry_after=1)
        self.pending += 1
        metrics.INFLIGHT.inc()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))
        finally:
            self.pending -= 1
            metrics.INFLIGHT.dec()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
