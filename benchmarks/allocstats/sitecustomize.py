"""Allocator figures of every forked process, for the soak: `SOAK_ALLOCSTATS=on make soak`.

Imported at start-up when this folder is on PYTHONPATH and ALLOCSTATS_DIR is set. Each process
forked from then on (the server's workers) appends one JSON line every ALLOCSTATS_INTERVAL
seconds (default 20) to ALLOCSTATS_DIR/<pid>.jsonl: CPython's object allocator (arenas, bytes
in allocated blocks), glibc's (bytes in use and held, all arenas) and RSS. RSS alone cannot tell
a cache filling from allocator fragmentation; these can (benchmarks/README.md finding 26).
A diagnostic: while `sys._debugmallocstats` runs, about a millisecond, the process's stderr goes
to a scratch file, so a log line written then from another thread is lost.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import sys
import tempfile
import threading
import time


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                 "uordblks", "fordblks", "keepcost")]


def pymalloc_stats() -> dict[str, int]:
    """Arenas and bytes in allocated blocks of CPython's object allocator."""
    fd, path = tempfile.mkstemp(prefix="allocstats-")
    saved = os.dup(2)
    try:
        sys.stderr.flush()
        os.dup2(fd, 2)
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
    found: dict[str, int] = {}
    names = {"# arenas allocated current": "py_arenas",
             "# bytes in allocated blocks": "py_allocated_bytes"}
    with open(path) as f:
        for line in f:
            label, _, value = line.partition("=")
            if label.strip() in names:
                found[names[label.strip()]] = int(value.strip().replace(",", ""))
    os.unlink(path)
    return found


def glibc_stats() -> dict[str, int]:
    """Bytes glibc's malloc has in use and holds (arenas plus mmapped chunks); {} without it."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is None or not hasattr(libc, "mallinfo2"):
        return {}
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return {"glibc_in_use_bytes": info.uordblks + info.hblkhd,
            "glibc_held_bytes": info.arena + info.hblkhd}


def record() -> dict[str, float]:
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return {"time": time.time(), **pymalloc_stats(), **glibc_stats(), "rss_bytes": rss}


def _write_every(folder: str, interval: float) -> None:
    with open(os.path.join(folder, f"{os.getpid()}.jsonl"), "a") as out:
        while True:
            time.sleep(interval)
            out.write(json.dumps(record()) + "\n")
            out.flush()


def _start() -> None:
    folder = os.environ["ALLOCSTATS_DIR"]
    interval = float(os.environ.get("ALLOCSTATS_INTERVAL", "20"))
    threading.Thread(target=_write_every, args=(folder, interval), daemon=True,
                     name="allocstats").start()


if os.environ.get("ALLOCSTATS_DIR"):
    os.register_at_fork(after_in_child=_start)
