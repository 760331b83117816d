"""Load generators: wrk with a Lua path list (throughput), and a small asyncio client (exact
latency per status, for overload where the 503s must be told apart from admitted requests).

Both are closed loops: each connection sends its next request when the previous answer is in.
Their own CPU use is measured (rusage) and reported, so a saturated box can be read correctly.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LUA_SCRIPT = Path(__file__).with_name("paths.lua")


class LoadError(RuntimeError):
    """The load generator failed or printed nothing we can read."""


@dataclass
class LoadResult:
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    loadgen_cpu_s: float
    wrapped: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def ok(self) -> int:
        return self.requests - self.non_2xx

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rps"] = round(self.rps, 2)
        data["loadgen_cpu_pct"] = round(100 * self.loadgen_cpu_s / self.duration_s, 1)
        return data


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise LoadError("wrk is not installed; `make system-deps` installs it")
    return path


def run_wrk(base_url: str, paths: list[str], *, concurrency: int, duration: float,
            threads: int = 1, timeout: float = 30.0) -> LoadResult:
    """Run wrk over `paths` (each thread its own stride) for `duration` seconds."""
    threads = max(1, min(threads, concurrency))
    with tempfile.NamedTemporaryFile("w", suffix=".paths", delete=False) as f:
        f.write("\n".join(paths) + "\n")
        paths_file = f.name
    try:
        static = len(paths) == 1
        url = base_url + paths[0] if static else base_url
        cmd = [wrk_binary(), "-t", str(threads), "-c", str(concurrency),
               "-d", f"{max(1, round(duration))}s", "--timeout", f"{int(timeout)}s",
               "-s", str(LUA_SCRIPT), url, "--", paths_file, str(threads)]
        env = {**os.environ, "BENCH_STATIC": "1" if static else "0"}
        # Only wrk is reaped while it runs, so the children's rusage delta is wrk's own CPU.
        cpu_before = _children_cpu()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60,
                              check=False, env=env)
        cpu = _children_cpu() - cpu_before
    finally:
        os.unlink(paths_file)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise LoadError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[:500]}"
                        f" {proc.stdout.strip()[:500]}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    lat = raw["latency_us"]
    return LoadResult(
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        max_ms=lat["max"] / 1000,
        non_2xx=raw["status_errors"],
        socket_errors=raw["connect_errors"] + raw["read_errors"] + raw["write_errors"]
        + raw["timeouts"],
        loadgen_cpu_s=cpu,
        wrapped=raw["wrapped"],
        extra={"wrk_threads": threads, "p999_ms": lat["p999"] / 1000,
               "mean_ms": lat["mean"] / 1000, "static_request": static,
               "loadgen_cpu_us_per_request": round(1e6 * cpu / raw["requests"], 2)
               if raw["requests"] else None},
    )


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, math.ceil(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


async def _closed_loop(host: str, port: int, paths: list[str], concurrency: int,
                       duration: float, honour_retry_after: bool,
                       ) -> tuple[list[tuple[int, float]], int, float]:
    samples: list[tuple[int, float]] = []
    errors = 0
    cursor = iter(paths)
    deadline = time.perf_counter() + duration

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                path = next(cursor, None)
                if path is None:
                    return
                started = time.perf_counter()
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    status = int(head[9:12])
                    headers = {}
                    for header in head.split(b"\r\n")[1:]:
                        name, _, value = header.partition(b":")
                        headers[name.strip().lower()] = value.strip()
                    await reader.readexactly(int(headers.get(b"content-length", 0)))
                except (asyncio.IncompleteReadError, ConnectionError):
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                samples.append((status, time.perf_counter() - started))
                if headers.get(b"connection", b"").lower() == b"close":
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                if status == 503 and honour_retry_after:
                    # A well-behaved client (or CDN) waits as told before asking again.
                    wait = float(headers.get(b"retry-after", b"1") or 1)
                    await asyncio.sleep(max(0.0, min(wait, deadline - time.perf_counter())))
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return samples, errors, time.perf_counter() - started


def run_closed_loop(host: str, port: int, paths: list[str], *, concurrency: int,
                    duration: float, honour_retry_after: bool = True) -> LoadResult:
    """The asyncio client: latency percentiles of admitted (2xx) requests, and status counts.
    With `honour_retry_after` a connection that got a 503 waits `Retry-After` seconds."""
    cpu_before = time.process_time()
    samples, errors, elapsed = asyncio.run(
        _closed_loop(host, port, paths, concurrency, duration, honour_retry_after))
    cpu = time.process_time() - cpu_before
    statuses = Counter(str(status) for status, _ in samples)
    admitted = sorted(lat * 1000 for status, lat in samples if 200 <= status < 300)
    shed = sorted(lat * 1000 for status, lat in samples if status == 503)
    non_2xx = sum(1 for status, _ in samples if not 200 <= status < 300)
    return LoadResult(
        requests=len(samples),
        duration_s=elapsed,
        p50_ms=percentile(admitted, 50),
        p90_ms=percentile(admitted, 90),
        p99_ms=percentile(admitted, 99),
        max_ms=admitted[-1] if admitted else 0.0,
        non_2xx=non_2xx,
        socket_errors=errors,
        loadgen_cpu_s=cpu,
        statuses=dict(statuses),
        extra={
            "latency_of": "admitted (2xx) requests only",
            "honour_retry_after": honour_retry_after,
            "admitted_rps": round(len(admitted) / elapsed, 2) if elapsed else 0.0,
            "shed_share": round(statuses.get("503", 0) / len(samples), 4) if samples else 0.0,
            "shed_p50_ms": percentile(shed, 50),
            "shed_p99_ms": percentile(shed, 99),
        },
    )


def _user(scheduled: float) -> str:
    """A page view's client address. As a CDN does, each request names the user it is for
    (loopback is a trusted proxy by default), so a connection of the pool is not taken for one
    client that re-sends early (origin/tarpit.py)."""
    return f"198.51.100.{int(scheduled * 1e6) % 254 + 1}"


async def _open_loop(host: str, port: int, requests: list[tuple[str, str]], rate: float,
                     duration: float, max_connections: int,
                     ) -> tuple[list[tuple[str, int, float]], int, int, float]:
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    open_count = 0
    samples: list[tuple[str, int, float]] = []
    errors = 0
    overflow = 0

    async def one(path: str, cls: str, scheduled: float) -> None:
        nonlocal open_count, errors, overflow
        if idle:
            reader, writer = idle.pop()
        elif open_count < max_connections:
            open_count += 1
            reader, writer = await asyncio.open_connection(host, port)
        else:
            overflow += 1  # the client itself ran out of connections: the server fell behind
            return
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                         f"X-Forwarded-For: {_user(scheduled)}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            close = False
            for header in head.split(b"\r\n")[1:]:
                name, _, value = header.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection":
                    close = value.strip().lower() == b"close"
            await reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            errors += 1
            open_count -= 1
            writer.close()
            return
        # Latency from the scheduled start, so a server that falls behind is charged for it.
        samples.append((cls, int(head[9:12]), time.perf_counter() - scheduled))
        if close:
            # The server closes after this answer (a hand-over): reusing the connection
            # would lose the next request to a reset that the server never saw.
            open_count -= 1
            writer.close()
            return
        idle.append((reader, writer))

    start = time.perf_counter()
    tasks = []
    for i in range(int(rate * duration)):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        path, cls = requests[i % len(requests)]
        tasks.append(asyncio.create_task(one(path, cls, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for _, writer in idle:
        writer.close()
    return samples, errors, overflow, elapsed


def run_open_loop(host: str, port: int, requests: list[tuple[str, str]], *, rate: float,
                  duration: float, max_connections: int = 512) -> LoadResult:
    """Send `rate` requests/s whatever the answers (as a CDN's many users do): `requests` are
    (path, class) pairs; latency percentiles are reported per class, from the scheduled time."""
    cpu_before = time.process_time()
    samples, errors, overflow, elapsed = asyncio.run(
        _open_loop(host, port, requests, rate, duration, max_connections))
    cpu = time.process_time() - cpu_before
    statuses = Counter(str(status) for _, status, _ in samples)
    every = sorted(lat * 1000 for _, _, lat in samples)
    extra: dict[str, Any] = {"offered_rps": rate, "client_overflow": overflow,
                             "latency_from": "scheduled send time"}
    for cls in sorted({c for c, _, _ in samples}):
        lat = sorted(x * 1000 for c, s, x in samples if c == cls and 200 <= s < 300)
        extra[cls] = {"ok": len(lat), "p50_ms": round(percentile(lat, 50), 2),
                      "p99_ms": round(percentile(lat, 99), 2),
                      "non_2xx": sum(1 for c, s, _ in samples if c == cls and not 200 <= s < 300)}
    return LoadResult(
        requests=len(samples), duration_s=elapsed,
        p50_ms=percentile(every, 50), p90_ms=percentile(every, 90),
        p99_ms=percentile(every, 99), max_ms=every[-1] if every else 0.0,
        non_2xx=sum(1 for _, s, _ in samples if not 200 <= s < 300),
        socket_errors=errors + overflow, loadgen_cpu_s=cpu, statuses=dict(statuses),
        extra=extra,
    )
