"""`imgorigin serve`: gunicorn with uvicorn workers on uvloop, metrics shared across workers."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from gunicorn.app.base import BaseApplication
from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    CONFIG_KWARGS = {"loop": "uvloop", "http": "httptools", "lifespan": "on",
                     "server_header": False, "date_header": True}


def _child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class OriginServer(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Runs in each worker after the fork, so libvips and the event loop start fresh there.
        from origin.app import create_app

        return create_app()


def prepare_metrics_dir() -> str:
    """A fresh directory for the workers' metric files (stale files would skew the sums)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        path = tempfile.mkdtemp(prefix="imgorigin-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    else:
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)
    return path


def serve(host: str, port: int, workers: int, *, max_requests: int = 20000,
          graceful_timeout: int = 20, log_level: str = "info") -> None:
    prepare_metrics_dir()
    # glibc's per-thread malloc arenas fragment badly under libvips' thread use.
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "origin.server.Worker",
        "max_requests": max_requests,
        "max_requests_jitter": max_requests // 10,
        "graceful_timeout": graceful_timeout,
        "timeout": 60,
        "keepalive": 75,
        "backlog": 2048,
        "child_exit": _child_exit,
        "loglevel": log_level,
        "accesslog": None,
        "proc_name": "imgorigin",
    }
    OriginServer(options).run()
