"""The seam every shared cache tier fits: the on-disk tier today, Redis (and Cluster) beside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cache.entry import CachedVariant


@dataclass(slots=True)
class PurgeCount:
    """What one tier removed: variants, and the sources it found under the prefixes."""

    variants: int = 0
    sources: set[str] = field(default_factory=set)


class SharedTier(Protocol):
    """A cache shared by the workers of a host (disk) or by every host (Redis).

    Implementations never raise on the request path: a failing tier answers None / does
    nothing and reports itself through `healthy`.
    """

    name: str

    async def get(self, key: str, source_id: str) -> CachedVariant | None: ...

    async def set(self, key: str, entry: CachedVariant) -> None: ...

    async def purge(self, sources: Sequence[str], prefixes: Sequence[str]) -> PurgeCount: ...

    @property
    def healthy(self) -> bool: ...

    async def close(self) -> None: ...
