"""One cached variant: its bytes and the metadata needed to answer without recomputing."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, fields

_MAGIC = b"IOV1"
_HEADER = struct.Struct(">4sI")


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
        return len(self.body) + 256

    def to_bytes(self) -> bytes:
        """One blob, metadata then body, so a tier stores and loads it in one round trip."""
        meta = {name: getattr(self, name) for name in _META_FIELDS}
        head = json.dumps(meta, separators=(",", ":")).encode()
        return _HEADER.pack(_MAGIC, len(head)) + head + self.body

    @classmethod
    def from_bytes(cls, blob: bytes) -> CachedVariant | None:
        """None for anything that is not a complete entry (a torn or foreign value)."""
        if len(blob) < _HEADER.size:
            return None
        magic, head_len = _HEADER.unpack_from(blob)
        if magic != _MAGIC or len(blob) < _HEADER.size + head_len:
            return None
        try:
            meta = json.loads(blob[_HEADER.size:_HEADER.size + head_len])
            return cls(body=blob[_HEADER.size + head_len:], **meta)
        except (ValueError, TypeError):
            return None


# Every field but the body, in declaration order: the blob's JSON header.
_META_FIELDS = tuple(f.name for f in fields(CachedVariant) if f.name != "body")
