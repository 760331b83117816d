"""A worker's threads carry names the OS shows (`top -H`, `ps -L`, perf): the event loop's helpers
are told apart from transforms and libvips' own threads."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.origin import OriginProcess

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux thread names")


def _thread_names(pid: int) -> set[str]:
    names = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            names.add(Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip())
        except OSError:
            continue
    return names


def test_worker_threads_are_named_by_role() -> None:
    with OriginProcess(workers=1) as server:
        # A transform (transform thread, probe thread, watchdog) and a disk-tier write (io).
        response = httpx.get(server.url("/w_120,fmt_webp/landscape.jpg"), timeout=30)
        assert response.status_code == 200
        (worker,) = server.worker_pids()
        names = _thread_names(worker)
    assert {"transform", "probe", "vips-watchdog", "io"} <= names, names
