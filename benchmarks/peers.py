"""`make bench-peers`: imgorigin, thumbor and ipx on this machine, one after another, with the
same images, the same three transforms and the same load generator (wrk, concurrency 8).

Peers are installed at run time into benchmarks/.peers (git-ignored), never into our venv:
thumbor from PyPI into its own venv, ipx (on sharp) from npm. A peer that cannot be installed or
started is reported as such. Neither peer caches results by default (thumbor's RESULT_STORAGE is
None, ipx has no result cache), so their URLs repeat; imgorigin gets unique variants so that it
transforms on every request too. BENCH_DURATION, BENCH_QUIET_PCT and BENCH_QUIET_WAIT as for
`make bench` (the quiet wait defaults to 60 s here).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.images import make_images
from benchmarks.loadgen import LoadError, run_wrk
from benchmarks.report import machine, table, write_json
from benchmarks.run import WARM_START, Config, log
from benchmarks.scenarios import TRANSFORMS, miss_paths
from benchmarks.servers import REPO, OriginProcess, Sampler, wait_quiet
from tests.support.net import free_port, wait_until

PEERS_DIR = Path(__file__).with_name(".peers")
THUMBOR_VENV = PEERS_DIR / "thumbor-venv"
IPX_DIR = PEERS_DIR / "ipx"
IPX_SERVER = Path(__file__).with_name("ipx_server.cjs")
CONCURRENCY = 8

# The same transforms in each peer's URL language (defaults otherwise, as their users run them).
THUMBOR_PATHS = {
    "a": "/unsafe/400x300/filters:format(webp)/photo-12mp.jpg",
    "b": "/unsafe/800x0/filters:format(jpeg):quality(80)/photo-2mp.jpg",
    "c": "/unsafe/300x300/filters:format(avif)/photo-1mp.png",
}
IPX_PATHS = {
    "a": "/s_400x300,f_webp/photo-12mp.jpg",
    "b": "/w_800,f_jpeg,q_80/photo-2mp.jpg",
    "c": "/s_300x300,f_avif/photo-1mp.png",
}


class PeerUnavailable(RuntimeError):
    """A peer could not be installed or started here; the message says why."""


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)


def install_thumbor() -> str:
    python = THUMBOR_VENV / "bin" / "python"
    if not (THUMBOR_VENV / "bin" / "thumbor").exists():
        log("installing thumbor into benchmarks/.peers/thumbor-venv (PyPI)")
        made = _run([sys.executable, "-m", "venv", str(THUMBOR_VENV)])
        if made.returncode != 0:
            raise PeerUnavailable(f"cannot make a venv for thumbor: {made.stderr[-500:]}")
        got = _run([str(python), "-m", "pip", "install", "--quiet", "thumbor"], timeout=900)
        if got.returncode != 0:
            raise PeerUnavailable(f"pip install thumbor failed: {got.stderr[-800:]}")
    version = _run([str(THUMBOR_VENV / "bin" / "thumbor"), "--version"])
    return version.stdout.strip() or version.stderr.strip()


def install_ipx() -> str:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise PeerUnavailable("node/npm are not installed on this machine")
    package = IPX_DIR / "node_modules" / "ipx" / "package.json"
    if not package.exists():
        log("installing ipx (and sharp) into benchmarks/.peers/ipx (npm)")
        IPX_DIR.mkdir(parents=True, exist_ok=True)
        got = _run([npm, "install", "--no-audit", "--no-fund", "ipx@3"], cwd=IPX_DIR,
                   timeout=900)
        if got.returncode != 0:
            raise PeerUnavailable(f"npm install ipx failed: {got.stderr[-800:]}")
    check = _run(["node", "-e", "require('ipx'); const s = require('sharp');"
                  " console.log(s.versions.sharp + ' libvips ' + s.versions.vips)"],
                 env={**os.environ, "NODE_PATH": str(IPX_DIR / "node_modules")})
    if check.returncode != 0:
        raise PeerUnavailable(f"ipx/sharp do not load: {check.stderr[-800:]}")
    version = json.loads(package.read_text())["version"]
    return f"ipx {version}, sharp {check.stdout.strip()}"


@dataclass
class PeerServer:
    """A peer's server in its own process group (thumbor forks workers), on a free port."""

    cmd: list[str]
    env: dict[str, str]
    ready_path: str
    single_process: bool
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PeerServer:
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        if not wait_until(self._ready, 60):
            self.stop()
            raise PeerUnavailable(f"server did not answer {self.ready_path}: {self.cmd[0]}")
        return self

    def _ready(self) -> bool:
        try:
            return httpx.get(self.base + self.ready_path, timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # The whole group: thumbor's forked workers outlive a killed master otherwise.
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def thumbor_server(images: Path, workdir: Path, workers: int) -> PeerServer:
    conf = workdir / "thumbor.conf"
    conf.write_text(
        "LOADER = 'thumbor.loaders.file_loader'\n"
        f"FILE_LOADER_ROOT_PATH = {str(images)!r}\n"
        "STORAGE = 'thumbor.storages.no_storage'\n"
        "RESULT_STORAGE = None\n"
    )
    port = free_port()
    server = PeerServer(
        [str(THUMBOR_VENV / "bin" / "thumbor"), "-p", str(port), "-i", "127.0.0.1",
         "-c", str(conf), "--processes", str(workers), "-l", "warning"],
        dict(os.environ), "/healthcheck", single_process=False, port=port)
    return server


def ipx_server(images: Path, workdir: Path, workers: int) -> PeerServer:
    port = free_port()
    env = {**os.environ, "NODE_PATH": str(IPX_DIR / "node_modules"), "PORT": str(port),
           "IPX_DIR": str(images)}
    return PeerServer(["node", str(IPX_SERVER)], env, IPX_PATHS["b"], single_process=True,
                      port=port)


@dataclass
class Peer:
    name: str
    install: Callable[[], str]
    server: Callable[[Path, Path, int], PeerServer]
    paths: dict[str, str]


PEERS = (
    Peer("thumbor", install_thumbor, thumbor_server, THUMBOR_PATHS),
    Peer("ipx", install_ipx, ipx_server, IPX_PATHS),
)


def measure(cfg: Config, base: str, paths: list[str], warm: list[str], master_pid: int,
            include_master: bool) -> dict[str, Any]:
    run_wrk(base, warm, concurrency=CONCURRENCY, duration=2)
    quiet = wait_quiet(cfg.quiet_pct, cfg.quiet_wait)
    with Sampler(master_pid, include_master=include_master) as sampler:
        load = run_wrk(base, paths, concurrency=CONCURRENCY, duration=cfg.duration)
    result = {**load.as_dict(), **sampler.summary(), "machine_cpu_pct_before": quiet}
    if quiet > cfg.quiet_pct:
        result["note"] = f"machine busy ({quiet:.0f}% CPU) before the run"
    return result


def run_imgorigin(cfg: Config, images: Path) -> dict[str, dict[str, Any]]:
    results = {}
    with OriginProcess(env={"IMGORIGIN_SOURCE": str(images)}, workers=cfg.workers) as server:
        assert server.proc is not None
        for key in TRANSFORMS:
            log(f"imgorigin: {TRANSFORMS[key].title}")
            results[key] = measure(cfg, server.base, miss_paths((key,), 20000),
                                   miss_paths((key,), 2000, WARM_START), server.proc.pid,
                                   include_master=False)
    return results


def run_peer(cfg: Config, peer: Peer, images: Path, workdir: Path) -> dict[str, Any]:
    try:
        version = peer.install()
    except (PeerUnavailable, subprocess.TimeoutExpired, OSError) as exc:
        return {"unavailable": str(exc)}
    results: dict[str, Any] = {"version": version}
    try:
        server = peer.server(images, workdir, cfg.workers).start()
    except (PeerUnavailable, OSError) as exc:
        return {"version": version, "unavailable": str(exc)}
    try:
        assert server.proc is not None
        for key, path in peer.paths.items():
            log(f"{peer.name}: {TRANSFORMS[key].title}")
            try:
                results[key] = measure(cfg, server.base, [path], [path], server.proc.pid,
                                       include_master=server.single_process)
            except LoadError as exc:
                results[key] = {"error": str(exc)}
    finally:
        server.stop()
    return results


def main() -> int:
    cfg = Config({**os.environ, "BENCH_QUIET_WAIT": os.environ.get("BENCH_QUIET_WAIT", "60")})
    started = time.time()
    PEERS_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="imgorigin-peers-") as tmp:
        images = Path(tmp) / "images"
        make_images(images)
        info = machine()
        systems: dict[str, Any] = {"imgorigin": run_imgorigin(cfg, images)}
        for peer in PEERS:
            systems[peer.name] = run_peer(cfg, peer, images, Path(tmp))
    rows = []
    ours = systems["imgorigin"]
    for name, result in systems.items():
        if "unavailable" in result:
            rows.append([name, "not measured: " + result["unavailable"][:150], "", "", "", "",
                         ""])
            continue
        for key in TRANSFORMS:
            r = result.get(key, {})
            if "rps" not in r:
                rows.append([name, TRANSFORMS[key].title, r.get("error", "-"), "", "", "", ""])
                continue
            ratio = round(ours[key]["rps"] / r["rps"], 2) if r["rps"] else None
            rows.append([name, TRANSFORMS[key].title, r["rps"], r["p50_ms"], r["p99_ms"],
                         r["peak_rss_mib_max"], ratio if name != "imgorigin" else "-"])
    print(f"\nPeers: same images, transforms and wrk at concurrency {CONCURRENCY}, "
          f"{cfg.workers} worker processes where the peer has them")
    print(table(["system", "transform", "req/s", "p50 ms", "p99 ms", "RSS MiB/proc",
                 "imgorigin / peer"], rows))
    path = write_json("peers", {"machine": info, "duration_s": cfg.duration,
                                "concurrency": CONCURRENCY, "systems": systems,
                                "wall_s": round(time.time() - started, 1)})
    print(f"\nwrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
