"""HTTP source versions and bytes shared by the workers of a host (beside the on-disk tier) or by
every host (Redis), so a new source is fetched, and later revalidated, once instead of once per
worker.

Entries go where the source's variants are purged: on disk into the source's folder of the disk
tier, in Redis under the source's hash tag, deleted by its purge script and stamped with its
purge generation. A store is skipped when the source was purged since its fetch began (`mark`).
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass
from typing import Any, Protocol

from cache.coalesce import Leases

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
