"""Names the operating system sees for a worker's threads, so `top -H`, `ps -L`, perf and the
benchmark's CPU breakdown tell the event loop, transforms, probes and file I/O apart."""

from __future__ import annotations

import contextlib
import ctypes
import sys

_PR_SET_NAME = 15
_MAX_NAME = 15  # the kernel's limit, without the terminating NUL


def name_os_thread(name: str) -> None:
    """Give the calling thread `name` (cut to 15 bytes) at the OS level; Linux only."""
    if not sys.platform.startswith("linux"):
        return
    # A libc without prctl: names are a convenience, never a failure.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_NAME, name.encode()[:_MAX_NAME], 0, 0, 0)
