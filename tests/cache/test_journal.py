"""The host's purge journal: two journals on one directory stand for two workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from cache import journal as journal_module
from cache.journal import HEADER_BYTES, PurgeJournal, PurgeRecord


def pair(directory: Path) -> tuple[PurgeJournal, PurgeJournal, list[PurgeRecord | None]]:
    writer, reader = PurgeJournal(str(directory)), PurgeJournal(str(directory))
    seen: list[PurgeRecord | None] = []
    reader.listeners.append(seen.append)
    return writer, reader, seen


def test_a_purge_written_by_one_worker_reaches_the_other(tmp_path: Path) -> None:
    writer, reader, seen = pair(tmp_path)
    mark = reader.position
    writer.publish(["a.jpg"], ["dir/"])
    reader.sync()
    assert seen == [PurgeRecord(("a.jpg",), ("dir/",))]
    assert reader.purged_since(mark, "a.jpg") and reader.purged_since(mark, "dir/b.jpg")
    assert not reader.purged_since(mark, "c.jpg")
    assert not reader.purged_since(reader.position, "a.jpg")


def test_r14_a_rotation_missed_by_an_idle_worker_is_found_after_the_file_grew_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An idle worker last read at offset N; the journal is rotated and the new file grows past
    N before that worker's next request. Its size alone says 'grew': the rotation count says
    'rotated', so the worker drops everything, and a store marked before it is refused."""
    monkeypatch.setattr(journal_module, "MAX_JOURNAL_BYTES", 2000)
    writer, reader, seen = pair(tmp_path)
    for i in range(10):
        writer.publish([f"before-{i}.jpg"], [])
    reader.sync()
    mark = reader.position
    old_offset = mark & 0xFFFFFFFF
    seen.clear()
    i = 0
    rotated_at = None
    while rotated_at is None or (tmp_path / "purge.journal").stat().st_size <= old_offset:
        size = (tmp_path / "purge.journal").stat().st_size
        writer.publish([f"during-{i}.jpg"], [])
        if rotated_at is None and (tmp_path / "purge.journal").stat().st_size < size:
            rotated_at = i
        i += 1
    assert rotated_at is not None
    reader.sync()
    assert seen and seen[0] is None  # everything dropped: the purges before the rotation are lost
    assert reader.purged_since(mark, "unrelated.jpg")  # a transform that straddled it: refused
    # What came after the rotation is applied one by one, and from then on it is business as usual.
    assert PurgeRecord((f"during-{i - 1}.jpg",), ()) in seen
    seen.clear()
    writer.publish(["after.jpg"], [])
    reader.sync()
    assert seen == [PurgeRecord(("after.jpg",), ())]


def test_a_journal_without_a_header_is_started_afresh(tmp_path: Path) -> None:
    (tmp_path / "purge.journal").write_bytes(b'{"s":["old.jpg"],"p":[]}\n')
    writer, reader, seen = pair(tmp_path)
    assert (tmp_path / "purge.journal").stat().st_size == HEADER_BYTES
    writer.publish(["new.jpg"], [])
    reader.sync()
    assert seen == [PurgeRecord(("new.jpg",), ())]


def test_a_journal_emptied_by_hand_drops_everything(tmp_path: Path) -> None:
    writer, reader, seen = pair(tmp_path)
    writer.publish(["a.jpg"], [])
    reader.sync()
    mark = reader.position
    (tmp_path / "purge.journal").write_bytes(b"")
    reader.sync()
    assert seen[-1] is None
    assert reader.purged_since(mark, "b.jpg")
