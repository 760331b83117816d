"""The variant cache a request sees: in-process LRU (L1) in front of the shared tiers."""

from __future__ import annotations

from collections.abc import Sequence

from cache.entry import CachedVariant
from cache.journal import PurgeJournal, PurgeRecord
from cache.memory import ByteLRU
from cache.tiers import SharedTier
from origin import metrics


class VariantCache:
    def __init__(self, memory_bytes: int, shared: Sequence[SharedTier],
                 journal: PurgeJournal) -> None:
        self.memory: ByteLRU[CachedVariant] = ByteLRU(memory_bytes)
        self.shared = list(shared)
        self.journal = journal
        journal.listeners.append(self._on_purge)
        self._memory_hit = metrics.CACHE_HITS.labels("memory")
        self._memory_miss = metrics.CACHE_MISSES.labels("memory")

    def _on_purge(self, record: PurgeRecord | None) -> None:
        if record is None:
            self.memory.clear()
            return
        self.memory.drop_sources(record.sources)
        self.memory.drop_prefixes(record.prefixes)

    def get_memory(self, key: str) -> CachedVariant | None:
        if self.memory.max_bytes == 0:
            return None
        entry = self.memory.get(key)
        (self._memory_hit if entry is not None else self._memory_miss).inc()
        return entry

    async def get_shared(self, key: str, source_id: str) -> tuple[CachedVariant | None, str]:
        """The first shared tier holding `key` (copied into L1), and that tier's name."""
        for tier in self.shared:
            entry = await tier.get(key, source_id)
            if entry is not None:
                metrics.CACHE_HITS.labels(tier.name).inc()
                self.memory.set(key, entry, entry.size, entry.source_id)
                return entry, tier.name
            metrics.CACHE_MISSES.labels(tier.name).inc()
        return None, ""

    async def lookup_shared(self, key: str, source_id: str) -> CachedVariant | None:
        """`get_shared` without the tier name, for waiters polling for another's result."""
        entry, _ = await self.get_shared(key, source_id)
        return entry

    async def store(self, key: str, entry: CachedVariant) -> None:
        self.memory.set(key, entry, entry.size, entry.source_id)
        for tier in self.shared:
            await tier.set(key, entry)

    @property
    def degraded(self) -> list[str]:
        return [tier.name for tier in self.shared if not tier.healthy]

    async def close(self) -> None:
        for tier in self.shared:
            await tier.close()
