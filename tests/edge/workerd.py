"""A throwaway workerd (Cloudflare's open-source Workers runtime, the one its edge runs) on a free
loopback port, running edge-config's Worker unchanged.

On Cloudflare a Worker's `fetch()` of its own zone goes through the cache to the origin; here
the Worker's global outbound is one external service, so every `fetch()` it makes goes to
`upstream` whatever host the URL names. Cloudflare's cache itself is not emulated.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.net import free_port, port_open, stop_process, wait_until
from tests.support.origin import REPO

WORKER = REPO / "edge-config" / "cloudflare" / "worker.js"
# `make test` installs it with npm (the Makefile's WORKERD_VERSION).
WORKERD = REPO / ".cache" / "edge-tools" / "node_modules" / ".bin" / "workerd"

_CONFIG = """using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "edge", worker = .edgeWorker),
    (name = "upstream", external = (address = "127.0.0.1:{upstream}", http = ())),
  ],
  sockets = [(name = "http", address = "127.0.0.1:{port}", http = (), service = "edge")],
);

const edgeWorker :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "worker.js")],
  compatibilityDate = "2024-09-23",
  globalOutbound = "upstream",
);
"""


def workerd_binary() -> str | None:
    if WORKERD.exists():
        return str(WORKERD)
    return shutil.which("workerd")


class WorkerdProcess:
    def __init__(self, upstream_port: int) -> None:
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="imgorigin-workerd-"))
        shutil.copy(WORKER, self.workdir / "worker.js")
        (self.workdir / "config.capnp").write_text(
            _CONFIG.format(upstream=upstream_port, port=self.port))
        self.log_path = self.workdir / "workerd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self, binary: str, timeout: float = 30) -> WorkerdProcess:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen([binary, "serve", "config.capnp"], cwd=self.workdir,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        if not wait_until(self._ready, timeout, interval=0.1):
            log = self.log()
            self.stop()
            raise RuntimeError(f"workerd did not start:\n{log}")
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"workerd exited with {self.proc.returncode}:\n{self.log()}")
        return port_open(self.port)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def url(self, path: str) -> str:
        return self.base + path

    def stop(self) -> None:
        stop_process(self.proc)
        if hasattr(self, "_log"):
            self._log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
