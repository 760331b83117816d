"""A loopback TCP proxy, in its own thread, that can slow down or silence the connections it
carries: the faults a real network gives a long-lived Redis connection (added latency, a NAT or
firewall that forgets a connection and drops its packets without a reset)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass


@dataclass
class _Link:
    subscriber: bool = False  # it has sent SUBSCRIBE: a pub/sub connection
    silenced: bool = False    # its bytes are dropped both ways, and the sockets stay open


class TcpProxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`upstream_port`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.delay = 0.0  # seconds added before each chunk of replies is passed on
        self._links: list[_Link] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, port: int = 0) -> TcpProxy:
        """Listen on `port` (a free one by default; a stopped proxy's port to stand in for it)."""
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", port), self._loop).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def silence_subscribers(self) -> int:
        """Drop every byte of the pub/sub connections open now, keeping them open; new
        connections pass. Returns how many were silenced."""
        links = [link for link in self._links if link.subscriber]
        for link in links:
            link.silenced = True
        return len(links)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link()
        self._links.append(link)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pump(reader, up_writer, link, requests=True),
                             self._pump(up_reader, writer, link, requests=False),
                             return_exceptions=True)
        for w in (writer, up_writer):
            with contextlib.suppress(Exception):
                w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    link: _Link, *, requests: bool) -> None:
        try:
            while chunk := await reader.read(65536):
                if requests and b"SUBSCRIBE" in chunk.upper():
                    link.subscriber = True
                if not requests and self.delay:
                    await asyncio.sleep(self.delay)
                if link.silenced:
                    continue
                writer.write(chunk)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.close()
