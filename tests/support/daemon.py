"""A server run in the foreground for a test: a free loopback port, its own scratch folder (which
`stop` removes) and its output in a log file there, quoted when it fails to start."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.net import free_port, port_open, stop_process, wait_until


class ForegroundServer:
    name = "server"

    def __init__(self, prefix: str) -> None:
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix=prefix))
        self.log_path = self.workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def spawn(self, cmd: list[str], timeout: float, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> None:
        """Start `cmd` and wait until its port accepts connections; raise with its log if not."""
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        if not wait_until(self._ready, timeout, interval=0.1):
            log = self.log()
            self.stop()
            raise RuntimeError(f"{self.name} did not start:\n{log}")

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
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
