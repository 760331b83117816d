"""R8, R9, R10: a slow or dead source and a slow transform end at their deadlines, and nothing
else waits for them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.reliability.conftest import Result, run_all
from tests.reliability.faults import FaultyUpstream, photo
from tests.support.net import free_port, wait_until
from tests.support.origin import OriginProcess

FETCH_TIMEOUT = 1.5
REQUEST_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def origin_slow(faulty: FaultyUpstream) -> Iterator[OriginProcess]:
    """An HTTP source whose `trickle/` paths send one byte a second."""
    faulty.add("trickle.jpg", faulty.files["mid.jpg"][0])
    env = {"IMGORIGIN_SOURCE": faulty.base + "/", "IMGORIGIN_FETCH_TIMEOUT": str(FETCH_TIMEOUT),
           "IMGORIGIN_SOURCE_TTL": "3600"}
    with OriginProcess(env) as server:
        yield server


def test_r8_trickling_source_gets_504_at_the_fetch_deadline(origin_slow: OriginProcess) -> None:
    slow: list[Result] = []
    trickle = threading.Thread(target=lambda: slow.extend(
        run_all([origin_slow.url("/w_100/trickle/trickle.jpg")])))
    trickle.start()
    time.sleep(0.2)
    # Other requests, misses and hits, are served meanwhile without waiting for it.
    others = [run_all([origin_slow.url(f"/w_{w}/files/mid.jpg")])[0] for w in (50, 60, 50, 60)]
    still_trickling = trickle.is_alive()
    trickle.join(30)
    assert slow[0].status == 504
    assert FETCH_TIMEOUT - 0.2 <= slow[0].seconds <= FETCH_TIMEOUT + 1.5
    assert [r.status for r in others] == [200] * 4
    assert still_trickling and max(r.seconds for r in others) < 1.0


def test_r9_refused_connection_is_502_within_the_connect_timeout(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/"
    env = {"IMGORIGIN_SOURCE": dead, "IMGORIGIN_CONNECT_TIMEOUT": "1"}
    with OriginProcess(env) as server:
        started = time.perf_counter()
        r = httpx.get(server.url("/w_100/a.jpg"), timeout=30)
        assert r.status_code == 502
        assert time.perf_counter() - started < 1.0 + 0.5
        assert r.headers["cache-control"] == "no-store"
        assert "127.0.0.1" not in r.text


def test_r9_cached_variant_outlives_its_source_within_the_source_ttl() -> None:
    """Decision (docs/resilience.md): the origin does not serve stale past the source TTL; the
    edge does, from `stale-if-error`. Within the TTL a variant needs no source at all."""
    with FaultyUpstream() as upstream:
        upstream.add("keep.jpg", photo(400, 300))
        env = {"IMGORIGIN_SOURCE": upstream.base + "/files/", "IMGORIGIN_SOURCE_TTL": "3600",
               "IMGORIGIN_CONNECT_TIMEOUT": "1"}
        with OriginProcess(env) as server:
            assert httpx.get(server.url("/w_100/keep.jpg"), timeout=30).status_code == 200
            upstream.stop()
            r = httpx.get(server.url("/w_100/keep.jpg"), timeout=30)
            assert r.status_code == 200
            assert r.headers["server-timing"].startswith("memory")
            # A new size is made from the original kept in memory; a source never fetched is a
            # 502, not a hang.
            assert httpx.get(server.url("/w_120/keep.jpg"), timeout=30).status_code == 200
            assert httpx.get(server.url("/w_100/other.jpg"), timeout=30).status_code == 502


@pytest.fixture(scope="module")
def origin_deadline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OriginProcess]:
    root = tmp_path_factory.mktemp("r10")
    (root / "big.jpg").write_bytes(photo(3000, 3000))
    (root / "small.jpg").write_bytes(photo(300, 200))
    env = {"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT)}
    with OriginProcess(env) as server:
        yield server


def test_r10_transform_past_its_deadline_is_stopped_and_the_thread_returns(
    origin_deadline: OriginProcess,
) -> None:
    server = origin_deadline
    assert httpx.get(server.url("/w_100/small.jpg"), timeout=30).status_code == 200
    worker = psutil.Process(server.worker_pids()[0])
    threads = worker.num_threads()
    # Cheap by the cost model (about 0.6 s: effects are not in it), so admitted; the 100-sigma
    # blur, sharpening and a lossless encode make it about 2 s here, twice the deadline.
    started = time.perf_counter()
    r = httpx.get(server.url("/w_2000,blur_100,sharpen_10,fmt_webp,lossless/big.jpg"),
                  timeout=30)
    elapsed = time.perf_counter() - started
    assert r.status_code == 504, r.text  # admitted (cheap estimate), then stopped
    assert elapsed < REQUEST_TIMEOUT + 1.0
    # The kill switch stops libvips: the pool thread is free again soon after the deadline.
    assert wait_until(lambda: server.metric("imgorigin_transforms_in_flight") == 0, 3)
    fresh = httpx.get(server.url("/w_110/small.jpg"), timeout=30)
    assert fresh.status_code == 200 and fresh.elapsed.total_seconds() < 3.0
    assert worker.num_threads() <= threads + 1
    assert server.metric("imgorigin_transforms_total", format="jpeg") >= 2


def test_r10_a_wavelet_sharpen_too_big_for_the_deadline_is_refused_or_stopped(
    origin_deadline: OriginProcess,
) -> None:
    """thumbor's sharpen on a 3000x3000 output takes seconds: the cost model refuses it up front
    (503) or the kill switch stops it (504), within the deadline, and the next request is served."""
    server = origin_deadline
    started = time.perf_counter()
    r = httpx.get(server.url("/w_3000,wsharpen_10:2,kernel_cubic/big.jpg"), timeout=30)
    elapsed = time.perf_counter() - started
    assert r.status_code in (503, 504), r.text
    assert elapsed < REQUEST_TIMEOUT + 1.0
    assert wait_until(lambda: server.metric("imgorigin_transforms_in_flight") == 0, 3)
    fresh = httpx.get(server.url("/w_120,wsharpen_2:1:luma/small.jpg"), timeout=30)
    assert fresh.status_code == 200 and fresh.elapsed.total_seconds() < 3.0
