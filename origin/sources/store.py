"""The source side of a request: which version a source is at, and its bytes.

Per worker it remembers HTTP source versions for `IMGORIGIN_SOURCE_TTL` (then revalidates with a
conditional GET), 404s for `IMGORIGIN_NOT_FOUND_TTL`, and recently fetched bytes, and it runs one
fetch per source at a time however many requests want it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

import httpx

from cache.memory import ByteLRU
from origin import metrics
from origin.errors import SourceNotFound
from origin.security.netguard import NetworkGuard
from origin.settings import Settings
from origin.sources.http import Fetched, HttpSource
from origin.sources.local import LocalSource
from origin.sources.ref import SourceRef, parse_source

_MAX_REMEMBERED = 100_000

def source_kind(source: str) -> str:
    return "http" if source.startswith(("http://", "https://")) else "local"

class SourceStore:
    def __init__(self, settings: Settings, client: httpx.AsyncClient, guard: NetworkGuard) -> None:
        self.settings = settings
        self.base = settings.source
        self.base_kind = source_kind(self.base)
        base_root = self.base.removeprefix("file://")
        self.local = LocalSource(base_root, settings.max_source_bytes)
        self.http = HttpSource(
            client, guard, max_bytes=settings.max_source_bytes,
            total_timeout=settings.fetch_timeout, max_redirects=settings.max_redirects,
            allowed_hosts=settings.allowed_hosts,
            base_url=self.base if self.base_kind == "http" else "",
        )
        self.versions: dict[str, tuple[str, float]] = {}
        self.not_found: dict[str, float] = {}
        self.originals: ByteLRU[tuple[str, bytes]] = ByteLRU(
            settings.originals_cache_max_bytes, ttl=settings.originals_ttl)
        self._inflight: dict[str, asyncio.Task[Fetched]] = {}

    def ref(self, raw: str) -> SourceRef:
        """Parse and check the `{source}` part of a URL (400/403 on a bad one)."""
        return parse_source(raw, base=self.base, base_kind=self.base_kind,
                            allowed_hosts=self.settings.allowed_hosts)

    def _check_not_found(self, ref: SourceRef) -> None:
        until = self.not_found.get(ref.id)
        if until is not None:
            if until > time.monotonic():
                raise SourceNotFound("source not found")
            del self.not_found[ref.id]

    def _remember_not_found(self, ref: SourceRef) -> None:
        if len(self.not_found) >= _MAX_REMEMBERED:
            self.not_found.clear()
        self.not_found[ref.id] = time.monotonic() + self.settings.not_found_ttl

    async def version(self, ref: SourceRef) -> str:
        """The source's current version: a stat for files, a (cached) GET for HTTP."""
        self._check_not_found(ref)
        try:
            if ref.kind == "local":
                return self.local.version(ref.key)
            known = self.versions.get(ref.id)
            if known is not None and time.monotonic() - known[1] < self.settings.source_ttl:
                return known[0]
            fetched = await self._fetch_once(ref, known[0] if known else "")
            return fetched.version
        except SourceNotFound:
            self._remember_not_found(ref)
            raise

    async def read(self, ref: SourceRef, version: str) -> tuple[bytes, str]:
        """The source bytes (at `version` when still current) and the version they are at."""
        kept = self.originals.get(ref.id)
        if kept is not None and kept[0] == version:
            return kept[1], kept[0]
        try:
            if ref.kind == "local":
                started = time.perf_counter()
                data, got = await self.local.read(ref.key)
                metrics.observe_fetch("local", time.perf_counter() - started, len(data))
                self._keep(ref, got, data)
                return data, got
            fetched = await self._fetch_once(ref, "")
        except SourceNotFound:
            self._remember_not_found(ref)
            raise
        kept = self.originals.get(ref.id)
        if kept is not None:
            return kept[1], kept[0]
        assert fetched.data is not None
        return fetched.data, fetched.version

    def _keep(self, ref: SourceRef, version: str, data: bytes) -> None:
        self.originals.set(ref.id, (version, data), len(data), ref.id)

    async def _fetch_once(self, ref: SourceRef, known_version: str) -> Fetched:
        """One HTTP fetch per source at a time; it runs to the end even if its caller leaves."""
        task = self._inflight.get(ref.id)
        if task is None:
            task = asyncio.create_task(self._fetch(ref, known_version))
            self._inflight[ref.id] = task
            task.add_done_callback(lambda _t, key=ref.id: self._inflight.pop(key, None))
        return await asyncio.shield(task)

    async def _fetch(self, ref: SourceRef, known_version: str) -> Fetched:
        started = time.perf_counter()
        fetched = await self.http.fetch(ref.url, known_version=known_version)
        size = len(fetched.data) if fetched.data is not None else 0
        metrics.observe_fetch("http", time.perf_counter() - started, size)
        if len(self.versions) >= _MAX_REMEMBERED:
            self.versions.clear()
        self.versions[ref.id] = (fetched.version, time.monotonic())
        if fetched.data is not None:
            self._keep(ref, fetched.version, fetched.data)
        return fetched

    def forget(self, sources: Iterable[str], prefixes: Iterable[str] = ()) -> None:
        """Drop everything remembered about these sources (after a purge)."""
        sources = list(sources)
        prefixes = tuple(prefixes)
        self.originals.drop_sources(sources)
        self.originals.drop_prefixes(prefixes)
        for table in (self.versions, self.not_found):
            for source in sources:
                table.pop(source, None)
            if prefixes:
                for key in [k for k in table if k.startswith(prefixes)]:
                    del table[key]

FetchFn = Callable[[SourceRef], Awaitable[Fetched]]
