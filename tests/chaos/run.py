"""`make chaos`: 2 workers under load while Redis dies, the upstream slows then resets, a worker
is SIGKILLed, and misses arrive at 10x what the pool can sustain. Prints one table per phase.

Everything runs on loopback with processes this script starts (redis-server, a fake upstream,
the origin) and stops by itself; every loop is bounded in time. Exit status 1 when a purge was
lost, a worker was OOM-killed, or hits' p99 passed 50 ms in the overload phase.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import os
import signal
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

import httpx
import psutil

from tests.reliability.faults import FaultyUpstream, photo
from tests.support.origin import REPO, OriginProcess
from tests.support.redis_server import RedisProcess

PHASE_SECONDS = float(os.environ.get("CHAOS_PHASE_SECONDS", "6"))
SOURCES = [f"p{i}.jpg" for i in range(4)]
HIT_PATHS = [f"/w_{w},fmt_{f}/{s}" for s in SOURCES for w in (80, 160, 320)
             for f in ("jpeg", "webp")]
HIT_PROBERS, MISS_TASKS = 2, 3
TOKEN = "chaos-token"


@dataclass
class Phase:
    name: str
    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    hit_ms: list[float] = field(default_factory=list)
    hits_served: int = 0
    shed: int = 0
    purges_ok: int = 0
    purges_failed: int = 0
    purges_lost: int = 0
    max_rss_mib: float = 0.0
    note: str = ""

    def record(self, status: int | str, *, hit: bool, ms: float) -> None:
        self.sent += 1
        key = f"{status}"[0] + "xx" if isinstance(status, int) else "err"
        self.statuses[key] += 1
        if status == 503:
            self.shed += 1
        if hit and status == 200:
            self.hits_served += 1
            self.hit_ms.append(ms)

    @property
    def hit_p99(self) -> float:
        if len(self.hit_ms) < 2:
            return float("nan")
        return statistics.quantiles(self.hit_ms, n=100)[98]


class Chaos:
    def __init__(self) -> None:
        self.redis = RedisProcess().start()
        self.upstream = FaultyUpstream().start()
        for name in SOURCES:
            self.upstream.add(name, photo(1600, 1200), f'"{name}-0"')
        # Made up front: generating an image inside the event loop would stall the load.
        self.replacements = [photo(1600, 1200) for _ in range(3)]
        env = {
            "IMGORIGIN_SOURCE": self.upstream.base + "/files/",
            "IMGORIGIN_REDIS_URL": self.redis.url,
            "IMGORIGIN_PURGE_TOKENS": TOKEN,
            "IMGORIGIN_SOURCE_TTL": "3600",  # hits never need the upstream
            "IMGORIGIN_FETCH_TIMEOUT": "2",
            "IMGORIGIN_CONNECT_TIMEOUT": "1",
            "IMGORIGIN_REQUEST_TIMEOUT": "5",
            "IMGORIGIN_TRANSFORM_QUEUE": "8",
        }
        self.origin = OriginProcess(env, workers=2).start()
        self.counter = itertools.count()
        self.versions = itertools.count(1)
        self.phases: list[Phase] = []
        self.killed_workers: set[int] = set()

    def close(self) -> None:
        self.origin.stop()
        self.upstream.stop()
        self.redis.stop()

    def miss_path(self) -> str:
        i = next(self.counter)
        return f"/w_{50 + i % 1900},q_{30 + (i // 1900) % 65}/{SOURCES[i % len(SOURCES)]}"

    async def _misses(self, client: httpx.AsyncClient, phase: Phase, until: float) -> None:
        while time.monotonic() < until:
            await self._get(client, phase, self.miss_path(), hit=False)

    async def _get(self, client: httpx.AsyncClient, phase: Phase, path: str, *,
                   hit: bool) -> None:
        started = time.perf_counter()
        try:
            r = await client.get(self.origin.url(path))
            status: int | str = r.status_code
            if hit and r.status_code == 200 and r.headers.get("server-timing", "").startswith(
                    "transform"):
                hit = False  # a hit path that had to be recomputed (after a purge)
        except httpx.HTTPError as exc:
            status = type(exc).__name__
            await asyncio.sleep(0.05)
        phase.record(status, hit=hit, ms=(time.perf_counter() - started) * 1000)

    async def _purges(self, phase: Phase, until: float) -> None:
        """Replace a source, purge it, then check no request sees the old variant."""
        async with httpx.AsyncClient(timeout=10) as client:
            while time.monotonic() < until - 1.5:
                name = SOURCES[next(self.versions) % len(SOURCES)]
                path = f"/w_80,fmt_jpeg/{name}"
                before = await client.get(self.origin.url(path))
                version = next(self.versions)
                self.upstream.add(name, self.replacements[version % len(self.replacements)],
                                  f'"{name}-{version}"')
                r = await client.post(self.origin.url("/-/purge"), json={"sources": [name]},
                                      headers={"Authorization": f"Bearer {TOKEN}"})
                if r.status_code != 200:  # refused loudly (e.g. Redis down): not lost
                    phase.purges_failed += 1
                    await asyncio.sleep(0.5)
                    continue
                phase.purges_ok += 1
                old = before.headers.get("etag") if before.status_code == 200 else None
                # New connections land on both workers; none may serve the purged variant.
                for _ in range(6):
                    async with httpx.AsyncClient(timeout=10) as fresh:
                        try:
                            after = await fresh.get(self.origin.url(path))
                        except httpx.HTTPError:
                            continue
                    if old and after.status_code == 200 and after.headers.get("etag") == old:
                        phase.purges_lost += 1
                        break
                await asyncio.sleep(0.5)

    async def run_phase(self, name: str, *, note: str = "", misses_per_second: float = 0,
                        seconds: float = PHASE_SECONDS) -> Phase:
        phase = Phase(name, note=note)
        until = time.monotonic() + seconds
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=64)
        # Hits are timed from other processes, so this one's busy event loop does not count.
        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        probers = [ctx.Process(target=probe_hits, args=(self.origin.base, seconds, results))
                   for _ in range(HIT_PROBERS)]
        for p in probers:
            p.start()
        async with httpx.AsyncClient(timeout=15, limits=limits) as client:
            tasks = []
            if misses_per_second:
                tasks.append(self._open_loop(client, phase, until, misses_per_second))
            else:
                tasks += [self._misses(client, phase, until) for _ in range(MISS_TASKS)]
            tasks.append(self._purges(phase, until))
            tasks.append(self._sample_rss(phase, until))
            await asyncio.gather(*tasks)
        for _ in probers:
            for status, ms in results.get(timeout=60):
                phase.record(status, hit=True, ms=ms)
        for p in probers:
            p.join(10)
        self.phases.append(phase)
        return phase

    async def _open_loop(self, client: httpx.AsyncClient, phase: Phase, until: float,
                         rate: float) -> None:
        """Misses at a fixed rate whatever the answers (at most 300 outstanding)."""
        pending: set[asyncio.Task[None]] = set()
        interval = 1 / rate
        next_at = time.monotonic()
        while time.monotonic() < until:
            if len(pending) < 300:
                task = asyncio.ensure_future(self._get(client, phase, self.miss_path(),
                                                       hit=False))
                pending.add(task)
                task.add_done_callback(pending.discard)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if pending:
            await asyncio.wait(pending, timeout=15)

    async def _sample_rss(self, phase: Phase, until: float) -> None:
        while time.monotonic() < until:
            for pid in self.origin.worker_pids():
                try:
                    rss = psutil.Process(pid).memory_info().rss / 2**20
                except psutil.Error:
                    continue
                phase.max_rss_mib = max(phase.max_rss_mib, rss)
            await asyncio.sleep(0.5)

    def sustainable_miss_rate(self, baseline: Phase) -> float:
        """Misses per second the two workers complete, from the transform metric."""
        text = self.origin.metrics_text()
        from tests.support.metrics import metric_sum

        count = metric_sum(text, "imgorigin_transform_duration_seconds_count")
        total = metric_sum(text, "imgorigin_transform_duration_seconds_sum")
        mean = total / count if count else 0.1
        return self.origin.workers / mean

    async def main(self) -> int:
        async with httpx.AsyncClient(timeout=30) as client:
            for path in HIT_PATHS:  # warm the hit set
                await client.get(self.origin.url(path))
        baseline = await self.run_phase("baseline")
        self.redis.kill()
        await self.run_phase("redis killed", note="redis-server SIGKILLed")
        self.redis = RedisProcess(port=self.redis.port).start()
        await self.run_phase("redis back", seconds=PHASE_SECONDS / 2)
        self.upstream.delay = 1.5
        await self.run_phase("upstream slow", note="1.5 s before every upstream answer")
        self.upstream.delay = 0.0
        self.upstream.reset = True
        await self.run_phase("upstream resets", note="connections dropped, no answer")
        self.upstream.reset = False
        victim = sorted(self.origin.worker_pids())[0]
        os.kill(victim, signal.SIGKILL)
        self.killed_workers.add(victim)
        await self.run_phase("worker SIGKILL", note=f"worker {victim} killed")
        rate = 10 * self.sustainable_miss_rate(baseline)
        pids_before = set(self.origin.worker_pids())
        overload = await self.run_phase("overload 10x", misses_per_second=rate,
                                        note=f"{rate:.0f} misses/s open loop")
        oom = pids_before != set(self.origin.worker_pids()) or not self.origin.alive()
        return self.report(overload, oom)

    def report(self, overload: Phase, oom: bool) -> int:
        header = ("phase", "sent", "2xx", "4xx", "5xx", "errors", "503 shed", "hits ok",
                  "hit p99 ms", "purges ok", "failed", "LOST", "max RSS MiB")
        rows = [header]
        for p in self.phases:
            rows.append((p.name, str(p.sent), str(p.statuses["2xx"]), str(p.statuses["4xx"]),
                         str(p.statuses["5xx"]), str(p.statuses["err"]), str(p.shed),
                         str(p.hits_served), f"{p.hit_p99:.1f}", str(p.purges_ok),
                         str(p.purges_failed), str(p.purges_lost), f"{p.max_rss_mib:.0f}"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for n, row in enumerate(rows):
            print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                            for i, (c, w) in enumerate(zip(row, widths, strict=True))))
            if n == 0:
                print("  ".join("-" * w for w in widths))
        for p in self.phases:
            if p.note:
                print(f"  {p.name}: {p.note}")
        lost = sum(p.purges_lost for p in self.phases)
        outage = next(p for p in self.phases if p.name == "redis killed")
        print(f"\npurges lost: {lost} (must be 0)")
        print(f"hits served during the Redis outage: {outage.hits_served}")
        print(f"overload: hit p99 {overload.hit_p99:.1f} ms (must be < 50), "
              f"{overload.shed} misses shed with 503, worker OOM-killed or lost: {oom}")
        out = REPO / "tests" / "output" / "chaos"
        out.mkdir(parents=True, exist_ok=True)
        (out / "chaos.json").write_text(json.dumps(
            [{**asdict(p), "statuses": dict(p.statuses), "hit_ms": None, "hit_p99": p.hit_p99}
             for p in self.phases], indent=2))
        print(f"details: {out / 'chaos.json'}")
        ok = lost == 0 and not oom and overload.hit_p99 < 50 and overload.shed > 0
        return 0 if ok else 1


def probe_hits(base: str, seconds: float, results: multiprocessing.Queue) -> None:
    """In a child process: request the warm set in a loop; a recomputed path (after a purge)
    is not a hit. Sends back [(status, ms)] for the hits."""
    out: list[tuple[int | str, float]] = []
    until = time.monotonic() + seconds
    with httpx.Client(timeout=15) as client:
        for i in itertools.count():
            if time.monotonic() >= until:
                break
            started = time.perf_counter()
            try:
                r = client.get(base + HIT_PATHS[i % len(HIT_PATHS)])
            except httpx.HTTPError as exc:
                out.append((type(exc).__name__, 0.0))
                time.sleep(0.05)
                continue
            if not r.headers.get("server-timing", "").startswith("transform"):
                out.append((r.status_code, (time.perf_counter() - started) * 1000))
    results.put(out)


def main() -> int:
    chaos = Chaos()
    try:
        return asyncio.run(chaos.main())
    finally:
        chaos.close()


if __name__ == "__main__":
    sys.exit(main())
