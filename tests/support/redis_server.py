"""A throwaway redis-server (or a 3-master cluster) on free loopback ports, started by the test."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile

import pytest

from tests.support.net import distinct_free_ports, free_port, port_open, wait_until


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
    """Three masters (`redis-server --cluster-enabled yes` each) on free ports, their cluster bus
    ports included, joined here with CLUSTER ADDSLOTSRANGE and CLUSTER MEET."""

    SLOTS = 16384

    def __init__(self, masters: int = 3) -> None:
        self.masters = masters
        self.nodes = self._new_nodes()

    def _new_nodes(self) -> list[RedisProcess]:
        ports = distinct_free_ports(2 * self.masters)
        return [
            RedisProcess(port=ports[2 * i],
                         extra=["--cluster-enabled", "yes", "--cluster-port", str(ports[2 * i + 1]),
                                "--cluster-config-file", "nodes.conf",
                                "--cluster-node-timeout", "2000"])
            for i in range(self.masters)
        ]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def cli(self, node: RedisProcess, *args: str) -> str:
        out = subprocess.run([require("redis-cli"), "-p", str(node.port), *args],
                             capture_output=True, text=True, timeout=30, check=True)
        return out.stdout

    def start(self) -> RedisCluster:
        # A port found free can be taken by someone else before the node binds it (the bus port
        # is bound after the client port answers): one more try on new ports, then the reason.
        for attempt in (1, 2):
            try:
                return self._start_once()
            except RuntimeError:
                self.stop()
                if attempt == 2:
                    raise
                self.nodes = self._new_nodes()
        raise AssertionError("unreachable")

    def _start_once(self) -> RedisCluster:
        for node in self.nodes:
            node.start()
        share = self.SLOTS // self.masters
        for i, node in enumerate(self.nodes):
            low = i * share
            high = self.SLOTS - 1 if i == self.masters - 1 else low + share - 1
            self._call(node, "cluster", "addslotsrange", str(low), str(high))
            # Distinct epochs, as `redis-cli --cluster create` sets them, so no node waits for
            # the collision handling to tell their configurations apart.
            self._call(node, "cluster", "set-config-epoch", str(i + 1))
        first = self.nodes[0]
        for node in self.nodes[1:]:
            self._call(first, "cluster", "meet", "127.0.0.1", str(node.port),
                       node.extra[node.extra.index("--cluster-port") + 1])
        if not wait_until(self._ok, 30, 0.2):
            states = {n.port: self._info(n) for n in self.nodes}
            raise RuntimeError(f"redis cluster did not reach cluster_state:ok: {states}")
        return self

    def _call(self, node: RedisProcess, *args: str) -> None:
        if node.proc is None or node.proc.poll() is not None:
            raise RuntimeError(f"redis node on port {node.port} exited (a port taken?)")
        done = subprocess.run([require("redis-cli"), "-p", str(node.port), *args],
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0 or not done.stdout.startswith("OK"):
            raise RuntimeError(f"{' '.join(args)} on port {node.port}: "
                               f"{(done.stdout + done.stderr).strip()}")

    def _info(self, node: RedisProcess) -> str:
        try:
            return self.cli(node, "cluster", "info").splitlines()[0]
        except (subprocess.SubprocessError, IndexError) as exc:
            return repr(exc)

    def _ok(self) -> bool:
        return all("cluster_state:ok" in self._info(n) for n in self.nodes)

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
