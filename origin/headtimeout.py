"""The HTTP protocol of the workers: uvicorn's httptools protocol plus deadlines on slow clients:
on the request head, as nginx's `client_header_timeout` and Go's `ReadHeaderTimeout` give, and
on an answer the client stopped reading, as nginx's `send_timeout`.

uvicorn times a connection out only while it is idle between requests (keep-alive). One that
sends nothing, or half a request line, would keep its socket and descriptor for ever, and a few
thousand of them (slowloris) leave a worker unable to accept anyone. Here the head of each
request must be complete within `head_timeout` seconds of the connection (for the first
request) or of its first byte (for the next ones). A connection that asked nothing is closed; a
request cut short gets 408 first.

An answer whose bytes wait in the transport's buffer (above its high-water mark, so uvicorn
paused writing) for `send_timeout` seconds without the client draining them below the low-water
mark is cut: the connection is aborted, its buffer freed.

A request only notes when its head began, and a write pause when it began; one sweep per worker,
a few times per timeout, closes the late ones. A timer per request would cost every cache hit a
timer armed and cancelled.

When the worker stops (a reload, a recycle, a scale-down), uvicorn closes every connection that
is between requests at once. A connection accepted a moment before, or a kept-alive one the
client reused at that moment, then loses a request the client has already sent: it sees the
connection closed without an answer. Here such a connection gets `STOP_GRACE` seconds: a request
that arrives is answered, with `Connection: close`; one that sends nothing is closed after it.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_BODY = b"request head took too long to arrive"
# Seconds a connection between requests is kept open once its worker stops, for a request
# already on its way.
STOP_GRACE = 1.0
_REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\n"
                    b"cache-control: no-store\r\nconnection: close\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(_BODY), _BODY))


class HeadTimeoutProtocol(HttpToolsProtocol):
    head_timeout: float = 20.0  # set from IMGORIGIN_HEADER_TIMEOUT by the worker
    send_timeout: float = 60.0  # set from IMGORIGIN_SEND_TIMEOUT by the worker
    _swept_loop: asyncio.AbstractEventLoop | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_since: float | None = self.loop.time()  # None: no head is awaited
        self.head_begun = False
        self.send_stalled_since: float | None = None
        self.stopping = False
        if HeadTimeoutProtocol._swept_loop is not self.loop:
            HeadTimeoutProtocol._swept_loop = self.loop
            _sweep(self.loop, self.connections,
                   min(1.0, self.head_timeout / 4, self.send_timeout / 4))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_begun = True
        if self.head_since is None:
            self.head_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self.head_since = None
        self.head_begun = False
        super().on_headers_complete()
        if self.stopping and self.cycle is not None:
            self.cycle.keep_alive = False  # answered with `Connection: close`, then closed

    def shutdown(self) -> None:
        """The worker is stopping: a request in progress finishes and closes the connection (as
        in uvicorn); a connection between requests is closed after `STOP_GRACE`, unless a
        request arrived meanwhile."""
        self.stopping = True
        if self.cycle is None or self.cycle.response_complete:
            self.loop.call_later(STOP_GRACE, self._close_between_requests)
        else:
            self.cycle.keep_alive = False

    def _close_between_requests(self) -> None:
        if not self.transport.is_closing() and (self.cycle is None
                                                or self.cycle.response_complete):
            self.transport.close()

    def pause_writing(self) -> None:
        super().pause_writing()
        self.send_stalled_since = self.loop.time()

    def resume_writing(self) -> None:
        self.send_stalled_since = None
        super().resume_writing()

    def send_expired(self) -> None:
        """Drop a connection whose client stopped reading its answer."""
        self.send_stalled_since = None
        from origin import metrics  # see head_expired

        metrics.SLOW_CLIENTS.labels("send").inc()
        self.transport.abort()

    def head_expired(self) -> None:
        """Answer 408 to a request cut short, and close the connection."""
        self.head_since = None
        if self.transport.is_closing():
            return
        # Imported here: the master imports this module before it sets up multiprocess metrics.
        from origin import metrics

        metrics.SLOW_CLIENTS.labels("head").inc()
        if self.head_begun:
            self.transport.write(_REQUEST_TIMEOUT)
        self.transport.close()


def _sweep(loop: asyncio.AbstractEventLoop, connections: set[HeadTimeoutProtocol],
           every: float) -> None:
    """Close every connection of this worker whose awaited head, or whose stalled answer, is
    past its timeout; again in `every` seconds."""
    now = loop.time()
    for conn in list(connections):
        if conn.head_since is not None and now - conn.head_since >= conn.head_timeout:
            conn.head_expired()
        elif (conn.send_stalled_since is not None
              and now - conn.send_stalled_since >= conn.send_timeout):
            conn.send_expired()
    loop.call_later(every, _sweep, loop, connections, every)
