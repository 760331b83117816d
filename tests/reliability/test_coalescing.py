"""R1, R3, R4: a burst of requests for one uncached variant does the work once, survives its
leader leaving, and shares a source failure without keeping it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.reliability.conftest import run_all
from tests.reliability.faults import FaultyUpstream
from tests.support.net import wait_until
from tests.support.origin import OriginProcess


@pytest.fixture(scope="module")
def origin_http(faulty: FaultyUpstream) -> Iterator[OriginProcess]:
    env = {"IMGORIGIN_SOURCE": faulty.base + "/files/", "IMGORIGIN_SOURCE_TTL": "3600",
           "IMGORIGIN_TRANSFORM_QUEUE": "64", "IMGORIGIN_MAX_QUEUE_WAIT": "0"}
    with OriginProcess(env) as server:
        yield server


def test_r1_burst_for_one_variant_fetches_and_transforms_once(
    origin_http: OriginProcess, faulty: FaultyUpstream
) -> None:
    faulty.add("r1.jpg", faulty.files["mid.jpg"][0], '"r1"')
    transforms = origin_http.metric("imgorigin_transforms_total")
    faulty.delay = 0.5
    try:
        results = run_all([origin_http.url("/w_300,fmt_webp/r1.jpg")] * 200)
    finally:
        faulty.delay = 0.0
    assert [r.status for r in results] == [200] * 200, {r.error for r in results}
    assert faulty.hits["/files/r1.jpg"] == 1
    assert origin_http.metric("imgorigin_transforms_total") - transforms == 1
    assert len({r.body for r in results}) == 1
    assert len({r.headers["etag"] for r in results}) == 1
    assert origin_http.metric("imgorigin_coalesced_total") >= 199


def test_r3_leader_leaving_mid_transform_does_not_cancel_the_others(
    origin_http: OriginProcess, faulty: FaultyUpstream
) -> None:
    faulty.add("r3.jpg", faulty.files["big.jpg"][0], '"r3"')
    path = "/w_1500,blur_60/r3.jpg"  # about 2 s of pipeline on the CI machine
    transforms = origin_http.metric("imgorigin_transforms_total")
    leader = socket.create_connection(("127.0.0.1", origin_http.port))
    leader.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert wait_until(
        lambda: origin_http.metric("imgorigin_transforms_in_flight") >= 1, 10)
    results: list = []
    others = threading.Thread(target=lambda: results.extend(
        run_all([origin_http.url(path)] * 30)))
    others.start()
    time.sleep(0.3)  # the others are waiting on the leader's work
    leader.close()
    others.join(60)
    assert [r.status for r in results] == [200] * 30
    assert origin_http.metric("imgorigin_transforms_total") - transforms == 1
    assert "CancelledError" not in origin_http.log(tail=None)


def test_r4_source_failure_is_shared_then_forgotten(
    origin_http: OriginProcess, faulty: FaultyUpstream
) -> None:
    faulty.add("r4.jpg", faulty.files["mid.jpg"][0], '"r4"')
    faulty.status["r4.jpg"] = 500
    faulty.delay = 0.3
    try:
        failed = run_all([origin_http.url("/w_200/r4.jpg")] * 40)
    finally:
        faulty.delay = 0.0
    assert [r.status for r in failed] == [502] * 40
    assert all(r.headers["cache-control"] == "no-store" for r in failed)
    assert faulty.hits["/files/r4.jpg"] == 1  # one fetch for the whole burst
    # A failure is not remembered: the next request fetches again, and still fails...
    again = run_all([origin_http.url("/w_200/r4.jpg")])
    assert again[0].status == 502 and faulty.hits["/files/r4.jpg"] == 2
    # ...until the source recovers; then the variant is made and served.
    del faulty.status["r4.jpg"]
    ok = run_all([origin_http.url("/w_200/r4.jpg")] * 5)
    assert [r.status for r in ok] == [200] * 5
    assert ok[0].headers["content-type"] == "image/jpeg"
