"""glibc malloc limits are applied with mallopt (the environment variable is read too early)."""

from __future__ import annotations

import asyncio
import platform
import subprocess
import sys
import textwrap
import threading
import time

import httpx
import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")

# Eight threads allocating at once each get an arena of their own unless M_ARENA_MAX caps them;
# glibc's malloc_info lists one <heap> per arena.
_COUNT_ARENAS = textwrap.dedent("""
    import ctypes, os, sys, tempfile, threading
    from origin import malloc
    malloc.tune(int(sys.argv[1]), 0)
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.fdopen.restype = ctypes.c_void_p
    barrier = threading.Barrier(8)
    def work():
        barrier.wait()
        for _ in range(200):
            libc.free(ctypes.c_void_p(libc.malloc(4096)))
        barrier.wait()
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    with tempfile.TemporaryFile() as f:
        stream = libc.fdopen(os.dup(f.fileno()), b"w")
        libc.malloc_info(0, ctypes.c_void_p(stream))
        libc.fclose(ctypes.c_void_p(stream))
        f.seek(0)
        print(f.read().decode().count("<heap nr="))
""")


def _arenas(arena_max: int) -> int:
    out = subprocess.run([sys.executable, "-c", _COUNT_ARENAS, str(arena_max)], check=True,
                         capture_output=True, text=True, timeout=60)
    return int(out.stdout.strip())


def test_arena_max_caps_the_arenas_threads_get() -> None:
    assert _arenas(2) <= 2
    # Without the cap the same threads spread over more arenas: the check can fail.
    assert _arenas(0) > 2


def test_mmap_threshold_is_applied() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "from origin import malloc; print(malloc.tune(0, 1 << 20))"],
        check=True, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == str({"mmap_threshold": 1 << 20, "trim_threshold": 2 << 20})


# Freed blocks below the top of the heap stay resident: free() only gives back the top. Blocks of
# 64 KiB are under glibc's mmap threshold, so they come from the heap.
_FRAGMENT_THEN_TRIM = textwrap.dedent("""
    import ctypes, sys
    import psutil
    from origin.malloc import Trimmer
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    rss = lambda: psutil.Process().memory_info().rss
    blocks = [libc.malloc(64 * 1024) for _ in range(3200)]  # 200 MiB
    for b in blocks:
        ctypes.memset(b, 1, 64 * 1024)
    for b in blocks[:-1]:  # the last block pins the top of the heap
        libc.free(ctypes.c_void_p(b))
    before = rss()
    trimmer = Trimmer(float(sys.argv[1]))
    trimmer.maybe_trim()
    print(before, rss(), trimmer.trims)
""")


def _fragment_then_trim(interval: float) -> tuple[int, int, int]:
    out = subprocess.run([sys.executable, "-c", _FRAGMENT_THEN_TRIM, str(interval)], check=True,
                         capture_output=True, text=True, timeout=60)
    before, after, trims = (int(x) for x in out.stdout.split())
    return before, after, trims


def test_trimmer_returns_freed_heap_pages() -> None:
    before, after, trims = _fragment_then_trim(1.0)
    assert trims == 1
    assert before - after > 150 * 1024 * 1024
    # Switched off (interval 0) the same pages stay resident.
    before, after, trims = _fragment_then_trim(0.0)
    assert trims == 0
    assert before - after < 20 * 1024 * 1024


def test_trimmer_trims_at_most_once_per_interval() -> None:
    from origin.malloc import Trimmer

    trimmer = Trimmer(0.2)
    for _ in range(50):
        trimmer.maybe_trim()
    assert trimmer.trims == 1
    time.sleep(0.25)
    trimmer.maybe_trim()
    trimmer.maybe_trim()
    assert trimmer.trims == 2


def test_executor_runs_the_hook_in_the_pool_thread_after_each_transform() -> None:
    from origin.executor import TransformExecutor

    seen: list[str] = []

    def boom() -> None:
        raise ValueError("corrupt image")

    async def scenario() -> None:
        pool = TransformExecutor(threads=1, queue=1,
                                 after_each=lambda: seen.append(threading.current_thread().name))
        assert await pool.run(lambda: 7) == 7
        with pytest.raises(ValueError):
            await pool.run(boom)  # a failed transform freed its buffers too
        pool.shutdown()

    asyncio.run(scenario())
    assert len(seen) == 2 and all(name.startswith("transform") for name in seen)


def test_the_hook_does_not_count_as_the_transforms_cost() -> None:
    from origin.executor import TransformExecutor

    async def scenario() -> float:
        pool = TransformExecutor(threads=1, queue=1, after_each=lambda: time.sleep(0.3))
        before = pool.calibration
        await pool.run(lambda: None, estimate=0.05)  # far quicker than estimated
        pool.shutdown()
        return pool.calibration / before

    # Counted with the 0.3 s hook, the work would look 6x its estimate and raise the factor.
    assert asyncio.run(scenario()) < 1.0


@pytest.mark.parametrize(("interval", "expected"), [(None, 1), ("0", 0)])
def test_server_trims_after_a_transform_by_default(interval: str | None, expected: int) -> None:
    from tests.support.origin import OriginProcess

    env = {} if interval is None else {"IMGORIGIN_MALLOC_TRIM_SECONDS": interval}
    with OriginProcess(env, workers=1) as server:
        response = httpx.get(server.url("/w_120,fmt_webp/landscape.jpg"), timeout=30)
        assert response.status_code == 200
        trims = server.metric("imgorigin_malloc_trim_duration_seconds_count")
    # One transform, one trim (the default interval is 1 s); switched off, the series stays 0.
    assert trims == expected
