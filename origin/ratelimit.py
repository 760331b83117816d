"""Per-client rate limits on the expensive paths (misses, purges): GCRA, shared through Redis.

GCRA keeps one number per client, the theoretical arrival time (TAT): each request pushes it
`1/rate` seconds further; a request is refused while the TAT is more than `burst/rate` seconds
ahead of now. In Redis the whole decision is one Lua script (atomic, the server's clock), so every
worker and host shares one budget per client. When Redis fails or is slow, decisions are made
in-process (per worker) for a cool-down: the limit stays on, only less shared.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from origin import metrics
from origin.errors import RateLimited

# KEYS[1] the client's TAT key; ARGV: emission interval (s), burst, now offset (s).
# Returns {allowed, remaining, retry_after, reset_after}; the floats as strings (Lua -> integer
# truncation otherwise).
GCRA_LUA = """
local SLACK = 0.000001
if redis.replicate_commands then pcall(redis.replicate_commands) end
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = (tonumber(t[1]) - tonumber(ARGV[3])) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at - now > SLACK then
  return {0, 0, tostring(allow_at - now), tostring(tat - now)}
end
local reset_after = new_tat - now
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(reset_after * 1000))
return {1, math.max(0, math.floor((now - allow_at + SLACK) / interval)), '0', tostring(reset_after)}
"""
EPOCH = 1_700_000_000  # subtracted from Unix time so doubles keep microseconds
# `allow_at` is `now` itself for a client with its whole burst left, but (now + i) - b*i can
# round to a hair above `now`, which refused such a client (its first request, with burst 1).
# A microsecond, the clocks' own resolution, absorbs the rounding, in the decision and in the
# requests remaining (both here and in GCRA_LUA).
SLACK = 1e-6


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """`rate` requests per second sustained, `burst` at once."""

    rate: float
    burst: int

    @classmethod
    def from_settings(cls, rate: float, burst: int) -> RatePolicy | None:
        """None when limiting is off (rate 0); a burst of 0 means one second's worth."""
        if rate <= 0:
            return None
        return cls(rate, burst or max(1, math.ceil(rate)))

    @property
    def interval(self) -> float:
        return 1.0 / self.rate

    @property
    def window(self) -> int:
        """Seconds in which a spent burst comes back."""
        return max(1, math.ceil(self.burst / self.rate))


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after: float
    reset_after: float


class LocalGCRA:
    """The same algorithm in this process; memory bounded by dropping expired clients."""

    def __init__(self, policy: RatePolicy, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.policy = policy
        self.clock = clock
        self.max_keys = max_keys
        self.tats: dict[str, float] = {}

    def check(self, key: str) -> Decision:
        interval, burst = self.policy.interval, self.policy.burst
        now = self.clock()
        tat = max(self.tats.get(key, now), now)
        new_tat = tat + interval
        allow_at = new_tat - burst * interval
        if allow_at - now > SLACK:
            return Decision(False, 0, allow_at - now, tat - now)
        if len(self.tats) >= self.max_keys and key not in self.tats:
            self.tats = {k: v for k, v in self.tats.items() if v > now}
            if len(self.tats) >= self.max_keys:
                self.tats.clear()  # a flood of distinct keys: forget rather than grow
        self.tats[key] = new_tat
        remaining = max(0, math.floor((now - allow_at + SLACK) / interval))
        return Decision(True, remaining, 0.0, new_tat - now)


def make_redis(url: str, timeout: float) -> Any:
    """A small redis-py asyncio client of its own: short timeouts, no retries (fail fast)."""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    common: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout,
                              "retry": Retry(NoBackoff(), 0), "health_check_interval": 0}
    if url.startswith("redis+cluster://"):
        from redis.asyncio.cluster import ClusterNode, RedisCluster

        nodes = []
        for part in url.removeprefix("redis+cluster://").split("/")[0].split(","):
            host, _, port = part.rpartition(":")
            nodes.append(ClusterNode(host or "127.0.0.1", int(port or 6379)))
        return RedisCluster(startup_nodes=nodes, socket_timeout=timeout,
                            socket_connect_timeout=timeout)
    return Redis.from_url(url, max_connections=32, **common)


class RateLimiter:
    """`check(scope, client)` raises 429 when the client is over its budget for that scope."""

    def __init__(self, policy: RatePolicy, redis: Any = None, *, prefix: str = "imgorigin",
                 cooldown: float = 1.0) -> None:
        self.policy = policy
        self.redis = redis
        self.prefix = prefix
        self.cooldown = cooldown
        self.local = LocalGCRA(policy)
        self._script = redis.register_script(GCRA_LUA) if redis is not None else None
        self._redis_down_until = 0.0

    def _key(self, scope: str, client: str) -> str:
        # Hashed: an API key must not sit in Redis in clear.
        digest = hashlib.blake2b(client.encode(), digest_size=12).hexdigest()
        return f"{self.prefix}:rl:{scope}:{digest}"

    async def decide(self, scope: str, client: str) -> Decision:
        key = self._key(scope, client)
        if self._script is not None and time.monotonic() >= self._redis_down_until:
            try:
                allowed, remaining, retry, reset = await self._script(
                    keys=[key], args=[repr(self.policy.interval), self.policy.burst, EPOCH])
                return Decision(bool(allowed), int(remaining), float(retry), float(reset))
            except Exception:  # any Redis failure or timeout: decide in-process
                self._redis_down_until = time.monotonic() + self.cooldown
        if self._script is not None:
            metrics.RATE_LIMIT_FALLBACKS.inc()
        return self.local.check(key)

    async def check(self, scope: str, client: str) -> None:
        decision = await self.decide(scope, client)
        if not decision.allowed:
            metrics.RATE_LIMITED.labels(scope).inc()
            exc = RateLimited("too many requests; retry later",
                              retry_after=max(1, math.ceil(decision.retry_after)))
            exc.headers = {**(exc.headers or {}), **self.headers(scope, decision)}
            raise exc

    def headers(self, scope: str, decision: Decision) -> dict[str, str]:
        """RateLimit-Policy and RateLimit, as in draft-ietf-httpapi-ratelimit-headers (-08 on):
        the quota is the burst, refilled over `w` seconds; `t` is when it is whole again."""
        policy = self.policy
        return {
            "RateLimit-Policy": f'"{scope}";q={policy.burst};w={policy.window}',
            "RateLimit": f'"{scope}";r={decision.remaining};t={math.ceil(decision.reset_after)}',
        }

    async def close(self) -> None:
        if self.redis is not None:
            # Closing a connection to a dead Redis is not an error.
            with contextlib.suppress(Exception):
                await self.redis.aclose()
