"""Two Redis tiers as two workers: one listens for purge broadcasts, one sends them."""

from __future__ import annotations

import asyncio

from cache.journal import PurgeRecord
from cache.redis import RedisTier
from tests.support.net import wait_until


async def start_listening(listener: RedisTier, purger: RedisTier,
                          seen: list[PurgeRecord | None]) -> None:
    """Start both; return once the listener's subscription is confirmed (it records into
    `seen` what it is told to drop)."""
    await listener.start(seen.append)
    await purger.start(lambda _record: None)
    assert await asyncio.to_thread(wait_until, lambda: bool(
        listener.subscriber and listener.subscriber.connected), 5)
