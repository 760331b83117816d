"""HTTP(S) sources through one shared httpx client, with every hop checked by the network guard."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from origin.errors import (
    Forbidden,
    InvalidSource,
    SourceNotFound,
    SourceTooLarge,
    UpstreamError,
    UpstreamTimeout,
)
from origin.security.netguard import NetworkGuard, host_allowed

USER_AGENT = "imgorigin/0.1 (+https://github.com/imgorigin/imgorigin)"
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass(frozen=True, slots=True)
class Fetched:
    """A fetch result: `data` is None when a conditional GET said the source is unchanged."""

    data: bytes | None
    version: str


def make_client(connect_timeout: float, read_timeout: float) -> httpx.AsyncClient:
    """The one client of a worker: pooled connections, no proxies from the environment."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT, "Accept": "image/*,*/*;q=0.8"},
    )


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
        base_host: str = "",
    ) -> None:
        self.client = client
        self.guard = guard
        self.max_bytes = max_bytes
        self.total_timeout = total_timeout
        self.max_redirects = max_redirects
        self.allowed_hosts = allowed_hosts
        self.base_host = base_host.lower()

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

    def _host_ok(self, host: str) -> bool:
        host = host.lower()
        return host == self.base_host or host_allowed(host, self.allowed_hosts)

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
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise Forbidden("source redirect to a scheme that is not allowed")
        host = parts.hostname or ""
        if not host or parts.username or parts.password:
            raise InvalidSource("source URL is malformed")
        if not self._host_ok(host):
            raise Forbidden("source host is not allowed")
        port = parts.port or (443 if parts.scheme == "https" else 80)
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
        return await self.client.send(request, stream=True)

    async def _read_body(self, response: httpx.Response) -> bytes:
        length = response.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            raise SourceTooLarge(f"source is larger than {self.max_bytes} bytes")
        chunks: list[bytes] = []
        total = 0
        # aiter_bytes yields decoded bytes, so a gzip bomb is cut at the cap too.
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if total > self.max_bytes:
                raise SourceTooLarge(f"source is larger than {self.max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
