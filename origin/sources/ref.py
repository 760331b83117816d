"""Turn the `{source}` part of a transform URL into a checked `SourceRef`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from origin.errors import Forbidden, InvalidSource
from origin.security.netguard import host_allowed

_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+.-")
MAX_SOURCE_LENGTH = 2048


@dataclass(frozen=True, slots=True)
class SourceRef:
    """One source. `id` is its identity for cache keys, tags and purge: the key under the
    default source, or the absolute URL."""

    id: str
    kind: str  # "local", "http", or "fallback" (origin/sources/fallback.py)
    key: str = ""
    url: str = ""

    @property
    def is_absolute(self) -> bool:
        return bool(self.url) and self.id == self.url


def _scheme(value: str) -> str | None:
    head, sep, _ = value.partition(":")
    if sep and head and head[0].isalpha() and set(head.lower()) <= _SCHEME_CHARS:
        return head.lower()
    return None


def check_key(key: str) -> str:
    """A relative key that cannot climb out of its root; 400 otherwise."""
    if not key or len(key) > MAX_SOURCE_LENGTH:
        raise InvalidSource("source key is empty or too long")
    if "\x00" in key or "\\" in key or key.startswith("/"):
        raise InvalidSource("source key has a forbidden character")
    segments = key.split("/")
    if any(seg in ("", ".", "..") for seg in segments):
        raise InvalidSource("source key has an empty, '.' or '..' segment")
    return key


def parse_source(
    raw: str, *, base: str, base_kind: str, allowed_hosts: tuple[str, ...]
) -> SourceRef:
    """`raw` is the percent-decoded rest of the path. Absolute http(s) URLs need an allowed host."""
    scheme = _scheme(raw)
    if scheme in ("http", "https"):
        return _absolute(raw, scheme, allowed_hosts)
    if scheme is not None and (raw[len(scheme) + 1:].startswith("/") or scheme in {
        "file", "gopher", "ftp", "data", "dict", "ldap", "jar", "ws", "wss", "s3", "javascript",
    }):
        raise InvalidSource(f"source scheme '{scheme}:' is not allowed")
    key = check_key(raw)
    if base_kind == "http":
        return SourceRef(id=key, kind="http", key=key, url=base.rstrip("/") + "/" + quote(key))
    return SourceRef(id=key, kind="local", key=key)


def _absolute(raw: str, scheme: str, allowed_hosts: tuple[str, ...]) -> SourceRef:
    rest = raw[len(scheme) + 1:]
    # Proxies and browsers may fold `//` into `/`; accept both spellings.
    if not rest.startswith("//"):
        rest = "/" + rest
    url = f"{scheme}:{rest}"
    if len(url) > MAX_SOURCE_LENGTH:
        raise InvalidSource("source URL is too long")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port
    except ValueError:
        raise InvalidSource("source URL is malformed") from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidSource("source URL may not carry credentials")
    if not host:
        raise InvalidSource("source URL has no host")
    if not host.isascii():
        # Unicode hosts pass through IDNA on the way to DNS; require the punycode spelling so
        # the allowlist checks the name that is actually resolved.
        raise InvalidSource("source host must be ASCII (punycode)")
    if not allowed_hosts or not host_allowed(host, allowed_hosts):
        raise Forbidden("source host is not allowed")
    return SourceRef(id=url, kind="http", url=url)
