"""R14 on the embedded tier: a purge by another worker of the host that lands while this worker
writes a result (or a source's bytes) to disk must not leave that write behind.

Each test runs one worker's store in-process and, at a chosen point inside its file write, the
whole purge of a second worker of the same host (its own journal handle, its own tier object on
the same directory), as a second process would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

import cache.disk
from cache.coalesce import FileLeases
from cache.disk import DiskTier
from cache.entry import CachedVariant
from cache.journal import PurgeJournal, PurgeRecord
from cache.purge import PurgeService
from cache.tiers import PurgeCount
from cache.variants import VariantCache
from origin.sources.shared import ORIGINAL_FILE, SharedOriginal, SharedVersion
from origin.sources.shared_disk import DiskSources

SOURCE = "shop/shoe.jpg"


def _entry(body: bytes = b"old bytes" * 100) -> CachedVariant:
    return CachedVariant(body=body, content_type="image/jpeg", etag='"k"', source_id=SOURCE,
                         source_version="v1", format="jpeg", width=10, height=10,
                         created=1700000000.0, transform_ms=1.0)


class Worker:
    """What one worker process holds of the host's shared cache state."""

    def __init__(self, root: Path) -> None:
        self.journal = PurgeJournal(str(root / "state"))
        self.tier = DiskTier(str(root), 1 << 24)
        self.variants = VariantCache(1 << 20, [self.tier], self.journal)
        self.purge = PurgeService(self.variants, [])

    def close(self) -> None:
        self.journal.close()


def _purge_inside(monkeypatch: pytest.MonkeyPatch, other: Worker, point: str,
                  path_of_interest: Callable[[str], bool]) -> Callable[[], None]:
    """Have `other` purge SOURCE at `point` of the first file write that `path_of_interest`
    picks: 'before_write' (the whole purge, before the temporary file is made),
    'before_rename' (the whole purge, between the temporary file and its rename) or
    'after_rmtree' (the purge's deletions first, then the write, and the purge's journal line
    only once this worker's store has returned). Returns what to call after the store."""
    started: list[str] = []
    rmtree_done, store_done = threading.Event(), threading.Event()
    purger: list[threading.Thread] = []

    def purge_whole(path: str) -> None:
        if not started and path_of_interest(path):
            started.append(path)
            asyncio.run(other.purge.purge([SOURCE], []))

    def purge_split(path: str) -> None:
        if started or not path_of_interest(path):
            return
        started.append(path)
        real_tier_purge = other.tier.purge

        async def tier_purge(sources: Sequence[str], prefixes: Sequence[str]) -> PurgeCount:
            count = await real_tier_purge(sources, prefixes)
            rmtree_done.set()
            await asyncio.to_thread(store_done.wait, 10)
            return count

        other.tier.purge = tier_purge  # type: ignore[method-assign]
        thread = threading.Thread(target=lambda: asyncio.run(other.purge.purge([SOURCE], [])))
        purger.append(thread)
        thread.start()
        assert rmtree_done.wait(10), "the purge never got to its deletions"

    hook = purge_split if point == "after_rmtree" else purge_whole
    real_atomic_write = cache.disk._atomic_write
    real_replace = os.replace
    if point == "before_rename":
        def replace(src: str, dst: str) -> None:
            hook(str(dst))
            real_replace(src, dst)
        monkeypatch.setattr(os, "replace", replace)
    else:
        def atomic_write(path: str, data: bytes) -> None:
            hook(path)
            real_atomic_write(path, data)
        monkeypatch.setattr(cache.disk, "_atomic_write", atomic_write)

    def finish() -> None:
        assert started, "the purge never ran inside the write"
        store_done.set()
        for thread in purger:
            thread.join(10)

    return finish


POINTS = ["before_write", "before_rename", "after_rmtree"]


@pytest.mark.parametrize("point", POINTS)
def test_r14_a_result_written_across_another_workers_purge_is_not_left_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    this, other = Worker(tmp_path), Worker(tmp_path)

    async def scenario() -> tuple[bool, CachedVariant | None, CachedVariant | None]:
        await this.tier.set("k0", _entry())  # the source's folder already exists
        mark = await this.variants.mark(SOURCE)  # the transform starts; nothing purged yet
        finish = _purge_inside(monkeypatch, other, point, lambda p: p.endswith("/k1"))
        stored = await this.variants.store("k1", _entry(), mark)
        finish()
        reader = Worker(tmp_path)  # a third worker, or this one after a restart
        on_disk = await reader.tier.get("k1", SOURCE)
        reader.close()
        return stored, on_disk, this.variants.get_memory("k1")

    try:
        stored, on_disk, in_memory = asyncio.run(scenario())
    finally:
        this.close()
        other.close()
    assert on_disk is None, "a result computed before the purge outlived it on disk"
    assert in_memory is None
    assert stored is False


def test_r14_a_result_stored_before_the_purge_is_removed_by_it(tmp_path: Path) -> None:
    """The other order, for contrast: written, then purged, then gone (and it was stored)."""
    this, other = Worker(tmp_path), Worker(tmp_path)

    async def scenario() -> tuple[bool, CachedVariant | None]:
        mark = await this.variants.mark(SOURCE)
        stored = await this.variants.store("k1", _entry(), mark)
        assert await this.tier.get("k1", SOURCE) is not None
        await other.purge.purge([SOURCE], [])
        return stored, await this.tier.get("k1", SOURCE)

    try:
        stored, on_disk = asyncio.run(scenario())
    finally:
        this.close()
        other.close()
    assert stored is True and on_disk is None


@pytest.mark.parametrize("point", POINTS)
def test_r14_source_bytes_written_across_another_workers_purge_are_not_left_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    """The same for an HTTP source's bytes shared through the disk tier: after a purge a worker
    must fetch the source again, not reuse bytes fetched before it."""
    this, other = Worker(tmp_path), Worker(tmp_path)
    leases = FileLeases(str(tmp_path / "state"))
    shared = DiskSources(this.tier, this.journal, leases, originals_ttl=3600)

    async def scenario() -> tuple[SharedOriginal | None, SharedVersion | None]:
        await this.tier.set("k0", _entry())
        mark = await shared.mark(SOURCE)  # the fetch starts
        finish = _purge_inside(monkeypatch, other, point, lambda p: p.endswith(ORIGINAL_FILE))
        await shared.store(SOURCE, mark, "v1", b"bytes of the old source")
        finish()
        return await shared.original(SOURCE), await shared.version(SOURCE)

    try:
        original, version = asyncio.run(scenario())
    finally:
        leases.close()
        this.close()
        other.close()
    assert original is None, "source bytes fetched before the purge outlived it on disk"
    assert version is None, "the version seen before the purge outlived it on disk"


def test_a_purge_broadcast_by_another_host_empties_the_disk_tier_before_memory(
    tmp_path: Path,
) -> None:
    """With Redis and the disk tier both on, what arrives on the purge channel: a record purges
    this host's disk and then memory; None (messages may have been missed) drops both whole."""
    this = Worker(tmp_path)
    deliver = this.variants.remote_purges()
    seen_on_disk_when_memory_dropped: list[list[str]] = []

    def on_memory_drop(_record: PurgeRecord | None) -> None:
        seen_on_disk_when_memory_dropped.append(sorted(
            p.name for p in (tmp_path / "v").rglob("k-*") if p.is_file()))

    this.journal.listeners.append(on_memory_drop)

    async def settle() -> None:
        for _ in range(200):
            if len(seen_on_disk_when_memory_dropped) == settled[0]:
                return
            await asyncio.sleep(0.01)

    settled = [0]

    async def scenario() -> list[bool]:
        for source in (SOURCE, "other/pic.jpg"):
            item = dataclasses.replace(_entry(), source_id=source)
            await this.variants.store("k-" + source.replace("/", "-"), item)
        deliver(PurgeRecord((SOURCE,), ()))
        settled[0] = 1
        await settle()
        after_record = [await this.tier.get("k-" + s.replace("/", "-"), s) is not None
                        for s in (SOURCE, "other/pic.jpg")]
        deliver(None)
        settled[0] = 2
        await settle()
        after_none = await this.tier.get("k-other-pic.jpg", "other/pic.jpg") is not None
        return [*after_record, after_none, len(this.variants.memory) == 0]

    try:
        after = asyncio.run(scenario())
    finally:
        this.close()
    assert after == [False, True, False, True]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state", "v"]  # nothing left aside
    # Memory was dropped only once the disk no longer held the purged entries.
    assert seen_on_disk_when_memory_dropped == [["k-other-pic.jpg"], []]
