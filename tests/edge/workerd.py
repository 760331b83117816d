"""A throwaway workerd (Cloudflare's open-source Workers runtime, the one its edge runs) on a free
loopback port, running edge-config's Worker unchanged.

On Cloudflare a Worker's `fetch()` of its own zone goes through the cache to the origin; here
the Worker's global outbound is one external service, so every `fetch()` it makes goes to
`upstream` whatever host the URL names. Cloudflare's cache itself is not emulated.
"""

from __future__ import annotations

import shutil

from tests.support.daemon import ForegroundServer
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


class WorkerdProcess(ForegroundServer):
    name = "workerd"

    def __init__(self, upstream_port: int) -> None:
        super().__init__("imgorigin-workerd-")
        shutil.copy(WORKER, self.workdir / "worker.js")
        (self.workdir / "config.capnp").write_text(
            _CONFIG.format(upstream=upstream_port, port=self.port))

    def start(self, binary: str, timeout: float = 30) -> WorkerdProcess:
        self.spawn([binary, "serve", "config.capnp"], timeout, cwd=self.workdir)
        return self
