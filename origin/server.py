"""`imgorigin serve`: gunicorn with uvicorn workers on uvloop, metrics shared across workers."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.config import Config
from uvicorn import Server
from uvicorn_worker import UvicornWorker

from origin import balance, listeners, malloc, recycle
from origin.envfile import EnvFile
from origin.envwatch import EnvFileWatcher
from origin.headtimeout import HeadTimeoutProtocol
from origin.settings import Settings

log = logging.getLogger("imgorigin.server")


class DrainingServer(Server):
    """On SIGTERM, first keep serving for `drain_seconds` with readiness at 503 (so load
    balancers stop sending new requests), then shut down as usual: stop accepting, let in-flight
    requests finish. SIGINT and a second SIGTERM stop at once."""

    drain_seconds = 0.0
    on_drain: Callable[[], None] = staticmethod(lambda: None)
    _drain_until = 0.0

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self.drain_seconds > 0 and not self._drain_until:
            self._drain_until = time.monotonic() + self.drain_seconds
            self.on_drain()
            return
        self.on_drain()
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_until and time.monotonic() >= self._drain_until:
            self.should_exit = True
        return await super().on_tick(counter)


class Worker(UvicornWorker):
    CONFIG_KWARGS = {"loop": "uvloop", "http": HeadTimeoutProtocol, "lifespan": "on",
                     "server_header": False, "date_header": True}

    async def _serve(self) -> None:
        settings = Settings.from_env()
        HeadTimeoutProtocol.head_timeout = settings.header_timeout
        HeadTimeoutProtocol.send_timeout = settings.send_timeout
        # uvicorn-worker's _serve, with the draining server.
        from origin.app import mark_draining

        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        server.drain_seconds = settings.drain_seconds
        server.on_drain = lambda: mark_draining(self.wsgi)
        recycle.install(lambda: _retire(server))
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


def _retire(server: Server) -> None:
    """Stop accepting at once (the slot's socket stays open in the master and queues new
    connections for this worker's replacement), then exit once in-flight requests are done.
    Waiting for uvicorn's next tick to stop accepting let a just-accepted connection be closed
    unanswered."""
    for listener in getattr(server, "servers", []):
        listener.close()
    balance.BOARD.withdraw()
    # A connection accepted just before the close may not have sent its request yet; uvicorn's
    # shutdown closes such idle connections unanswered, so give them a moment to speak first.
    asyncio.get_running_loop().call_later(_RETIRE_GRACE_S, setattr, server, "should_exit", True)


_RETIRE_GRACE_S = 0.25


def _post_fork(server: Any, worker: Any) -> None:
    """A worker dies with its master. Orphaned workers would go on accepting on their slot's
    socket, which is in an SO_REUSEPORT group a restarted master's new sockets would join."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() != worker.ppid:  # the master died before the call
            os._exit(1)
    balance.BOARD.attach(getattr(worker, "listener_slot", -1))


def _child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
    listeners.child_exit(server, worker)


def _reloader(env_file: EnvFile | None) -> Callable[[Any], None]:
    """gunicorn's on_reload hook: the env file re-read before the new workers fork (they read
    their settings from the environment), then the listener slots' new generation."""
    def on_reload(arbiter: Any) -> None:
        if env_file is not None:
            env_file.reload()
        listeners.on_reload(arbiter)

    return on_reload


def _when_ready(watcher: EnvFileWatcher | None) -> Callable[[Any], None]:
    """gunicorn's when_ready hook (the master, once): its log, the listener slots, then the env
    file's watcher, a thread of the master that forked workers do not inherit."""
    def when_ready(arbiter: Any) -> None:
        # The master's own lines (reloads, the env file) in gunicorn's log, with its format
        # and level; unconfigured, Python would print only warnings, without a timestamp.
        error_log = arbiter.log.error_log
        log.handlers[:] = error_log.handlers
        log.setLevel(error_log.level)
        log.propagate = False
        listeners.when_ready(arbiter)
        if watcher is not None:
            watcher.start()

    return when_ready


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


def raise_descriptor_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit (the workers inherit it), as nginx's
    `worker_rlimit_nofile` does: each connection holds a descriptor, and a soft limit of 1024
    (a common default) lets a few hundred idle clients per worker stop it accepting."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not raise the descriptor limit from %d: %s", soft, exc)


def serve(host: str, port: int, workers: int, *, max_requests: int = 0,
          graceful_timeout: int = 20, log_level: str = "info",
          env_file: EnvFile | None = None) -> None:
    prepare_metrics_dir()
    raise_descriptor_limit()
    settings = Settings.from_env()
    malloc.tune(settings.malloc_arena_max, settings.malloc_mmap_threshold)
    watcher = (EnvFileWatcher(env_file.path, settings.env_file_watch)
               if env_file is not None and settings.env_file_watch > 0 else None)
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "origin.server.Worker",
        # Workers are recycled by transform count (IMGORIGIN_WORKER_MAX_TRANSFORMS): at hit-path
        # rates a request count restarts them every few seconds, dropping connections and L1.
        "max_requests": max_requests,
        "max_requests_jitter": max_requests // 10,
        # A drain (IMGORIGIN_DRAIN_SECONDS) comes before the in-flight requests' own grace.
        "graceful_timeout": graceful_timeout + math.ceil(settings.drain_seconds),
        "timeout": 60,
        "keepalive": settings.keepalive_timeout,
        "backlog": 2048,
        # A listening socket per worker slot (origin/listeners.py), not gunicorn's one shared.
        "on_starting": listeners.on_starting,
        "pre_fork": listeners.pre_fork,
        "on_reload": _reloader(env_file),
        "when_ready": _when_ready(watcher),
        "post_fork": _post_fork,
        "child_exit": _child_exit,
        "loglevel": log_level,
        "accesslog": None,
        "proc_name": "imgorigin",
    }
    # gunicorn 25.1+ also opens a control socket (gunicornc) in $HOME/.gunicorn or
    # $XDG_RUNTIME_DIR: a second way to reload or stop the server, a path every instance of one
    # user shares (the last started takes it), a write outside the cache on a read-only root,
    # and a thread in the master stopped and restarted around each fork. SIGHUP, SIGTERM and
    # SIGTTIN/SIGTTOU do what it does.
    if "control_socket_disable" in Config().settings:
        options["control_socket_disable"] = True
    OriginServer(options).run()
