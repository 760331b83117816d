"""SIGHUP (`systemctl reload`, a logrotate hook): gunicorn forks a new set of workers and stops
the old ones. The new workers take the old ones' listener slots, so no connection lands on a
socket nobody accepts on, and they read the watermark files afresh."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pyvips

from tests.support.images import flat
from tests.support.net import wait_until
from tests.support.origin import OriginProcess
from tests.support.rawhttp import HEALTH, connect, read_until_closed


def _fresh_connections(server: OriginProcess, count: int) -> Counter[str]:
    """`count` requests, each on a new connection (each hashed afresh over the slots)."""
    outcomes: Counter[str] = Counter()
    for _ in range(count):
        try:
            with httpx.Client(timeout=3) as client:
                outcomes[str(client.get(server.url("/-/healthz")).status_code)] += 1
        except httpx.HTTPError as exc:
            outcomes[type(exc).__name__] += 1
    return outcomes


def test_sighup_replaces_the_workers_without_losing_a_connection(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "photo.png").write_bytes(flat([0, 0, 255], 400, 200))
    logo = tmp_path / "logo.png"
    logo.write_bytes(flat([255, 0, 0], 40, 20, alpha=255))
    env = {"IMGORIGIN_SOURCE": str(tmp_path / "src"), "IMGORIGIN_WATERMARKS": f"logo:{logo}",
           "IMGORIGIN_DRAIN_SECONDS": "1"}
    with OriginProcess(env, workers=2) as server:
        before = set(server.worker_pids())
        marked = httpx.get(server.url("/w_200,wm_logo,fmt_png/photo.png"), timeout=30)
        assert marked.status_code == 200
        assert pyvips.Image.new_from_buffer(marked.content, "").getpoint(195, 95)[:3] == [255, 0, 0]

        during: Counter[str] = Counter()
        stop = threading.Event()

        def traffic() -> None:
            while not stop.is_set():
                during.update(_fresh_connections(server, 5))

        runner = threading.Thread(target=traffic)
        runner.start()
        try:
            # The file replaced on disk, then the reload.
            logo.write_bytes(flat([0, 255, 0], 40, 20, alpha=255))
            assert server.proc is not None
            server.proc.send_signal(signal.SIGHUP)
            assert wait_until(lambda: len(server.worker_pids()) == 2
                              and not before & set(server.worker_pids()), 30)
        finally:
            stop.set()
            runner.join(30)
        assert set(during) == {"200"} and during["200"] >= 10, during

        # Every slot has a worker: with a slot's socket orphaned, about half of these hang.
        assert _fresh_connections(server, 60) == Counter({"200": 60})
        # The new workers read the new file: a variant not cached yet carries the new logo.
        fresh = httpx.get(server.url("/w_300,wm_logo,fmt_png/photo.png"), timeout=30)
        assert fresh.status_code == 200
        corner = pyvips.Image.new_from_buffer(fresh.content, "").getpoint(295, 145)[:3]
        assert corner == [0, 255, 0]
        assert server.alive() and "Traceback" not in server.log(tail=None)


def test_sigttou_and_sigttin_change_the_worker_count_without_orphaning_a_slot() -> None:
    # gunicorn's SIGTTOU stops the oldest worker, whose slot's socket stayed in the group with
    # nobody accepting on it (26 of 60 new connections then hung, 3 workers); the worker on the
    # highest slot goes instead, and its socket is closed.
    with OriginProcess({}, workers=3) as server:
        first = sorted(server.worker_pids())
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTTOU)
        assert wait_until(lambda: len(server.worker_pids()) == 2, 20)
        assert set(server.worker_pids()) <= set(first)
        assert _fresh_connections(server, 60) == Counter({"200": 60})
        server.proc.send_signal(signal.SIGTTIN)
        assert wait_until(lambda: len(server.worker_pids()) == 3, 20)
        assert _fresh_connections(server, 60) == Counter({"200": 60})


def test_a_request_sent_as_its_worker_stops_is_answered() -> None:
    # uvicorn closes a connection between requests as soon as its worker stops; one accepted
    # just before (or a kept-alive one reused then) lost the request its client had sent.
    with OriginProcess({"IMGORIGIN_DRAIN_SECONDS": "0"}, workers=1) as server:
        [pid] = server.worker_pids()
        with connect(server.port) as sock:
            sock.settimeout(15)
            time.sleep(0.3)  # accepted by the worker; nothing asked yet
            os.kill(pid, signal.SIGTERM)
            time.sleep(0.3)  # the worker is stopping
            sock.sendall(HEALTH)
            answered, _ = read_until_closed(sock)
        assert answered.startswith(b"HTTP/1.1 200"), answered
        assert wait_until(lambda: server.worker_pids() not in ([], [pid]), 30)
