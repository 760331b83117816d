"""glibc malloc limits are applied with mallopt (the environment variable is read too early)."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

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
