"""A byte-bounded, in-process LRU with an index from source to its entries (for purge)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass(slots=True)
class _Slot(Generic[V]):
    value: V
    size: int
    source: str
    expires: float


class ByteLRU(Generic[V]):
    """Least-recently-used eviction under a byte cap; entries may also expire after `ttl` s."""

    def __init__(self, max_bytes: int, ttl: float | None = None) -> None:
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.bytes = 0
        self._slots: OrderedDict[str, _Slot[V]] = OrderedDict()
        self._by_source: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._slots)

    def get(self, key: str) -> V | None:
        slot = self._slots.get(key)
        if slot is None:
            return None
        if self.ttl is not None and slot.expires < time.monotonic():
            self._remove(key)
            return None
        self._slots.move_to_end(key)
        return slot.value

    def set(self, key: str, value: V, size: int, source: str) -> None:
        if size > self.max_bytes:
            return
        if key in self._slots:
            self._remove(key)
        expires = time.monotonic() + self.ttl if self.ttl is not None else 0.0
        self._slots[key] = _Slot(value, size, source, expires)
        self._by_source.setdefault(source, set()).add(key)
        self.bytes += size
        while self.bytes > self.max_bytes:
            oldest = next(iter(self._slots))
            self._remove(oldest)

    def _remove(self, key: str) -> None:
        slot = self._slots.pop(key)
        self.bytes -= slot.size
        keys = self._by_source.get(slot.source)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_source[slot.source]

    def drop_sources(self, sources: Iterable[str]) -> int:
        """Remove every entry of these sources; returns how many were removed."""
        removed = 0
        for source in sources:
            for key in list(self._by_source.get(source, ())):
                self._remove(key)
                removed += 1
        return removed

    def drop_prefixes(self, prefixes: Iterable[str]) -> int:
        """Remove every entry whose source starts with one of the prefixes."""
        prefixes = tuple(prefixes)
        if not prefixes:
            return 0
        matching = [s for s in self._by_source if s.startswith(prefixes)]
        return self.drop_sources(matching)

    def clear(self) -> int:
        removed = len(self._slots)
        self._slots.clear()
        self._by_source.clear()
        self.bytes = 0
        return removed
