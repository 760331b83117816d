"""The processes a benchmark runs against, a sampler of their memory and CPU, and a wait for a
quiet machine before each measurement."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.support.net import child_pids, free_port, stop_process, wait_until
from tests.support.origin import REPO, OriginProcess

__all__ = ["REPO", "SHED_REASONS", "BareServer", "OriginProcess", "Sampler", "caller_settings",
           "wait_quiet"]

# The `reason` labels of imgorigin_shed_total (origin/executor.py).
SHED_REASONS = ("queue_full", "queue_wait", "deadline", "expired")


def caller_settings() -> dict[str, str]:
    """The IMGORIGIN_* settings the benchmark was started with, for its servers (the test
    harness drops them), so one setting can be compared with its default."""
    return {k: v for k, v in os.environ.items() if k.startswith("IMGORIGIN_")}


def wait_quiet(threshold: float = 15.0, timeout: float = 30.0) -> float:
    """Wait until whole-machine CPU use is under `threshold` % for 1 s; returns the last reading
    (so a result taken on a busy box says so)."""
    deadline = time.monotonic() + timeout
    reading = 100.0
    while time.monotonic() < deadline:
        reading = psutil.cpu_percent(interval=1.0)
        if reading < threshold:
            break
    return reading


@dataclass
class Sampler:
    """Samples RSS of a server's workers every `interval` s while a measurement runs, and their
    CPU time over the window. Workers are looked up on each sample: gunicorn's `max_requests`
    replaces them, and a replaced worker is counted."""

    master_pid: int
    interval: float = 0.1
    include_master: bool = False  # for single-process servers (ipx)
    peak_rss: dict[int, int] = field(default_factory=dict)
    cpu_s: float = 0.0
    # CPU seconds over the window per thread role (the names imgorigin gives its threads;
    # "event loop" is a worker's main thread). Threads that ended inside the window are missed.
    cpu_s_by_thread: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._master = psutil.Process(self.master_pid)
        self._procs: dict[int, psutil.Process] = {}
        self._last_cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._cpu_start = 0.0
        self._wall_start = 0.0
        self.wall_s = 0.0

    def _refresh(self) -> None:
        if self.include_master:
            self._procs.setdefault(self._master.pid, self._master)
        try:
            children = self._master.children()
        except psutil.Error:
            return
        for child in children:
            self._procs.setdefault(child.pid, child)

    def _cpu(self) -> float:
        """CPU seconds of every worker seen so far (exited ones at their last reading)."""
        for pid, proc in self._procs.items():
            try:
                times = proc.cpu_times()
                self._last_cpu[pid] = times.user + times.system
            except psutil.Error:
                pass
        return sum(self._last_cpu.values())

    def _sample(self) -> None:
        self._refresh()
        for pid, proc in self._procs.items():
            try:
                rss = proc.memory_info().rss
            except psutil.Error:
                continue
            self.peak_rss[pid] = max(self.peak_rss.get(pid, 0), rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()
            self._cpu()

    def _threads(self) -> dict[tuple[int, str], tuple[str, float]]:
        """(pid, tid) -> (role, CPU seconds) for every thread of the sampled processes."""
        tick = os.sysconf("SC_CLK_TCK")
        found = {}
        for pid in self._procs:
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                except OSError:
                    continue
                name = stat[stat.index("(") + 1:stat.rindex(")")]
                fields = stat[stat.rindex(")") + 2:].split()
                role = "event loop" if tid == str(pid) else name
                found[(pid, tid)] = (role, (int(fields[11]) + int(fields[12])) / tick)
        return found

    def __enter__(self) -> Sampler:
        self._refresh()
        self._threads_start = self._threads()
        self._cpu_start = self._cpu()
        self._wall_start = time.perf_counter()
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.cpu_s = self._cpu() - self._cpu_start
        self.wall_s = time.perf_counter() - self._wall_start
        by_role: dict[str, float] = {}
        for key, (role, cpu) in self._threads().items():
            start = self._threads_start.get(key, (role, 0.0))[1]
            by_role[role] = by_role.get(role, 0.0) + cpu - start
        self.cpu_s_by_thread = {k: round(v, 3) for k, v in sorted(by_role.items())}

    def summary(self) -> dict[str, Any]:
        mib = 1024 * 1024
        return {
            "peak_rss_mib_per_worker": [round(v / mib, 1) for v in self.peak_rss.values()],
            "peak_rss_mib_max": round(max(self.peak_rss.values(), default=0) / mib, 1),
            "server_cpu_pct": round(100 * self.cpu_s / self.wall_s, 1) if self.wall_s else 0.0,
            "server_cpu_s_by_thread": self.cpu_s_by_thread,
            "workers_seen": len(self._procs),
        }


class BareServer:
    """`benchmarks.bare_app` under gunicorn with imgorigin's worker class, worker count and
    listening sockets."""

    def __init__(self, body: bytes, media_type: str, workers: int = 2) -> None:
        self.port = free_port()
        self.workers = workers
        self._tmp = tempfile.TemporaryDirectory(prefix="imgorigin-bare-")
        body_file = Path(self._tmp.name) / "body"
        body_file.write_bytes(body)
        self.env = {**os.environ, "BENCH_BARE_BODY": str(body_file),
                    "BENCH_BARE_TYPE": media_type}
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> BareServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(self.workers),
             "--worker-class", "origin.server.Worker", "--bind", f"127.0.0.1:{self.port}",
             "--keep-alive", "75", "--backlog", "2048", "--log-level", "warning",
             "--config", "python:benchmarks.bare_conf", "benchmarks.bare_app:app"],
            cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        if not wait_until(self._ready, 30):
            self.stop()
            raise RuntimeError("bare server did not start")
        return self

    def _ready(self) -> bool:
        try:
            ok = httpx.get(self.base + "/x", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False
        return ok and len(self.worker_pids()) >= self.workers

    def worker_pids(self) -> list[int]:
        return child_pids(self.proc)

    def stop(self) -> None:
        stop_process(self.proc)
        self._tmp.cleanup()
