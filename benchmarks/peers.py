"""`make bench-peers`: imgorigin, thumbor and ipx on this machine, with the same images, the same
three transforms and the same load generator (wrk, concurrency 8).

First each system answers every transform once: its output bytes, format and dimensions are
recorded (a wrong format or size is flagged in the table), and for the AVIF transform c the
imgorigin quality `q_N` whose output is within 10 % of each peer's bytes is searched for; that
quality is measured as the extra scenario `c@<peer>-size`, which peer's c ratio uses. Then the
systems are measured in BENCH_PEER_ROUNDS interleaved rounds (imgorigin, thumbor, ipx, imgorigin,
...; each server started afresh per round), each run after a wait for a quiet machine; the table
gives the median req/s with its min-max and the ratio of medians, the JSON every sample. A
round in which a server used under 75 % of the CPU (thumbor's processes can leave all of wrk's
connections to one of them) is left out of that ratio and named in the note, beside the ratio
of all rounds' medians: a peer is compared at what it does when it uses the machine.

Peers are installed at run time into benchmarks/.peers (git-ignored), never into our venv:
thumbor from PyPI into its own venv, ipx (on sharp) from npm. A peer that cannot be installed or
started is reported as such. Neither peer caches results by default (thumbor's RESULT_STORAGE is
None, ipx has no result cache), so their URLs repeat; imgorigin gets unique variants so that it
transforms on every request too. BENCH_PEER_ROUNDS (default 3), and BENCH_DURATION,
BENCH_WORKERS, BENCH_QUIET_PCT and BENCH_QUIET_WAIT as for `make bench` (the quiet wait defaults
to 60 s here).
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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pyvips

from benchmarks.comparison import (
    AVIF_KEY,
    BUSY_SHARE,
    CODEC_ENCODES,
    OURS,
    aggregate,
    best_peer,
    codec_rows,
    describe_output,
    equal_size_scenario,
    match_quality,
    output_problems,
    peer_ratios,
    ratio_rows,
)
from benchmarks.images import make_images
from benchmarks.loadgen import LoadError, run_wrk
from benchmarks.report import machine, table, write_json
from benchmarks.run import WARM_START, Config, cache_dir, log
from benchmarks.scenarios import TRANSFORMS, MissTransform
from benchmarks.servers import REPO, OriginProcess, Sampler, caller_settings, wait_quiet
from tests.support.net import free_port, wait_until

PEERS_DIR = Path(__file__).with_name(".peers")
THUMBOR_VENV = PEERS_DIR / "thumbor-venv"
IPX_DIR = PEERS_DIR / "ipx"
IPX_SERVER = Path(__file__).with_name("ipx_server.cjs")
CODECS_SCRIPT = Path(__file__).with_name("codec_costs.py")
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
        # OpenCV 4 for thumbor's face detector (OpenCV 5 has no Haar cascades).
        got = _run([str(python), "-m", "pip", "install", "--quiet", "thumbor",
                    "opencv-python-headless<5"], timeout=900)
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
        # `smart` finds faces as it does in most thumbor deployments (make parity's face cases).
        "DETECTORS = ['thumbor.detectors.face_detector']\n"
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
            include_master: bool, transforms: Callable[[], float] | None = None
            ) -> dict[str, Any]:
    """Warm up, wait for a quiet machine, run wrk. With `transforms` (imgorigin's counter) the
    run is checked to have transformed once per answer, as `make bench` checks its misses."""
    run_wrk(base, warm, concurrency=CONCURRENCY, duration=2)
    quiet = wait_quiet(cfg.quiet_pct, cfg.quiet_wait)
    before = transforms() if transforms else 0.0
    with Sampler(master_pid, include_master=include_master) as sampler:
        load = run_wrk(base, paths, concurrency=CONCURRENCY, duration=cfg.duration)
    result = {**load.as_dict(), **sampler.summary(), "machine_cpu_pct_before": quiet}
    notes = []
    if quiet > cfg.quiet_pct:
        notes.append(f"machine busy ({quiet:.0f}% CPU) before a run")
    if transforms is not None:
        time.sleep(0.5)  # requests still in flight when wrk stopped finish
        result["transforms_run"] = transforms() - before
        if result["transforms_run"] < 0.97 * load.ok:
            notes.append(f"only {result['transforms_run']:.0f} transforms for {load.ok} answers")
    if load.wrapped:
        notes.append(f"path list wrapped {load.wrapped}x: some misses were hits")
    if load.non_2xx or load.socket_errors:
        notes.append(f"{load.non_2xx} non-2xx, {load.socket_errors} socket errors")
    if notes:
        result["note"] = "; ".join(notes)
    return result


def _fetch(base: str, path: str) -> bytes:
    response = httpx.get(base + path, timeout=120)
    if response.status_code != 200:
        raise PeerUnavailable(f"HTTP {response.status_code} for {path}")
    return response.content


def _output(base: str, key: str, path: str) -> dict[str, Any]:
    """One answer described (bytes, format, dimensions) and checked against transform `key`."""
    try:
        data = _fetch(base, path)
    except (PeerUnavailable, httpx.HTTPError) as exc:
        return {"path": path, "error": str(exc)}
    try:
        out = {"path": path, **describe_output(data)}
    except pyvips.Error as exc:
        return {"path": path, "bytes": len(data), "error": f"undecodable: {exc}"[:200]}
    return {**out, "problems": output_problems(key, out)}


# --- imgorigin's scenarios --------------------------------------------------------------------

# Each scenario's variants start at its own index, so two scenarios at the same quality in one
# server (c@thumbor-size and c@ipx-size may match the same q) never serve each other's results.
SCENARIO_STRIDE = 0x40000


@dataclass(frozen=True)
class OurScenario:
    name: str
    transform: MissTransform
    index: int

    def paths(self, count: int, warm: bool = False) -> list[str]:
        start = self.index * SCENARIO_STRIDE + (WARM_START if warm else 0)
        return [self.transform.path(start + i) for i in range(count)]


def with_quality(transform: MissTransform, quality: int) -> MissTransform:
    return replace(transform, options=f"{transform.options},q_{quality}", quality=quality)


def our_scenarios(matches: dict[str, dict[str, Any]]) -> list[OurScenario]:
    named = [(key, TRANSFORMS[key]) for key in TRANSFORMS]
    named += [(equal_size_scenario(peer), with_quality(TRANSFORMS[AVIF_KEY], m["quality"]))
              for peer, m in matches.items()]
    return [OurScenario(name, t, i) for i, (name, t) in enumerate(named)]


def probe_imgorigin(cfg: Config, images: Path, peer_avif: dict[str, int]
                    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """imgorigin's output per transform, and per peer the AVIF quality matching its size."""
    avif = TRANSFORMS[AVIF_KEY]
    env = {**caller_settings(), "IMGORIGIN_SOURCE": str(images)}
    with OriginProcess(env=env, workers=cfg.workers) as server:
        outputs = {key: _output(server.base, key, t.path(0)) for key, t in TRANSFORMS.items()}
        sizes: dict[int, int] = {}

        def size_at(quality: int) -> int:
            if quality not in sizes:
                sizes[quality] = len(_fetch(server.base, with_quality(avif, quality).path(0)))
            return sizes[quality]

        matches = {}
        for peer, target in peer_avif.items():
            match = match_quality(size_at, target)
            log(f"imgorigin AVIF vs {peer} ({target} B): q_{match.quality} gives {match.size} B"
                f" ({match.diff:+.1%}){'' if match.within else ', not within 10 %'}")
            output = _output(server.base, AVIF_KEY,
                             with_quality(avif, match.quality).path(0))
            matches[peer] = {**match.as_dict(), "output": output}
    return outputs, matches


def run_imgorigin(cfg: Config, images: Path, scenarios: list[OurScenario],
                  label: str) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    env = {**caller_settings(), "IMGORIGIN_SOURCE": str(images)}
    with OriginProcess(env=env, workers=cfg.workers,
                       cache_dir=cache_dir(cfg, "imgorigin")) as server:
        assert server.proc is not None
        for sc in scenarios:
            log(f"{label} imgorigin: {sc.name} {sc.transform.options}")
            try:
                r = measure(cfg, server.base, sc.paths(20000), sc.paths(2000, warm=True),
                            server.proc.pid, include_master=False,
                            transforms=lambda: server.metric("imgorigin_transforms_total"))
            except LoadError as exc:
                results[sc.name] = {"error": str(exc)}
                continue
            results[sc.name] = r
    return results


# --- peers ------------------------------------------------------------------------------------

def probe_peer(cfg: Config, peer: Peer, images: Path, workdir: Path) -> dict[str, Any]:
    server = peer.server(images, workdir, cfg.workers).start()
    try:
        return {key: _output(server.base, key, path) for key, path in peer.paths.items()}
    finally:
        server.stop()


def run_peer(cfg: Config, peer: Peer, images: Path, workdir: Path,
             label: str) -> dict[str, dict[str, Any]]:
    try:
        server = peer.server(images, workdir, cfg.workers).start()
    except (PeerUnavailable, OSError) as exc:
        return {key: {"error": f"server did not start: {exc}"} for key in peer.paths}
    results: dict[str, dict[str, Any]] = {}
    try:
        assert server.proc is not None
        for key, path in peer.paths.items():
            log(f"{label} {peer.name}: {TRANSFORMS[key].title}")
            try:
                results[key] = measure(cfg, server.base, [path], [path], server.proc.pid,
                                       include_master=server.single_process)
            except LoadError as exc:
                results[key] = {"error": str(exc)}
    finally:
        server.stop()
    return results


# --- the run ----------------------------------------------------------------------------------

def codec_costs(cfg: Config, images: Path, key: str) -> dict[str, dict[str, Any]]:
    """Transform `key`'s decode and encodes without a server, in libvips (our interpreter) and in
    Pillow (thumbor's interpreter): what each codec costs on its own. For a WebP transform both
    encode the same output pixels, made here once with libvips."""
    spec = TRANSFORMS[key]
    source = images / spec.source
    encode = ["--encode", "jpeg"]
    if spec.fmt == "webp":
        pixels = images / f"codec-pixels-{key}.png"
        width, height = spec.resize
        pyvips.Image.thumbnail(str(source), width, height=height, size="force").pngsave(
            str(pixels))
        encode = ["--encode", "webp", "--pixels", str(pixels)]
    pythons = {OURS: ("pyvips", sys.executable),
               "thumbor": ("pillow", str(THUMBOR_VENV / "bin" / "python"))}
    costs: dict[str, dict[str, Any]] = {}
    for name, (codec, python) in pythons.items():
        if not Path(python).exists():
            costs[name] = {"error": f"{python} is missing"}
            continue
        wait_quiet(cfg.quiet_pct, cfg.quiet_wait)
        got = _run([python, str(CODECS_SCRIPT), "--codec", codec, "--image", str(source),
                    "--width", str(spec.resize[0]), *encode],
                   env={**os.environ, "VIPS_CONCURRENCY": "1"}, timeout=120)
        costs[name] = (json.loads(got.stdout) if got.returncode == 0
                       else {"error": got.stderr.strip()[-300:]})
    return costs


def rounds_from(env: dict[str, str]) -> int:
    return max(1, int(env.get("BENCH_PEER_ROUNDS", "3")))


def main() -> int:
    cfg = Config({**os.environ, "BENCH_QUIET_WAIT": os.environ.get("BENCH_QUIET_WAIT", "60")})
    rounds = rounds_from(dict(os.environ))
    started = time.time()
    PEERS_DIR.mkdir(exist_ok=True)
    versions: dict[str, str] = {}
    unavailable: dict[str, str] = {}
    outputs: dict[str, dict[str, Any]] = {}
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory(prefix="imgorigin-peers-") as tmp:
        images = Path(tmp) / "images"
        cfg.scratch = Path(tmp) / "caches"
        make_images(images)
        info = machine()
        peers = []
        for peer in PEERS:
            try:
                versions[peer.name] = peer.install()
                log(f"{peer.name}: {versions[peer.name]}; probing outputs")
                outputs[peer.name] = probe_peer(cfg, peer, images, Path(tmp))
                peers.append(peer)
            except (PeerUnavailable, subprocess.TimeoutExpired, OSError) as exc:
                unavailable[peer.name] = str(exc)
        peer_avif = {p.name: outputs[p.name][AVIF_KEY]["bytes"] for p in peers
                     if "bytes" in outputs[p.name].get(AVIF_KEY, {})}
        outputs[OURS], matches = probe_imgorigin(cfg, images, peer_avif)
        scenarios = our_scenarios(matches)
        log("codecs of transforms b and a, in-process: libvips and Pillow")
        codecs = {key: codec_costs(cfg, images, key) for key in CODEC_ENCODES}
        for r in range(rounds):
            label = f"round {r + 1}/{rounds}"
            measured = {OURS: run_imgorigin(cfg, images, scenarios, label)}
            for peer in peers:
                measured[peer.name] = run_peer(cfg, peer, images, Path(tmp), label)
            for name, results in measured.items():
                for scenario, result in results.items():
                    samples.setdefault(name, {}).setdefault(scenario, []).append(
                        {"round": r + 1, **result})
    # Two server processes can keep two cores busy, whatever the machine has.
    cores = min(os.cpu_count() or 2, cfg.workers)
    summary = {name: {sc: aggregate(runs, cores) for sc, runs in by_sc.items()}
               for name, by_sc in samples.items()}
    systems = [OURS, *(p.name for p in PEERS)]
    print(f"\nPeers: same images, transforms and wrk at concurrency {CONCURRENCY}, "
          f"{cfg.workers} worker processes where the peer has them; {rounds} interleaved "
          f"round(s) of {cfg.duration:.0f} s: median req/s (min-max), ratio of medians over "
          f"the rounds in which each server used at least {BUSY_SHARE:.0%} of the CPU")
    print(table(["system", "transform", "bytes", "req/s", "min-max", "p50 ms", "p99 ms",
                 "RSS MiB/proc", "imgorigin / peer", "note"],
                ratio_rows(systems, summary, outputs, matches, unavailable)))
    against_best = {}
    for key in TRANSFORMS:
        best = best_peer(key, systems, summary)
        if best is not None:
            against_best[key] = {"peer": best[0], "ratio": best[1]}
            print(f"{key}: imgorigin / best peer ({best[0]}) = {best[1]:.2f}")
    print("\nTransform b's JPEG codec alone (ms per call, one thread, output bytes in brackets)")
    print(table(["system", "codec", "decode to 800w", "baseline q80", "optimized Huffman",
                 "progressive"], codec_rows(codecs["b"], CODEC_ENCODES["b"])))
    print("\nTransform a's codecs alone: the 12 MP JPEG decoded to 500w, then the same 400x300 "
          "pixels to WebP q80 (ms per call, one thread, output bytes in brackets)")
    print(table(["system", "codecs", "decode to 500w", "WebP effort/method 2",
                 "WebP effort/method 4"], codec_rows(codecs["a"], CODEC_ENCODES["a"])))
    path = write_json("peers", {
        "machine": info, "duration_s": cfg.duration, "concurrency": CONCURRENCY,
        "workers": cfg.workers, "rounds": rounds, "versions": versions,
        "unavailable": unavailable, "outputs": outputs, "avif_size_match": matches,
        "samples": samples, "summary": summary, "codecs": codecs,
        "ratios": peer_ratios(systems, summary), "against_best_peer": against_best,
        "wall_s": round(time.time() - started, 1)})
    print(f"\nwrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
