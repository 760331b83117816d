"""The HTTP protocol of the workers: uvicorn's httptools protocol plus a deadline on the request
head, as nginx's `client_header_timeout` and Go's `ReadHeaderTimeout` give.

uvicorn times a connection out only while it is idle between requests (keep-alive). One that
sends nothing, or half a request line, would keep its socket and descriptor for ever, and a few
thousand of them (slowloris) leave a worker unable to accept anyone. Here the head of each
request must be complete within `head_timeout` seconds of the connection (for the first
request) or of its first byte (for the next ones). A connection that asked nothing is closed; a
request cut short gets 408 first.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_BODY = b"request head took too long to arrive"
_REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\n"
                    b"cache-control: no-store\r\nconnection: close\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(_BODY), _BODY))


class HeadTimeoutProtocol(HttpToolsProtocol):
    head_timeout: float = 20.0  # set from IMGORIGIN_HEADER_TIMEOUT by the worker

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_begun = False
        self._arm_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True
        if self._head_timer is None:
            self._arm_head()

    def on_headers_complete(self) -> None:
        self._cancel_head()
        self._head_begun = False
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head()
        super().connection_lost(exc)

    def _arm_head(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_expired)

    def _cancel_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        # Imported here: the master imports this module before it sets up multiprocess metrics.
        from origin import metrics

        metrics.SLOW_HEADS.inc()
        if self._head_begun:
            self.transport.write(_REQUEST_TIMEOUT)
        self.transport.close()
