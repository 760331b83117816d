"""Replace a worker after a number of transforms, or once its RSS passes a cap.

Counted in transforms, not requests (gunicorn's `max_requests`), so a worker busy with cache hits
is never restarted and never loses its in-process cache for nothing. The RSS cap is the guard
against growth of any cause (allocator fragmentation, a leak in a codec): it is checked after each
transform, when the transform's own buffers are already freed.
"""

from __future__ import annotations

import logging
import mmap
import os
import random
from collections.abc import Callable

from origin.settings import MIB

log = logging.getLogger("imgorigin")

_stop: Callable[[], None] | None = None


def install(stop: Callable[[], None]) -> None:
    """Called by the server worker: how to stop gracefully (finish in-flight, then exit)."""
    global _stop
    _stop = stop


def current_rss() -> int | None:
    """This process's resident set in bytes, or None where /proc is not available."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * mmap.PAGESIZE
    except (OSError, ValueError, IndexError):
        return None


def warn_if_cap_too_low(cap: int) -> None:
    """At worker start: a cap under the RSS the worker already has replaces it after every
    transform, which is a misconfiguration worth a line in the log, not a refusal to start."""
    rss = current_rss()
    if cap and rss is not None and rss >= cap:
        log.warning("IMGORIGIN_WORKER_MAX_RSS_BYTES (%.0f MiB) is below this worker's RSS after "
                    "start (%.0f MiB): every transform will replace the worker", cap / MIB,
                    rss / MIB)


class Recycler:
    def __init__(self, limit: int, max_rss: int = 0,
                 rss: Callable[[], int | None] = current_rss,
                 on_recycle: Callable[[str], None] | None = None) -> None:
        # ±50 % jitter, so the workers of a host, started together and given the same load, do
        # not all restart at once: with ±10 % they still did, within 20 s of each other.
        self.limit = max(1, round(limit * random.uniform(0.5, 1.5))) if limit else 0
        self.max_rss = max_rss
        self._rss = rss
        # Given the reason ('transforms' or 'rss'), for a metric: the master imports this module
        # before the metrics' shared directory exists, so it cannot import them itself.
        self._on_recycle = on_recycle
        self.done = 0
        self.stopping = False

    def count(self) -> None:
        """One more transform done: ask the worker to stop if a budget is spent."""
        self.done += 1
        if self.stopping or _stop is None:
            return
        if self.limit and self.done >= self.limit:
            self._recycle("transforms", f"{self.done} transforms done")
            return
        if self.max_rss:
            rss = self._rss()
            if rss is not None and rss > self.max_rss:
                cap = self.max_rss / MIB
                self._recycle("rss", f"RSS {rss / MIB:.0f} MiB is over "
                                     f"IMGORIGIN_WORKER_MAX_RSS_BYTES ({cap:.0f} MiB)")

    def _recycle(self, reason: str, detail: str) -> None:
        assert _stop is not None
        self.stopping = True
        if self._on_recycle is not None:
            self._on_recycle(reason)
        log.warning("worker %d is replaced: %s", os.getpid(), detail)
        _stop()
