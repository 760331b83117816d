"""HTTP source versions and bytes shared by the workers of a host (beside the on-disk tier) or by
every host (Redis), so a new source is fetched, and later revalidated, once instead of once per
worker.

Entries go where the source's variants are purged: on disk into the source's folder of the disk
tier, in Redis under the source's hash tag, deleted by its purge script and stamped with its
purge generation. A store is skipped when the source was purged since its fetch began (`mark`).
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cache.coalesce import Leases
from cache.disk import DiskTier
from cache.journal import PurgeJournal
from cache.tiers import SharedTier

_ORIGINAL = struct.Struct(">4sdI")
_MAGIC = b"IOS1"
VERSION_FILE = ".version"
ORIGINAL_FILE = ".original"


@dataclass(frozen=True, slots=True)
class SharedVersion:
    version: str
    checked: float  # wall clock of the upstream answer that gave or confirmed it
    missing: bool = False  # the upstream answered 404/410 at `checked`


@dataclass(frozen=True, slots=True)
class SharedOriginal:
    version: str
    data: bytes
    stored: float  # wall clock


class SharedSources(Protocol):
    """One shared place for source versions and bytes. Never raises on the request path: an
    unavailable tier answers None and stores nothing."""

    name: str
    leases: Leases

    async def version(self, source_id: str) -> SharedVersion | None: ...

    async def original(self, source_id: str) -> SharedOriginal | None: ...

    async def mark(self, source_id: str) -> Any:
        """Taken before a fetch; None when a purge cannot be ruled out (then nothing is stored)."""
        ...

    async def store(self, source_id: str, mark: Any, version: str, data: bytes | None, *,
                    missing: bool = False) -> None:
        """The bytes (when given) first, then the version as checked now; `missing`: the
        upstream answered 404/410, so the other workers answer 404 without asking."""
        ...


def encode_version(found: SharedVersion) -> bytes:
    item: dict[str, Any] = {"v": found.version, "c": found.checked}
    if found.missing:
        item["m"] = 1
    return json.dumps(item, separators=(",", ":")).encode("utf-8", "surrogatepass")


def decode_version(blob: bytes | None) -> SharedVersion | None:
    if not blob:
        return None
    try:
        item = json.loads(blob)
        return SharedVersion(str(item["v"]), float(item["c"]), bool(item.get("m")))
    except (ValueError, KeyError, TypeError):
        return None


def encode_original(found: SharedOriginal) -> bytes:
    version = found.version.encode("utf-8", "surrogatepass")
    return _ORIGINAL.pack(_MAGIC, found.stored, len(version)) + version + found.data


def decode_original(blob: bytes | None, ttl: float) -> SharedOriginal | None:
    """None for a torn, foreign or expired (older than `ttl` s) value."""
    if not blob or len(blob) < _ORIGINAL.size:
        return None
    magic, stored, size = _ORIGINAL.unpack_from(blob)
    start = _ORIGINAL.size + size
    if magic != _MAGIC or len(blob) < start or time.time() - stored >= ttl:
        return None
    version = blob[_ORIGINAL.size:start].decode("utf-8", "surrogatepass")
    return SharedOriginal(version, blob[start:], stored)


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


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def from_tiers(tiers: Sequence[SharedTier], journal: PurgeJournal, leases: Leases,
               settings: Any) -> SharedSources | None:
    """Redis when configured (every host shares it), else the on-disk tier (the workers of this
    host), else nothing: then each worker fetches for itself."""
    by_name = {tier.name: tier for tier in tiers}
    redis_tier = by_name.get("redis")
    if redis_tier is not None:
        from origin.sources.shared_redis import RedisSources  # Redis is optional at import time

        return RedisSources(redis_tier, leases, version_ttl=settings.redis_ttl,
                            originals_ttl=settings.originals_ttl,
                            max_bytes=settings.shared_originals_max_bytes)
    disk = by_name.get("disk")
    if isinstance(disk, DiskTier):
        return DiskSources(disk, journal, leases, settings.originals_ttl)
    return None
