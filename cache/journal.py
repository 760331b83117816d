"""Purges reach every worker of a host through an append-only journal file.

A purge appends one JSON line. Every worker checks the journal's size on each request (one
`fstat`, well under a microsecond) and, when it grew, reads the new lines and drops those sources
from its in-process caches before answering. So a purge is visible to every worker's next request,
with no message that could be lost. A worker also uses it to learn whether a source was purged
while its transform ran, and then does not store the (stale) result.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MAX_JOURNAL_BYTES = 4 * 1024 * 1024


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
        self._offset = os.fstat(self._fd).st_size
        self._history: list[tuple[int, PurgeRecord]] = []
        self._forgotten_upto = self._offset  # history holds every record ending after this
        self.listeners: list[Listener] = []

    @property
    def position(self) -> int:
        """A mark to compare against later with `purged_since`."""
        self.sync()
        return self._offset

    def publish(self, sources: Sequence[str], prefixes: Sequence[str]) -> None:
        line = json.dumps({"s": list(sources), "p": list(prefixes)}, separators=(",", ":"))
        data = (line + "\n").encode("utf-8", "surrogatepass")
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            if os.fstat(self._fd).st_size + len(data) > MAX_JOURNAL_BYTES:
                os.ftruncate(self._fd, 0)
            # O_APPEND makes each line land whole after every other writer's.
            os.write(self._fd, data)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self.sync()

    def sync(self) -> None:
        """Apply purges other workers wrote since the last call. Cheap when there are none."""
        size = os.fstat(self._fd).st_size
        if size == self._offset:
            return
        if size < self._offset:
            self._offset = 0
            self._history.clear()
            self._forgotten_upto = 0
            for listener in self.listeners:
                listener(None)
        chunk = os.pread(self._fd, size - self._offset, self._offset)
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
        if self._offset < mark or mark < self._forgotten_upto:
            return True  # the journal was rotated or trimmed past the mark: assume the worst
        return any(end > mark and rec.touches(source_id) for end, rec in self._history)

    def close(self) -> None:
        os.close(self._fd)
