"""`mb_N`: the highest encoder quality whose output fits a byte budget.

A binary search over the qualities below the requested one, as imgproxy's `max_bytes` lowers
quality until the image fits. Output size grows with quality almost everywhere, so the search
ends at a quality that fits while the next one up does not; it never runs more than
`MAX_ENCODES` encodes, and when nothing fits it answers the smallest output it made.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from origin import metrics
from origin.errors import UpstreamTimeout

# The first encode at the requested quality, then a binary search over 1..99: 1 + 7.
MAX_ENCODES = 8
MIN_BUDGET = 100
MAX_BUDGET = 100 * 1024 * 1024


def fit_budget(encode_at: Callable[[int], bytes], top: int, budget: int, *,
               deadline: float = float("inf")) -> bytes:
    """The output of the highest quality <= `top` that is at most `budget` bytes, or the
    smallest output made when none is; checks `deadline` before each extra encode."""
    best = encode_at(top)
    encodes = 1
    try:
        if len(best) <= budget:
            metrics.BYTE_BUDGETS.labels("fit").inc()
            return best
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
        metrics.BYTE_BUDGETS.labels("lowered" if fits is not None else "unmet").inc()
        return fits if fits is not None else smallest
    finally:
        metrics.BYTE_BUDGET_ENCODES.inc(encodes)
