"""The event loop's own CPU per miss, without HTTP or load: `python -m benchmarks.loopcost`.

Drives the ASGI app in-process under uvloop, one unique miss of transform b after another, and
reports the main thread's CPU per request (parse, cache lookups, single-flight, admission, the
hops to the transform and io threads, the store and the response object; not uvicorn, not the
socket). With `--stub` the libvips work is replaced by a fixed 85 KB result, so only the serving
code is left; the thread hop is kept. `--stub-ms M` makes the stub sleep M ms in the pool thread,
as long as a transform takes, so the loop idles between requests as it does on real misses.
Options: `--requests N`, `--no-disk` (disk tier off), `--cache-dir DIR` (where the disk tier's
scratch directory goes, e.g. a tmpfs, to compare filesystems), `--profile` (cProfile's top
functions). Prints one JSON line. Finding 28 in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.images import make_images
from benchmarks.scenarios import TRANSFORMS

WARM_UP = 100


async def _get(app: Any, path: str) -> tuple[int, int]:
    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
             "query_string": b"", "headers": [(b"host", b"bench"), (b"accept", b"*/*")],
             "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80),
             "client": ("127.0.0.1", 1), "root_path": ""}
    status = length = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, length
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            length += len(message.get("body", b""))

    await app(scope, receive, send)
    return status, length


async def _measure(app: Any, requests: int, profile: bool) -> dict[str, Any]:
    spec = TRANSFORMS["b"]
    statuses: dict[int, int] = {}
    lengths: set[int] = set()
    async with app.router.router.lifespan_context(app.router):
        for index in range(WARM_UP):
            await _get(app, spec.path(index))
        profiler = cProfile.Profile() if profile else None
        cpu, wall = time.thread_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        for index in range(WARM_UP, WARM_UP + requests):
            status, length = await _get(app, spec.path(index))
            statuses[status] = statuses.get(status, 0) + 1
            lengths.add(length)
        if profiler is not None:
            profiler.disable()
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    return {"requests": requests, "statuses": statuses, "body_bytes": sorted(lengths),
            "main_thread_cpu_us_per_miss": round(1e6 * cpu / requests, 1),
            "wall_us_per_miss": round(1e6 * wall / requests, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loopcost")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--stub", action="store_true", help="a fixed result instead of libvips")
    parser.add_argument("--stub-ms", type=float, default=0.0, help="the stub's sleep per miss")
    parser.add_argument("--no-disk", action="store_true")
    parser.add_argument("--cache-dir", default="")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)

    import uvloop

    import origin.service
    from origin.app import create_app
    from origin.settings import Settings
    from transforms import TransformResult

    with (tempfile.TemporaryDirectory(prefix="imgorigin-loopcost-") as tmp,
          tempfile.TemporaryDirectory(prefix="imgorigin-loopcost-",
                                      dir=args.cache_dir or None) as cache):
        images = Path(tmp) / "images"
        make_images(images)
        env = {**os.environ, "IMGORIGIN_SOURCE": str(images), "IMGORIGIN_CACHE_DIR": str(cache),
               "IMGORIGIN_DISK_CACHE": "off" if args.no_disk else "on"}
        if args.stub:
            result = TransformResult(body=os.urandom(85_000), format="jpeg",
                                     content_type="image/jpeg", width=800, height=600, frames=1)
            pause = args.stub_ms / 1000

            def stub(*_args: object, **_kwargs: object) -> TransformResult:
                # The pool thread still runs a callable per miss: only libvips' work is gone.
                if pause:
                    time.sleep(pause)
                return result

            origin.service.render = stub  # type: ignore[assignment]
        app = create_app(Settings.from_env(env))
        # The access log writes a line per miss to fd 1, as a server does (its cost stays in
        # the figures); the lines go to /dev/null and the report to the real standard output.
        report_out = os.fdopen(os.dup(1), "w")
        sys.stdout.flush()
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        report = uvloop.run(_measure(app, args.requests, args.profile))
        report["disk_entries"] = sum(1 for f in (Path(cache) / "v").rglob("*")
                                     if f.is_file() and not f.name.startswith("."))
    report.update(stub=args.stub, stub_ms=args.stub_ms if args.stub else None,
                  disk=not args.no_disk, cache_dir=args.cache_dir or "scratch")
    with report_out:
        print(json.dumps(report), file=report_out)
    return 0 if set(report["statuses"]) == {200} else 1


if __name__ == "__main__":
    sys.exit(main())
