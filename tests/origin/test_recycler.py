"""The recycler's budgets, without a server: transforms counted, RSS checked after each one."""

from __future__ import annotations

import pytest

from origin import recycle
from origin.recycle import Recycler, current_rss
from origin.settings import MIB, RSS_HEADROOM, Settings


@pytest.fixture
def stops(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(recycle, "_stop", lambda: calls.append(1))
    return calls


def test_rss_over_the_cap_stops_the_worker_once(stops: list[int]) -> None:
    readings = iter([100 * MIB, 300 * MIB, 300 * MIB, 300 * MIB])
    reasons: list[str] = []
    recycler = Recycler(0, 200 * MIB, rss=lambda: next(readings), on_recycle=reasons.append)
    recycler.count()
    assert stops == []
    recycler.count()
    assert stops == [1]
    recycler.count()
    recycler.count()
    assert stops == [1]  # already stopping: asked once
    assert reasons == ["rss"]


def test_rss_at_or_under_the_cap_or_unknown_never_stops(stops: list[int]) -> None:
    readings = iter([200 * MIB, None, 10 * MIB])
    recycler = Recycler(0, 200 * MIB, rss=lambda: next(readings))
    for _ in range(3):
        recycler.count()
    assert stops == []


def test_no_cap_never_reads_rss(stops: list[int]) -> None:
    def unreadable() -> int:
        raise AssertionError("RSS read with the cap off")

    recycler = Recycler(0, 0, rss=unreadable)
    for _ in range(5):
        recycler.count()
    assert stops == []


def test_transform_budget_stops_once(stops: list[int]) -> None:
    reasons: list[str] = []
    recycler = Recycler(10, 0, on_recycle=reasons.append)
    for _ in range(recycler.limit - 1):
        recycler.count()
    assert stops == []
    for _ in range(5):
        recycler.count()
    assert stops == [1]
    assert reasons == ["transforms"]
    assert 5 <= recycler.limit <= 15


def test_current_rss_reads_this_process() -> None:
    rss = current_rss()
    assert rss is not None and 10 * MIB < rss < 4096 * MIB
    grown = bytearray(64 * MIB)  # touched pages count; a zeroed allocation is touched here
    for i in range(0, len(grown), 4096):
        grown[i] = 1
    after = current_rss()
    assert after is not None and after - rss > 48 * MIB


def test_rss_cap_follows_the_caches_unless_set() -> None:
    assert Settings.from_env({}).worker_rss_cap == 96 * MIB + RSS_HEADROOM == 384 * MIB
    bigger = Settings.from_env({"IMGORIGIN_MEMORY_CACHE_MAX_BYTES": str(512 * MIB)})
    assert bigger.worker_rss_cap == (512 + 32) * MIB + RSS_HEADROOM
    assert Settings.from_env({"IMGORIGIN_WORKER_MAX_RSS_BYTES": "0"}).worker_rss_cap == 0
    assert Settings.from_env({"IMGORIGIN_WORKER_MAX_RSS_BYTES": "1000"}).worker_rss_cap == 1000


def test_a_cap_under_the_rss_at_start_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="imgorigin"):
        recycle.warn_if_cap_too_low(0)  # off
        recycle.warn_if_cap_too_low(1 << 40)
        assert caplog.records == []
        recycle.warn_if_cap_too_low(1)
    assert len(caplog.records) == 1
    assert "every transform will replace the worker" in caplog.records[0].getMessage()
