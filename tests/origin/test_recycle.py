"""Workers are replaced after IMGORIGIN_WORKER_MAX_TRANSFORMS transforms, never for hits."""

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
