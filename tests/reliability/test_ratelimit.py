"""R13: one client flooding misses gets 429 after its GCRA burst, others are unaffected, hits
are never limited; with Redis down the limit holds per worker (fail open to in-process)."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis as redis_sync

from origin.ratelimit import EPOCH, GCRA_LUA, LocalGCRA, RateLimiter, RatePolicy, make_redis
from tests.reliability.faults import photo
from tests.support.origin import OriginProcess
from tests.support.redis_server import RedisProcess

RATE, BURST = 2, 4


def test_local_gcra_burst_then_rate() -> None:
    now = [100.0]
    gcra = LocalGCRA(RatePolicy(rate=2, burst=4), clock=lambda: now[0])
    allowed = [gcra.check("a").allowed for _ in range(6)]
    assert allowed == [True] * 4 + [False] * 2
    denied = gcra.check("a")
    assert denied.retry_after == pytest.approx(0.5) and denied.remaining == 0
    assert gcra.check("b").allowed  # another client has its own budget
    now[0] += 0.5
    assert gcra.check("a").allowed and not gcra.check("a").allowed
    now[0] += 10
    assert gcra.check("a").remaining == 3  # full again after burst/rate seconds


def test_local_gcra_first_request_and_whole_burst_pass_at_any_clock_value() -> None:
    """(now + interval) - burst * interval can round to just above now (here: a monotonic clock
    within a minute below 2**14 s, with one request a minute), which refused a client's very
    first request with `Retry-After: 1`."""
    now = [16383.718868513277]
    assert (now[0] + 60.0) - 60.0 > now[0]  # the rounding this clock value provokes
    assert LocalGCRA(RatePolicy(rate=1 / 60, burst=1), clock=lambda: now[0]).check("a").allowed
    rng = random.Random(6)
    for _ in range(2000):
        now[0] = rng.uniform(1.0, 2.0**24)
        rate = rng.choice([1 / 60, 0.3, 1.0, 7.0, 10.0])
        burst = rng.randint(1, 5)
        gcra = LocalGCRA(RatePolicy(rate=rate, burst=burst), clock=lambda: now[0])
        decisions = [gcra.check("a") for _ in range(burst + 1)]
        assert [d.allowed for d in decisions] == [True] * burst + [False], (now[0], rate, burst)
        assert [d.remaining for d in decisions[:burst]] == list(range(burst - 1, -1, -1))


def test_local_gcra_memory_is_bounded() -> None:
    gcra = LocalGCRA(RatePolicy(rate=1, burst=1), max_keys=100)
    for i in range(1000):
        gcra.check(f"client-{i}")
    assert len(gcra.tats) <= 100


@pytest.fixture(scope="module")
def redis_proc() -> Iterator[RedisProcess]:
    server = RedisProcess().start()
    try:
        yield server
    finally:
        server.stop()


def test_redis_script_matches_the_in_process_algorithm(redis_proc: RedisProcess) -> None:
    client = redis_sync.Redis.from_url(redis_proc.url)
    script = client.register_script(GCRA_LUA)
    answers = [script(keys=["t:gcra"], args=[0.5, BURST, EPOCH]) for _ in range(6)]
    assert [int(a[0]) for a in answers] == [1, 1, 1, 1, 0, 0]
    assert [int(a[1]) for a in answers[:4]] == [3, 2, 1, 0]
    assert 0.3 < float(answers[4][2]) <= 0.5  # retry after about one interval
    ttl = client.pttl("t:gcra")
    assert 0 < ttl <= 2000  # the key lives only until the burst is whole again
    time.sleep(0.55)
    assert int(script(keys=["t:gcra"], args=[0.5, BURST, EPOCH])[0]) == 1
    client.close()


def test_redis_script_passes_a_first_request_where_the_clock_rounds(
    redis_proc: RedisProcess,
) -> None:
    """The script's arithmetic on the clock values that rounded the in-process version wrong:
    the epoch offset puts Redis' `now` just below 2**14 s, one request a minute, burst 1."""
    client = redis_sync.Redis.from_url(redis_proc.url)
    script = client.register_script(GCRA_LUA)
    offset = int(client.time()[0]) - (2**14 - 40)
    firsts = [script(keys=[f"t:first:{i}"], args=[60.0, 1, offset])[:2] for i in range(300)]
    assert [(int(a), int(r)) for a, r in firsts] == [(1, 0)] * 300
    assert int(script(keys=["t:first:0"], args=[60.0, 1, offset])[0]) == 0  # then it limits
    client.close()


def test_limiter_falls_back_in_process_when_redis_is_unreachable() -> None:
    async def scenario() -> None:
        dead = make_redis(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.05)
        limiter = RateLimiter(RatePolicy(rate=1, burst=2), dead)
        started = time.perf_counter()
        decisions = [await limiter.decide("misses", "x") for _ in range(3)]
        assert [d.allowed for d in decisions] == [True, True, False]
        assert time.perf_counter() - started < 0.5  # one failed call, then the cool-down
        await limiter.close()

    asyncio.run(scenario())


def _closed_port() -> int:
    from tests.support.net import free_port

    return free_port()


@pytest.fixture(scope="module")
def limited(redis_proc: RedisProcess, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[OriginProcess]:
    root: Path = tmp_path_factory.mktemp("r13")
    (root / "a.jpg").write_bytes(photo(300, 200))
    env = {"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_REDIS_URL": redis_proc.url,
           "IMGORIGIN_RATE_LIMIT": f"{RATE}/s", "IMGORIGIN_RATE_LIMIT_BURST": str(BURST),
           "IMGORIGIN_RATE_LIMIT_KEY_HEADER": "X-Api-Key", "IMGORIGIN_PURGE_TOKENS": "t",
           # Each flood re-sends on one connection, which the tarpit would pace to a refusal
           # per Retry-After (tests/reliability/test_tarpit.py); here every 429 comes at once.
           "IMGORIGIN_REFUSAL_HOLD": "0"}
    with OriginProcess(env, workers=2) as server:
        yield server


def _flood(server: OriginProcess, key: str, first_width: int, n: int = 10) -> list[httpx.Response]:
    with httpx.Client(timeout=10, headers={"X-Api-Key": key}) as client:
        return [client.get(server.url(f"/w_{first_width + i}/a.jpg")) for i in range(n)]


def test_r13_flooding_client_is_limited_others_are_not(
    limited: OriginProcess, redis_proc: RedisProcess
) -> None:
    hit = limited.url("/w_20/a.jpg")
    assert httpx.get(hit, headers={"X-Api-Key": "A"}, timeout=10).status_code == 200
    answers = _flood(limited, "A", 100)
    statuses = [r.status_code for r in answers]
    # The hit above spent one of A's burst; both workers share the budget through Redis.
    assert statuses[:BURST - 1] == [200] * (BURST - 1)
    assert statuses.count(429) >= 5, statuses
    refused = next(r for r in answers if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-policy"] == f'"misses";q={BURST};w={BURST // RATE}'
    assert re.fullmatch(r'"misses";r=0;t=\d+', refused.headers["ratelimit"])
    assert refused.headers["cache-control"] == "no-store"
    assert refused.json()["error"] == "rate_limited"
    # Hits are never limited; another client has its own budget.
    assert httpx.get(hit, headers={"X-Api-Key": "A"}, timeout=10).status_code == 200
    assert [r.status_code for r in _flood(limited, "B", 200, n=3)] == [200] * 3
    assert limited.metric("imgorigin_rate_limited_total", route="misses") >= 5
    assert redis_sync.Redis.from_url(redis_proc.url).keys("imgorigin:rl:misses:*")


def test_r13_purge_is_limited_too(limited: OriginProcess) -> None:
    with httpx.Client(timeout=10, headers={"X-Api-Key": "P", "Authorization": "Bearer t"}) as c:
        statuses = [c.post(limited.url("/-/purge"), json={"sources": ["a.jpg"]}).status_code
                    for _ in range(BURST + 4)]
    assert statuses[:BURST] == [200] * BURST and 429 in statuses


def test_r13_redis_down_fails_open_to_the_in_process_limit(
    limited: OriginProcess, redis_proc: RedisProcess
) -> None:
    redis_proc.kill()
    started = time.perf_counter()
    answers = _flood(limited, "C", 300, n=16)
    elapsed = time.perf_counter() - started
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {200, 429} and statuses.count(200) >= BURST
    # Each of the 2 workers now keeps its own budget: still limited, at most twice as loose.
    assert statuses.count(429) >= 4, statuses
    assert elapsed < 10
    assert limited.metric("imgorigin_rate_limit_fallbacks_total") >= 1
