"""A throwaway varnishd in the foreground on free loopback ports, running edge-config's VCL."""

from __future__ import annotations

import os
import re
import subprocess

from tests.support.daemon import ForegroundServer
from tests.support.net import free_port
from tests.support.origin import REPO
from tests.support.redis_server import require

VCL = REPO / "edge-config" / "varnish" / "default.vcl"


def deployable_vcl(backend_host: str, backend_port: int, acl: list[str] | None = None) -> str:
    """The shipped VCL with only the backend's `.host`/`.port` (and optionally the ACL) changed,
    exactly the edit an operator makes."""
    text = VCL.read_text()
    text, hosts = re.subn(r'\.host = "[^"]*";', f'.host = "{backend_host}";', text, count=1)
    text, ports = re.subn(r'\.port = "[^"]*";', f'.port = "{backend_port}";', text, count=1)
    assert hosts == ports == 1, "the VCL must name its origin in one backend block"
    if acl is not None:
        entries = "".join(f'    "{a}";\n' for a in acl)
        text, n = re.subn(r"acl imgorigin_purgers \{[^}]*\}",
                          "acl imgorigin_purgers {\n" + entries + "}", text, count=1)
        assert n == 1
    return text


class VarnishProcess(ForegroundServer):
    """`varnishd -F -n TMP -a 127.0.0.1:PORT -T 127.0.0.1:PORT2 -f VCL -s malloc,64m`; the port
    is chosen at construction so the origin can be told where to send purges before either
    starts."""

    name = "varnishd"

    def __init__(self, backend_port: int | None = None, acl: list[str] | None = None) -> None:
        super().__init__("imgorigin-varnish-")
        self.admin_port = free_port()
        self.backend_port = backend_port
        self.acl = acl
        # varnishd drops root privileges before it reads the VCL.
        os.chmod(self.workdir, 0o755)
        self.vcl_path = self.workdir / "default.vcl"

    def start(self, backend_port: int | None = None, timeout: float = 60) -> VarnishProcess:
        self.backend_port = backend_port or self.backend_port
        assert self.backend_port, "the origin's port must be known before varnishd starts"
        self.vcl_path.write_text(deployable_vcl("127.0.0.1", self.backend_port, self.acl))
        self.spawn(
            [require("varnishd"), "-F", "-n", str(self.workdir / "n"),
             "-a", f"127.0.0.1:{self.port}", "-T", f"127.0.0.1:{self.admin_port}",
             "-f", str(self.vcl_path), "-s", "malloc,64m",
             # Small thread pools: this is a test, and two cores are shared with the origin.
             "-p", "thread_pools=1", "-p", "thread_pool_min=10"],
            timeout,
        )
        return self

    def backend_healthy(self) -> bool:
        """What Varnish's health probe currently says about the origin (`backend.list`)."""
        out = subprocess.run(
            [require("varnishadm"), "-n", str(self.workdir / "n"), "backend.list"],
            capture_output=True, text=True, timeout=10,
        ).stdout
        line = next(line for line in out.splitlines() if "imgorigin" in line)
        return "healthy" in line.lower()

    def __enter__(self) -> VarnishProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
