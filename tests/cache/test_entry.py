"""The blob format every shared tier stores: metadata header, then the body."""

from __future__ import annotations

from cache.entry import CachedVariant


def _entry() -> CachedVariant:
    return CachedVariant(body=b"\xff\xd8body\x00", content_type="image/jpeg", etag='"k1"',
                         source_id="/a b/ü.jpg", source_version="v7", format="jpeg", width=800,
                         height=600, created=1700000000.5, transform_ms=12.25)


def test_a_blob_round_trips_every_field() -> None:
    entry = _entry()
    assert CachedVariant.from_bytes(entry.to_bytes()) == entry


def test_torn_and_foreign_blobs_are_not_entries() -> None:
    blob = _entry().to_bytes()
    head_end = blob.index(b"}") + 1
    assert CachedVariant.from_bytes(blob[: head_end - 3]) is None  # header cut short
    assert CachedVariant.from_bytes(b"XXXX" + blob[4:]) is None  # not our magic
    assert CachedVariant.from_bytes(b"IO") is None
    assert CachedVariant.from_bytes(blob[:-1]) is None  # body cut short
    assert CachedVariant.from_bytes(blob + b"\x00") is None  # longer than it says

