"""Memory soak: the miss mix (a, b, c) at concurrency 32 for several minutes on 2 workers, one
load run throughout, RSS of every worker read once a second and summarised per 20 s window
(median, minimum, maximum), and the growth slope after a warm-up.

    python -m benchmarks.soak    # SOAK_MINUTES=10, SOAK_WARMUP_MINUTES=2, SOAK_CONCURRENCY=32
    SOAK_RECYCLING=on make soak  # keep the server's worker budgets: what a deployment sees
    SOAK_ALLOCSTATS=on make soak # also CPython's and glibc's allocator figures per worker
    IMGORIGIN_MALLOC_TRIM_SECONDS=0 make soak    # IMGORIGIN_* settings are passed to the server
    IMGORIGIN_MAX_QUEUE_WAIT=0 make soak         # only the queue's length bounds the wait
    make soak

Prints a table of windows, the peak RSS per worker after the warm-up and four slopes (MiB per
minute, least squares): of the window medians and of the window minima (the floor: what a
worker keeps between the images in flight), each over every post-warm-up window and over the
second half of the run, when the bounded caches that unique URLs fill (L1, originals) are full
and only a leak would still grow; the hit path's memo caches keep only URLs asked twice, so
unique URLs leave them nearly empty. Then RSS once the load has stopped and only light traffic
is left (what a worker keeps after a burst), and what malloc_trim cost
(IMGORIGIN_MALLOC_TRIM_SECONDS).
Writes benchmarks/results/soak-*.json.
Workers replaced on purpose (IMGORIGIN_WORKER_MAX_TRANSFORMS, IMGORIGIN_WORKER_MAX_RSS_BYTES) are
reported, not hidden: both budgets are lifted here so the soak measures growth, not recycling,
unless SOAK_RECYCLING=on. SOAK_ALLOCSTATS=on runs the workers with benchmarks/allocstats and
prints, per worker, CPython's object arenas and bytes in use and glibc's bytes in use and held at
the end of the warm-up, at the middle and at the end: what grows when RSS does.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.images import make_images
from benchmarks.loadgen import LoadResult, run_wrk
from benchmarks.report import machine, table, write_json
from benchmarks.scenarios import miss_paths
from benchmarks.servers import SHED_REASONS, OriginProcess, caller_settings

WINDOW_S = 20.0
# RSS at one instant swings by ±10 MiB with the images in flight; a window's median and
# minimum (what the worker keeps between transforms) show a trend that single samples hide.
RSS_EVERY_S = 1.0
QUIET_S = 5.0
DRAIN_S = 5.0
MIB = 1024 * 1024
ALLOCSTATS = Path(__file__).resolve().parent / "allocstats"


def _rss(server: OriginProcess) -> dict[int, float]:
    rss = {}
    for child in psutil.Process(server.proc.pid).children():
        try:
            mib = child.memory_info().rss / MIB
        except psutil.Error:
            continue
        if mib:  # 0: a replaced worker that has exited and not been reaped yet
            rss[child.pid] = mib
    return rss


def _rss_window(server: OriginProcess, driver: threading.Thread) -> dict[int, list[float]]:
    """Every worker's RSS once a second for one window (or until the load ends)."""
    values: dict[int, list[float]] = {}
    end = time.monotonic() + WINDOW_S
    while driver.is_alive() and time.monotonic() < end:
        for pid, mib in _rss(server).items():
            values.setdefault(pid, []).append(mib)
        driver.join(RSS_EVERY_S)
    return values or {pid: [mib] for pid, mib in _rss(server).items()}


def _counters(server: OriginProcess) -> tuple[float, float]:
    """Transforms run and requests shed (503) so far, from the server's metrics."""
    return (server.metric("imgorigin_transforms_total"),
            server.metric("imgorigin_requests_total", status="503"))


def _rss_once_quiet(server: OriginProcess, start: int) -> dict[int, float]:
    """RSS after the load, once light traffic (a 2 MP transform every 0.1 s for QUIET_S, each on
    a new connection, as from many clients) has run: what a worker keeps after a burst."""
    time.sleep(DRAIN_S)  # the transforms wrk's connections left queued finish
    for path in miss_paths(("b",), int(QUIET_S * 10), start):
        with httpx.Client(base_url=server.base, timeout=30) as client:
            client.get(path)
        time.sleep(0.1)
    return _rss(server)


def allocator_rows(records: dict[int, list[dict[str, float]]], marks: list[float]
                   ) -> list[list[str]]:
    """Per worker, each allocator figure at the last record at or before each of `marks`
    (unix times), as `a -> b -> c`; '-' where a worker has no record by a mark yet."""
    fields = [("py_arenas", 1), ("py_allocated_bytes", MIB), ("glibc_in_use_bytes", MIB),
              ("glibc_held_bytes", MIB)]
    rows = []
    for pid, recs in sorted(records.items()):
        at = [max((r for r in recs if r["time"] <= mark), key=lambda r: r["time"], default=None)
              for mark in marks]
        row = [str(pid)]
        for name, unit in fields:
            row.append(" -> ".join("-" if r is None or name not in r else f"{r[name] / unit:.0f}"
                                   for r in at))
        rows.append(row)
    return rows


def _read_allocstats(folder: Path) -> dict[int, list[dict[str, float]]]:
    records: dict[int, list[dict[str, float]]] = {}
    for path in folder.glob("*.jsonl"):
        lines = path.read_text().splitlines()
        records[int(path.stem)] = [json.loads(line) for line in lines if line.strip()]
    return records


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minute, MiB) points, in MiB per minute."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def main() -> int:
    minutes = float(os.environ.get("SOAK_MINUTES", "10"))
    concurrency = int(os.environ.get("SOAK_CONCURRENCY", "32"))
    warmup = float(os.environ.get("SOAK_WARMUP_MINUTES", "2"))
    recycling = os.environ.get("SOAK_RECYCLING", "off") == "on"
    allocstats = os.environ.get("SOAK_ALLOCSTATS", "off") == "on"
    with tempfile.TemporaryDirectory(prefix="imgorigin-soak-") as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        make_images(images)
        # The server's own settings. wrk ignores Retry-After and re-sends a refused miss at
        # once; the tarpit holds such refusals, so they no longer replace transforms (until
        # 2026-12-05 the soak ran without the wait bound for that reason; finding 32).
        env = {**caller_settings(), "IMGORIGIN_SOURCE": str(images)}
        stats_dir = Path(tmp) / "allocstats"
        if allocstats:
            stats_dir.mkdir()
            path = os.pathsep.join(p for p in (str(ALLOCSTATS), os.environ.get("PYTHONPATH"))
                                   if p)
            env.update({"PYTHONPATH": path, "ALLOCSTATS_DIR": str(stats_dir)})
        if not recycling:
            env.update({"IMGORIGIN_WORKER_MAX_TRANSFORMS": "1000000",
                        "IMGORIGIN_WORKER_MAX_RSS_BYTES": "0"})
        server = OriginProcess(env=env, workers=2).start()
        samples: list[dict[str, Any]] = []
        # One wrk run for the whole soak, sampled every WINDOW_S: back-to-back runs left the
        # previous run's queued transforms running while the next run's fresh connections
        # arrived, and wrk retried the 503s those got at once, in a tight loop (finding 22).
        paths = miss_paths(("a", "b", "c"), int(300 * minutes * 60) + 20_000)
        result: dict[str, LoadResult] = {}
        driver = threading.Thread(target=lambda: result.setdefault("load", run_wrk(
            server.base, paths, concurrency=concurrency, duration=minutes * 60)), daemon=True)
        started = last = time.monotonic()
        started_unix = time.time()
        done, shed = _counters(server)
        try:
            driver.start()
            while driver.is_alive():
                window = _rss_window(server, driver)
                now = time.monotonic()
                elapsed = (now - started) / 60
                rss = {pid: statistics.median(values) for pid, values in window.items()}
                floor = {pid: min(values) for pid, values in window.items()}
                top = {pid: max(values) for pid, values in window.items()}
                now_done, now_shed = _counters(server)
                rate = (now_done - done) / (now - last)
                last = now
                samples.append({"minute": round(elapsed, 2), "transforms_per_s": round(rate, 1),
                                "shed": int(now_shed - shed),
                                "rss_mib": {str(k): round(v, 1) for k, v in rss.items()},
                                "rss_floor_mib": {str(k): round(v, 1) for k, v in floor.items()},
                                "rss_max_mib": {str(k): round(v, 1) for k, v in top.items()},
                                "workers": sorted(rss)})
                done, shed = now_done, now_shed
                print(f"  {elapsed:5.1f} min: {rate:6.1f} transforms/s, "
                      f"{samples[-1]['shed']} shed, RSS median {[round(v) for v in rss.values()]}"
                      f", floor {[round(v) for v in floor.values()]} MiB", flush=True)
            quiet = _rss_once_quiet(server, start=len(paths))
            print(f"  after the load, light traffic only: RSS "
                  f"{[round(v) for v in quiet.values()]} MiB", flush=True)
            trims = (server.metric("imgorigin_malloc_trim_duration_seconds_count"),
                     server.metric("imgorigin_malloc_trim_duration_seconds_sum"))
            transforms = done
            shed_reasons = {reason: int(server.metric("imgorigin_shed_total", reason=reason))
                            for reason in SHED_REASONS}
            allocator = _read_allocstats(stats_dir) if allocstats else {}
        finally:
            server.stop()
    load = result.get("load")
    if load is not None:
        print(f"wrk over the soak: {load.rps:.1f} req/s, p50 {load.p50_ms:.0f} ms, "
              f"p99 {load.p99_ms:.0f} ms, {load.non_2xx} non-2xx of {load.requests}")
    if any(shed_reasons.values()):
        print("shed by reason: " + ", ".join(f"{k} {v}" for k, v in shed_reasons.items()))
    trim = None
    if trims[0]:
        # What IMGORIGIN_MALLOC_TRIM_SECONDS costs, from the server's own histogram.
        trim = {"trims": int(trims[0]), "seconds": round(trims[1], 3),
                "mean_ms": round(1000 * trims[1] / trims[0], 2),
                "ms_per_transform": round(1000 * trims[1] / max(transforms, 1), 3)}
        print(f"malloc_trim: {trim['trims']} calls, {trim['seconds']} s in all, mean "
              f"{trim['mean_ms']} ms, {trim['ms_per_transform']} ms per transform")
    after = [s for s in samples if s["minute"] >= warmup]
    pids = sorted({pid for s in after for pid in s["rss_mib"]})
    rows, per_worker = [], {}
    for pid in pids:
        points = [(s["minute"], s["rss_mib"][pid]) for s in after if pid in s["rss_mib"]]
        peak = max(s["rss_max_mib"][pid] for s in after if pid in s["rss_max_mib"])
        slope = _slope(points)
        late = _slope([(x, y) for x, y in points if x >= minutes / 2])
        floors = [(s["minute"], s["rss_floor_mib"][pid]) for s in after
                  if pid in s.get("rss_floor_mib", {})]
        floor_slope = _slope(floors)
        floor_late = _slope([(x, y) for x, y in floors if x >= minutes / 2])
        per_worker[pid] = {"peak_mib": peak, "slope_mib_per_min": round(slope, 2),
                           "second_half_slope_mib_per_min": round(late, 2),
                           "floor_slope_mib_per_min": round(floor_slope, 2),
                           "floor_second_half_slope_mib_per_min": round(floor_late, 2),
                           "samples": len(points)}
        rows.append([pid, len(points), f"{points[0][1]:.1f}", f"{points[-1][1]:.1f}",
                     f"{peak:.1f}", f"{slope:+.2f}", f"{late:+.2f}", f"{floor_slope:+.2f}",
                     f"{floor_late:+.2f}"])
    print(f"\nSoak: miss mix at concurrency {concurrency}, 12 MP / 2 MP / 1 MP sources, "
          f"{minutes:g} min, slope after {warmup:g} min, worker budgets "
          f"{'as configured' if recycling else 'lifted'}")
    print(table(["worker", "windows", "first MiB", "last MiB", "peak MiB", "MiB/min",
                 "MiB/min, 2nd half", "floor MiB/min", "floor, 2nd half"], rows))
    replaced = len({pid for s in samples for pid in s["rss_mib"]}) - 2
    print(f"workers replaced during the soak: {replaced}")
    allocator_table = []
    if allocstats:
        marks = [started_unix + 60 * m for m in (warmup, minutes / 2, minutes)]
        allocator_table = allocator_rows(allocator, marks)
        print(f"\nAllocators at minute {warmup:g} -> {minutes / 2:g} -> the end "
              "(benchmarks/allocstats)")
        print(table(["worker", "CPython arenas", "CPython MiB in use", "glibc MiB in use",
                     "glibc MiB held"], allocator_table))
    path = write_json("soak", {"machine": machine(), "minutes": minutes, "warmup": warmup,
                               "recycling": recycling, "shed_by_reason": shed_reasons,
                               "concurrency": concurrency, "samples": samples,
                               "load": load.as_dict() if load is not None else None,
                               "per_worker": per_worker, "workers_replaced": replaced,
                               "rss_once_quiet_mib": {str(k): round(v, 1)
                                                      for k, v in quiet.items()},
                               "malloc_trim": trim, "allocators": allocator_table})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
