"""Signed URLs: HMAC-SHA256 over the path after the signature segment (the only HMAC code),
in this server's scheme and in imgproxy's and thumbor's for their URL dialects (and imgix's MD5
and Cloudinary's SHA digests for theirs).

The signed string is found by position only: the first path segment is the signature, and
everything after it (leading slash included, still percent-encoded) is what was signed. Nothing
is ever removed from the path by searching for the signature, so a signature repeated or
injected elsewhere in the path cannot change what is checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from origin.errors import Forbidden

K = TypeVar("K")


def sign(path: str, key_hex: str) -> str:
    """Unpadded URL-safe base64 of HMAC-SHA256(key, path); `path` starts with `/`."""
    digest = hmac.new(bytes.fromhex(key_hex), path.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign_imgproxy(path: str, key_hex: str, salt_hex: str, size: int = 32) -> str:
    """imgproxy's signature: HMAC-SHA256(key, salt + path), its first `size` bytes, unpadded
    URL-safe base64 (`IMGPROXY_KEY`, `IMGPROXY_SALT`, `IMGPROXY_SIGNATURE_SIZE`)."""
    digest = hmac.new(bytes.fromhex(key_hex), bytes.fromhex(salt_hex) + path.encode("utf-8"),
                      hashlib.sha256).digest()[:size]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign_thumbor(path: str, key: str) -> str:
    """thumbor's signature: URL-safe base64 (padded) of HMAC-SHA1(SECURITY_KEY, path), the
    path after the signature segment without its leading slash."""
    digest = hmac.new(key.encode("utf-8"), path.encode("utf-8"), hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def sign_imgix(path: str, token: str) -> str:
    """imgix's signature: hex MD5 of the secure URL token, the path as sent and `?` with the
    query without `s` (no `?` when nothing is left)."""
    return hashlib.md5((token + path).encode("utf-8"), usedforsecurity=False).hexdigest()


def sign_cloudinary(path: str, secret: str, algorithm: str = "sha1", size: int = 8) -> str:
    """Cloudinary's URL signature: the first `size` characters (8, or 32 for a long signature,
    always SHA-256) of the URL-safe base64 of the digest of path + API secret; `path` is
    `{transformations}/{public id}` as sent."""
    digest = hashlib.new(algorithm, (path + secret).encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:size]


def split(raw_path: str) -> tuple[str, str]:
    """(signature, signed path) of `/{signature}/{rest}`; the signed path is `/{rest}`, or ""
    when there is nothing after the signature."""
    signature, slash, rest = raw_path.removeprefix("/").partition("/")
    return signature, ("/" + rest) if slash else ""


def verify(signature: str, path: str, keys: Sequence[K],
           signer: Callable[[str, K], str]) -> None:
    """Raise 403 unless some key signed exactly `path` (`signer(path, key)`)."""
    if not signature or not path:
        raise Forbidden("missing signature")
    # The raw path was decoded as latin-1, so any byte can be here; compare bytes, never str,
    # because compare_digest refuses non-ASCII str.
    given = signature.encode("latin-1", "replace")
    matched = False
    for key in keys:
        # Every key is tried, so timing says nothing about which one matched.
        matched |= hmac.compare_digest(signer(path, key).encode("ascii"), given)
    if not matched:
        raise Forbidden("invalid signature")


def authenticate(raw_path: str, keys: Sequence[str]) -> str:
    """Check the signature of a raw request path before anything else looks at it; returns
    the signed path `/{options}/{source}`."""
    signature, signed = split(raw_path)
    verify(signature, signed, keys, sign)
    return signed


def check_expiry(expires: int | None, now: float | None = None) -> None:
    """403 once an `exp_` time has passed (the token is covered by the signature)."""
    if expires is not None and expires < (time.time() if now is None else now):
        raise Forbidden("signed URL has expired")
