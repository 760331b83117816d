"""The access log (IMGORIGIN_ACCESS_LOG): which answers get a line, and what a line holds."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from origin.accesslog import MAX_PATH, AccessLog, LineWriter
from tests.reliability.faults import photo
from tests.support.net import wait_until
from tests.support.origin import REPO, OriginProcess
from tests.support.upstream import Upstream

TOKEN = "access-log-test-token"


def capture(level: str, fmt: str = "json") -> tuple[AccessLog, list[bytes]]:
    lines: list[bytes] = []
    return AccessLog(level, fmt, lines.append), lines


@pytest.mark.parametrize(("level", "expected"), [
    # (200 transform, 200 memory hit, 304 without a tier, 404, 200 fallback image, 500)
    ("off", (False, False, False, False, False, False)),
    ("errors", (False, False, False, True, True, True)),
    ("misses", (True, False, False, True, True, True)),
    ("all", (True, True, True, True, True, True)),
])
def test_which_answers_each_level_logs(level: str, expected: tuple[bool, ...]) -> None:
    log, _ = capture(level)
    got = (log.wants(200, "transform"), log.wants(200, "memory"), log.wants(304, "none"),
           log.wants(404, "none", "not_found"), log.wants(200, "disk", "not_found"),
           log.wants(500, "none", "internal_error"))
    assert got == expected


@pytest.mark.parametrize(("level", "ok", "refused"), [
    ("off", False, False), ("errors", False, True), ("misses", True, True), ("all", True, True)])
def test_purges_and_warms_are_logged_from_misses_up(level: str, ok: bool, refused: bool) -> None:
    log, _ = capture(level)
    assert (log.wants_operation(200), log.wants_operation(403)) == (ok, refused)


def test_a_json_line_is_one_object_with_the_time_first_and_no_empty_fields() -> None:
    log, lines = capture("all")
    log.write({"route": "transform", "path": "/w_10/a b.jpg", "status": 200, "bytes": 0,
               "error": "", "fetch_ms": None, "prefixes": [], "sources": ("a.jpg", "b.jpg")})
    assert len(lines) == 1 and lines[0].endswith(b"\n") and lines[0].count(b"\n") == 1
    record = json.loads(lines[0])
    assert next(iter(record)) == "time"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])
    assert record == {"time": record["time"], "route": "transform", "path": "/w_10/a b.jpg",
                      "status": 200, "bytes": 0, "sources": ["a.jpg", "b.jpg"]}


def test_a_hostile_path_cannot_forge_lines_or_grow_one_past_the_pipe_limit() -> None:
    forged = "/w_10/x.jpg\n{\"route\":\"purge\"} key=\"v\" \x1b[31m\u00e9" + "a" * 5000
    for fmt in ("json", "text"):
        log, lines = capture("all", fmt)
        log.write({"route": "transform", "path": forged, "detail": "d" * 5000})
        (line,) = lines
        assert line.count(b"\n") == 1 and b"\x1b" not in line and line.isascii()
        assert len(line) < 4096  # PIPE_BUF: workers' lines never interleave
    log, lines = capture("all")
    log.write({"path": forged})
    assert json.loads(lines[0])["path"] == forged[:MAX_PATH]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_escaping_cannot_push_a_line_past_the_pipe_limit(fmt: str) -> None:
    # Every character of these escapes to six bytes (\u00e9), and a purge names twenty sources.
    wide = "\u00e9" * 3000
    log, lines = capture("all", fmt)
    log.write({"route": "purge", "path": wide, "detail": wide, "request_id": wide,
               "sources": [wide] * 20, "prefixes": [wide] * 20, "status": 200})
    (line,) = lines
    assert len(line) <= 4096 and line.endswith(b"\n") and line.count(b"\n") == 1
    if fmt == "json":
        record = json.loads(line)
        assert record["status"] == 200 and record["path"] and record["sources"]


def test_text_lines_are_key_value_pairs_quoted_where_needed() -> None:
    log, lines = capture("all", "text")
    log.write({"route": "purge", "path": "/-/purge", "status": 200,
               "detail": 'a "quoted" value', "sources": ["a.jpg", "b c.jpg"]})
    text = lines[0].decode()
    assert re.match(r"time=\S+Z route=purge path=/-/purge status=200 ", text)
    assert 'detail="a \\"quoted\\" value"' in text
    assert 'sources="a.jpg,b c.jpg"' in text


def small_pipe() -> tuple[int, int]:
    """A pipe of one page (4 KiB) that fills after a dozen lines; (read end, write end)."""
    read, write = os.pipe()
    fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 4096)
    return read, write


def drain(fd: int, until: int, timeout: float = 10) -> bytes:
    """Everything the pipe gives until `until` newlines have arrived (or the timeout passed)."""
    got = bytearray()
    os.set_blocking(fd, False)

    def more() -> bool:
        with contextlib.suppress(BlockingIOError):
            got.extend(os.read(fd, 65536))
        return got.count(b"\n") >= until

    wait_until(more, timeout, interval=0.01)
    return bytes(got)


def test_a_reader_that_stops_costs_lines_beyond_the_queue_never_the_caller() -> None:
    read, write = small_pipe()
    dropped: list[int] = []
    writer = LineWriter(write, max_lines=50, on_drop=lambda: dropped.append(1))
    lines = [json.dumps({"n": n, "pad": "x" * 300}).encode() + b"\n" for n in range(200)]
    caller = threading.Thread(target=lambda: [writer(line) for line in lines])
    caller.start()
    caller.join(10)
    # Nobody reads: the pipe holds a dozen lines, the queue 50, the other ~140 are dropped
    # rather than holding the caller (an event loop) until someone reads.
    assert not caller.is_alive()
    assert writer.dropped == len(dropped) and 100 <= writer.dropped <= 150
    out = drain(read, len(lines) - writer.dropped)
    os.close(read)
    os.close(write)
    kept = out.splitlines(keepends=True)
    assert len(kept) == len(lines) - writer.dropped
    assert kept == lines[:len(kept)]  # whole lines, in order: the oldest are kept
    assert writer.flush(1)


def test_lines_leave_in_writes_of_at_most_a_pipe_buffer_each() -> None:
    writes: list[int] = []
    read, write = os.pipe()
    writer = LineWriter(write)
    real_write = os.write

    def counting(fd: int, data: bytes) -> int:
        if fd == write:
            writes.append(len(data))
        return real_write(fd, data)

    os.write = counting  # type: ignore[assignment]
    try:
        for n in range(40):  # 40 kB: within the pipe's 64 KiB, so nothing waits for a reader
            writer(b"%03d" % n + b"y" * 996 + b"\n")  # 1000-byte lines
        assert writer.flush(5)
    finally:
        os.write = real_write
    out = drain(read, 40)
    os.close(read)
    os.close(write)
    assert out.count(b"\n") == 40 and sum(writes) == len(out)
    assert max(writes) <= 4096  # PIPE_BUF: atomic, so the workers' lines never interleave
    assert len(writes) < 40  # lines queued together left together


def test_a_server_whose_log_reader_stalls_keeps_answering() -> None:
    read, write = small_pipe()
    path = "/w_64/landscape.jpg"
    try:
        with OriginProcess({"IMGORIGIN_ACCESS_LOG": "all"}, stdout=write) as server:
            os.close(write)
            write = -1
            with httpx.Client(timeout=10) as client:
                # A synchronous write would block the worker on the 13th line or so.
                statuses = [client.get(server.url(path)).status_code for _ in range(300)]
                assert statuses == [200] * 300
                assert client.get(server.url("/-/healthz")).status_code == 200
            out = drain(read, 300)
            records = [json.loads(line) for line in out.splitlines()]
            assert len(records) == 300 and {r["path"] for r in records} == {path}
            assert "imgorigin_access_log_dropped_total" in server.metrics_text()
            assert server.metric("imgorigin_access_log_dropped_total") == 0
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)


def _records(server: OriginProcess) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in server.log(tail=None).splitlines()
            if line.startswith("{")]


@pytest.fixture(scope="module")
def server() -> Iterator[OriginProcess]:
    with OriginProcess({"IMGORIGIN_PURGE_TOKENS": TOKEN}) as origin:
        yield origin


def test_the_default_logs_a_transform_but_not_its_hits(server: OriginProcess) -> None:
    path = "/w_96,fmt_webp/landscape.jpg"
    miss = httpx.get(server.url(path), headers={"X-Request-ID": "req-1"}, timeout=30)
    assert miss.status_code == 200
    assert wait_until(lambda: any(r.get("path") == path for r in _records(server)), 5)
    hit = httpx.get(server.url(path), timeout=10)
    assert hit.status_code == 200
    unchanged = httpx.get(server.url(path), headers={"If-None-Match": miss.headers["etag"]},
                          timeout=10)
    assert unchanged.status_code == 304
    httpx.get(server.url("/-/healthz"), timeout=5)
    httpx.get(server.url("/-/metrics"), timeout=5)
    # The 400 after them is written once they are answered: its line ends the wait.
    assert httpx.get(server.url("/w_96,nope_3/landscape.jpg"), timeout=10).status_code == 400
    assert wait_until(lambda: any(r.get("status") == 400 for r in _records(server)), 5)

    records = [r for r in _records(server) if r.get("path") == path]
    assert len(records) == 1, records  # the hit and the 304 got none
    (line,) = records
    assert line["route"] == "transform" and line["method"] == "GET"
    assert line["status"] == 200 and line["tier"] == "transform"
    assert line["type"] == "image/webp" and line["bytes"] == len(miss.content)
    assert line["transform_ms"] > 0 and line["ms"] >= line["transform_ms"]
    assert line["client"] == "127.0.0.1" and line["request_id"] == "req-1"
    assert not [r for r in _records(server) if r.get("path", "").startswith("/-/")
                and r.get("route") == "transform"]


def test_errors_name_their_code_and_detail(server: OriginProcess) -> None:
    bad = "/w_96,nope_3/landscape.jpg"
    missing = "/w_96/no-such-image.jpg?x=1"
    assert httpx.get(server.url(bad), timeout=10).status_code == 400
    assert httpx.get(server.url(missing), timeout=10).status_code == 404
    assert wait_until(lambda: any(r.get("path") == missing for r in _records(server)), 5)
    by_path = {r["path"]: r for r in _records(server) if "path" in r}
    assert by_path[bad]["status"] == 400 and by_path[bad]["error"] == "invalid_options"
    assert "nope" in by_path[bad]["detail"]
    assert by_path[missing]["status"] == 404 and by_path[missing]["error"] == "not_found"


def test_a_purge_is_logged_without_its_token(server: OriginProcess) -> None:
    r = httpx.post(server.url("/-/purge"), json={"sources": ["landscape.jpg"]},
                   headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 200
    refused = httpx.post(server.url("/-/purge"), json={"sources": ["landscape.jpg"]},
                         headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert refused.status_code in (401, 403)
    assert wait_until(lambda: len([x for x in _records(server)
                                   if x.get("route") == "purge"]) == 2, 5)
    done, denied = [x for x in _records(server) if x.get("route") == "purge"]
    assert done["status"] == 200 and done["sources"] == ["landscape.jpg"]
    assert done["variants"] == r.json()["variants"]
    assert denied["status"] == refused.status_code and denied["error"]
    assert TOKEN not in server.log(tail=None) and "wrong" not in server.log(tail=None)


def test_level_all_in_text_logs_hits_and_off_logs_nothing(tmp_path: Path) -> None:
    path = "/w_64/landscape.jpg"
    with OriginProcess({"IMGORIGIN_ACCESS_LOG": "all",
                        "IMGORIGIN_ACCESS_LOG_FORMAT": "text"}) as verbose:
        for _ in range(2):
            assert httpx.get(verbose.url(path), timeout=30).status_code == 200

        def tiers() -> list[str]:
            return re.findall(rf"path={re.escape(path)} .*?tier=(\w+)", verbose.log(tail=None))

        assert wait_until(lambda: len(tiers()) == 2, 5)
        assert tiers()[0] == "transform" and tiers()[1] in ("memory", "disk")
    log_path = tmp_path / "quiet.log"
    with OriginProcess({"IMGORIGIN_ACCESS_LOG": "off"}, log_path=str(log_path)) as quiet:
        assert httpx.get(quiet.url("/w_64,nope_1/landscape.jpg"), timeout=10).status_code == 400
        assert httpx.get(quiet.url(path), timeout=30).status_code == 200
    # Read after the server stopped: a stopping worker writes out the lines still queued.
    assert "route" not in log_path.read_text()


def test_without_its_own_id_a_request_is_logged_under_the_cdns(server: OriginProcess) -> None:
    path = "/w_72,fmt_webp/landscape.jpg"
    r = httpx.get(server.url(path), headers={"CF-Ray": "8e1f2a3b4c5d6e7f-AMS"}, timeout=30)
    assert r.status_code == 200
    assert wait_until(lambda: any(x.get("path") == path for x in _records(server)), 5)
    (line,) = [x for x in _records(server) if x.get("path") == path]
    assert line["request_id"] == "8e1f2a3b4c5d6e7f-AMS"
    both = "/w_73,fmt_webp/landscape.jpg"
    httpx.get(server.url(both), headers={"X-Request-ID": "mine", "X-Varnish": "32770"},
              timeout=30)
    assert wait_until(lambda: any(x.get("path") == both for x in _records(server)), 5)
    (line,) = [x for x in _records(server) if x.get("path") == both]
    assert line["request_id"] == "mine"


def test_a_fetched_source_logs_its_fetch_time_and_a_known_one_none() -> None:
    with Upstream() as upstream:
        upstream.add("photo.jpg", photo(320, 240))
        # Every fetch through /delay/0.3/ takes at least 300 ms.
        env = {"IMGORIGIN_SOURCE": upstream.base + "/delay/0.3/"}
        with OriginProcess(env) as server:
            first, second = "/w_64/photo.jpg", "/w_48/photo.jpg"
            timings = []
            for path in (first, second):
                r = httpx.get(server.url(path), timeout=30)
                assert r.status_code == 200
                timings.append(r.headers["server-timing"])
            assert wait_until(lambda: {r.get("path") for r in _records(server)}
                              >= {first, second}, 5)
            by_path = {r["path"]: r for r in _records(server) if "path" in r}
    assert upstream.hits["/delay/0.3/photo.jpg"] == 1
    fetched, reused = by_path[first], by_path[second]
    assert 300 <= fetched["fetch_ms"] <= fetched["ms"]
    assert fetched["transform_ms"] > 0 and fetched["tier"] == "transform"
    # The second variant took the source's bytes kept from the first fetch.
    assert "fetch_ms" not in reused and reused["tier"] == "transform", reused
    # Server-Timing says the same (the contract: a `fetch` duration when one happened).
    fetch = re.search(r"fetch;dur=([\d.]+)", timings[0])
    assert fetch and float(fetch.group(1)) == fetched["fetch_ms"]
    assert "fetch" not in timings[1] and "transform;dur=" in timings[1]


def test_a_process_that_exits_writes_out_the_lines_still_queued() -> None:
    # A worker that stops right after its last answers: the lines are still in the queue
    # (the thread gathers for 20 ms); the exit handler writes them before the process ends.
    script = ("import sys\n"
              "from origin.accesslog import AccessLog\n"
              "log = AccessLog('all')\n"
              "for n in range(200):\n"
              "    log.write({'route': 'transform', 'n': n})\n"
              "sys.exit(0)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["n"] for line in done.stdout.splitlines()] == list(range(200))
