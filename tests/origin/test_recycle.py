"""Workers are replaced after IMGORIGIN_WORKER_MAX_TRANSFORMS transforms, never for hits, or once
IMGORIGIN_WORKER_MAX_RSS_BYTES is passed."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.net import wait_until
from tests.support.origin import OriginProcess


def test_worker_is_replaced_after_its_transform_budget_not_for_hits(samples_dir: Path) -> None:
    env = {"IMGORIGIN_SOURCE": str(samples_dir), "IMGORIGIN_WORKER_MAX_TRANSFORMS": "3"}
    with OriginProcess(env) as server:
        first = server.worker_pids()
        for _ in range(60):  # hits only
            assert httpx.get(server.url("/_/logo.png"), timeout=30).status_code == 200
        assert server.worker_pids() == first  # one transform, then 59 hits: no restart
        for w in (10, 11, 12, 13):
            assert httpx.get(server.url(f"/w_{w}/logo.png"), timeout=30).status_code == 200
        assert wait_until(lambda: server.worker_pids() not in ([], first), 20)
        assert httpx.get(server.url("/w_14/logo.png"), timeout=30).status_code == 200
        assert server.metric("imgorigin_worker_recycles_total", reason="transforms") >= 1


def test_worker_is_replaced_once_its_rss_passes_the_cap(samples_dir: Path) -> None:
    # A cap of one byte: the first transform puts the worker over it; hits never check.
    env = {"IMGORIGIN_SOURCE": str(samples_dir), "IMGORIGIN_WORKER_MAX_RSS_BYTES": "1"}
    with OriginProcess(env) as server:
        first = server.worker_pids()
        assert httpx.get(server.url("/w_10/logo.png"), timeout=30).status_code == 200
        assert wait_until(lambda: server.worker_pids() not in ([], first), 20)
        assert httpx.get(server.url("/w_11/logo.png"), timeout=30).status_code == 200
        assert server.metric("imgorigin_worker_recycles_total", reason="rss") >= 1
        assert server.metric("imgorigin_worker_recycles_total", reason="transforms") == 0
        log = server.log()
        assert "is over IMGORIGIN_WORKER_MAX_RSS_BYTES" in log
        assert "every transform will replace the worker" in log  # said once at start


def test_default_rss_cap_leaves_a_busy_worker_alone(samples_dir: Path) -> None:
    env = {"IMGORIGIN_SOURCE": str(samples_dir)}
    with OriginProcess(env) as server:
        first = server.worker_pids()
        for w in range(10, 30):
            assert httpx.get(server.url(f"/w_{w}/logo.png"), timeout=30).status_code == 200
        assert server.worker_pids() == first
        assert server.metric("imgorigin_worker_recycles_total", reason="rss") == 0
        assert "every transform will replace the worker" not in server.log(tail=None)
