"""Fixtures of the reliability suite: a fault-injecting upstream and generated images."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.reliability.faults import FaultyUpstream, photo


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultyUpstream]:
    with FaultyUpstream() as server:
        server.add("big.jpg", photo(3000, 3000), '"big-1"')
        server.add("mid.jpg", photo(1200, 900), '"mid-1"')
        yield server


@dataclass
class Result:
    status: int
    seconds: float
    headers: httpx.Headers
    body: bytes
    error: str = ""


async def fetch_all(urls: list[str], *, headers: dict[str, str] | None = None,
                    timeout: float = 60) -> list[Result]:
    """GET every URL at once (one connection each) and time each answer."""
    limits = httpx.Limits(max_connections=len(urls) + 1, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:

        async def one(url: str) -> Result:
            started = time.perf_counter()
            try:
                r = await client.get(url, headers=headers)
            except httpx.HTTPError as exc:
                return Result(0, time.perf_counter() - started, httpx.Headers(), b"",
                              type(exc).__name__)
            return Result(r.status_code, time.perf_counter() - started, r.headers, r.content)

        return list(await asyncio.gather(*(one(u) for u in urls)))


def run_all(urls: list[str], **kwargs: object) -> list[Result]:
    return asyncio.run(fetch_all(urls, **kwargs))  # type: ignore[arg-type]
