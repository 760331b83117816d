"""The benchmark harness measures what it claims: unique variants really are distinct cache keys,
the wrk script walks its path list without repeating a path, and the peer comparison matches AVIF
sizes, reduces rounds to medians and compares like with like; the soak reads every worker's RSS
once a second for as long as the load runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import psutil
import pytest
import pyvips

from benchmarks import soak
from benchmarks.comparison import (
    CODEC_ENCODES,
    aggregate,
    best_peer,
    codec_rows,
    decoded_format,
    describe_output,
    match_quality,
    output_problems,
    peer_ratios,
    ratio_rows,
)
from benchmarks.loadgen import percentile, run_wrk
from benchmarks.report import table
from benchmarks.scenarios import TRANSFORMS, miss_paths, mixed_requests
from transforms import parse, serialize


def _canonical(path: str) -> str:
    return serialize(parse(path.split("/")[1]).options)


@pytest.mark.parametrize("key", sorted(TRANSFORMS))
def test_unique_variants_have_distinct_canonical_options(key: str) -> None:
    # If canonicalisation ever dropped the no-op `bg_`, every "miss" would be a hit.
    paths = miss_paths((key,), 500)
    assert len({_canonical(p) for p in paths}) == 500
    assert all(p.endswith("/" + TRANSFORMS[key].source) for p in paths)


def test_mixed_requests_are_95_percent_hot() -> None:
    requests = mixed_requests("b", 2000)
    classes = Counter(cls for _, cls in requests)
    assert classes == {"hit": 1900, "miss": 100}
    misses = [p for p, cls in requests if cls == "miss"]
    assert len(set(misses)) == len(misses)
    assert not set(misses) & {p for p, cls in requests if cls == "hit"}


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([], 99) == 0.0


def test_table_aligns_numbers_right() -> None:
    text = table(["name", "n"], [["a", 1.5], ["bb", 100.0]])
    assert text.splitlines()[2] == "| a    | 1.50 |"
    assert text.splitlines()[3] == "| bb   |  100 |"


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            self.seen[self.path] += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # wrk drops its connections mid-request when its time is up; anything else is printed.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@pytest.fixture
def recorder() -> Iterator[str]:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed; `make test` installs it (make system-deps)")
    _Recorder.seen = Counter()
    server = _QuietServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_wrk_script_strides_paths_without_repeats(recorder: str) -> None:
    paths = [f"/p{i}" for i in range(200_000)]
    result = run_wrk(recorder, paths, concurrency=4, duration=1, threads=2)
    assert result.requests > 20
    assert result.wrapped == 0
    assert result.non_2xx == 0
    assert max(_Recorder.seen.values()) == 1
    assert set(_Recorder.seen) <= set(paths)
    assert 0 < result.p50_ms <= result.p99_ms


def test_wrk_single_path_uses_a_static_request(recorder: str) -> None:
    result = run_wrk(recorder, ["/only"], concurrency=2, duration=1)
    assert result.extra["static_request"] is True
    assert result.requests > 10  # http.server + delayed ACKs: ~25 requests/s per connection
    assert set(_Recorder.seen) == {"/only"}


# --- make bench-peers: the pure parts (no peer is started here) -------------------------------

def test_quality_search_lands_within_ten_percent_in_few_encodes() -> None:
    calls: list[int] = []

    def size_at(q: int) -> int:
        calls.append(q)
        return 2000 + 150 * q  # grows with quality, as encoders' sizes do

    match = match_quality(size_at, target=2000 + 150 * 71)
    assert match.within
    assert abs(match.size - match.target) <= 0.10 * match.target
    assert 20 <= match.quality <= 90
    assert len(calls) == len(set(calls)) <= 7


def test_quality_search_finds_the_exact_band_when_it_is_narrow() -> None:
    sizes = {q: 1000 * q for q in range(20, 91)}  # 10 % of the target is ~4 quality steps
    match = match_quality(sizes.__getitem__, target=41_500)
    assert match.within
    assert abs(match.size - 41_500) <= 4150
    assert match.tried[match.quality] == match.size


@pytest.mark.parametrize(("target", "quality"), [(500, 20), (10**6, 90)])
def test_quality_search_out_of_range_returns_the_closest_end(target: int, quality: int) -> None:
    match = match_quality(lambda q: 1000 + 100 * q, target=target)
    assert not match.within
    assert match.quality == quality
    assert match.as_dict()["diff"] == round((match.size - target) / target, 4)


def test_quality_search_with_a_gap_reports_the_closest_size() -> None:
    # The size jumps past the target: no quality lands within 10 %; the nearer side wins.
    def size_at(q: int) -> int:
        return 8000 if q < 50 else 13000

    match = match_quality(size_at, target=10000)
    assert not match.within
    assert match.size == 8000
    assert match.quality < 50


def test_aggregate_reports_median_range_and_failed_rounds() -> None:
    samples = [
        {"round": 1, "rps": 141.0, "p50_ms": 50.0, "p99_ms": 90.0, "peak_rss_mib_max": 40.0},
        {"round": 2, "rps": 73.0, "p50_ms": 100.0, "p99_ms": 200.0, "peak_rss_mib_max": 46.0},
        {"round": 3, "rps": 120.0, "p50_ms": 60.0, "p99_ms": 110.0, "peak_rss_mib_max": 41.0,
         "note": "machine busy (35% CPU) before a run"},
        {"round": 4, "error": "wrk failed"},
    ]
    agg = aggregate(samples)
    assert agg["rps_median"] == 120.0
    assert (agg["rps_min"], agg["rps_max"]) == (73.0, 141.0)
    assert (agg["p50_ms"], agg["p99_ms"]) == (60.0, 110.0)
    assert agg["rss_mib_max"] == 46.0
    assert (agg["n"], agg["failed"]) == (3, 1)
    assert agg["notes"] == ["machine busy (35% CPU) before a run"]
    assert aggregate([{"rps": 10.0, "p50_ms": 1, "p99_ms": 2},
                      {"rps": 20.0, "p50_ms": 1, "p99_ms": 2}])["rps_median"] == 15.0
    assert aggregate([{"round": 1, "error": "server did not start"}]) == {
        "n": 0, "failed": 1, "error": "server did not start"}


def _agg(rps: float) -> dict[str, Any]:
    return aggregate([{"rps": rps, "p50_ms": 10.0, "p99_ms": 20.0, "peak_rss_mib_max": 50.0}])


def _out(key: str, **change: Any) -> dict[str, Any]:
    t = TRANSFORMS[key]
    return {"bytes": 1000, "format": t.fmt, "width": t.resize[0], "height": t.resize[1],
            **change}


def test_ratio_rows_compare_medians_and_avif_at_equal_size() -> None:
    summary = {
        "imgorigin": {"a": _agg(50.0), "b": _agg(150.0), "c": _agg(30.0),
                      "c@thumbor-size": _agg(24.0)},
        "thumbor": {"a": _agg(50.0), "b": _agg(75.0), "c": _agg(12.0)},
        "ipx": {"a": _agg(40.0), "b": _agg(100.0), "c": _agg(6.0)},
    }
    outputs = {
        "imgorigin": {k: _out(k) for k in "abc"},
        "thumbor": {k: _out(k) for k in "abc"},
        # ipx answered c as WebP and smaller: flagged, not silently compared.
        "ipx": {"a": _out("a"), "b": _out("b"),
                "c": _out("c", format="webp", width=300, height=225)},
    }
    matches = {"thumbor": {"quality": 62, "size": 5300, "target": 5000, "within": True,
                           "diff": 0.06}}
    rows = ratio_rows(["imgorigin", "thumbor", "ipx"], summary, outputs, matches, {})
    by = {(r[0], r[1].split(" ")[0]): r for r in rows}
    assert len(rows) == 10
    assert all(len(r) == 10 for r in rows)
    ours_eq = by[("imgorigin", "c@thumbor-size")]
    assert ours_eq[1] == "c@thumbor-size (q_62)"
    assert ours_eq[2] == 5300
    assert ours_eq[3] == 24.0
    assert ours_eq[4] == "24.0-24.0"
    assert "q_62: +6% bytes vs thumbor" in ours_eq[9]
    assert by[("thumbor", "a")][8] == 1.0
    assert by[("thumbor", "b")][8] == 2.0
    assert by[("thumbor", "c")][8] == 2.0  # 24 / 12: the equal-size run, not 30 / 12
    assert "vs imgorigin c@thumbor-size" in by[("thumbor", "c")][9]
    assert by[("ipx", "c")][8] == 5.0  # no size match for ipx: the default run, said so
    assert "sizes not matched" in by[("ipx", "c")][9]
    assert "WRONG OUTPUT: format webp, not avif" in by[("ipx", "c")][9]
    assert "300x225, not 300x300" in by[("ipx", "c")][9]
    assert "WRONG" not in by[("thumbor", "c")][9]
    assert by[("imgorigin", "a")][8] == "-"
    assert peer_ratios(["imgorigin", "thumbor", "ipx"], summary)["thumbor"]["c"] == {
        "against": "c@thumbor-size", "ratio": 2.0}
    assert best_peer("b", ["imgorigin", "thumbor", "ipx"], summary) == ("ipx", 1.5)
    assert best_peer("c", ["imgorigin", "thumbor", "ipx"], summary) == ("thumbor", 2.0)


def test_ratio_rows_say_when_no_quality_matched_and_when_a_peer_is_missing() -> None:
    summary = {"imgorigin": {k: _agg(10.0) for k in "abc"} | {"c@ipx-size": _agg(8.0)},
               "ipx": {"a": _agg(5.0), "b": aggregate([{"error": "wrk failed"}]),
                       "c": _agg(4.0)}}
    matches = {"ipx": {"quality": 90, "size": 3000, "target": 4000, "within": False,
                       "diff": -0.25, "output": {"problems": ["300x299, not 300x300"]}}}
    rows = ratio_rows(["imgorigin", "thumbor", "ipx"], summary, {}, matches,
                      {"thumbor": "pip install thumbor failed"})
    by = {(r[0], r[1].split(" ")[0]): r for r in rows}
    assert "no q_20..90 within 10% of ipx's bytes; closest q_90 (-25%)" in \
        by[("imgorigin", "c@ipx-size")][9]
    assert "WRONG OUTPUT: 300x299, not 300x300" in by[("imgorigin", "c@ipx-size")][9]
    assert by[("ipx", "c")][8] == 2.0
    assert "vs imgorigin c@ipx-size (not within 10%)" in by[("ipx", "c")][9]
    assert by[("ipx", "b")][3] == "wrk failed"
    assert by[("ipx", "b")][8] == ""
    assert by[("thumbor", "not")][1].startswith("not measured: pip install")


def test_rounds_that_left_the_cpu_idle_are_not_what_a_peer_is_compared_on() -> None:
    def rounds(*rps_cpu: tuple[float, float]) -> dict[str, Any]:
        return aggregate([{"round": i + 1, "rps": rps, "p50_ms": 10.0, "p99_ms": 20.0,
                           "server_cpu_pct": cpu} for i, (rps, cpu) in enumerate(rps_cpu)],
                         cores=2)

    # thumbor's rounds 1 and 3 ran on one of its two processes (about 100 % CPU).
    thumbor_b = rounds((50.9, 99.9), (100.0, 197.0), (45.3, 99.8))
    assert thumbor_b["rps_median"] == 50.9
    assert thumbor_b["rps_busy_median"] == 100.0
    assert thumbor_b["idle_rounds"] == [1, 3]
    summary = {"imgorigin": {k: rounds((114.0, 195.0), (116.0, 196.0)) for k in "abc"},
               "thumbor": {"a": rounds((30.0, 197.0)), "b": thumbor_b, "c": rounds((8.0, 190.0))}}
    rows = ratio_rows(["imgorigin", "thumbor"], summary, {}, {}, {})
    by = {(r[0], r[1].split(" ")[0]): r for r in rows}
    assert by[("thumbor", "b")][3] == 50.9  # the table still shows what the rounds gave
    assert by[("thumbor", "b")][8] == 1.15  # 115 / 100, not 115 / 50.9
    assert "round(s) 1, 3 under 150 % CPU" in by[("thumbor", "b")][9]
    assert "ratio of all rounds' medians 2.26" in by[("thumbor", "b")][9]
    assert best_peer("b", ["imgorigin", "thumbor"], summary) == ("thumbor", 1.15)
    assert "under" not in by[("thumbor", "a")][9]
    # Rounds without a CPU reading, or all of them idle, fall back to the median of all rounds;
    # all idle is said, since that ratio then flatters whichever side it is.
    all_idle = rounds((40.0, 100.0), (60.0, 90.0))
    assert "rps_busy_median" not in all_idle
    assert all_idle["idle_rounds"] == [1, 2]
    assert any(n.startswith("every round under 150 % CPU") for n in all_idle["notes"])
    assert "rps_busy_median" not in aggregate([{"rps": 10.0, "p50_ms": 1, "p99_ms": 2}])


def test_describe_output_decodes_format_and_dimensions() -> None:
    image = pyvips.Image.black(30, 20, bands=3) + 128
    avif = describe_output(image.heifsave_buffer(compression="av1", Q=50, effort=0))
    assert avif["format"] == "avif"
    assert (avif["width"], avif["height"]) == (30, 20)
    assert describe_output(image.webpsave_buffer())["format"] == "webp"
    jpeg = image.jpegsave_buffer()
    assert describe_output(jpeg) == {"bytes": len(jpeg), "format": "jpeg", "width": 30,
                                     "height": 20}
    assert output_problems("b", {"format": "jpeg", "width": 800, "height": 600}) == []
    assert decoded_format("heifload_buffer", "hevc") == "heic"


def test_codec_script_measures_libvips_jpeg_and_the_table_shows_it(tmp_path: Any) -> None:
    import json
    import subprocess
    import sys

    source = tmp_path / "src.jpg"
    (pyvips.Image.black(64, 48, bands=3) + 90).jpegsave(str(source))
    got = subprocess.run([sys.executable, "benchmarks/codec_costs.py", "--codec", "pyvips",
                          "--image", str(source), "--width", "32", "--seconds", "0.05"],
                         capture_output=True, text=True, check=True)
    cost = json.loads(got.stdout)
    assert cost["decoded"] == [32, 24]  # DCT scale 1/2: the smallest that covers 32 px
    assert cost["codec"].startswith("libvips ")
    assert all(cost[f"{step}_ms"] > 0 and cost[f"{step}_bytes"] > 0
               for step in CODEC_ENCODES["b"])
    rows = codec_rows({"imgorigin": cost, "thumbor": {"error": "no venv"}}, CODEC_ENCODES["b"])
    assert rows[0][:2] == ["imgorigin", cost["codec"]]
    assert rows[0][3] == f"{cost['baseline_ms']:.2f} ({cost['baseline_bytes'] / 1000:.1f} KB)"
    assert rows[1] == ["thumbor", "no venv", "", "", "", ""]


def test_codec_script_encodes_the_given_pixels_to_webp_for_transform_a(tmp_path: Any) -> None:
    import json
    import subprocess
    import sys

    source, pixels = tmp_path / "src.jpg", tmp_path / "out.png"
    photo = pyvips.Image.gaussnoise(64, 48, mean=128, sigma=30).cast("uchar").bandjoin([90, 60])
    photo.copy(interpretation="srgb").jpegsave(str(source))
    photo.copy(interpretation="srgb").crop(0, 0, 20, 10).pngsave(str(pixels))
    script = [sys.executable, "benchmarks/codec_costs.py", "--codec", "pyvips", "--image",
              str(source), "--width", "8", "--seconds", "0.05", "--encode", "webp"]
    got = subprocess.run([*script, "--pixels", str(pixels)], capture_output=True, text=True,
                         check=True)
    cost = json.loads(got.stdout)
    assert cost["decoded"] == [8, 6]  # DCT scale 1/8
    assert "libwebp" in cost["codec"]
    for effort in (2, 4):
        expected = pyvips.Image.new_from_file(str(pixels)).webpsave_buffer(Q=80, effort=effort,
                                                                          keep=0)
        assert cost[f"webp{effort}_bytes"] == len(expected)  # the given pixels, not the source's
        assert cost[f"webp{effort}_ms"] > 0
    rows = codec_rows({"imgorigin": cost}, CODEC_ENCODES["a"])
    assert rows[0][4] == f"{cost['webp4_ms']:.2f} ({cost['webp4_bytes'] / 1000:.1f} KB)"
    refused = subprocess.run(script, capture_output=True, text=True)
    assert refused.returncode == 2 and "--pixels" in refused.stderr


def test_paired_summary_takes_the_median_of_clean_rounds() -> None:
    from benchmarks.run import paired_summary

    rounds = [{"ratio": 0.95, "check": "ok", "cpu_ratio": 0.90},
              {"ratio": 0.80, "check": "ok", "cpu_ratio": 0.86},
              {"ratio": 0.99, "check": "ok", "cpu_ratio": None},
              {"ratio": 0.10, "check": "12 non-2xx answers", "cpu_ratio": 0.10},
              {"ratio": None, "check": "ok"}]
    assert paired_summary(rounds) == {"median_ratio": 0.95, "min_ratio": 0.80,
                                      "max_ratio": 0.99, "rounds_used": 3,
                                      "median_cpu_ratio": 0.88}
    assert paired_summary([{"ratio": 0.5, "check": "machine busy"}])["median_ratio"] is None


def test_open_loop_does_not_reuse_a_connection_the_server_closes() -> None:
    """After a 503 + `Connection: close` (what imgorigin's balancer adds on a worker busier than
    its sibling), the next request goes out on a new connection instead of dying on the closed
    one as a 'socket error'."""
    import asyncio

    from benchmarks.loadgen import run_open_loop

    answered = {"n": 0}
    ready = threading.Event()
    address: dict[str, int] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            answered["n"] += 1
            if answered["n"] % 3 == 1:
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n"
                             b"Retry-After: 1\r\nConnection: close\r\n\r\nbusy")
                await writer.drain()
                break
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        writer.close()

    def serve() -> None:
        async def main() -> None:
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            address["port"] = server.sockets[0].getsockname()[1]
            ready.set()
            await asyncio.sleep(2.5)  # the load lasts 1 s
            server.close()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(5)
    result = run_open_loop("127.0.0.1", address["port"], [("/x", "hit")], rate=40, duration=1.0)
    thread.join(10)
    assert result.socket_errors == 0
    assert result.statuses["503"] >= 10 and result.statuses["200"] >= 20
    assert result.statuses["503"] + result.statuses["200"] == 40


def test_cpu_breakdown_lists_roles_from_the_largest_down() -> None:
    from benchmarks.run import cpu_breakdown

    line = cpu_breakdown({"io": 0.2, "libvips worker": 9.5, "event loop": 0.71, "probe": 0.001})
    assert line == "libvips worker 9.50, event loop 0.71, io 0.20 (total 10.41)"


def test_soak_window_reads_every_worker_once_a_second_until_the_load_ends(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A "master" with two children standing in for workers.
    master = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\n"
        "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])"
        " for _ in range(2)]\n"
        "time.sleep(30)\n")])
    try:
        server = SimpleNamespace(proc=master)
        deadline = time.monotonic() + 10
        while len(soak._rss(server)) < 2 and time.monotonic() < deadline:  # type: ignore[arg-type]
            time.sleep(0.05)
        load = threading.Thread(target=time.sleep, args=(2.5,))
        load.start()
        monkeypatch.setattr(soak, "WINDOW_S", 30.0)
        started = time.monotonic()
        window = soak._rss_window(server, load)  # type: ignore[arg-type]
        assert time.monotonic() - started < 5  # left when the load ended, not after 30 s
        assert len(window) == 2
        for values in window.values():
            assert 2 <= len(values) <= 4  # once a second over 2.5 s
            assert all(v > 0 for v in values)
    finally:
        for child in psutil.Process(master.pid).children():
            child.kill()
        master.kill()
        master.wait()


def test_allocstats_records_each_forked_process_and_the_soak_tabulates_them(
        tmp_path: Any) -> None:
    """`SOAK_ALLOCSTATS=on`: a forked child (as the server's workers are) writes allocator
    records; the process that imported it does not."""
    script = ("import os, time\n"
              "junk = [object() for _ in range(200_000)]\n"  # a few MiB of CPython arenas
              "pid = os.fork()\n"
              "if pid == 0:\n"
              "    time.sleep(0.5)\n"
              "    os.write(2, b'child stderr after the reads\\n')\n"
              "    os._exit(0)\n"
              "os.waitpid(pid, 0)\n"
              "print(pid)\n")
    env = {**os.environ, "PYTHONPATH": str(soak.ALLOCSTATS), "ALLOCSTATS_DIR": str(tmp_path),
           "ALLOCSTATS_INTERVAL": "0.1"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True, timeout=30)
    child = int(out.stdout)
    assert [p.name for p in tmp_path.iterdir()] == [f"{child}.jsonl"]
    # Each read lends the process's stderr to a scratch file and gives it back after.
    assert out.stderr == "child stderr after the reads\n"
    records = soak._read_allocstats(tmp_path)[child]
    assert 2 <= len(records) <= 6
    first = records[0]
    assert first["py_arenas"] >= 4  # 200 000 objects of 16 bytes do not fit in fewer
    assert first["py_allocated_bytes"] > 200_000 * 16
    assert 0 < first["glibc_in_use_bytes"] <= first["glibc_held_bytes"]
    assert first["rss_bytes"] > first["py_arenas"] * 1024 * 1024 // 2

    marks = [records[0]["time"] - 1, records[0]["time"], records[-1]["time"] + 1]
    (row,) = soak.allocator_rows({child: records}, marks)
    arenas = row[1].split(" -> ")
    assert row[0] == str(child) and arenas[0] == "-"
    assert arenas[1:] == [str(records[0]["py_arenas"]), str(records[-1]["py_arenas"])]


def test_loopcost_serves_every_miss_from_the_stub_and_reports_the_loop_cpu(tmp_path: Any) -> None:
    got = subprocess.run([sys.executable, "-m", "benchmarks.loopcost", "--requests", "20",
                          "--stub", "--stub-ms", "1", "--cache-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr
    report = json.loads(got.stdout)
    assert report["statuses"] == {"200": 20}
    # Every body is the stub's 85 000 bytes: libvips never ran, the serving code did.
    assert report["body_bytes"] == [85_000]
    assert report["stub_ms"] == 1.0
    assert report["main_thread_cpu_us_per_miss"] > 0
    assert report["wall_us_per_miss"] >= 1000  # each miss waited out the stub's 1 ms
    assert report["disk_entries"] == 20 + 100  # the measured misses and the warm-up's
    assert not list(tmp_path.iterdir()), "the disk tier's scratch directory was left behind"


def test_effort_tool_compares_efforts_at_the_default_efforts_ssim(tmp_path: Any) -> None:
    from benchmarks import effort

    photo = (pyvips.Image.gaussnoise(96, 72, mean=120, sigma=25).gaussblur(1.2)
             .cast("uchar").bandjoin([80, 160]).copy(interpretation="srgb"))
    assert effort.ssim(photo, photo) == pytest.approx(1.0)
    noisy = (photo + pyvips.Image.gaussnoise(96, 72, mean=0, sigma=20)).cast("uchar")
    assert 0.05 < effort.ssim(photo, noisy.copy(interpretation="srgb")) < 0.9
    curve = [(0.90, 1000), (0.95, 2000), (0.80, 500)]
    assert effort.bytes_at(curve, 0.925) == pytest.approx(1500)
    assert effort.bytes_at(curve, 0.97) is None
    path = tmp_path / "photo.png"
    photo.pngsave(str(path))
    got = effort.measure(path, "webp", 64, qualities=(50, 70, 90), seconds=0.01)
    assert got["size"] == [64, 48]
    default = effort.DEFAULT_EFFORT["webp"]
    assert set(got["efforts"]) == set(effort.efforts_for("webp"))
    assert got["efforts"][default]["bytes_ratio"] == 1.0
    assert all(e["cpu_ms"] > 0 and e["time_ratio"] > 0 for e in got["efforts"].values())
    # The server's encoder call, effort aside: the same bytes as an encode through it.
    assert effort.encode(photo, "webp", 4, 80) == photo.webpsave_buffer(Q=80, effort=4, keep=0)
