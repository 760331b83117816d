"""The fallback image: one operator file shown, made to the request's options, in place of a
source that cannot be shown (missing, broken, too large, its upstream failing)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from origin.operator_files import read_image
from origin.sources.ref import SourceRef

# No URL can name this source: keys never hold NUL (`ref.check_key`).
FALLBACK_SOURCE = SourceRef(id="\x00fallback", kind="fallback")
# Statuses that mean "this source cannot be shown"; not the client's mistakes (400, 403), its
# rate limit (429) or an overload (503), where a substitute would hide the cause or cost work.
FALLBACK_STATUSES = frozenset({404, 413, 415, 422, 502, 504})
# The fallback's own deadline, on top of the failed request's (its variants are cached, so
# only the first request per options and format renders it).
FALLBACK_BUDGET = 2.0


@dataclass(frozen=True, slots=True)
class FallbackImage:
    data: bytes
    version: str  # a digest of the bytes: a new file makes new variant keys


def load_fallback(path: str, max_bytes: int) -> FallbackImage:
    """Read and check the file; ValueError says what is wrong with it."""
    data, _ = read_image(path, max_bytes)
    return FallbackImage(data, "fb-" + hashlib.sha256(data).hexdigest()[:16])
