"""Single-flight across workers: a waiter that gets the lease after its holder leaves."""

from __future__ import annotations

import asyncio

import pytest

from cache.coalesce import SingleFlight


class _Leases:
    """Held by someone else at the first ask, free afterwards; counts releases."""

    def __init__(self) -> None:
        self.asked = 0
        self.released = 0

    async def acquire(self, key: str) -> _Lease | None:
        self.asked += 1
        return None if self.asked == 1 else _Lease(self)


class _Lease:
    def __init__(self, leases: _Leases) -> None:
        self.leases = leases

    async def release(self) -> None:
        self.leases.released += 1


def test_a_look_that_raises_after_the_lease_is_taken_still_releases_it() -> None:
    leases = _Leases()
    looks: list[int] = []

    async def lookup() -> str | None:
        looks.append(1)
        if len(looks) == 2:  # the holder left a "not found" behind as it released the lease
            raise LookupError("source not found")
        return None

    async def compute() -> str:
        raise AssertionError("the waiter must not compute what the holder found missing")

    flights: SingleFlight = SingleFlight(leases, wait_limit=1.0, waited=_Counter())
    with pytest.raises(LookupError):
        asyncio.run(flights.run("k", lookup, compute))
    assert (len(looks), leases.asked, leases.released) == (2, 2, 1)


def test_a_found_result_after_the_lease_is_taken_releases_it_once() -> None:
    leases = _Leases()

    async def lookup() -> str | None:
        return "done" if leases.asked == 2 else None

    async def compute() -> str:
        raise AssertionError("found, nothing to compute")

    flights: SingleFlight = SingleFlight(leases, wait_limit=1.0, waited=_Counter())
    assert asyncio.run(flights.run("k", lookup, compute)) == ("done", False)
    assert leases.released == 1


class _Counter:
    def inc(self) -> None:
        pass
