"""Response headers and bodies: the contract's response table in one place."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from starlette.responses import Response

from cache.memo import second_sight
from origin.errors import ImgOriginError
from origin.settings import Settings
from transforms import describe, placeholder
from transforms.formats import CONTENT_TYPES
from transforms.grammar import DOWNLOAD_NAME_CHARS

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long browsers and edges may keep an answer, and serve it stale (seconds)."""

    browser: int
    edge: int
    s_maxage: int | None
    stale_while_revalidate: int
    stale_if_error: int

    def headers(self) -> tuple[str, str, str]:
        """`Cache-Control`, `CDN-Cache-Control` and `Surrogate-Control`."""
        browser = f"public, max-age={self.browser}"
        if self.s_maxage is not None:
            browser += f", s-maxage={self.s_maxage}"
        return (browser + self._stale(), f"public, max-age={self.edge}{self._stale()}",
                f"max-age={self.edge}{self._stale()}")

    def _stale(self) -> str:
        parts = [f", {name}={value}" for name, value in (
            ("stale-while-revalidate", self.stale_while_revalidate),
            ("stale-if-error", self.stale_if_error)) if value]
        return "".join(parts)

    def cache_control_keep(self) -> int:
        """The longest a shared cache reading only `Cache-Control` (CloudFront) keeps an answer
        without asking again: `s-maxage` or `max-age`, then the longer stale window."""
        fresh = self.browser if self.s_maxage is None else self.s_maxage
        return fresh + max(self.stale_while_revalidate, self.stale_if_error)

    def bounded(self, max_age: int | None, expires_in: int | None) -> Lifetimes:
        """A URL's own lifetime (`maxage`) for browsers and edges alike, then everything, the
        stale windows included, held within the time left before a signed URL expires."""
        browser, edge, shared = self.browser, self.edge, self.s_maxage
        if max_age is not None:
            browser = edge = max_age
            shared = None if shared is None else max_age
        revalidate, on_error = self.stale_while_revalidate, self.stale_if_error
        if expires_in is not None:
            browser, edge = min(browser, expires_in), min(edge, expires_in)
            shared = None if shared is None else min(shared, expires_in)
            # A stale copy is one served past max-age: it too must end by the expiry.
            room = expires_in - max(browser, edge)
            revalidate, on_error = min(revalidate, room), min(on_error, room)
        return Lifetimes(browser, edge, shared, revalidate, on_error)


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """The cache headers of successful answers, computed once from settings."""

    cache_control: str
    cdn_cache_control: str
    surrogate_control: str
    not_found_cache_control: str
    lifetimes: Lifetimes

    @classmethod
    def from_settings(cls, s: Settings) -> CachePolicy:
        lifetimes = Lifetimes(s.browser_max_age, s.cdn_max_age,
                              int(s.s_maxage) if s.s_maxage else None,
                              s.stale_while_revalidate, s.stale_if_error)
        cache_control, cdn_cache_control, surrogate_control = lifetimes.headers()
        return cls(
            cache_control=cache_control,
            cdn_cache_control=cdn_cache_control,
            surrogate_control=surrogate_control,
            not_found_cache_control=f"public, max-age={s.not_found_ttl}",
            lifetimes=lifetimes,
        )


_H = tuple[bytes, bytes]
_LIFETIME_HEADERS = (b"cache-control", b"cdn-cache-control", b"surrogate-control")


def set_lifetime(response: Response, policy: CachePolicy, max_age: int | None,
                 expires_in: int | None) -> None:
    """Rewrite a 200/304's cache headers for a URL with its own lifetime or expiry."""
    values = policy.lifetimes.bounded(max_age, expires_in).headers()
    replacement = dict(zip(_LIFETIME_HEADERS, (v.encode() for v in values), strict=True))
    response.raw_headers = [(name, replacement.get(name, value))
                            for name, value in response.raw_headers]


class PreparedResponse(Response):
    """A response whose headers are already encoded: the hit path builds no dict and encodes
    nothing it encoded before."""

    def __init__(self, status_code: int, raw_headers: list[_H], body: bytes = b"") -> None:
        self.status_code = status_code
        self.body = body
        self.raw_headers = raw_headers
        self.background = None


_CLOSE = (b"connection", b"close")


def close_after(response: Response) -> None:
    """Have the server close the connection once `response` is sent (uvicorn honours it)."""
    if not any(name == b"connection" for name, _ in response.raw_headers):
        response.raw_headers.append(_CLOSE)


def policy_headers(policy: CachePolicy) -> list[_H]:
    """The headers every successful answer carries, encoded once."""
    pairs = {
        "cache-control": policy.cache_control,
        "cdn-cache-control": policy.cdn_cache_control,
        "surrogate-control": policy.surrogate_control,
        **{k.lower(): v for k, v in SECURITY_HEADERS.items()},
    }
    return [(k.encode(), v.encode()) for k, v in pairs.items()]


@second_sight(maxsize=16384)
def tag_headers(tags: str) -> tuple[_H, _H]:
    """`Surrogate-Key` (space-separated) and `Cache-Tag` (comma-separated) for a source."""
    return (b"surrogate-key", tags.encode()), (b"cache-tag", tags.replace(" ", ",").encode())


# The file extension of each content type an answer can have (`jpg`, not `jpeg`, as saved files
# are usually named).
_EXTENSIONS = {content_type: "jpg" if fmt == "jpeg" else fmt
               for fmt, content_type in CONTENT_TYPES.items()} | {describe.CONTENT_TYPE: "json",
                                                                   placeholder.CONTENT_TYPE: "txt"}


def content_disposition(download: str, source_id: str, content_type: str) -> _H:
    """`Content-Disposition: attachment` for `dl`: the given name, or the source's file name,
    with the extension of what is sent (a `fmt_auto` WebP saves as .webp)."""
    stem = download or _source_stem(source_id)
    head, dot, ext = stem.rpartition(".")
    if dot and head and ext.lower() in (*_EXTENSIONS.values(), "jpeg"):
        stem = head
    name = f"{stem}.{_EXTENSIONS.get(content_type, 'bin')}"
    ascii_name = "".join(c if c in DOWNLOAD_NAME_CHARS else "_" for c in name)
    value = f'attachment; filename="{ascii_name}"'
    if ascii_name != name:
        # RFC 6266/8187: browsers take the UTF-8 name, older clients the ASCII one.
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return b"content-disposition", value.encode()


def _source_stem(source_id: str) -> str:
    path = urlsplit(source_id).path if "://" in source_id else source_id
    stem = path.rstrip("/").rpartition("/")[2].lstrip(".")
    # Control characters never reach a header, whatever the source is called.
    stem = "".join(c for c in stem if c.isprintable() and c not in '"\\')
    return stem[:100] or "image"


def error_response(exc: ImgOriginError, policy: CachePolicy | None) -> Response:
    """JSON `{"error", "detail"}`; `no-store` except the short-lived 404."""
    body = json.dumps({"error": exc.code, "detail": exc.detail}).encode()
    headers = dict(SECURITY_HEADERS)
    if exc.status == 404 and policy is not None:
        headers["Cache-Control"] = policy.not_found_cache_control
    else:
        headers["Cache-Control"] = "no-store"
    if exc.headers:
        headers.update(exc.headers)
    return Response(body, status_code=exc.status, headers=headers,
                    media_type="application/json")


def internal_error_response() -> Response:
    body = b'{"error": "internal_error", "detail": "internal error"}'
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
    return Response(body, status_code=500, headers=headers, media_type="application/json")


def etag_matches(header: str, etag: str, *, wildcard: bool = True) -> bool:
    """Whether an If-None-Match value names `etag` (weak comparison, as RFC 9110 asks)."""
    if not header:
        return False
    if header.strip() == "*":
        return wildcard
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))
