"""Client hints (`IMGORIGIN_CLIENT_HINTS`): a browser's `Sec-CH-DPR` as one of a few buckets.

A device pixel ratio takes many values (1.25, 2.625, 2.75, ...); each would be a variant at the
origin and an object at the edge. Rounding up to a short ladder keeps both small, and the edge
configurations (edge-config/) reduce the header to the same buckets before their cache lookup,
so `Vary: Sec-CH-DPR` keeps at most `len(DPR_BUCKETS)` objects per URL and Accept class.
"""

from __future__ import annotations

import re
from functools import lru_cache

DPR_BUCKETS: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, 4.0)
# A plain decimal: what the edges' regular expressions read too (no sign, exponent or inf).
_DECIMAL = re.compile(r"\s*(\d+(\.\d*)?|\.\d+)\s*")


@lru_cache(maxsize=256)
def dpr_bucket(header: str) -> float:
    """The smallest bucket at or above a `Sec-CH-DPR` value; 1 when absent or malformed."""
    if not _DECIMAL.fullmatch(header):
        return 1.0
    value = float(header)
    for bucket in DPR_BUCKETS:
        if value <= bucket:
            return bucket
    return DPR_BUCKETS[-1]


def bucket_text(bucket: float) -> str:
    """The bucket as the edges write it into the header (`1`, `1.5`, `2`...)."""
    return f"{bucket:g}"
