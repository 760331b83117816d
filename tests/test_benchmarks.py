"""The benchmark harness measures what it claims: unique variants really are distinct cache keys,
and the wrk script walks its path list without repeating a path."""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

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


@pytest.fixture
def recorder() -> Iterator[str]:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed; `make test` installs it (make system-deps)")
    _Recorder.seen = Counter()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
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
