"""A throwaway redis-server (or a 3-master cluster) on free loopback ports, started by the test."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile

import pytest

from tests.support.net import free_port, port_open, wait_until


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed; `make test` installs it (make system-deps)")
    return path


class RedisProcess:
    def __init__(self, extra: list[str] | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="imgorigin-redis-")
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        self.proc = subprocess.Popen(
            [require("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir, "--daemonize", "no",
             "--enable-debug-command", "local", *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        if not wait_until(lambda: port_open(self.port), 10):
            raise RuntimeError("redis-server did not start")
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisCluster:
    """Three masters (`redis-server --cluster-enabled yes` each) joined with
    `redis-cli --cluster create`; the bus ports are chosen free too (`--cluster-port`)."""

    def __init__(self, masters: int = 3) -> None:
        self.nodes = [
            RedisProcess(extra=["--cluster-enabled", "yes", "--cluster-port", str(free_port()),
                                "--cluster-config-file", "nodes.conf",
                                "--cluster-node-timeout", "2000"])
            for _ in range(masters)
        ]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def cli(self, node: RedisProcess, *args: str) -> str:
        out = subprocess.run([require("redis-cli"), "-p", str(node.port), *args],
                             capture_output=True, text=True, timeout=30, check=True)
        return out.stdout

    def start(self) -> RedisCluster:
        for node in self.nodes:
            node.start()
        subprocess.run(
            [require("redis-cli"), "--cluster", "create",
             *(f"127.0.0.1:{n.port}" for n in self.nodes), "--cluster-replicas", "0",
             "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=True,
        )
        if not wait_until(self._ok, 30, 0.2):
            self.stop()
            raise RuntimeError("redis cluster did not reach cluster_state:ok")
        return self

    def _ok(self) -> bool:
        return all("cluster_state:ok" in self.cli(n, "cluster", "info") for n in self.nodes)

    def node_for_slot(self, slot: int) -> RedisProcess:
        """The master serving `slot`."""
        for line in self.cli(self.nodes[0], "cluster", "nodes").splitlines():
            fields = line.split()
            port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
            for span in fields[8:]:
                low, _, high = span.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return next(n for n in self.nodes if n.port == port)
        raise LookupError(slot)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
