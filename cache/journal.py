"""Purges reach every worker of a host through an append-only journal file.

A purge appends one JSON line. Every worker checks the journal's size on each request (one
`fstat`, well under a microsecond) and, when it grew, reads the new lines and drops those sources
from its in-process caches before answering. So a purge is visible to every worker's next request,
with no message that could be lost. A worker also uses it to learn whether a source was purged
while its transform ran, and then does not store the (stale) result.

The file is rotated in place when it reaches `MAX_JOURNAL_BYTES`, and its first line counts the
rotations: a worker that was idle through one sees the count change, even when the new file has
since grown past its old offset, and drops everything (purges may have been missed).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

MAX_JOURNAL_BYTES = 4 * 1024 * 1024
_MAGIC = b"#imgorigin-purge-journal "
HEADER_BYTES = len(_MAGIC) + 13  # the magic, a 12-digit rotation count, a newline


@dataclass(frozen=True, slots=True)
class PurgeRecord:
    sources: tuple[str, ...]
    prefixes: tuple[str, ...]

    def touches(self, source_id: str) -> bool:
        return source_id in self.sources or source_id.startswith(self.prefixes)


Listener = Callable[[PurgeRecord | None], None]


class PurgeJournal:
    """`listener(record)` runs for each purge seen; `listener(None)` means 'drop everything'
    (the journal was rotated past us, so purges may have been missed)."""

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, "purge.journal")
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        with self._locked():
            if self._rotation_now() < 0:  # new, or written by a version without a header
                self._rotate(0)
        stat = os.fstat(self._fd)
        self._rotation = self._rotation_now()
        self._offset = stat.st_size
        self._mtime = stat.st_mtime_ns
        self._history: list[tuple[int, PurgeRecord]] = []
        self._forgotten_upto = self._offset  # history holds every record ending after this
        self.listeners: list[Listener] = []

    @property
    def position(self) -> int:
        """A mark to compare against later with `purged_since`."""
        self.sync()
        return (self._rotation << 32) | self._offset

    def publish(self, sources: Sequence[str], prefixes: Sequence[str]) -> None:
        line = json.dumps({"s": list(sources), "p": list(prefixes)}, separators=(",", ":"))
        data = (line + "\n").encode("utf-8", "surrogatepass")
        with self._locked():
            if os.fstat(self._fd).st_size + len(data) > MAX_JOURNAL_BYTES:
                self._rotate(max(self._rotation_now(), 0) + 1)
            # O_APPEND makes each line land whole after every other writer's.
            os.write(self._fd, data)
        self.sync()

    def sync(self) -> None:
        """Apply purges other workers wrote since the last call. Cheap when there are none."""
        stat = os.fstat(self._fd)
        if stat.st_size == self._offset and stat.st_mtime_ns == self._mtime:
            return
        self._mtime = stat.st_mtime_ns
        rotation = self._rotation_now()
        if rotation != self._rotation:
            self._rotated(rotation, stat.st_size)
        size = stat.st_size
        if size <= self._offset:
            return
        chunk = os.pread(self._fd, size - self._offset, self._offset)
        if self._rotation_now() != rotation:  # rotated while being read: start again
            self._mtime = -1
            self.sync()
            return
        end = chunk.rfind(b"\n")
        if end < 0:
            return
        start = self._offset
        for raw in chunk[: end + 1].splitlines():
            start += len(raw) + 1
            try:
                item = json.loads(raw)
                record = PurgeRecord(tuple(item["s"]), tuple(item["p"]))
            except (ValueError, KeyError, TypeError):
                continue
            self._history.append((start, record))
            for listener in self.listeners:
                listener(record)
        self._offset += end + 1
        if len(self._history) > 1000:
            self._forgotten_upto = self._history[499][0]
            del self._history[:500]

    def deliver(self, record: PurgeRecord | None) -> None:
        """Apply a purge learnt another way (the Redis broadcast from other hosts) through the
        same listeners; None drops everything."""
        for listener in self.listeners:
            listener(record)

    def purged_since(self, mark: int, source_id: str) -> bool:
        """Whether a purge touching this source was journaled after `mark`."""
        self.sync()
        rotation, offset = mark >> 32, mark & 0xFFFFFFFF
        if rotation != self._rotation or offset < self._forgotten_upto:
            return True  # the journal was rotated or trimmed past the mark: assume the worst
        return any(end > offset and rec.touches(source_id) for end, rec in self._history)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _rotated(self, rotation: int, size: int) -> None:
        """The file was emptied since the last sync: purges may have been missed."""
        self._rotation = rotation
        # -1: someone emptied it without our header; what was written since is unknown.
        self._offset = self._forgotten_upto = HEADER_BYTES if rotation >= 0 else size
        self._history.clear()
        for listener in self.listeners:
            listener(None)

    def _rotation_now(self) -> int:
        """The rotation count in the file's header; -1 when it has none."""
        header = os.pread(self._fd, HEADER_BYTES, 0)
        if len(header) != HEADER_BYTES or not header.startswith(_MAGIC):
            return -1
        try:
            return int(header[len(_MAGIC):-1])
        except ValueError:
            return -1

    def _rotate(self, rotation: int) -> None:
        """Empty the file and start it with the rotation count (the caller holds the lock)."""
        os.ftruncate(self._fd, 0)
        os.write(self._fd, _MAGIC + b"%012d\n" % (rotation % 10**12))

    def close(self) -> None:
        os.close(self._fd)
