"""The real origin server in a subprocess (gunicorn + uvicorn workers), on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support.metrics import metric_sum
from tests.support.net import child_pids, free_port, stop_process, wait_until

REPO = Path(__file__).resolve().parents[2]


class OriginProcess:
    def __init__(self, env: dict[str, str] | None = None, workers: int = 1,
                 cache_dir: str | None = None, log_path: str | None = None,
                 nofile: tuple[int, int] | None = None, stdout: int | None = None) -> None:
        self.port = free_port()
        self.stdout = stdout  # a descriptor for the server's standard output (the access log)
        self.nofile = nofile  # (soft, hard) RLIMIT_NOFILE the server starts with
        self.workers = workers
        self._tmp = tempfile.TemporaryDirectory(prefix="imgorigin-test-")
        self.cache_dir = cache_dir or os.path.join(self._tmp.name, "cache")
        self.log_path = log_path or os.path.join(self._tmp.name, "server.log")
        self.env = {
            # Neither the runner's settings nor its AWS credential chain (S3, CloudFront).
            **{k: v for k, v in os.environ.items() if not k.startswith(("IMGORIGIN_", "AWS_"))},
            "IMGORIGIN_CACHE_DIR": self.cache_dir,
            "PROMETHEUS_MULTIPROC_DIR": os.path.join(self._tmp.name, "metrics"),
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> OriginProcess:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "origin.cli", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers)],
            cwd=REPO, env=self.env, stdout=self._log if self.stdout is None else self.stdout,
            stderr=subprocess.STDOUT if self.stdout is None else self._log,
            preexec_fn=self._limit if self.nofile else None,
        )
        if not wait_until(self._ready, timeout):
            self.stop()
            raise RuntimeError(f"origin did not start; log:\n{self.log()}")
        return self

    def _limit(self) -> None:
        import resource

        assert self.nofile is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, self.nofile)

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"origin exited with {self.proc.returncode}:\n{self.log()}")
        try:
            ok = httpx.get(self.base + "/-/healthz", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False
        return ok and len(self.worker_pids()) >= self.workers

    def worker_pids(self) -> list[int]:
        return child_pids(self.proc)

    def log(self, tail: int | None = 5000) -> str:
        """The server's log, its last `tail` characters (None: all of it, for checks that
        something never happened)."""
        try:
            text = Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""
        return text if tail is None else text[-tail:]

    def url(self, path: str) -> str:
        return self.base + path

    def metrics_text(self) -> str:
        return httpx.get(self.base + "/-/metrics", timeout=5).text

    def metric(self, name: str, **labels: str) -> float:
        return metric_sum(self.metrics_text(), name, **labels)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def crash(self) -> None:
        """Kill the master and its workers at once, as a machine failure would: no graceful
        stop, connections reset, nothing answered after."""
        if self.proc is not None and self.proc.poll() is None:
            for pid in [*child_pids(self.proc), self.proc.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait()
        self.stop()

    def stop(self) -> None:
        stop_process(self.proc)
        if hasattr(self, "_log"):
            self._log.close()
        self._tmp.cleanup()

    def __enter__(self) -> OriginProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def sharing_one_cache(env: dict[str, str]) -> Iterator[tuple[OriginProcess, OriginProcess]]:
    """Two single-worker origins over one cache directory: two workers of one host whose
    requests a test can address one by one (a gunicorn burst may land on a single worker)."""
    cache_dir = tempfile.mkdtemp(prefix="imgorigin-host-")
    a = OriginProcess(env, cache_dir=cache_dir).start()
    b = OriginProcess(env, cache_dir=cache_dir).start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(cache_dir, ignore_errors=True)
