"""S9-S10: the source byte cap holds against a lying Content-Length, a chunked body with no
length, and a gzip body that expands past the cap; it counts decoded bytes."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator

import psutil
import pytest

from origin.sources.http import _DECODE_STEP, BoundedDecoder
from tests.security.support import AppServer, RawServer, gzip_bomb, jpeg
from tests.support.upstream import Upstream

CAP = 1024 * 1024


@pytest.fixture(scope="module")
def capped(upstream: Upstream) -> Iterator[AppServer]:
    upstream.add("cap/zeros", b"\0" * CAP)
    upstream.add("cap/zeros+1", b"\0" * (CAP + 1))
    upstream.add("cap/ok.jpg", jpeg())
    with AppServer({"IMGORIGIN_SOURCE": upstream.base,
                    "IMGORIGIN_MAX_SOURCE_BYTES": str(CAP)}) as server:
        yield server


def test_s9_declared_length_over_the_cap_is_413_before_reading(capped: AppServer) -> None:
    # /lie/ declares 500 MB, sends a few bytes and then stalls for 5 s.
    read_before = capped.spy.bytes_read
    started = time.perf_counter()
    r = capped.get("/_/lie/cap/ok.jpg")
    elapsed = time.perf_counter() - started
    assert r.status_code == 413, r.text
    assert r.headers["cache-control"] == "no-store"
    assert elapsed < 1.0  # the plan's budget is 100 ms; the upstream would stall 5 s
    assert capped.spy.bytes_read - read_before < 64 * 1024


def test_s10_chunked_body_is_cut_at_cap_plus_one(capped: AppServer) -> None:
    # Exactly the cap passes the size check (and then is not an image: 422)...
    assert capped.get(f"/_/stream/{CAP}").status_code == 422
    # ...one byte more is a 413, with no length announced.
    read_before = capped.spy.bytes_read
    r = capped.get(f"/_/stream/{CAP + 1}")
    assert r.status_code == 413, r.text
    assert capped.spy.bytes_read - read_before <= CAP + 1 + 64 * 1024


def test_s10_gzip_counts_decoded_bytes(capped: AppServer) -> None:
    assert capped.get("/_/gzip/cap/zeros").status_code == 422
    read_before = capped.spy.bytes_read
    r = capped.get("/_/gzip/cap/zeros+1")
    assert r.status_code == 413, r.text
    # A few KiB of compressed bytes were read for over a MiB decoded.
    assert capped.spy.bytes_read - read_before < 64 * 1024
    # And a compressed source under the cap is served.
    assert capped.get("/w_8/gzip/cap/ok.jpg").status_code == 200


def _peak_rss_during(action: object) -> tuple[int, int]:
    proc = psutil.Process()
    baseline = proc.memory_info().rss
    peak = baseline
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        action()  # type: ignore[operator]
    finally:
        stop.set()
        sampler.join()
    return baseline, peak


def test_s10_gzip_bomb_memory_stays_bounded(capped: AppServer) -> None:
    bomb = gzip_bomb(512 * 1024 * 1024)  # 512 MiB of zeros in ~500 KiB
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(bomb))
    server = RawServer(head, bomb)
    try:
        with AppServer({"IMGORIGIN_SOURCE": f"http://127.0.0.1:{server.port}",
                        "IMGORIGIN_MAX_SOURCE_BYTES": str(CAP)}) as app:
            results: list[int] = []
            baseline, peak = _peak_rss_during(
                lambda: results.append(app.get("/_/bomb.png").status_code))
    finally:
        server.close()
    assert results == [413]
    assert peak - baseline < 20 * 1024 * 1024, f"RSS grew {(peak - baseline) >> 20} MiB"


def test_s10_decoder_never_expands_more_than_a_step() -> None:
    compressed = gzip_bomb(64 * 1024 * 1024)
    decoder = BoundedDecoder("gzip")
    total = 0
    largest = 0
    for piece in decoder.feed(compressed[:65536]):
        largest = max(largest, len(piece))
        total += len(piece)
        if total > CAP:
            break
    assert largest <= _DECODE_STEP
    # Raw deflate (no zlib header) is accepted as "deflate", like browsers do.
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = raw.compress(b"hello" * 100) + raw.flush()
    assert b"".join(BoundedDecoder("deflate").feed(data)) == b"hello" * 100
    assert b"".join(BoundedDecoder("identity").feed(b"abc")) == b"abc"
    with pytest.raises(Exception, match="content-encoding"):
        BoundedDecoder("br")
