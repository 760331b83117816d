"""IMGORIGIN_KEEPALIVE_TIMEOUT: how long an idle kept-alive connection stays open. A CDN or load
balancer in front must be the side that closes first, so operators set it above theirs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.origin import OriginProcess
from tests.support.rawhttp import HEALTH, answer, connect, read_until_closed


@pytest.fixture(scope="module")
def server() -> Iterator[OriginProcess]:
    with OriginProcess(env={"IMGORIGIN_KEEPALIVE_TIMEOUT": "2"}) as proc:
        yield proc


def test_an_idle_connection_serves_again_then_closes_after_the_keepalive_timeout(
    server: OriginProcess,
) -> None:
    with connect(server.port) as sock:
        sock.sendall(HEALTH)
        assert answer(sock).startswith(b"HTTP/1.1 200")
        time.sleep(0.5)  # idle, well within the timeout: the same connection serves again
        sock.sendall(HEALTH)
        assert answer(sock).startswith(b"HTTP/1.1 200")
        sock.settimeout(15)
        data, after = read_until_closed(sock)
    assert data == b""
    # Closed by the server for being idle, not at once and not only by our own read timeout.
    assert 1.5 < after < 10
