"""Variants that failed for a reason their key decides (a corrupt, oversized or unsupported
source, options its geometry refuses), remembered per worker for IMGORIGIN_FAILURE_TTL.

Errors are `no-store`, so a CDN sends every view of a broken image back here; without this, each
one would read and decode the source again (a truncated 12 MP JPEG fails only after most of a
full decode), and one broken image on a busy page could take the pool. The key carries the
source's version, so a fixed source is tried again at once; a purge of the source forgets its
failures too, as the contract says a purged source shows on the next request.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from cache.journal import PurgeRecord
from origin import metrics
from origin.errors import (
    ImgOriginError,
    InvalidOptions,
    SourceTooLarge,
    UnprocessableImage,
    UnsupportedFormat,
)

# Failures the same key always meets again; not timeouts, refusals or upstream errors.
DETERMINED = (InvalidOptions, SourceTooLarge, UnsupportedFormat, UnprocessableImage)
MAX_ENTRIES = 4096


class FailureMemo:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._failed: OrderedDict[str, tuple[float, str, type[ImgOriginError], str, str]] = (
            OrderedDict())

    def remember(self, key: str, source_id: str, exc: ImgOriginError) -> None:
        if self.ttl <= 0 or not isinstance(exc, DETERMINED):
            return
        self._failed[key] = (time.monotonic() + self.ttl, source_id, type(exc), exc.detail,
                             exc.internal)
        self._failed.move_to_end(key)
        if len(self._failed) > MAX_ENTRIES:
            self._failed.popitem(last=False)

    def recall(self, key: str) -> ImgOriginError | None:
        """A fresh copy of the error `key` failed with, while remembered."""
        found = self._failed.get(key)
        if found is None:
            return None
        until, _source, kind, detail, internal = found
        if time.monotonic() >= until:
            del self._failed[key]
            return None
        metrics.FAILURES_REMEMBERED.inc()
        return kind(detail, internal=internal)

    def forget(self, record: PurgeRecord | None) -> None:
        """A purge journal listener: drop the purged sources' failures (None: all of them)."""
        if record is None:
            self._failed.clear()
            return
        for key in [k for k, v in self._failed.items() if record.touches(v[1])]:
            del self._failed[key]
