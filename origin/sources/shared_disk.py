"""Shared source versions and bytes on this host: dot files in the disk tier's folder of each
source, so the workers of a host fetch a new source once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cache.coalesce import Leases
from cache.disk import DiskTier
from cache.journal import PurgeJournal
from origin.sources.shared import (
    ORIGINAL_FILE,
    VERSION_FILE,
    SharedOriginal,
    SharedVersion,
    decode_original,
    decode_version,
    encode_original,
    encode_version,
)


class DiskSources:
    """Dot files in the disk tier's folder of the source: removed by its purge `rmtree`, found by
    prefix purges through its `.source` marker, and evicted by its sweep under its byte cap."""

    name = "disk"

    def __init__(self, tier: DiskTier, journal: PurgeJournal, leases: Leases,
                 originals_ttl: float) -> None:
        self.tier = tier
        self.journal = journal
        self.leases = leases
        self.originals_ttl = originals_ttl

    async def version(self, source_id: str) -> SharedVersion | None:
        # A few dozen bytes, usually in the page cache: a direct read beats a thread hop.
        return decode_version(_read(self.tier.source_file(source_id, VERSION_FILE)))

    async def original(self, source_id: str) -> SharedOriginal | None:
        blob = await asyncio.to_thread(_read, self.tier.source_file(source_id, ORIGINAL_FILE))
        return decode_original(blob, self.originals_ttl)

    async def mark(self, source_id: str) -> Any:
        return self.journal.position

    async def store(self, source_id: str, mark: Any, version: str, data: bytes | None, *,
                    missing: bool = False) -> None:
        if mark is None or self.journal.purged_since(mark, source_id):
            return
        now = time.time()
        if data is not None:
            await self.tier.put_source_file(
                source_id, ORIGINAL_FILE, encode_original(SharedOriginal(version, data, now)))
        await self.tier.put_source_file(
            source_id, VERSION_FILE, encode_version(SharedVersion(version, now, missing)))
        if self.journal.purged_since(mark, source_id):
            # A purge began while these were written (see PurgeService.purge): take them back.
            await self.tier.discard(ORIGINAL_FILE, source_id)
            await self.tier.discard(VERSION_FILE, source_id)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None
