"""A deadline for one Redis call that measures Redis, not this worker's event loop.

With `asyncio.timeout`, a loop stalled past the deadline (a busy worker: a burst of requests,
the GIL, a saturated CPU) cancels a call whose reply has already arrived, and a healthy Redis
looks slow; on a loaded 2-core host that happens many times a second. Here the deadline is spent
in slices, and a slice only costs what it was meant to last: time the loop spent stalled beyond
it is not charged to Redis. A Redis that is really slow, on a responsive worker, still costs one
timeout (plus a few loop turns); a stalled worker gets at most `STALL_ALLOWANCE` more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import Counter

T = TypeVar("T")
SLICE = 0.010
LAG_TOLERANCE = 0.005
STALL_ALLOWANCE = 1.0
GRACE_TURNS = 3
EXTENDED = Counter("imgorigin_cache_deadline_extended",
                   "Redis calls whose deadline was extended because the event loop, not Redis, "
                   "was late")


def _consume(task: asyncio.Future[object]) -> None:
    if not task.cancelled():
        task.exception()


async def within(fn: Callable[[], Awaitable[T]], timeout: float) -> T:
    """`await fn()`, or TimeoutError once it has had `timeout` s of responsive-loop time."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(fn())
    budget = timeout
    hard_end = loop.time() + timeout + STALL_ALLOWANCE
    extended = False
    try:
        while not task.done():
            step = min(SLICE, budget)
            started = loop.time()
            await asyncio.wait({task}, timeout=step)
            if task.done():
                break
            budget -= step
            now = loop.time()
            if now - started - step > LAG_TOLERANCE and not extended:
                extended = True
                EXTENDED.inc()
            if budget <= 1e-6 or now >= hard_end:
                # A reply already in the socket needs a loop turn or two to be read.
                for _ in range(GRACE_TURNS):
                    await asyncio.sleep(0)
                    if task.done():
                        break
                break
    except asyncio.CancelledError:
        task.cancel()
        task.add_done_callback(_consume)
        raise
    if not task.done():
        task.cancel()  # redis-py drops the connection of a cancelled call
        task.add_done_callback(_consume)
        raise TimeoutError(f"no reply within {timeout * 1000:.0f} ms")
    return task.result()
