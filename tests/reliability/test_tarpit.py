"""R12, continued: a client that re-sends on the same connection before its Retry-After is up
gets its next refusal held back (origin/tarpit.py), so a retry storm costs the worker about one
refusal per Retry-After per connection; first refusals, other connections and hits are not held."""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import httpx
import pytest

from origin.tarpit import _REMEMBERED, Tarpit, connection_of
from tests.reliability.faults import photo
from tests.support.origin import OriginProcess

A, B = ("127.0.0.1", 40001), ("127.0.0.1", 40002)


def test_only_a_connection_that_did_not_wait_is_held() -> None:
    pit = Tarpit(max_hold=1.0)
    assert pit.hold_for(A, now=100.0) == 0.0  # never refused: a first refusal goes out at once
    pit.told(A, retry_after=3, now=100.0)
    assert pit.hold_for(A, now=100.5) == 1.0  # 2.5 s early, held at most max_hold
    assert pit.hold_for(A, now=102.6) == pytest.approx(0.4)  # only what is left of the wait
    assert pit.hold_for(A, now=103.0) == 0.0  # waited as told
    assert pit.hold_for(B, now=100.5) == 0.0  # another connection of the same client address
    assert pit.hold_for(None, now=100.5) == 0.0  # no peer address to know it by


def test_hold_zero_turns_the_tarpit_off() -> None:
    pit = Tarpit(max_hold=0)
    pit.told(A, retry_after=5, now=100.0)
    assert pit.hold_for(A, now=100.1) == 0.0


def test_held_refusals_are_bounded_and_the_memory_too() -> None:
    pit = Tarpit(max_hold=1.0, max_held=2)
    pit.told(A, retry_after=5, now=100.0)
    pit.held = 2  # two refusals already asleep: the next is sent at once
    assert pit.hold_for(A, now=100.1) == 0.0
    pit.held = 1
    assert pit.hold_for(A, now=100.1) == 1.0

    pit = Tarpit(max_hold=1.0)
    for port in range(_REMEMBERED + 500):
        pit.told(("10.0.0.1", port + 1), retry_after=5, now=100.0 + port / 1e4)
    assert len(pit._told) == _REMEMBERED
    assert pit.hold_for(("10.0.0.1", _REMEMBERED + 500), now=100.1) > 0  # newest kept
    assert pit.hold_for(("10.0.0.1", 1), now=100.1) == 0.0  # oldest forgotten
    # Expired entries go first, before any still-waiting connection is forgotten.
    pit = Tarpit(max_hold=1.0)
    for port in range(_REMEMBERED):
        pit.told(("10.0.0.2", port + 1), retry_after=1, now=100.0)
    pit.told(A, retry_after=5, now=101.5)
    assert len(pit._told) == 1 and pit.hold_for(A, now=101.6) == 1.0
    # And without reaching the bound: a connection whose wait is up is forgotten.
    pit.told(B, retry_after=1, now=107.0)
    assert list(pit._told) == [B]


def test_refuse_sleeps_the_hold_then_remembers_the_new_wait() -> None:
    async def scenario() -> None:
        pit = Tarpit(max_hold=0.2)
        assert await pit.refuse(A, retry_after=1) == 0.0
        started = time.monotonic()
        task = asyncio.ensure_future(pit.refuse(A, retry_after=1))
        await asyncio.sleep(0.05)
        assert pit.held == 1
        assert await task == pytest.approx(0.2, abs=0.02)
        assert time.monotonic() - started >= 0.19 and pit.held == 0
        assert pit.hold_for(A) > 0  # told again: the next early re-send is held too

    asyncio.run(scenario())


def test_connection_of_reads_the_peer_address() -> None:
    assert connection_of({"client": ("127.0.0.1", 5555)}) == ("127.0.0.1", 5555)
    assert connection_of({"client": ["::1", 7]}) == ("::1", 7)
    assert connection_of({"client": None}) is None
    assert connection_of({}) is None
    assert connection_of({"client": ("unix", 0)}) is None


def _origin(tmp: Path, hold: str, **env: str) -> OriginProcess:
    (tmp / "photo.jpg").write_bytes(photo(800, 600))
    (tmp / "huge.jpg").write_bytes(photo(4000, 3000))
    return OriginProcess({"IMGORIGIN_SOURCE": str(tmp), "IMGORIGIN_REFUSAL_HOLD": hold, **env})


@pytest.fixture(scope="module", params=["0.8", "0"], ids=["hold", "off"])
def limited(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OriginProcess, float]]:
    """One miss a minute per client, so every later miss is a 429 telling it to wait."""
    tmp = tmp_path_factory.mktemp("tarpit")
    with _origin(tmp, request.param, IMGORIGIN_RATE_LIMIT="1/m",
                 IMGORIGIN_RATE_LIMIT_BURST="1") as server:
        yield server, float(request.param)


def _get(conn: http.client.HTTPConnection, path: str,
         headers: dict[str, str] | None = None) -> tuple[int, float, Message]:
    started = time.perf_counter()
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    return response.status, time.perf_counter() - started, response.headers


def test_r12_early_resend_on_a_connection_is_held_and_nothing_else(
    limited: tuple[OriginProcess, float],
) -> None:
    server, hold = limited
    held_before = server.metric("imgorigin_refusals_held_total")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        assert _get(conn, "/w_100/photo.jpg")[0] == 200  # the one miss the budget allows
        sock = conn.sock
        status, first, headers = _get(conn, "/w_101/photo.jpg")
        assert status == 429 and int(headers["Retry-After"]) >= 1
        assert first < 0.5  # a first refusal is never held
        status, hit, _ = _get(conn, "/w_100/photo.jpg")
        assert status == 200 and hit < 0.5  # hits on the same connection are never held
        status, again, _ = _get(conn, "/w_102/photo.jpg")  # re-sent well before Retry-After
        assert status == 429
        # Through a trusted proxy (127.0.0.1 is, by default) the request names its own client
        # (X-Forwarded-For), and the connection is the proxy's, carrying many clients: not held.
        forwarded = {"X-Forwarded-For": "203.0.113.7"}
        assert _get(conn, "/w_104/photo.jpg", forwarded)[0] == 200  # that client's own budget
        assert [_get(conn, f"/w_{105 + i}/photo.jpg", forwarded)[:1] for i in range(2)] == [
            (429,), (429,)]
        status, proxied, _ = _get(conn, "/w_107/photo.jpg", forwarded)
        assert status == 429 and proxied < 0.5
        assert conn.sock is sock  # one connection throughout: refusals keep it open
        # Another connection of the same client: its first refusal goes out at once.
        other = httpx.get(server.url("/w_103/photo.jpg"), timeout=30)
        assert other.status_code == 429
        if hold:
            assert again >= hold - 0.05
            assert server.metric("imgorigin_refusals_held_total") == held_before + 1
        else:
            assert again < 0.5
            assert server.metric("imgorigin_refusals_held_total") == held_before
    finally:
        conn.close()


@pytest.fixture(params=["0.5", "0"], ids=["hold", "off"])
def one_thread_no_queue(request: pytest.FixtureRequest,
                        tmp_path: Path) -> Iterator[tuple[OriginProcess, float]]:
    with _origin(tmp_path, request.param, IMGORIGIN_TRANSFORM_THREADS="1",
                 IMGORIGIN_TRANSFORM_QUEUE="0", IMGORIGIN_MAX_QUEUE_WAIT="0",
                 IMGORIGIN_REQUEST_TIMEOUT="30") as server:
        yield server, float(request.param)


def test_r12_a_client_ignoring_retry_after_gets_one_503_per_hold(
    one_thread_no_queue: tuple[OriginProcess, float],
) -> None:
    """The storm of `make soak` in small: while a full-size 12 MP AVIF holds the only thread,
    one keep-alive connection re-sends distinct misses as fast as it can."""
    server, hold = one_thread_no_queue
    blocker = threading.Thread(
        target=lambda: httpx.get(server.url("/fmt_avif/huge.jpg"), timeout=60))
    blocker.start()
    deadline = time.monotonic() + 10
    while server.metric("imgorigin_transforms_in_flight") < 1:
        assert time.monotonic() < deadline, "the blocking transform never started"
        time.sleep(0.02)
    statuses: list[int] = []
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    started = time.monotonic()
    try:
        while time.monotonic() - started < 1.5 and blocker.is_alive():
            statuses.append(_get(conn, f"/w_{100 + len(statuses)}/photo.jpg")[0])
    finally:
        elapsed = time.monotonic() - started
        conn.close()
        blocker.join(60)
    refused = statuses.count(503)
    assert refused == len(statuses) >= 1, statuses  # the thread was busy throughout
    assert elapsed > 1.0, "the blocking transform ended too early to tell anything"
    at_most = 1 + elapsed / 0.5 + 1  # the first, then one per hold
    if hold:
        assert refused <= at_most
        assert server.metric("imgorigin_refusals_held_total") >= refused - 1
    else:
        assert refused > 5 * at_most  # without the tarpit it re-sends many times a second
    assert httpx.get(server.url("/-/healthz"), timeout=10).status_code == 200
