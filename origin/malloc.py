"""glibc malloc tuning for libvips: many worker threads, and pixel buffers of many megabytes.

With glibc's defaults each libvips thread may get its own arena (eight per core), and the
mmap threshold rises to 32 MiB after the first big buffer is freed, so later decode buffers come
from the arenas and fragment them: RSS climbs for minutes and never comes back. Setting the
environment variable `MALLOC_ARENA_MAX` after Python started does nothing (glibc reads it once,
at its first allocation), so the values are applied with `mallopt` in the master before it forks.
"""

from __future__ import annotations

import ctypes
import platform
import threading
import time
from collections.abc import Callable

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def tune(arena_max: int, mmap_threshold: int) -> dict[str, int]:
    """Apply the non-zero limits with mallopt; returns what was applied (empty off glibc)."""
    if platform.libc_ver()[0] != "glibc":
        return {}
    libc = ctypes.CDLL(None)
    applied = {}
    if arena_max and libc.mallopt(M_ARENA_MAX, arena_max):
        applied["arena_max"] = arena_max
    if mmap_threshold:
        # A fixed mmap threshold also stops glibc raising it; freed big buffers go back to the
        # kernel at once. The trim threshold follows it, as glibc's own dynamic rule does.
        if libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold):
            applied["mmap_threshold"] = mmap_threshold
        if libc.mallopt(M_TRIM_THRESHOLD, 2 * mmap_threshold):
            applied["trim_threshold"] = 2 * mmap_threshold
    return applied


class Trimmer:
    """Hands freed heap pages back to the kernel with malloc_trim, at most once per interval.

    libvips frees its pixel buffers in the middle of the arenas, between blocks still in use;
    plain free() returns only the top of the heap, so a worker would keep a burst's pages. (The
    slow drift soaks used to show was in CPython's own object arenas, which glibc's trim cannot
    reach; its causes were removed elsewhere: benchmarks findings 26 and 27.) Called in a
    transform thread after its transform, never on the event loop.
    """

    def __init__(self, interval: float, on_trim: Callable[[float], None] | None = None) -> None:
        self.interval = interval
        self.trims = 0
        self._on_trim = on_trim  # given each trim's seconds (a metric), to show what it costs
        self._next = 0.0
        self._lock = threading.Lock()
        self._trim: Callable[[int], int] | None = None
        if interval > 0 and platform.libc_ver()[0] == "glibc":
            self._trim = ctypes.CDLL(None).malloc_trim

    @property
    def active(self) -> bool:
        return self._trim is not None

    def maybe_trim(self) -> None:
        """Trim if the interval has passed since the last trim (by any thread)."""
        if self._trim is None or time.monotonic() < self._next:
            return
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                return
            self._next = now + self.interval
            self._trim(0)  # ctypes releases the GIL for the call
            self.trims += 1
            if self._on_trim is not None:
                self._on_trim(time.monotonic() - now)
