"""A throwaway varnishd in the foreground on free loopback ports, running edge-config's VCL."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.net import free_port, port_open, stop_process, wait_until
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


class VarnishProcess:
    """`varnishd -F -n TMP -a 127.0.0.1:PORT -T 127.0.0.1:PORT2 -f VCL -s malloc,64m`; the port
    is chosen at construction so the origin can be told where to send purges before either
    starts."""

    def __init__(self, backend_port: int | None = None, acl: list[str] | None = None) -> None:
        self.port = free_port()
        self.admin_port = free_port()
        self.backend_port = backend_port
        self.acl = acl
        self.workdir = tempfile.mkdtemp(prefix="imgorigin-varnish-")
        # varnishd drops root privileges before it reads the VCL.
        os.chmod(self.workdir, 0o755)
        self.vcl_path = Path(self.workdir) / "default.vcl"
        self.log_path = Path(self.workdir) / "varnishd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self, backend_port: int | None = None, timeout: float = 60) -> VarnishProcess:
        self.backend_port = backend_port or self.backend_port
        assert self.backend_port, "the origin's port must be known before varnishd starts"
        self.vcl_path.write_text(deployable_vcl("127.0.0.1", self.backend_port, self.acl))
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [require("varnishd"), "-F", "-n", str(Path(self.workdir) / "n"),
             "-a", f"127.0.0.1:{self.port}", "-T", f"127.0.0.1:{self.admin_port}",
             "-f", str(self.vcl_path), "-s", "malloc,64m",
             # Small thread pools: this is a test, and two cores are shared with the origin.
             "-p", "thread_pools=1", "-p", "thread_pool_min=10"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        if not wait_until(self._ready, timeout, interval=0.1):
            log = self.log()
            self.stop()
            raise RuntimeError(f"varnishd did not start:\n{log}")
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"varnishd exited with {self.proc.returncode}:\n{self.log()}")
        return port_open(self.port)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def url(self, path: str) -> str:
        return self.base + path

    def backend_healthy(self) -> bool:
        """What Varnish's health probe currently says about the origin (`backend.list`)."""
        out = subprocess.run(
            [require("varnishadm"), "-n", str(Path(self.workdir) / "n"), "backend.list"],
            capture_output=True, text=True, timeout=10,
        ).stdout
        line = next(line for line in out.splitlines() if "imgorigin" in line)
        return "healthy" in line.lower()

    def stop(self) -> None:
        stop_process(self.proc)
        if hasattr(self, "_log"):
            self._log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> VarnishProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
