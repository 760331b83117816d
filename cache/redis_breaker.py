"""A circuit breaker for the Redis tier, and the per-request rule 'one Redis failure is enough'.

Closed: calls go through. After `failures` consecutive failures it opens: calls are skipped at
once (the request goes on with L1 and compute) and a background probe, not request traffic,
checks Redis once per `cooldown` seconds (counted from the trip and from each failed probe); the
first successful probe closes it.

Independently, a request that saw one Redis failure skips Redis for the rest of its life (a
context variable, inherited by the tasks it starts), so a request never waits for Redis longer
than about one timeout, even before the breaker opens.
"""

from __future__ import annotations

import contextvars
import logging
import time

from prometheus_client import Counter, Gauge

log = logging.getLogger("imgorigin.cache")

BREAKER_OPEN = Gauge("imgorigin_cache_breaker_open",
                     "Workers whose circuit breaker for a shared tier is open", ("tier",),
                     multiprocess_mode="livesum")
BREAKER_OPENED = Counter("imgorigin_cache_breaker_opened", "Times a tier breaker opened",
                         ("tier",))
SKIPPED = Counter("imgorigin_cache_skipped", "Shared-tier calls skipped (breaker open or the "
                  "request already saw a failure)", ("tier",))

_failed_in_request: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "imgorigin_redis_failed", default=False)


def mark_request_failed() -> None:
    """This request saw Redis fail (possibly through a call it shared): skip it from now on."""
    _failed_in_request.set(True)


class Breaker:
    def __init__(self, tier: str, failures: int, cooldown: float) -> None:
        self.tier = tier
        self.threshold = failures
        self.cooldown = cooldown
        self.consecutive = 0
        self.opened_at: float | None = None
        self.last_probe: float | None = None
        self._skipped = SKIPPED.labels(tier)
        BREAKER_OPEN.labels(tier).set(0)

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def allow(self, *, in_request: bool = True) -> bool:
        """Whether a call may try the tier now: not while open, and for a request-path call
        not once its request saw the tier fail."""
        if self.opened_at is None and not (in_request and _failed_in_request.get()):
            return True
        self._skipped.inc()
        return False

    def until_probe(self) -> float:
        """Seconds until the background probe may try the tier: a cooldown after the trip and
        after each failed probe, however the probe loop's sleeps fall."""
        if self.opened_at is None:
            return 0.0
        since = max(self.opened_at, self.last_probe or self.opened_at)
        return max(0.0, since + self.cooldown - time.monotonic())

    def probed(self) -> None:
        self.last_probe = time.monotonic()

    def success(self) -> None:
        self.consecutive = 0

    def failure(self, *, in_request: bool = True) -> None:
        if in_request:
            mark_request_failed()
        self.consecutive += 1
        if self.opened_at is None and self.consecutive >= self.threshold:
            self.trip()

    def trip(self) -> None:
        """Open now (also used when the tier is found down at startup)."""
        if self.opened_at is not None:
            return
        self.opened_at = time.monotonic()
        self.last_probe = None
        BREAKER_OPEN.labels(self.tier).set(1)
        BREAKER_OPENED.labels(self.tier).inc()
        log.warning("%s tier unavailable: breaker open, serving without it", self.tier)

    def close(self) -> None:
        if self.opened_at is None:
            return
        down = time.monotonic() - self.opened_at
        self.opened_at = None
        self.consecutive = 0
        BREAKER_OPEN.labels(self.tier).set(0)
        log.warning("%s tier back after %.1f s: breaker closed", self.tier, down)
