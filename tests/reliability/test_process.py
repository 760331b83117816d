"""R11, R19, R18-lite: a worker killed outright is replaced while the other serves; SIGTERM
drains (readiness 503 first, in-flight requests finish); RSS stays bounded under misses."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest

from tests.reliability.conftest import Result, run_all
from tests.reliability.faults import FaultyUpstream, photo
from tests.support.net import wait_until
from tests.support.origin import OriginProcess


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("process")
    (root / "photo.jpg").write_bytes(photo(1600, 1200))
    (root / "photo.png").write_bytes(photo(1200, 900, "png"))
    return root


class Load:
    """Requests in a loop from `clients` threads, one keep-alive connection each: hits and
    misses, statuses and errors counted."""

    def __init__(self, server: OriginProcess, clients: int = 1) -> None:
        self.server = server
        self.outcomes: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(clients)]

    def _run(self, n: int) -> None:
        i = n * 1000
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                i += 1
                path = f"/w_{64 + i % 300}/photo.jpg" if i % 3 else "/w_50/photo.jpg"
                try:
                    outcome = str(client.get(self.server.url(path)).status_code)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                self.outcomes.append((time.monotonic(), outcome))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


def _connections(pid: int, port: int) -> int:
    """Established client connections a worker holds on the server's port."""
    return sum(1 for c in psutil.Process(pid).net_connections("tcp")
               if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)


def test_r11_killed_worker_is_replaced_and_the_other_keeps_serving(images: Path) -> None:
    # No hand-overs (origin/balance.py): each client keeps the connection it opened, so the
    # connections counted per worker before the kill are still there at the kill. With them, a
    # client handed over meanwhile could land on the victim and fail uncounted (seen once in CI:
    # 3 failures against 2 counted connections).
    env = {"IMGORIGIN_SOURCE": str(images), "IMGORIGIN_REBALANCE_GAP": "0"}
    with OriginProcess(env, workers=2) as server:
        before = set(server.worker_pids())
        with Load(server, clients=6) as load:
            time.sleep(0.5)
            # Kill a worker whose sibling holds some of the clients' connections: those must go
            # on being answered while the victim is replaced. (A connection that lands on the
            # victim's slot meanwhile waits for the replacement: origin/listeners.py.)
            held = {pid: _connections(pid, server.port) for pid in before}
            survivor = max(held, key=lambda pid: held[pid])
            victim = next(pid for pid in before if pid != survivor)
            assert held[survivor] >= 1, held
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            assert wait_until(lambda: len(set(server.worker_pids()) - before) == 1
                              and victim not in server.worker_pids(), 30)
            replaced_at = time.monotonic()
            time.sleep(1.0)
        during = Counter(o for t, o in load.outcomes if killed_at <= t <= killed_at + 0.5)
        after = Counter(o for t, o in load.outcomes if t > replaced_at + 0.5)
        total = Counter(o for _, o in load.outcomes)
        # Only requests in flight on the killed worker can fail; the survivor answers the rest.
        failed = sum(n for o, n in total.items() if o != "200")
        assert failed <= held[victim], (total, held)
        assert total["200"] >= 0.9 * sum(total.values()), total
        assert during["200"] >= 1, during
        assert set(after) == {"200"}, after
        assert server.alive() and len(server.worker_pids()) == 2
        assert server.metric("imgorigin_requests_total") > 0  # metrics survive the dead worker


def test_r19_sigterm_flips_readiness_then_finishes_in_flight_requests() -> None:
    with FaultyUpstream() as upstream:
        upstream.add("slow.jpg", photo(800, 600))
        env = {"IMGORIGIN_SOURCE": upstream.base + "/", "IMGORIGIN_DRAIN_SECONDS": "2"}
        server = OriginProcess(env).start()
        try:
            assert httpx.get(server.url("/-/readyz"), timeout=5).status_code == 200
            slow: list[Result] = []
            flight = threading.Thread(target=lambda: slow.extend(
                run_all([server.url("/w_200/delay/3/slow.jpg")])))
            flight.start()
            time.sleep(0.3)
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            # Draining: still accepting, but no longer ready; other requests still served.
            with httpx.Client(timeout=5) as client:
                assert client.get(server.url("/-/readyz")).status_code == 503
                assert client.get(server.url("/-/healthz")).status_code == 200
                assert client.get(server.url("/w_30/files/slow.jpg")).status_code == 200
            flight.join(30)
            assert [r.status for r in slow] == [200], slow[0].error if slow else "none"
            assert server.proc.wait(30) == 0
        finally:
            server.stop()


def test_r18_lite_rss_stays_bounded_over_sustained_misses(images: Path) -> None:
    """A bounded run (the hour-long soak is in the chaos/bench scripts): 240 misses over four
    output formats; RSS after the run stays within 1.5x of RSS after a 40-miss warm-up."""
    with OriginProcess({"IMGORIGIN_SOURCE": str(images)}) as server:
        worker = psutil.Process(server.worker_pids()[0])
        formats = ("jpeg", "webp", "avif", "png")

        def misses(start: int, count: int) -> None:
            with httpx.Client(timeout=30) as client:
                for i in range(start, start + count):
                    src = "photo.png" if i % 5 == 0 else "photo.jpg"
                    r = client.get(server.url(f"/w_{200 + i},fmt_{formats[i % 4]}/{src}"))
                    assert r.status_code == 200

        misses(0, 40)
        warm = worker.memory_info().rss
        misses(40, 200)
        end = worker.memory_info().rss
        print(f"R18-lite RSS: warm {warm / 2**20:.0f} MiB, end {end / 2**20:.0f} MiB")
        assert end < 1.5 * warm and end < 600 * 2**20


def test_workers_die_with_a_killed_master(images: Path) -> None:
    """Orphaned workers would keep accepting on their slot's SO_REUSEPORT socket, beside a
    restarted master's; each worker asks the kernel to kill it when its master dies."""
    server = OriginProcess({"IMGORIGIN_SOURCE": str(images)}, workers=2).start()
    try:
        workers = [psutil.Process(pid) for pid in server.worker_pids()]
        assert len(workers) == 2
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
        _gone, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == [], alive
    finally:
        server.stop()
