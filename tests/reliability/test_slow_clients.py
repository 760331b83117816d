"""Slow clients against the real server: heads that never finish (slowloris), answers never read.

uvicorn times a connection out only while it is idle between requests, so each such client
would hold a socket and a file descriptor for ever; `IMGORIGIN_HEADER_TIMEOUT` bounds that, and
the server raises its soft descriptor limit to the hard one at start, so a few hundred of them
cannot make a worker stop accepting.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
import pyvips

from tests.support.origin import OriginProcess
from tests.support.rawhttp import HEALTH, answer, connect, read_until_closed


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OriginProcess]:
    source = tmp_path_factory.mktemp("slow")
    # Noise does not compress: a 2000x2000 PNG answer is about 12 MB, past the kernel's buffers.
    noise = pyvips.Image.gaussnoise(2000, 2000, sigma=80, mean=128).cast("uchar")
    noise.bandjoin([noise, noise]).copy(interpretation="srgb").write_to_file(
        str(source / "noise.png"))
    proc = OriginProcess(env={"IMGORIGIN_SOURCE": str(source), "IMGORIGIN_HEADER_TIMEOUT": "1",
                              "IMGORIGIN_SEND_TIMEOUT": "1"}).start()
    yield proc
    proc.stop()


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    server: OriginProcess,
) -> None:
    with connect(server.port) as sock:
        data, after = read_until_closed(sock)
    assert data == b""  # nothing was asked: nothing to answer
    assert 0.8 < after < 3.0


def test_a_request_head_that_stalls_gets_408_and_is_closed(server: OriginProcess) -> None:
    before = server.metric("imgorigin_slow_clients_total", stage="head")
    with connect(server.port) as sock:
        sock.sendall(b"GET /-/healthz HTTP/1.1\r\nHost: imgorigin\r\nX-Slow: ")
        data, after = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 408 ")
    assert b"cache-control: no-store" in data
    assert 0.8 < after < 3.0
    assert server.metric("imgorigin_slow_clients_total", stage="head") == before + 1


def test_a_slow_but_complete_head_and_a_kept_alive_connection_are_served(
    server: OriginProcess,
) -> None:
    with connect(server.port) as sock:
        for i in range(0, len(HEALTH), 8):  # dripped over about 0.6 s, within the timeout
            sock.sendall(HEALTH[i:i + 8])
            time.sleep(0.1)
        assert answer(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(1.5)  # idle past the header timeout: keep-alive rules here, not the head's
        sock.sendall(HEALTH)
        assert answer(sock).startswith(b"HTTP/1.1 200 ")


def test_hundreds_of_stalled_connections_do_not_stop_a_worker_accepting() -> None:
    """Started with a soft limit of 256 descriptors (a common default is 1024), 600 connections
    that never send a byte would leave the one worker unable to accept the next client."""
    proc = OriginProcess(env={"IMGORIGIN_HEADER_TIMEOUT": "60"}, nofile=(256, 4096)).start()
    idle: list[socket.socket] = []
    try:
        for _ in range(600):
            idle.append(socket.create_connection(("127.0.0.1", proc.port), timeout=5))
        time.sleep(0.5)  # let the worker accept them all
        r = httpx.get(proc.url("/-/healthz"), timeout=5)
        assert r.status_code == 200
    finally:
        for sock in idle:
            sock.close()
        proc.stop()


def test_an_answer_the_client_stops_reading_is_dropped_after_the_send_timeout(
    server: OriginProcess,
) -> None:
    """A PNG of many megabytes to a client with a 4 KB receive buffer that reads nothing: the
    answer waits in the worker's buffer, writing paused, until the send timeout drops it."""
    path = "/w_2000,fmt_png/noise.png"
    length = len(httpx.get(server.url(path), timeout=30).content)  # computed once, now cached
    assert length > 8_000_000
    before = server.metric("imgorigin_slow_clients_total", stage="send")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: imgorigin\r\n\r\n".encode())
    time.sleep(3)  # reads nothing: past the 1 s timeout and a sweep or two
    sock.settimeout(5)
    got = 0
    closed = False
    try:
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                closed = True
                break
            got += len(chunk)
    except ConnectionResetError:
        closed = True
    except TimeoutError:
        pass  # still open: the answer was never dropped
    finally:
        sock.close()
    assert closed, (got, length)
    assert got < length  # cut short, not delivered late
    assert server.metric("imgorigin_slow_clients_total", stage="send") == before + 1
    assert httpx.get(server.url("/-/healthz"), timeout=5).status_code == 200
