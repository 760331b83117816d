"""HTTP(S) sources through one shared httpx client, with every hop checked by the network guard."""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from origin.errors import (
    Forbidden,
    SourceNotFound,
    SourceTooLarge,
    UpstreamError,
    UpstreamTimeout,
)
from origin.security.netguard import NetworkGuard, host_allowed, origin_of

USER_AGENT = "imgorigin/0.1 (+https://github.com/imgorigin/imgorigin)"
_REDIRECTS = {301, 302, 303, 307, 308}
# Decoded bytes produced per decompress call: a 64 KiB gzip chunk of zeros would otherwise
# expand to 64 MiB in one step, before any size check could see it.
_DECODE_STEP = 256 * 1024
# Idle pooled connections are dropped before the 5 s keep-alive timeout of uvicorn, Node.js and
# Apache, so this side never reuses one at the moment the upstream closes it.
_KEEPALIVE_EXPIRY = 4.0
# What a pooled connection the upstream closed as the request went out raises, before any answer.
_CLOSED_UNDER_US = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


@dataclass(frozen=True, slots=True)
class Fetched:
    """A fetch result: `data` is None when a conditional GET said the source is unchanged."""

    data: bytes | None
    version: str


def make_client(connect_timeout: float, read_timeout: float,
                transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The one client of a worker: pooled connections, no proxies from the environment.
    `transport` is the test seam (a connect spy); production uses httpx's own."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=64,
                            keepalive_expiry=_KEEPALIVE_EXPIRY),
        follow_redirects=False,
        trust_env=False,
        transport=transport,
        headers={"User-Agent": USER_AGENT, "Accept": "image/*,*/*;q=0.8",
                 # Only encodings decoded here under the byte cap (see BoundedDecoder).
                 "Accept-Encoding": "gzip, deflate"},
    )


class BoundedDecoder:
    """Undo `Content-Encoding` (identity, gzip, deflate) in bounded steps, so a compression bomb
    is cut at the byte cap without ever holding much more than the cap in memory."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        self._first = True
        self._raw_fallback = encoding == "deflate"
        self._zlib: Any = None
        if encoding in ("", "identity"):
            self._zlib = None
        elif encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        else:
            raise UpstreamError("source used a content-encoding this server does not decode",
                                internal=encoding)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decoded pieces of `data`, each at most `_DECODE_STEP` bytes, made one at a time so
        the caller's cap check runs between them."""
        if self._zlib is None:
            if data:
                yield data
            return
        pending = data
        while pending:
            try:
                piece = self._zlib.decompress(pending, _DECODE_STEP)
            except zlib.error:
                if self._first and self._raw_fallback:
                    # Some servers send raw deflate without the zlib header.
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._raw_fallback = False
                    continue
                raise UpstreamError("source body could not be decoded") from None
            self._first = False
            if piece:
                yield piece
            pending = self._zlib.unconsumed_tail


def _version(response: httpx.Response, data: bytes) -> str:
    etag = response.headers.get("etag")
    if etag:
        return "e:" + etag
    modified = response.headers.get("last-modified")
    if modified:
        return "m:" + modified
    return "h:" + hashlib.blake2b(data, digest_size=12).hexdigest()


class HttpSource:
    def __init__(
        self,
        client: httpx.AsyncClient,
        guard: NetworkGuard,
        *,
        max_bytes: int,
        total_timeout: float,
        max_redirects: int,
        allowed_hosts: tuple[str, ...],
        base_url: str = "",
        base_auth: httpx.Auth | None = None,
    ) -> None:
        self.client = client
        self.guard = guard
        self.max_bytes = max_bytes
        self.total_timeout = total_timeout
        self.max_redirects = max_redirects
        self.allowed_hosts = allowed_hosts
        self.base_origin = origin_of(base_url) if base_url else ("", 0)
        # Credentials (an S3 signature) go to the configured source's host and port only.
        self.base_auth = base_auth

    async def fetch(self, url: str, *, known_version: str = "") -> Fetched:
        """GET the source within the total deadline; 304 on a matching `known_version`."""
        try:
            async with asyncio.timeout(self.total_timeout):
                return await self._fetch(url, known_version)
        except TimeoutError:
            raise UpstreamTimeout("source fetch timed out") from None
        except httpx.TimeoutException:
            raise UpstreamTimeout("source fetch timed out") from None
        except httpx.HTTPError as exc:
            raise UpstreamError("source fetch failed", internal=repr(exc)) from None

    def _host_ok(self, host: str, port: int) -> bool:
        # The configured source is trusted as host *and* port: a redirect to another port of
        # that host is judged like any other URL.
        return (host.lower().rstrip("."), port) == self.base_origin or host_allowed(
            host, self.allowed_hosts)

    async def _fetch(self, url: str, known_version: str) -> Fetched:
        headers: dict[str, str] = {}
        if known_version.startswith("e:"):
            headers["If-None-Match"] = known_version[2:]
        elif known_version.startswith("m:"):
            headers["If-Modified-Since"] = known_version[2:]
        for _hop in range(self.max_redirects + 1):
            response = await self._send(url, headers)
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code == 304 and known_version:
                    return Fetched(None, known_version)
                if response.status_code in (404, 410):
                    raise SourceNotFound("source not found")
                if response.status_code != 200:
                    raise UpstreamError(f"source answered {response.status_code}")
                data = await self._read_body(response)
                return Fetched(data, _version(response, data))
            finally:
                await response.aclose()
        raise UpstreamError("source redirected too many times")

    async def _send(self, url: str, headers: dict[str, str]) -> httpx.Response:
        # The first URL was checked by `ref.parse_source`; what fails here came from a redirect.
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise UpstreamError("source redirected to a malformed URL") from None
        if parts.scheme not in ("http", "https"):
            raise Forbidden("source redirect to a scheme that is not allowed")
        host = parts.hostname or ""
        if not host or not host.isascii() or parts.username is not None or "@" in parts.netloc:
            raise Forbidden("source redirected to a URL that is not allowed")
        if not self._host_ok(host, port):
            raise Forbidden("source host is not allowed", internal=host)
        address = await self.guard.pin(host, port)
        # Dial the checked address; Host and TLS SNI still name the host.
        netloc = f"[{address}]" if ":" in address else address
        if parts.port:
            netloc += f":{parts.port}"
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        host_header = host if not parts.port else f"{host}:{parts.port}"
        request = self.client.build_request(
            "GET", pinned, headers={**headers, "Host": host_header},
            extensions={"sni_hostname": host} if parts.scheme == "https" else {},
        )
        auth = self.base_auth if (host.lower().rstrip("."), port) == self.base_origin else None
        try:
            return await self.client.send(request, stream=True, auth=auth)
        except _CLOSED_UNDER_US:
            # Nothing was answered (the keep-alive timers of both sides may have raced on a
            # reused connection): a GET is safe to send once more, on a new connection.
            return await self.client.send(request, stream=True, auth=auth)

    async def _read_body(self, response: httpx.Response) -> bytes:
        length = response.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            raise SourceTooLarge(f"source is larger than {self.max_bytes} bytes")
        decoder = BoundedDecoder(response.headers.get("content-encoding", ""))
        chunks: list[bytes] = []
        total = 0
        # The cap counts decoded bytes, so a gzip bomb is cut at cap + 1 too.
        async for raw in response.aiter_raw():
            for chunk in decoder.feed(raw):
                total += len(chunk)
                if total > self.max_bytes:
                    raise SourceTooLarge(f"source is larger than {self.max_bytes} bytes")
                chunks.append(chunk)
        return b"".join(chunks)
