"""The variant cache a request sees: in-process LRU (L1) in front of the shared tiers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cache.entry import CachedVariant
from cache.journal import PurgeJournal, PurgeRecord
from cache.memory import ByteLRU
from cache.tiers import SharedTier
from origin import metrics


@dataclass(slots=True)
class StoreMark:
    """Taken when a transform starts; a store compares against it so that a result computed
    across a purge of its source is dropped instead of cached (in any tier)."""

    journal: int
    generations: dict[str, bytes | None] = field(default_factory=dict)
    epoch: int | None = None  # `VariantCache.epoch` then: purges applied here, from any host


class VariantCache:
    def __init__(self, memory_bytes: int, shared: Sequence[SharedTier],
                 journal: PurgeJournal) -> None:
        self.memory: ByteLRU[CachedVariant] = ByteLRU(memory_bytes)
        self.shared = list(shared)
        self.journal = journal
        # Bumped by every purge this worker applies; a shared-tier read that straddles one
        # does not fill L1 (its value may be what the purge just deleted).
        self.epoch = 0
        journal.listeners.append(self._on_purge)
        self._memory_hit = metrics.CACHE_HITS.labels("memory")
        self._memory_miss = metrics.CACHE_MISSES.labels("memory")

    def _on_purge(self, record: PurgeRecord | None) -> None:
        self.epoch += 1
        for tier in self.shared:
            forget = getattr(tier, "forget_reads", None)
            if forget is not None:
                forget()
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
            epoch = self.epoch
            entry = await tier.get(key, source_id)
            if entry is not None:
                metrics.cache_hits(tier.name).inc()
                if epoch == self.epoch:
                    self.memory.set(key, entry, entry.size, entry.source_id)
                return entry, tier.name
            metrics.cache_misses(tier.name).inc()
        return None, ""

    async def lookup_shared(self, key: str, source_id: str) -> CachedVariant | None:
        """`get_shared` without the tier name, for waiters polling for another's result."""
        entry, _ = await self.get_shared(key, source_id)
        return entry

    async def mark(self, source_id: str) -> StoreMark:
        """What `store` checks against: the journal position and each tier's generation."""
        mark = StoreMark(self.journal.position, epoch=self.epoch)
        for tier in self.shared:
            generation = getattr(tier, "generation", None)
            if generation is not None:
                mark.generations[tier.name] = await generation(source_id)
        return mark

    async def store(self, key: str, entry: CachedVariant, mark: StoreMark | None = None) -> bool:
        """Cache a fresh result in every tier, unless its source was purged since `mark`.
        L1 is filled first, so a purge arriving while the shared tiers are written drops it."""
        if mark is not None and self.journal.purged_since(mark.journal, entry.source_id):
            metrics.STALE_STORES.labels("journal").inc()
            return False
        self.memory.set(key, entry, entry.size, entry.source_id)
        unconfirmed = False
        for tier in self.shared:
            if mark is None or tier.name not in mark.generations:
                await tier.set(key, entry)
                continue
            # A generational tier (it has `generation`): set(key, entry, generation) -> bool|None
            generation = mark.generations[tier.name]
            stored = await tier.set(key, entry, generation)  # type: ignore[call-arg]
            if stored is False:
                # Refused by the generation check: the source was purged meanwhile, somewhere.
                # The disk tier, before Redis in the list, may have taken the result already.
                self.memory.drop_sources([entry.source_id])
                await self._discard(key, entry.source_id)
                return False
            unconfirmed |= stored is None
        if unconfirmed and mark is not None and mark.epoch not in (None, self.epoch):
            # Redis could not check the generation (it was away when the transform started, or
            # the store failed), and a purge broadcast from some host arrived meanwhile: it may
            # have been of this source, so memory and disk do not keep the result either.
            self.memory.drop_sources([entry.source_id])
            await self._discard(key, entry.source_id)
            metrics.STALE_STORES.labels("epoch").inc()
            return False
        if mark is not None and self.journal.purged_since(mark.journal, entry.source_id):
            # A purge on this host began while the writes ran, and its deletions may have gone
            # before a write landed: take back what was written (reading the journal has
            # already dropped the source from memory).
            await self._discard(key, entry.source_id)
            metrics.STALE_STORES.labels("journal").inc()
            return False
        return True

    async def _discard(self, key: str, source_id: str) -> None:
        """Take a just-written entry back from the tiers that cannot refuse it (disk)."""
        for tier in self.shared:
            discard = getattr(tier, "discard", None)
            if discard is not None:
                await discard(key, source_id)

    def remote_purges(self) -> Callable[[PurgeRecord | None], None]:
        """What to do with a purge broadcast by another host (or None: some may have been
        missed): this host's disk tier first, when there is one beside Redis, then memory."""
        disk = next((tier for tier in self.shared if tier.name == "disk"), None)
        if disk is None:
            return self.journal.deliver
        running: set[asyncio.Task[None]] = set()

        async def purge_disk_then_memory(record: PurgeRecord | None) -> None:
            if record is None:
                await disk.clear()  # type: ignore[attr-defined]
            else:
                await disk.purge(record.sources, record.prefixes)
            self.journal.deliver(record)

        def deliver(record: PurgeRecord | None) -> None:
            task = asyncio.create_task(purge_disk_then_memory(record))
            running.add(task)
            task.add_done_callback(running.discard)

        return deliver

    @property
    def degraded(self) -> list[str]:
        return [tier.name for tier in self.shared if not tier.healthy]

    async def close(self) -> None:
        for tier in self.shared:
            await tier.close()
