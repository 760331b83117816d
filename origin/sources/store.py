"""The source side of a request: which version a source is at, and its bytes.

Each worker remembers HTTP source versions for `IMGORIGIN_SOURCE_TTL` (then revalidates with a
conditional GET: in the background for `IMGORIGIN_SOURCE_STALE` more seconds, so a hit does not
wait for the upstream, then in the request), 404s for `IMGORIGIN_NOT_FOUND_TTL`, and recently
fetched bytes. Versions, 404s and bytes are also shared through the shared tier (`shared.py`),
asked only when this worker's own memory has nothing current, and one fetch per source runs at a
time across the workers sharing it (a lease, as for transforms); the others wait for its result,
for at most `IMGORIGIN_FETCH_TIMEOUT`, then fetch themselves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

import httpx

from cache.coalesce import SingleFlight
from cache.keys import source_hash
from cache.memory import ByteLRU
from origin import metrics
from origin.errors import ImgOriginError, SourceNotFound, UpstreamError
from origin.security.netguard import NetworkGuard
from origin.settings import Settings, SettingsError
from origin.sources import s3
from origin.sources.fallback import FallbackImage, load_fallback
from origin.sources.http import Fetched, HttpSource
from origin.sources.local import LocalSource
from origin.sources.ref import SourceRef, parse_source
from origin.sources.shared import SharedSources, SharedVersion

log = logging.getLogger("imgorigin")
_MAX_REMEMBERED = 100_000
# A read that joined a revalidation (which brings no bytes) looks again; more is a fluke.
_READ_ATTEMPTS = 3


async def _nothing() -> None:
    return None


class SourceStore:
    def __init__(self, settings: Settings, client: httpx.AsyncClient, guard: NetworkGuard,
                 shared: SharedSources | None = None) -> None:
        self.settings = settings
        # An s3:// source is an HTTP base whose requests are signed (sources/s3.py).
        self.base = settings.source_base_url or settings.source
        self.base_kind = "http" if settings.source_base_url else "local"
        self.local = LocalSource(self.base.removeprefix("file://"), settings.max_source_bytes)
        self.http = HttpSource(
            client, guard, max_bytes=settings.max_source_bytes,
            total_timeout=settings.fetch_timeout, max_redirects=settings.max_redirects,
            allowed_hosts=settings.allowed_hosts,
            base_url=settings.source_base_url,
            base_auth=s3.S3Auth(settings.s3_region) if s3.is_s3(settings.source) else None,
        )
        self.shared = shared
        self.fallback: FallbackImage | None = None
        if settings.fallback_image:
            try:
                self.fallback = load_fallback(settings.fallback_image, settings.max_source_bytes)
            except ValueError as exc:
                raise SettingsError(f"IMGORIGIN_FALLBACK_IMAGE: {exc}") from None
        self.versions: dict[str, tuple[str, float]] = {}
        self._behind: dict[str, asyncio.Task[None]] = {}
        self.not_found: dict[str, float] = {}
        self.originals: ByteLRU[tuple[str, bytes]] = ByteLRU(
            settings.originals_cache_max_bytes, ttl=settings.originals_ttl)
        # In this worker: one lookup-or-fetch per source and need (version, bytes).
        self._here = SingleFlight(None, 0, metrics.SOURCE_COALESCED)
        # Across the workers sharing the tier: one upstream fetch per source.
        self._across = SingleFlight(shared.leases if shared is not None else None,
                                    settings.fetch_timeout, metrics.SOURCE_COALESCED)
        # Bumped by every purge this worker applies; a fetch or shared read that straddles one
        # is not remembered (it may be what the purge removed).
        self._epoch = 0
        self._shared_version_hits = metrics.SOURCE_SHARED.labels("version")
        self._shared_original_hits = metrics.SOURCE_SHARED.labels("original")

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

    def _remember_version(self, ref: SourceRef, version: str, checked: float) -> None:
        if len(self.versions) >= _MAX_REMEMBERED:
            self.versions.clear()
        self.versions[ref.id] = (version, checked)

    def trusts(self, ref: SourceRef) -> bool:
        """Whether `version` answers from this worker's memory, without waiting for anyone."""
        if ref.kind in ("local", "fallback"):
            return True
        known = self.versions.get(ref.id)
        return known is not None and (time.monotonic() - known[1]
                                      < self.settings.source_ttl + self.settings.source_stale)

    async def version(self, ref: SourceRef) -> str:
        """The source's current version: a stat for files, a (cached) GET for HTTP."""
        if ref.kind == "fallback":
            return self._fallback().version
        self._check_not_found(ref)
        try:
            if ref.kind == "local":
                return self.local.version(ref.key)
            known = self.versions.get(ref.id)
            if known is not None:
                age = time.monotonic() - known[1]
                if age < self.settings.source_ttl:
                    return known[0]
                if age < self.settings.source_ttl + self.settings.source_stale:
                    # Stale while revalidating: this answer does not wait for the upstream.
                    self._revalidate_behind(ref, known[0])
                    return known[0]
            known_version = known[0] if known else ""
            fetched, _ = await self._here.run(
                "v" + ref.id, _nothing, lambda: self._revalidate(ref, known_version))
            return fetched.version
        except SourceNotFound:
            self._remember_not_found(ref)
            raise

    def _revalidate_behind(self, ref: SourceRef, known_version: str) -> None:
        """One revalidation of `ref` in the background (per worker and source)."""
        if ref.id in self._behind:
            return
        task = asyncio.create_task(self._revalidate_quietly(ref, known_version))
        self._behind[ref.id] = task
        task.add_done_callback(lambda _: self._behind.pop(ref.id, None))

    async def _revalidate_quietly(self, ref: SourceRef, known_version: str) -> None:
        result = "ok"
        try:
            await self._here.run(
                "v" + ref.id, _nothing, lambda: self._revalidate(ref, known_version))
        except SourceNotFound:
            # Gone upstream: the next request answers 404 instead of the old version.
            result = "not_found"
            self.versions.pop(ref.id, None)
            self._remember_not_found(ref)
        except ImgOriginError as exc:
            # The upstream failed: the known version serves on until its stale window ends,
            # then a request revalidates in the open and reports the failure.
            result = "failed"
            log.info("background revalidation of %s failed: %s", ref.id, exc.detail)
        metrics.BACKGROUND_REVALIDATIONS.labels(result).inc()

    async def close(self) -> None:
        """Stop the background revalidations (a worker's shutdown)."""
        tasks = list(self._behind.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def read(self, ref: SourceRef, version: str) -> tuple[bytes, str]:
        """The source bytes (at `version` when still current) and the version they are at."""
        if ref.kind == "fallback":
            fallback = self._fallback()
            return fallback.data, fallback.version
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
            for _ in range(_READ_ATTEMPTS):
                fetched, _ = await self._here.run(
                    "d" + ref.id, _nothing, lambda: self._obtain(ref, version))
                if fetched.data is not None:
                    return fetched.data, fetched.version
                kept = self.originals.get(ref.id)
                if kept is not None:
                    return kept[1], kept[0]
        except SourceNotFound:
            self._remember_not_found(ref)
            raise
        raise UpstreamError("source bytes could not be obtained")

    def _fallback(self) -> FallbackImage:
        if self.fallback is None:
            raise SourceNotFound("no fallback image is configured")
        return self.fallback

    def _keep(self, ref: SourceRef, version: str, data: bytes) -> None:
        self.originals.set(ref.id, (version, data), len(data), ref.id)

    def _fresh(self, found: SharedVersion) -> bool:
        ttl = self.settings.not_found_ttl if found.missing else self.settings.source_ttl
        return time.time() - found.checked < ttl

    async def _revalidate(self, ref: SourceRef, known_version: str) -> Fetched:
        """A version some worker checked within the TTL, else a (conditional) GET."""
        asked = time.time()
        if self.shared is not None:
            epoch = self._epoch
            found = await self.shared.version(ref.id)
            if found is not None:
                if self._fresh(found):
                    return self._use_version(ref, found, epoch)
                if not found.missing:
                    known_version = found.version  # checked no earlier than ours
        return await self._fetch_once(ref, known_version,
                                      lambda: self._version_since(ref, asked))

    async def _version_since(self, ref: SourceRef, asked: float) -> Fetched | None:
        """A shared version checked since `asked` (by the fetch we waited for) or fresh."""
        if self.shared is None:
            return None
        epoch = self._epoch
        found = await self.shared.version(ref.id)
        if found is None or not (found.checked >= asked or self._fresh(found)):
            return None
        return self._use_version(ref, found, epoch)

    def _use_version(self, ref: SourceRef, found: SharedVersion, epoch: int) -> Fetched:
        self._shared_version_hits.inc()
        if found.missing:
            raise SourceNotFound("source not found")  # `version` remembers it here too
        if epoch == self._epoch:
            age = max(0.0, time.time() - found.checked)
            self._remember_version(ref, found.version, time.monotonic() - age)
        return Fetched(None, found.version)

    async def _obtain(self, ref: SourceRef, version: str) -> Fetched:
        """Shared bytes at `version`, else a full GET."""
        asked = time.time()
        found = await self._original_since(ref, version, float("inf"))
        if found is not None:
            return found
        return await self._fetch_once(ref, "", lambda: self._original_since(ref, version, asked))

    async def _original_since(self, ref: SourceRef, version: str,
                              asked: float) -> Fetched | None:
        """Shared bytes at `version`, or stored since `asked` (by the fetch we waited for)."""
        if self.shared is None:
            return None
        epoch = self._epoch
        found = await self.shared.original(ref.id)
        if found is None or (found.version != version and found.stored < asked):
            return None
        self._shared_original_hits.inc()
        if epoch == self._epoch:
            self._keep(ref, found.version, found.data)
        return Fetched(found.data, found.version)

    async def _fetch_once(self, ref: SourceRef, known_version: str,
                          lookup: Callable[[], Awaitable[Fetched | None]]) -> Fetched:
        """One upstream fetch per source across the workers sharing the tier. The lease holder
        looks once more (a fetch may have landed just before it got the lease), then fetches;
        the others poll `lookup`. The fetch runs to the end even if its callers leave."""

        async def lead() -> Fetched:
            found = await lookup()
            return found if found is not None else await self._fetch(ref, known_version)

        fetched, _ = await self._across.run("src-" + source_hash(ref.id), lookup, lead)
        return fetched

    async def _fetch(self, ref: SourceRef, known_version: str) -> Fetched:
        mark = await self.shared.mark(ref.id) if self.shared is not None else None
        epoch = self._epoch  # after the mark, which may apply purges this worker had not seen
        started = time.perf_counter()
        try:
            fetched = await self.http.fetch(ref.url, known_version=known_version)
        except SourceNotFound:
            if self.shared is not None:
                await self.shared.store(ref.id, mark, "", None, missing=True)
            raise
        size = len(fetched.data) if fetched.data is not None else 0
        metrics.observe_fetch("http", time.perf_counter() - started, size)
        if self.shared is not None:
            # Bytes before the version: a waiter that sees the version finds the bytes too.
            await self.shared.store(ref.id, mark, fetched.version, fetched.data)
        if epoch == self._epoch:
            self._remember_version(ref, fetched.version, time.monotonic())
            if fetched.data is not None:
                self._keep(ref, fetched.version, fetched.data)
        return fetched

    def forget(self, sources: Iterable[str], prefixes: Iterable[str] = ()) -> None:
        """Drop everything this worker remembers about these sources (after a purge; the purge
        itself removed their shared entries)."""
        self._epoch += 1
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

    def forget_all(self) -> None:
        """Drop everything remembered (purges may have been missed)."""
        self._epoch += 1
        self.originals.clear()
        self.versions.clear()
        self.not_found.clear()


FetchFn = Callable[[SourceRef], Awaitable[Fetched]]
