"""`mb_N`: the highest encoder quality whose output fits a byte budget.

A binary search over the qualities below the requested one, as imgproxy's `max_bytes` lowers
quality until the image fits. Output size grows with quality almost everywhere, so the search
ends at a quality that fits while the next one up does not; it never runs more than
`MAX_ENCODES` encodes, and when nothing fits it answers the smallest output it made.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from origin.errors import UpstreamTimeout

# The first encode at the requested quality, then a binary search over 1..99: 1 + 7.
MAX_ENCODES = 8
MIN_BUDGET = 100
MAX_BUDGET = 100 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Fitted:
    """A search's answer, what it found (`fit` at `top`, `lowered`, `unmet`) and its encodes."""

    output: bytes
    result: str
    encodes: int


def fit_budget(encode_at: Callable[[int], bytes], top: int, budget: int, *,
               deadline: float = float("inf")) -> Fitted:
    """The output of the highest quality <= `top` that is at most `budget` bytes, or the
    smallest output made when none is; checks `deadline` before each extra encode."""
    best = encode_at(top)
    if len(best) <= budget:
        return Fitted(best, "fit", 1)
    encodes = 1
    fits: bytes | None = None
    smallest = best
    lo, hi = 0, top  # `lo` fits (0: none found yet), `hi` does not
    while hi - lo > 1:
        if time.monotonic() > deadline:
            raise UpstreamTimeout("transform took longer than the request deadline")
        mid = (lo + hi) // 2
        out = encode_at(mid)
        encodes += 1
        if len(out) <= budget:
            lo, fits = mid, out
        else:
            hi = mid
            if len(out) < len(smallest):
                smallest = out
    if fits is None:
        return Fitted(smallest, "unmet", encodes)
    return Fitted(fits, "lowered", encodes)
