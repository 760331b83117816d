"""Trim variants are keyed apart: since trim takes its background from the top-left pixel (not
libvips' white), a `trim_N` variant's bytes changed, so its key carries a mark that old hosts'
keys lack and a fleet mid-upgrade never answers one ETag with two byte strings. Every other
variant's key stays what it was."""

from __future__ import annotations

from cache.keys import variant_key
from origin.security.netguard import NetworkGuard
from origin.service import TRIM_KEY, TransformService
from origin.settings import Settings
from origin.sources.http import make_client
from origin.sources.store import SourceStore


def _service() -> TransformService:
    settings = Settings.from_env({})
    store = SourceStore(settings, make_client(1, 1), NetworkGuard())
    return TransformService(settings, store, None, None, None)  # type: ignore[arg-type]


def test_trim_variants_carry_the_trim_mark_and_others_do_not() -> None:
    service = _service()
    pipeline = service._pipeline("jpeg")
    trimmed = service.parse_path("/trim_10,w_100/landscape.jpg")
    plain = service.parse_path("/w_100/landscape.jpg")

    assert service._key(plain, "jpeg", "v1") == variant_key(
        plain.canonical, "jpeg", plain.source.id, "v1", pipeline)
    trim_key = service._key(trimmed, "jpeg", "v1")
    assert trim_key == variant_key(trimmed.canonical, "jpeg", trimmed.source.id, "v1",
                                   pipeline + TRIM_KEY)
    # What a host before the change computed for the same URL: not this key.
    assert trim_key != variant_key(trimmed.canonical, "jpeg", trimmed.source.id, "v1", pipeline)
