"""`make bench`: the in-process limit, then every server scenario, then one table and one JSON.

Environment: BENCH_DURATION (seconds per measured run, default 10), BENCH_INPROC_DURATION
(seconds per in-process setting, default a fifth of that, at least 2), BENCH_ONLY (comma list
of scenario names, `inprocess` included), BENCH_WRK_THREADS (default 1), BENCH_WORKERS
(default 2), BENCH_QUIET_PCT (machine CPU % to wait under before each run, default 20),
BENCH_PAIRED_ROUNDS (rounds of limit + server per single-transform miss scenario, default 3;
0 skips them). IMGORIGIN_* settings in the environment are passed to every server.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from benchmarks.images import make_images
from benchmarks.loadgen import LoadResult, run_closed_loop, run_open_loop, run_wrk
from benchmarks.report import machine, table, write_json
from benchmarks.scenarios import (
    HIT_TRANSFORM,
    MIX_LOAD,
    MIX_PERIOD,
    SCENARIOS,
    TRANSFORMS,
    Scenario,
    hot_paths,
    miss_paths,
    mixed_requests,
)
from benchmarks.servers import (
    REPO,
    SHED_REASONS,
    BareServer,
    OriginProcess,
    Sampler,
    caller_settings,
    wait_quiet,
)
from tests.support.metrics import metric_sum

WARM_START = 0x800000  # warm-up variants' bg indices, disjoint from the measured ones


class Config:
    def __init__(self, env: dict[str, str]) -> None:
        self.duration = float(env.get("BENCH_DURATION", "10"))
        self.inproc_duration = float(env.get("BENCH_INPROC_DURATION",
                                             str(max(2.0, self.duration / 5))))
        only = env.get("BENCH_ONLY", "")
        self.only = {x.strip() for x in only.split(",") if x.strip()}
        self.wrk_threads = int(env.get("BENCH_WRK_THREADS", "1"))
        self.workers = int(env.get("BENCH_WORKERS", "2"))
        self.quiet_pct = float(env.get("BENCH_QUIET_PCT", "20"))
        self.quiet_wait = float(env.get("BENCH_QUIET_WAIT", "15"))
        self.paired_rounds = int(env.get("BENCH_PAIRED_ROUNDS", "3"))
        # Where servers keep their disk tiers until the whole bench ends (see `cache_dir`).
        self.scratch: Path | None = None

    def wanted(self, name: str) -> bool:
        return not self.only or name in self.only


def cache_dir(cfg: Config, label: str) -> str | None:
    """A fresh disk-tier directory that outlives its server until the bench ends.

    Deleting a server's thousands of cache files just before the next run makes that run's
    file creations slower on a journal-less ext4 (finding 19): a cost of the harness, not of
    the server, which a fresh deployment never pays."""
    if cfg.scratch is None:
        return None
    cfg.scratch.mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"{label}-", dir=cfg.scratch)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- in-process limit -------------------------------------------------------------------------

def run_inprocess(cfg: Config, images: Path) -> list[dict[str, Any]]:
    """Every transform under 1 and 2 threads x VIPS_CONCURRENCY 1 and 2 (raw pyvips), plus
    imgorigin's pipeline function and minimal pyvips calls at the server's own setting
    (VIPS_CONCURRENCY 1)."""
    results: list[dict[str, Any]] = []
    for concurrency, modes in ((1, "raw,pipeline,plain"), (2, "raw")):
        quiet = wait_quiet(cfg.quiet_pct, cfg.quiet_wait)
        log(f"in-process: VIPS_CONCURRENCY={concurrency} modes={modes} (machine CPU {quiet}%)")
        env = {**os.environ, "VIPS_CONCURRENCY": str(concurrency), "MALLOC_ARENA_MAX": "2"}
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.inprocess", "--images", str(images),
             "--vips-concurrency", str(concurrency), "--threads", "1,2", "--modes", modes,
             "--duration", str(cfg.inproc_duration)],
            cwd=REPO, env=env, capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"in-process run failed: {proc.stderr[-2000:]}")
        for row in json.loads(proc.stdout):
            row["machine_cpu_pct_before"] = quiet
            results.append(row)
    results += _two_processes(cfg, images)
    return results


def _two_processes(cfg: Config, images: Path, transforms: str = ",".join(TRANSFORMS),
                   duration: float | None = None) -> list[dict[str, Any]]:
    """Two single-threaded processes at once, as the server's two workers run: one libvips per
    process scales better than two threads sharing one (lcms and libvips locks)."""
    quiet = wait_quiet(cfg.quiet_pct, cfg.quiet_wait)
    log(f"in-process: 2 processes x 1 thread, VIPS_CONCURRENCY=1 (machine CPU {quiet}%)")
    env = {**os.environ, "VIPS_CONCURRENCY": "1", "MALLOC_ARENA_MAX": "2"}
    cmd = [sys.executable, "-m", "benchmarks.inprocess", "--images", str(images),
           "--vips-concurrency", "1", "--threads", "1", "--modes", "raw",
           "--transforms", transforms, "--duration", str(duration or cfg.inproc_duration)]
    procs = [subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate() for p in procs]
    if any(p.returncode != 0 for p in procs):
        raise RuntimeError(f"in-process run failed: {outputs[0][1][-2000:]}")
    first, second = (json.loads(out) for out, _ in outputs)
    rows = []
    for a, b in zip(first, second, strict=True):
        ops = a["ops"] + b["ops"]
        cpu_ms = sum(r["ops"] * r["cpu_ms_per_op"] for r in (a, b) if r["cpu_ms_per_op"])
        rows.append({**a, "threads": "2 procs", "ops": ops,
                     "rps": round(a["rps"] + b["rps"], 2),
                     "cpu_ms_per_op": round(cpu_ms / ops, 3) if ops else None,
                     "p50_ms": max(a["p50_ms"], b["p50_ms"]),
                     "p99_ms": max(a["p99_ms"], b["p99_ms"]), "machine_cpu_pct_before": quiet})
    return rows


def best_inprocess(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The fastest raw setting per transform: the in-process limit."""
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["mode"] != "raw":
            continue
        if row["transform"] not in best or row["rps"] > best[row["transform"]]["rps"]:
            best[row["transform"]] = row
    return best


def mix_rate(rates: list[float]) -> float:
    """Requests/s of a workload that runs each transform in turn: the harmonic mean."""
    return len(rates) / sum(1 / r for r in rates) if all(rates) else 0.0


# --- server scenarios -------------------------------------------------------------------------

def redis_tier_missing() -> str:
    if importlib.util.find_spec("cache.redis") is None:
        return ("skipped: the Redis tier (cache/redis.py) is not in this tree yet; the scenario "
                "runs as soon as it is")
    return ""


async def _fetch_all(base: str, paths: list[str], concurrency: int) -> list[int]:
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def one(path: str) -> int:
            async with limit:
                return (await client.get(path)).status_code

        return await asyncio.gather(*(one(p) for p in paths))


def fetch_all(base: str, paths: list[str], concurrency: int = 4) -> None:
    """GET every path (to warm caches); any non-200 aborts the scenario."""
    statuses = asyncio.run(_fetch_all(base, paths, concurrency))
    bad = [s for s in statuses if s != 200]
    if bad:
        raise RuntimeError(f"warm-up got statuses {sorted(set(bad))}")


def _path_count(cfg: Config, per_second: float) -> int:
    """Enough paths that no run wraps around its list at `per_second` requests/s."""
    return max(5000, int(per_second * (cfg.duration + 5)))


def measure_scenario(cfg: Config, sc: Scenario, images: Path, hit_body: bytes,
                     redis_url: str, miss_capacity: float) -> dict[str, Any]:
    if sc.kind == "bare":
        server: Any = BareServer(hit_body, "image/webp", cfg.workers).start()
    else:
        # A scenario's own settings win over the caller's.
        env = {**caller_settings(), "IMGORIGIN_SOURCE": str(images), **sc.env}
        if sc.needs_redis:
            env["IMGORIGIN_REDIS_URL"] = redis_url
        server = OriginProcess(env=env, workers=cfg.workers,
                               cache_dir=cache_dir(cfg, sc.name)).start()
    host, port, base = "127.0.0.1", server.port, server.base
    try:
        paths = _prepare(cfg, sc, server, base)
        quiet = wait_quiet(cfg.quiet_pct, cfg.quiet_wait)
        before = server.metric("imgorigin_transforms_total") if sc.kind != "bare" else 0.0
        counted_before = _counters(server, sc)
        with Sampler(server.proc.pid) as sampler:
            if sc.kind == "overload":
                load = run_closed_loop(host, port, paths, concurrency=sc.concurrency,
                                       duration=cfg.duration,
                                       honour_retry_after=sc.honours_retry_after)
            elif sc.kind == "mixed":
                rate = MIX_LOAD * miss_capacity * MIX_PERIOD
                load = run_open_loop(host, port, mixed_requests(sc.transforms[0], 100_000),
                                     rate=rate, duration=cfg.duration)
            else:
                load = run_wrk(base, paths, concurrency=sc.concurrency, duration=cfg.duration,
                               threads=cfg.wrk_threads)
        time.sleep(0.5)  # let requests still in flight when the load stopped finish
        transforms = (server.metric("imgorigin_transforms_total") - before
                      if sc.kind != "bare" else 0.0)
        counted = {k: v - counted_before[k] for k, v in _counters(server, sc).items()}
    finally:
        server.stop()
    result: dict[str, Any] = {"scenario": sc.name, "kind": sc.kind, "title": sc.title,
                              "concurrency": sc.concurrency, "machine_cpu_pct_before": quiet,
                              **load.as_dict(), **sampler.summary(),
                              "transforms_run": transforms, **counted}
    # gunicorn's max_requests replaces workers; each replacement drops its connections and L1.
    result["worker_restarts"] = max(0, result["workers_seen"] - cfg.workers)
    # Workers' CPU (all threads) per answered request, comparable with the limit's per op.
    answered = load.rps * sampler.wall_s
    result["server_cpu_ms_per_request"] = (round(1000 * sampler.cpu_s / answered, 3)
                                           if answered else None)
    result["server_cpu_ms_per_request_by_thread"] = (
        {role: round(1000 * s / answered, 3) for role, s in sampler.cpu_s_by_thread.items()}
        if answered else {})
    result["check"] = _check(sc, load, transforms)
    if sc.kind == "overload" and load.duration_s < 0.9 * cfg.duration:
        result["check"] += f"; ran out of paths after {load.duration_s:.1f} s"
    if quiet > cfg.quiet_pct:
        result["check"] += f"; machine busy ({quiet:.0f}% CPU) before the run"
    return result


def _counters(server: Any, sc: Scenario) -> dict[str, float]:
    """The server's counts so far that a run reports as differences: keep-alive connections
    closed to rebalance (origin/balance.py) and misses shed, by reason (origin/executor.py)."""
    if sc.kind == "bare":
        return {}
    text = server.metrics_text()
    counts = {f"shed_{reason}": metric_sum(text, "imgorigin_shed_total", reason=reason)
              for reason in SHED_REASONS}
    counts["connections_handed_over"] = metric_sum(
        text, "imgorigin_connections_handed_over_total")
    counts["refusals_held"] = metric_sum(text, "imgorigin_refusals_held_total")
    return counts


def _prepare(cfg: Config, sc: Scenario, server: Any, base: str) -> list[str]:
    """Warm the server for the scenario and return the paths the measured run requests."""
    warm_s = 2
    if sc.kind in ("miss", "overload"):
        run_wrk(base, miss_paths(sc.transforms, 2000, WARM_START), concurrency=8,
                duration=warm_s, threads=cfg.wrk_threads)
        # A client that re-sends at once spends a path on every refusal: thousands a second.
        per_second = 300 if sc.honours_retry_after else 5000
        return miss_paths(sc.transforms, _path_count(cfg, per_second))
    if sc.kind == "bare":
        run_wrk(base, ["/x"], concurrency=sc.concurrency, duration=warm_s,
                threads=cfg.wrk_threads)
        return ["/x"]
    if sc.kind == "hit":
        fetch_all(base, [HIT_TRANSFORM.base_path], 1)
        run_wrk(base, [HIT_TRANSFORM.base_path], concurrency=sc.concurrency, duration=warm_s,
                threads=cfg.wrk_threads)
        return [HIT_TRANSFORM.base_path]
    # mixed: every hot variant transformed once, then read by both workers.
    key = sc.transforms[0]
    fetch_all(base, hot_paths(key), 4)
    run_wrk(base, hot_paths(key), concurrency=16, duration=warm_s, threads=cfg.wrk_threads)
    return []


def _check(sc: Scenario, load: LoadResult, transforms: float) -> str:
    """Did the run measure what it claims (misses missed, hits hit, nothing wrapped)?"""
    problems = []
    if load.wrapped and sc.kind in ("miss", "mixed", "overload"):
        problems.append(f"path list wrapped {load.wrapped}x: some 'misses' were hits")
    if sc.kind == "miss" and load.ok and transforms < 0.97 * load.ok:
        problems.append(f"only {transforms:.0f} transforms for {load.ok} answers")
    if sc.kind == "hit" and transforms > 0:
        problems.append(f"{transforms:.0f} transforms ran during a hit run")
    if sc.kind in ("miss", "hit", "bare", "mixed") and load.non_2xx:
        problems.append(f"{load.non_2xx} non-2xx answers")
    if load.socket_errors:
        problems.append(f"{load.socket_errors} socket errors/timeouts")
    return "; ".join(problems) or "ok"


def miss_capacity(key: str, results: list[dict[str, Any]],
                  best: dict[str, dict[str, Any]]) -> float:
    """Misses/s the server sustains for transform `key`: measured in this run if it was, else
    the in-process limit, else a conservative guess."""
    measured = next((r["rps"] for r in results if r.get("scenario") == f"miss-{key}"
                     and "rps" in r), 0.0)
    return measured or best.get(key, {}).get("rps", 0.0) or 10.0


def run_scenarios(cfg: Config, images: Path,
                  best: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    hit_body = b""
    redis_needed = [sc for sc in SCENARIOS if sc.needs_redis and cfg.wanted(sc.name)]
    missing = redis_tier_missing() if redis_needed else ""
    redis = None
    if redis_needed and not missing:
        from tests.support.redis_server import RedisProcess

        redis = RedisProcess().start()
    try:
        for sc in SCENARIOS:
            if not cfg.wanted(sc.name):
                continue
            if sc.needs_redis and missing:
                log(f"{sc.name}: {missing}")
                results.append({"scenario": sc.name, "kind": sc.kind, "title": sc.title,
                                "skipped": missing})
                continue
            if sc.kind == "bare" and not hit_body:
                hit_body = _hit_body(cfg, images)
            if redis is not None and sc.needs_redis:
                subprocess.run(["redis-cli", "-p", str(redis.port), "flushall"],
                               capture_output=True, check=False)
            log(f"{sc.name}: {sc.title}, concurrency {sc.concurrency or 'open'}, "
                f"{cfg.duration:.0f} s")
            capacity = miss_capacity(sc.transforms[0], results, best) if sc.transforms else 0.0
            result = measure_scenario(cfg, sc, images, hit_body, redis.url if redis else "",
                                      capacity)
            log(f"  {result['rps']:.1f} req/s, p99 {result['p99_ms']:.1f} ms, "
                f"check: {result['check']}")
            results.append(result)
    finally:
        if redis is not None:
            redis.stop()
    return results


def _hit_body(cfg: Config, images: Path) -> bytes:
    """The exact bytes imgorigin answers for the hit variant, for the bare endpoint."""
    with OriginProcess(env={"IMGORIGIN_SOURCE": str(images)}, workers=1) as server:
        response = httpx.get(server.url(HIT_TRANSFORM.base_path), timeout=60)
        response.raise_for_status()
        return response.content


# --- paired rounds ----------------------------------------------------------------------------

def run_paired(cfg: Config, images: Path) -> list[dict[str, Any]]:
    """Each single-transform miss scenario again, in BENCH_PAIRED_ROUNDS rounds of one in-process
    limit run (2 processes) and one server run, seconds apart and in alternating order: the
    machine's speed drifts by more than the gap being measured, so each ratio compares two
    neighbouring runs and the median of the rounds is the figure."""
    rows: list[dict[str, Any]] = []
    if cfg.paired_rounds <= 0:
        return rows
    for sc in SCENARIOS:
        if sc.kind != "miss" or len(sc.transforms) != 1 or not cfg.wanted(sc.name):
            continue
        key = sc.transforms[0]
        rounds = []
        for index in range(cfg.paired_rounds):
            log(f"{sc.name}: paired round {index + 1}/{cfg.paired_rounds}")
            parts = {
                "limit": partial(_two_processes, cfg, images, key,
                                 duration=max(cfg.inproc_duration, 4.0)),
                "server": partial(measure_scenario, cfg, sc, images, b"", "", 0.0),
            }
            order = ("limit", "server") if index % 2 == 0 else ("server", "limit")
            measured = {part: parts[part]() for part in order}
            limit_row, run = measured["limit"][0], measured["server"]
            limit, server = limit_row["rps"], run["rps"]
            limit_cpu, server_cpu = (limit_row.get("cpu_ms_per_op"),
                                     run.get("server_cpu_ms_per_request"))
            rounds.append({"round": index + 1, "order": "-".join(order), "limit_rps": limit,
                           "server_rps": round(server, 2),
                           "ratio": round(server / limit, 3) if limit else None,
                           "limit_cpu_ms": limit_cpu, "server_cpu_ms": server_cpu,
                           "cpu_ratio": (round(limit_cpu / server_cpu, 3)
                                         if limit_cpu and server_cpu else None),
                           "server_cpu_pct": run["server_cpu_pct"],
                           "server_cpu_ms_by_thread": run.get(
                               "server_cpu_ms_per_request_by_thread", {}),
                           "p50_ms": run["p50_ms"], "p99_ms": run["p99_ms"],
                           "connections_handed_over": run["connections_handed_over"],
                           "check": run["check"]})
            log(f"  limit {limit:.1f}, server {server:.1f} req/s")
        rows.append({"scenario": sc.name, "rounds": rounds, **paired_summary(rounds)})
    return rows


def paired_summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and range of the per-round ratios; rounds whose server run is suspect are left out.

    `median_cpu_ratio` is the limit's CPU per transform over the server's CPU per request: the
    share of the server's CPU that is the transform itself, whatever the machine's speed."""
    clean = [r for r in rounds if r["ratio"] is not None and r["check"] == "ok"]
    ratios = sorted(r["ratio"] for r in clean)
    cpu_ratios = [r["cpu_ratio"] for r in clean if r.get("cpu_ratio") is not None]
    if not ratios:
        return {"median_ratio": None, "min_ratio": None, "max_ratio": None, "rounds_used": 0,
                "median_cpu_ratio": None}
    return {"median_ratio": round(statistics.median(ratios), 3), "min_ratio": ratios[0],
            "max_ratio": ratios[-1], "rounds_used": len(ratios),
            "median_cpu_ratio": (round(statistics.median(cpu_ratios), 3) if cpu_ratios
                                 else None)}


# --- report -----------------------------------------------------------------------------------

def add_ratios(results: list[dict[str, Any]], best: dict[str, dict[str, Any]]) -> None:
    bare = next((r for r in results if r.get("kind") == "bare" and "rps" in r), None)
    for r in results:
        sc = next(s for s in SCENARIOS if s.name == r["scenario"])
        if "rps" not in r:
            continue
        if sc.baseline == "inprocess" and all(k in best for k in sc.transforms):
            limit = mix_rate([best[k]["rps"] for k in sc.transforms])
            r["baseline"] = "in-process " + "+".join(
                f"{k}:{best[k]['threads']} threads/vc{best[k]['vips_concurrency']}"
                for k in sc.transforms)
            r["baseline_rps"] = round(limit, 2)
            r["ratio"] = round(r["rps"] / limit, 3) if limit else None
        elif sc.baseline == "bare" and bare is not None:
            r["baseline"] = "bare Starlette"
            r["baseline_rps"] = bare["rps"]
            r["ratio"] = round(r["rps"] / bare["rps"], 3) if bare["rps"] else None


def print_paired(paired: list[dict[str, Any]]) -> None:
    if not paired:
        return
    rows = []
    for p in paired:
        rounds = p["rounds"]
        median = p["median_ratio"]
        rows.append([p["scenario"], " / ".join(f"{r['server_rps']:.1f}" for r in rounds),
                     " / ".join(f"{r['limit_rps']:.1f}" for r in rounds),
                     " / ".join(f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
                                for r in rounds),
                     "-" if median is None else
                     f"{median:.2f} ({p['min_ratio']:.2f}-{p['max_ratio']:.2f})",
                     " / ".join(_cpu_pair(r) for r in rounds),
                     "-" if p.get("median_cpu_ratio") is None else f"{p['median_cpu_ratio']:.2f}",
                     "; ".join(sorted({r["check"] for r in rounds}))])
    print("\nPaired rounds (server run and in-process 2-process limit seconds apart, "
          "alternating order)")
    print(table(["scenario", "server req/s", "limit req/s", "ratio per round",
                 "median ratio (range)", "CPU ms per op: limit:server", "CPU ratio",
                 "check"], rows))


def _cpu_pair(r: dict[str, Any]) -> str:
    if r.get("limit_cpu_ms") is None or r.get("server_cpu_ms") is None:
        return "-"
    return f"{r['limit_cpu_ms']:.1f}:{r['server_cpu_ms']:.1f}"


def print_report(inproc: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
    if inproc:
        rows = [[f"{r['transform']} {TRANSFORMS[r['transform']].title}", r["mode"], r["threads"],
                 r["vips_concurrency"], r["rps"], r["p50_ms"], r["p99_ms"]] for r in inproc]
        print("\nIn-process (no HTTP): transforms per second")
        print(table(["transform", "mode", "threads", "VIPS_CONC", "ops/s", "p50 ms", "p99 ms"],
                    rows))
    rows = []
    for r in results:
        if "skipped" in r:
            rows.append([r["scenario"], r["skipped"], *[""] * 11])
            continue
        shed = r.get("extra", {}).get("shed_share")
        rows.append([
            r["scenario"], r["concurrency"] or "open", r["rps"], r["p50_ms"], r["p99_ms"],
            f"{r['non_2xx']}" + (f" ({100 * shed:.1f}%)" if shed is not None else ""),
            r["peak_rss_mib_max"], r["worker_restarts"], r["server_cpu_pct"],
            r["loadgen_cpu_pct"],
            r.get("baseline_rps"), r.get("ratio"), r["check"],
        ])
    print("\nServer (gunicorn + uvicorn workers; closed loop at `conc` connections, or open loop)")
    print(table(["scenario", "conc", "req/s", "p50 ms", "p99 ms", "non-2xx", "RSS MiB/wkr",
                 "restarts", "srv CPU%", "loadgen CPU%", "limit req/s", "ratio", "check"], rows))
    for r in results:
        if r.get("kind") == "mixed" and "extra" in r:
            x = r["extra"]
            parts = [f"{cls}: {x[cls]['ok']} ok, p50 {x[cls]['p50_ms']:.1f} ms, "
                     f"p99 {x[cls]['p99_ms']:.1f} ms, {x[cls]['non_2xx']} non-2xx"
                     for cls in ("hit", "miss") if cls in x]
            print(f"\n{r['scenario']}: offered {x['offered_rps']:.0f} req/s; " + "; ".join(parts))
        if r.get("kind") == "overload" and "extra" in r:
            x = r["extra"]
            print(f"\n{r['scenario']}: admitted {x['admitted_rps']} req/s, p99 of admitted "
                  f"{r['p99_ms']:.1f} ms, shed {100 * x['shed_share']:.1f}% "
                  f"(p99 of a 503: {x['shed_p99_ms']:.1f} ms), "
                  f"{r['transforms_run'] / r['duration_s']:.1f} transforms/s, "
                  f"{r.get('refusals_held', 0):.0f} refusals held (origin/tarpit.py)"
                  + ("" if x.get("honour_retry_after", True) else "; Retry-After ignored"))
    breakdown = [r for r in results if r.get("kind") == "miss"
                 and r.get("server_cpu_ms_per_request_by_thread")]
    if breakdown:
        print("\nServer CPU per answered request by thread (ms; `libvips worker` are libvips' "
              "own threads, `event loop` a worker's main thread)")
        for r in breakdown:
            print(f"  {r['scenario']}: {cpu_breakdown(r['server_cpu_ms_per_request_by_thread'])}")
    handed = [r for r in results if r.get("kind") != "bare" and "connections_handed_over" in r]
    if handed:
        print("\nKeep-alive connections handed over to a less busy worker (origin/balance.py): "
              + ", ".join(f"{r['scenario']} {r['connections_handed_over']:.0f}" for r in handed))
    shed = [(r["scenario"], {k: r.get(f"shed_{k}", 0) for k in SHED_REASONS}) for r in results]
    shed = [(name, counts) for name, counts in shed if any(counts.values())]
    if shed:
        print("\nMisses shed with 503, by reason (origin/executor.py): " + "; ".join(
            f"{name} " + ", ".join(f"{k} {v:.0f}" for k, v in counts.items() if v)
            for name, counts in shed))


def cpu_breakdown(by_thread: dict[str, float]) -> str:
    """`role ms, ...` from the largest share down, with the total."""
    parts = [f"{role} {ms:.2f}" for role, ms in sorted(by_thread.items(), key=lambda x: -x[1])
             if ms >= 0.005]
    return ", ".join(parts) + f" (total {sum(by_thread.values()):.2f})"


def main() -> int:
    cfg = Config(dict(os.environ))
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="imgorigin-bench-") as tmp:
        images = Path(tmp) / "images"
        cfg.scratch = Path(tmp) / "caches"
        make_images(images)
        info = machine()
        inproc = run_inprocess(cfg, images) if cfg.wanted("inprocess") else []
        best = best_inprocess(inproc)
        results = run_scenarios(cfg, images, best)
        paired = run_paired(cfg, images)
    add_ratios(results, best)
    print_report(inproc, results)
    print_paired(paired)
    path = write_json("bench", {
        "machine": info, "duration_s": cfg.duration, "inproc_duration_s": cfg.inproc_duration,
        "wrk_threads": cfg.wrk_threads, "workers": cfg.workers,
        "wall_s": round(time.time() - started, 1), "inprocess": inproc,
        "inprocess_best": best, "scenarios": results, "paired_rounds": paired,
    })
    print(f"\nwrote {path.relative_to(REPO)} ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
