"""Signed URLs: HMAC-SHA256 over the path after the signature segment (the only HMAC code)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence

from origin.errors import Forbidden


def sign(path: str, key_hex: str) -> str:
    """Unpadded URL-safe base64 of HMAC-SHA256(key, path); `path` starts with `/`."""
    digest = hmac.new(bytes.fromhex(key_hex), path.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(signature: str, path: str, keys: Sequence[str], expires: int | None,
           now: float | None = None) -> None:
    """Raise 403 unless some key signed exactly `path` and the URL has not expired."""
    if not signature:
        raise Forbidden("missing signature")
    ok = False
    for key in keys:
        # Every key is tried, so timing says nothing about which one matched.
        ok |= hmac.compare_digest(sign(path, key), signature)
    if not ok:
        raise Forbidden("invalid signature")
    if expires is not None and expires < (time.time() if now is None else now):
        raise Forbidden("signed URL has expired")
