"""One cached variant: its bytes and the metadata needed to answer without recomputing."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, fields

# v2 adds the body's length, so a file cut short (a crash of a journal-less filesystem after the
# rename) is a miss rather than a truncated image.
_MAGIC = b"IOV2"
_HEADER = struct.Struct(">4sII")
HEADER_SIZE = _HEADER.size
# The entry object, its strings' headers, the LRU's slot, key and index entries (CPython 3.11).
ENTRY_OVERHEAD = 768


@dataclass(frozen=True, slots=True)
class CachedVariant:
    body: bytes
    content_type: str
    etag: str
    source_id: str
    source_version: str
    format: str
    width: int
    height: int
    created: float
    transform_ms: float = 0.0

    @property
    def size(self) -> int:
        """Bytes it holds in a worker's memory, with its place in the LRU: measured at about
        720 beyond the body's length for short names (`test_r21_..._what_entries_really_cost`),
        so a flood of tiny variants cannot hold several times the configured cap."""
        return (len(self.body) + ENTRY_OVERHEAD + len(self.etag) + len(self.source_id)
                + len(self.source_version))

    def to_bytes(self) -> bytes:
        """One blob, metadata then body, so a tier stores and loads it in one round trip."""
        meta = {name: getattr(self, name) for name in _META_FIELDS}
        head = json.dumps(meta, separators=(",", ":")).encode()
        return _HEADER.pack(_MAGIC, len(head), len(self.body)) + head + self.body

    @classmethod
    def from_bytes(cls, blob: bytes) -> CachedVariant | None:
        """None for anything that is not a complete entry (a torn or foreign value)."""
        lengths = blob_lengths(blob)
        if lengths is None or len(blob) != HEADER_SIZE + sum(lengths):
            return None
        meta_end = HEADER_SIZE + lengths[0]
        return cls.from_parts(blob[HEADER_SIZE:meta_end], blob[meta_end:])

    @classmethod
    def from_parts(cls, meta: bytes, body: bytes) -> CachedVariant | None:
        """An entry from a blob's metadata and body read separately (no copy of the body)."""
        try:
            return cls(body=body, **json.loads(meta))
        except (ValueError, TypeError):
            return None


def blob_lengths(prefix: bytes) -> tuple[int, int] | None:
    """(metadata, body) lengths a blob starting with `prefix` announces; None if not an entry."""
    if len(prefix) < HEADER_SIZE:
        return None
    magic, meta_len, body_len = _HEADER.unpack_from(prefix)
    return (meta_len, body_len) if magic == _MAGIC else None


# Every field but the body, in declaration order: the blob's JSON header.
_META_FIELDS = tuple(f.name for f in fields(CachedVariant) if f.name != "body")
