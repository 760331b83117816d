"""An upstream that closes a kept-alive connection just as the next request goes out on it (the
keep-alive timers of both sides racing) costs one more connection, not a 502."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.net import free_port, wait_until
from tests.support.origin import OriginProcess


class ClosingUpstream:
    """A raw HTTP/1.1 server on loopback: answers the first request of each connection with
    keep-alive, then closes the connection, unanswered, when a second request arrives on it."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.port = free_port()
        self.connections = 0
        self.requests = 0
        self.unanswered = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = False
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
                self.requests += 1
                if answered:
                    self.unanswered += 1
                    break
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                             b'ETag: "k1"\r\nConnection: keep-alive\r\n'
                             b"Content-Length: " + str(len(self.body)).encode() + b"\r\n\r\n"
                             + self.body)
                await writer.drain()
                answered = True
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def start(self) -> ClosingUpstream:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", self.port), self._loop)
        self._server = future.result(10)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def closing(samples_dir: Path) -> Iterator[ClosingUpstream]:
    upstream = ClosingUpstream((samples_dir / "products" / "shoe.jpg").read_bytes()).start()
    yield upstream
    upstream.stop()


def test_R9_upstream_closing_a_reused_connection_is_asked_again(
    closing: ClosingUpstream,
) -> None:
    # Every request revalidates in the request (TTL 0), so the second one reuses the pooled
    # connection the first one left, which the upstream then closes without an answer.
    env = {"IMGORIGIN_SOURCE": f"http://127.0.0.1:{closing.port}/",
           "IMGORIGIN_SOURCE_TTL": "0", "IMGORIGIN_SOURCE_STALE": "0"}
    with OriginProcess(env) as server:
        first = httpx.get(server.url("/w_50/shoe.jpg"), timeout=30)
        assert first.status_code == 200, first.text
        second = httpx.get(server.url("/w_51/shoe.jpg"), timeout=30)
        assert second.status_code == 200, second.text
        assert wait_until(lambda: closing.requests == 3, 5), closing.requests
        # The dropped request was sent on the first connection and asked again on a new one.
        assert closing.unanswered == 1
        assert closing.connections == 2
