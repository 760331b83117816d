"""A brake on clients that re-send at once after a refusal instead of honouring Retry-After.

A refused miss (503 overloaded, 429 rate limited) still costs the worker's event loop a whole
request (parse, cache lookups, answer), and a closed-loop client that ignores `Retry-After`
turns every free moment of the loop into another refusal: in `make soak` with the wait bound on,
about 2 000 refusals a second cost half of the transforms (benchmarks/README.md, finding 32).
The tarpit remembers, per connection, until when its client was told to wait. A refusal on that
connection before then is held (a sleep, not a thread) until the `Retry-After` is up, at most
`max_hold` seconds, and only then sent. Such a client gets about one refusal per `Retry-After`
per connection, whatever its speed.

A first refusal on a connection is never held, so a burst of new connections is refused at once
(R12). Hits and admitted misses are never held: only a refusal comes here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable

# Connections remembered per worker; each is forgotten once its Retry-After (<= 30 s) is up.
_REMEMBERED = 4096


class Tarpit:
    """Per-connection memory of refusals, and how long a repeat refusal is held."""

    def __init__(self, max_hold: float, max_held: int = 1024) -> None:
        self.max_hold = max_hold  # 0: never hold
        self.max_held = max_held  # refusals held at once per worker; beyond it, sent at once
        self.held = 0
        self._told: dict[Hashable, float] = {}  # connection -> monotonic time it may retry

    def hold_for(self, connection: Hashable | None, now: float | None = None) -> float:
        """Seconds to hold a refusal on `connection` (0: send it now)."""
        if not self.max_hold or connection is None or self.held >= self.max_held:
            return 0.0
        until = self._told.get(connection)
        if until is None:
            return 0.0
        remaining = until - (time.monotonic() if now is None else now)
        return min(self.max_hold, remaining) if remaining > 0 else 0.0

    def told(self, connection: Hashable | None, retry_after: int,
             now: float | None = None) -> None:
        """Remember that `connection` was told to wait `retry_after` seconds."""
        if not self.max_hold or connection is None:
            return
        now = time.monotonic() if now is None else now
        told = self._told
        told.pop(connection, None)  # re-inserted last: the dict stays in order of refusal
        told[connection] = now + retry_after
        # Forget from the oldest refusal on: what has expired, and whatever is over the bound.
        # Each entry is dropped once, so this costs O(1) per call on average.
        while told:
            oldest = next(iter(told))
            if told[oldest] > now and len(told) <= _REMEMBERED:
                break
            del told[oldest]

    async def refuse(self, connection: Hashable | None, retry_after: int) -> float:
        """Before sending a refusal: hold it if `connection` did not wait as told, then remember
        the new `retry_after`. Returns the seconds held."""
        seconds = self.hold_for(connection)
        if seconds:
            self.held += 1
            try:
                await asyncio.sleep(seconds)
            finally:
                self.held -= 1
        self.told(connection, retry_after)
        return seconds


def connection_of(scope: dict[str, object]) -> Hashable | None:
    """The TCP connection a request came on: the peer's address and port. None when a trusted
    proxy named the client (uvicorn then gives its address with port 0: the connection carries
    many clients) or on a socket with no peer address."""
    client = scope.get("client")
    if isinstance(client, tuple | list) and len(client) == 2 and client[1]:
        return (client[0], client[1])
    return None
