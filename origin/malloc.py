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
