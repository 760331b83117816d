"""The in-process limit: the same transforms with the same libvips calls and encoder settings,
run by pyvips in a tight loop with no HTTP, no cache and no event loop.

VIPS_CONCURRENCY is read when libvips starts, so each setting runs in its own process:
`python -m benchmarks.inprocess --images DIR --vips-concurrency C --threads 1,2 --duration S`
prints one JSON list of results. Modes: `raw` (the pyvips calls the pipeline makes: the limit),
`pipeline` (imgorigin's `transforms.transform`, probe + plan + steps, still without HTTP), which
splits the server's overhead into pipeline and serving, and `plain` (minimal pyvips calls).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.loadgen import percentile
from benchmarks.scenarios import TRANSFORMS, MissTransform


def _raw_fn(spec: MissTransform, data: bytes, *, plain: bool = False) -> Callable[[int], bytes]:
    """`raw`: the libvips calls imgorigin's pipeline makes for this transform (JPEG decoded at the
    covering DCT shrink, `fail_on` in the loader options, `output_profile` only for a source with
    an embedded profile; same encoder settings). `plain`: what a minimal script would call."""
    import pyvips

    from transforms.formats import encoder_options
    from transforms.pipeline import jpeg_shrink
    from transforms.probe import FAIL_ON, probe

    operation, kwargs = encoder_options(spec.fmt, quality=spec.quality, progressive=False,
                                        lossless=False, strip=True)
    width, height = spec.resize
    info = probe(data)
    load_args: dict[str, str] = {}
    if not plain:
        load_args["option_string"] = "fail_on=" + FAIL_ON.get(info.format, "error")
        if info.has_icc:
            load_args["output_profile"] = "srgb"

    shrink = 1 if plain or info.format != "jpeg" else jpeg_shrink(info.width, info.height,
                                                                   width, height)

    def run(_index: int) -> bytes:
        if shrink > 1:
            options = f"{load_args['option_string']},shrink={shrink}"
            colour = {k: v for k, v in load_args.items() if k != "option_string"}
            image = pyvips.Image.new_from_buffer(data, options, access="sequential")
            image = image.thumbnail_image(width, height=height, size="force", **colour)
        else:
            image = pyvips.Image.thumbnail_buffer(data, width, height=height, size="force",
                                                  **load_args)
        return getattr(image, operation)(**kwargs)

    return run


def _pipeline_fn(spec: MissTransform, data: bytes) -> Callable[[int], bytes]:
    from transforms import Limits, parse, transform

    limits = Limits()

    def run(index: int) -> bytes:
        options = parse(spec.path(index).split("/")[1]).options
        result = transform(data, options, options.format or "original", limits,
                           deadline=time.monotonic() + 60)
        return result.body

    return run


def measure(fn: Callable[[int], bytes], threads: int, duration: float) -> dict[str, Any]:
    """Run `fn` in `threads` threads for `duration` s; ops/s and per-op latency."""
    fn(0)  # warm up: first-call costs (loader init, codec tables) are not steady state
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start = time.perf_counter()
    cpu_start = time.process_time()  # every thread of the process, libvips' own included
    deadline = start + duration

    def loop(slot: int) -> None:
        index = slot
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            fn(index)
            latencies[slot].append(time.perf_counter() - began)
            index += threads

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    flat = sorted(x * 1000 for per in latencies for x in per)
    return {"ops": len(flat), "seconds": round(elapsed, 3),
            "rps": round(len(flat) / elapsed, 2),
            "cpu_ms_per_op": round(1000 * cpu / len(flat), 3) if flat else None,
            "p50_ms": round(percentile(flat, 50), 2), "p99_ms": round(percentile(flat, 99), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inprocess")
    parser.add_argument("--images", required=True)
    parser.add_argument("--vips-concurrency", type=int, required=True)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--transforms", default=",".join(TRANSFORMS))
    parser.add_argument("--modes", default="raw")
    parser.add_argument("--duration", type=float, default=3.0)
    args = parser.parse_args(argv)
    if os.environ.get("VIPS_CONCURRENCY") != str(args.vips_concurrency):
        print("set VIPS_CONCURRENCY in the environment to --vips-concurrency", file=sys.stderr)
        return 2

    from origin.settings import Settings
    from transforms import vipsconfig

    # As in a worker: operation cache off, untrusted loaders blocked, same concurrency, and the
    # encoder choices the server under test reads from the same environment.
    settings = Settings.from_env()
    vipsconfig.configure(concurrency=args.vips_concurrency, cache_max_mem=0,
                         jpeg_optimize_coding=settings.jpeg_optimize_coding,
                         webp_effort=settings.webp_effort, avif_effort=settings.avif_effort)
    results = []
    for key in args.transforms.split(","):
        spec = TRANSFORMS[key]
        data = (Path(args.images) / spec.source).read_bytes()
        for mode in args.modes.split(","):
            if mode == "pipeline":
                fn = _pipeline_fn(spec, data)
            else:
                fn = _raw_fn(spec, data, plain=mode == "plain")
            for threads in (int(t) for t in args.threads.split(",")):
                result = measure(fn, threads, args.duration)
                results.append({"transform": key, "mode": mode, "threads": threads,
                                "vips_concurrency": args.vips_concurrency, **result})
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
