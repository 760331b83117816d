"""The request paths each source was answered under, for purging edges that key objects by URL.

Open-source nginx with ngx_cache_purge removes one cache key per request and knows no tags, so
the origin remembers which paths of a source it answered (and whether the answer followed
`Sec-CH-DPR`), and the nginx purger names each of them (cache/purgers/nginx.py). Behind an edge
only its misses and revalidations reach the origin: a few requests per URL and edge lifetime,
so a path is written once per such request, off the request's path. Kept in Redis when it is
the shared tier (every host's answers), else in files under IMGORIGIN_CACHE_DIR (this host's
workers). Each directory above a source also indexes the sources with records under it, so a
purge by prefix reaches sources the shared tier no longer holds (their values expired while the
edge kept serving them, never asking the origin again).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cache.keys import purge_prefixes, source_hash
from origin import metrics

if TYPE_CHECKING:
    from cache.redis import RedisTier

log = logging.getLogger("imgorigin.purge")

# Paths waiting for the store beyond this are dropped (counted): the store is away or slow,
# and the edge's own lifetime still bounds what a purge then misses.
MAX_PENDING = 10_000
# A source's file is compacted (duplicates dropped) past this size, and skipped while still
# above it after compaction: tens of thousands of distinct URLs of one image are an attack or
# a bug, not a site.
MAX_FILE_BYTES = 1 << 20
# KEYS: the source's set.  ARGV: ttl ms, cap, members...  Members past the cap are dropped.
_ADD = """
if redis.call('SCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('SADD', KEYS[1], unpack(ARGV, 3))
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""
# KEYS: the source's set. Its members, and the set gone, in one step.
_TAKE = """
local members = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return members
"""
MAX_SET_MEMBERS = 20_000
# Sources one directory's index takes per period; past it a directory purge misses the newest
# (each source's own purge still reaches them).
MAX_DIRECTORY_SOURCES = 1_000_000
DROPPED = metrics.CACHE_ERRORS.labels("edge-urls", "dropped")  # records given up, for a bound
# How often each worker looks for files not written for a whole record lifetime.
SWEEP_SECONDS = 3600.0


@dataclass(frozen=True, slots=True, order=True)
class EdgeUrl:
    path: str  # the raw request path, as the edge sent it (query left out)
    hinted: bool  # the answer varied on Sec-CH-DPR: the edge keeps one object per step

    def encode(self) -> str:
        return ("h" if self.hinted else "-") + self.path

    @classmethod
    def decode(cls, text: str) -> EdgeUrl | None:
        if len(text) < 2 or text[0] not in "h-" or text[1] != "/":
            return None
        return cls(text[1:], text[0] == "h")


def by_tag(tag: str) -> str:
    """The record key of the paths whose answers carry `tag` beside their source's: a
    watermark's (`w-…`), whose purge names no source."""
    return "tag:" + tag


def record_keys(sources: Sequence[str], tags: Sequence[str]) -> list[str]:
    """What a purge of `sources` and `tags` takes from the record: the sources' paths and the
    watermark-tagged ones."""
    return [*sources, *(by_tag(t) for t in tags if t.startswith("w-"))]


def period(ttl: int) -> int:
    """The record lifetime's period a directory index is written under now: an index is read for
    this period and the one before, so it holds every source recorded in the last lifetime and
    its entries of sources long gone leave with their period."""
    return int(time.time() // ttl)


def directories(entries: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """The directory prefixes above each recorded source (tag keys have none), with the
    sources under each."""
    found: dict[str, set[str]] = {}
    for source, paths in entries.items():
        if paths and not source.startswith("tag:"):
            for prefix in purge_prefixes(source):
                found.setdefault(prefix, set()).add(source)
    return found


def indexed(prefix: str) -> str | None:
    """The directory whose index holds the sources under `prefix`: itself when it names one
    (`products/`), else the one it is part of (`products/sh` -> `products/`); None for a part of
    a top-level name, which no directory indexes."""
    cut = prefix.rfind("/")
    return prefix[:cut + 1] if cut >= 0 else None


class RecordUnavailable(Exception):
    """The record could not be read: a purge cannot tell which paths to name."""


class UrlStore(Protocol):
    async def add(self, entries: Mapping[str, set[str]]) -> None:
        """Add encoded paths per source id."""
        ...

    async def take(self, sources: Sequence[str]) -> dict[str, set[str]]:
        """Remove and return the encoded paths of these sources; RecordUnavailable if the store
        cannot be read."""
        ...

    async def sources_under(self, prefixes: Sequence[str]) -> set[str]:
        """The sources recorded in the last lifetime under these directory prefixes (their
        records may since have been taken); RecordUnavailable if the store cannot be read."""
        ...


class EdgeUrls:
    """Records answered paths in the background and hands them to a purge."""

    def __init__(self, store: UrlStore) -> None:
        self.store = store
        self._pending: dict[str, set[str]] = {}
        self._count = 0
        self._flushing: asyncio.Task[None] | None = None
        self._failed = metrics.CACHE_ERRORS.labels("edge-urls", "write")

    def record(self, source_id: str, path: str, hinted: bool) -> None:
        """Remember that `path` was answered for `source_id` (written in the background)."""
        if self._count >= MAX_PENDING:
            DROPPED.inc()
            return
        paths = self._pending.setdefault(source_id, set())
        before = len(paths)
        paths.add(EdgeUrl(path, hinted).encode())
        self._count += len(paths) - before
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending, self._count = self._pending, {}, 0
                try:
                    await self.store.add(batch)
                except Exception:  # a lost record costs one missed purge, never a request
                    self._failed.inc()
                    log.warning("could not record edge URLs", exc_info=True)
        finally:
            self._flushing = None

    async def drain(self) -> None:
        """Wait until what this worker recorded is in the store."""
        while self._flushing is not None:
            await asyncio.shield(self._flushing)

    async def take(self, sources: Sequence[str],
                   prefixes: Sequence[str] = ()) -> dict[str, list[EdgeUrl]]:
        """Remove and return every path recorded for these sources and for those under these
        directory prefixes (this worker's included)."""
        await self.drain()
        if prefixes:
            under = await self.store.sources_under(prefixes)
            sources = list(dict.fromkeys([*sources, *sorted(under)]))
        taken = await self.store.take(sources)
        found: dict[str, list[EdgeUrl]] = {}
        for source, encoded in taken.items():
            urls = sorted(u for u in map(EdgeUrl.decode, encoded) if u is not None)
            if urls:
                found[source] = urls
        return found

    async def give_back(self, urls: Mapping[str, Sequence[EdgeUrl]]) -> None:
        """Record again the paths a purge could not reach, for the next purge to retry."""
        await self.store.add({s: {u.encode() for u in us} for s, us in urls.items() if us})


class RedisUrlStore:
    """One SET per source (`P:{h}:edge`, beside the source's other keys), kept `ttl` seconds
    after its last write: at least as long as the edge keeps an object it does not request."""

    def __init__(self, tier: RedisTier, ttl: int) -> None:
        self.tier = tier
        self.ttl = ttl
        self.ttl_ms = ttl * 1000

    def _key(self, source_id: str) -> str:
        return self.tier.layout.source(source_id).edge_urls

    async def add(self, entries: Mapping[str, set[str]]) -> None:
        now = period(self.ttl)
        index = directories(entries)

        async def write() -> None:
            await asyncio.gather(*(
                self.tier.client.eval(_ADD, 1, self._key(source), self.ttl_ms, MAX_SET_MEMBERS,
                                      *sorted(paths))
                for source, paths in entries.items() if paths), *(
                # Two lifetimes: read for this period and the next.
                self.tier.client.eval(_ADD, 1, self.tier.layout.edge_directory(prefix, now),
                                      2 * self.ttl_ms, MAX_DIRECTORY_SOURCES, *sorted(sources))
                for prefix, sources in index.items()))

        await self.tier.call("edge-urls", write, background=True)

    async def sources_under(self, prefixes: Sequence[str]) -> set[str]:
        now = period(self.ttl)
        keys = [self.tier.layout.edge_directory(directory, p)
                for directory in {indexed(prefix) for prefix in prefixes} - {None}
                for p in (now, now - 1)]

        async def read() -> set[str]:
            found = await asyncio.gather(*(self.tier.client.smembers(k) for k in keys))
            return {m.decode("utf-8", "surrogateescape") for members in found for m in members}

        under = await self.tier.call("edge-urls", read, timeout=self.tier.purge_timeout)
        if under is None:
            raise RecordUnavailable("Redis did not answer for the directories' index of "
                                    "answered paths")
        # Another directory's whose name hashes alike is no concern of this purge.
        return {source for source in under if source.startswith(tuple(prefixes))}

    async def take(self, sources: Sequence[str]) -> dict[str, set[str]]:
        async def read() -> dict[str, set[str]]:
            found = await asyncio.gather(*(self.tier.client.eval(_TAKE, 1, self._key(source))
                                           for source in sources))
            return {source: {m.decode("utf-8", "surrogateescape") for m in members}
                    for source, members in zip(sources, found, strict=True) if members}

        taken = await self.tier.call("edge-urls", read, timeout=self.tier.purge_timeout)
        if taken is None:
            raise RecordUnavailable("Redis did not answer for the record of answered paths")
        return taken


class DiskUrlStore:
    """One file per source (`ROOT/<h[:2]>/<h>`, a path a line) shared by the workers of a host;
    every append, compaction, take and sweep holds the file's lock, so none loses another's
    lines. `MAX_FILE_BYTES` bounds each file, and a file not written for `ttl` seconds (its
    paths were not asked for again by the edge in that time) is removed, as Redis expires its
    sets: sources never purged do not pile up files."""

    def __init__(self, root: str, ttl: int) -> None:
        self.root = root
        self.ttl = ttl
        self._swept = time.monotonic()

    def _file(self, source_id: str) -> str:
        h = source_hash(source_id)
        return os.path.join(self.root, h[:2], h)

    async def add(self, entries: Mapping[str, set[str]]) -> None:
        await asyncio.to_thread(self._add, dict(entries))

    async def take(self, sources: Sequence[str]) -> dict[str, set[str]]:
        try:
            return await asyncio.to_thread(self._take, list(sources))
        except OSError as exc:
            raise RecordUnavailable(f"the record of answered paths: {exc}") from None

    def _index_file(self, prefix: str, at: int) -> str:
        # Named like a source's file, from an id no source has (NUL never reaches a key).
        return self._file(f"\0edge-directory\0{at}\0{prefix}")

    async def sources_under(self, prefixes: Sequence[str]) -> set[str]:
        try:
            return await asyncio.to_thread(self._under, list(prefixes))
        except OSError as exc:
            raise RecordUnavailable(f"the directories' index of answered paths: {exc}") from None

    def _add(self, entries: dict[str, set[str]]) -> None:
        for source, paths in entries.items():
            self._append_to(self._file(source), paths)
        now = period(self.ttl)
        for prefix, sources in directories(entries).items():
            # A source a line, as JSON: a key may hold a newline.
            self._append_to(self._index_file(prefix, now), {json.dumps(s) for s in sources})
        if time.monotonic() - self._swept > SWEEP_SECONDS:
            self._swept = time.monotonic()
            self.sweep()

    def _append_to(self, name: str, entries: set[str]) -> None:
        os.makedirs(os.path.dirname(name), exist_ok=True)
        lines = "".join(p + "\n" for p in sorted(entries)).encode("utf-8", "surrogateescape")
        while True:
            with _locked(name, os.O_RDWR | os.O_CREAT | os.O_APPEND) as fd:
                if os.fstat(fd).st_nlink == 0:
                    continue  # swept while this waited for the lock: open the name again
                self._append(fd, lines)
                return

    def _under(self, prefixes: list[str]) -> set[str]:
        now = period(self.ttl)
        found: set[str] = set()
        for directory in {indexed(prefix) for prefix in prefixes} - {None}:
            for at in (now, now - 1):
                try:
                    with _locked(self._index_file(directory, at), os.O_RDONLY) as fd:
                        lines = _read_lines(fd)
                except FileNotFoundError:
                    continue
                for line in lines:
                    with contextlib.suppress(ValueError):
                        source = json.loads(line)
                        if isinstance(source, str) and source.startswith(tuple(prefixes)):
                            found.add(source)
        return found

    @staticmethod
    def _append(fd: int, lines: bytes) -> None:
        if os.fstat(fd).st_size + len(lines) > MAX_FILE_BYTES:
            kept = _read_lines(fd) | set(lines.decode("utf-8", "surrogateescape").splitlines())
            lines = "".join(p + "\n" for p in sorted(kept)).encode("utf-8", "surrogateescape")
            if len(lines) > MAX_FILE_BYTES:
                DROPPED.inc()
                return
            os.ftruncate(fd, 0)
        os.write(fd, lines)

    def sweep(self) -> int:
        """Remove the files not written for `ttl` seconds; returns how many."""
        cutoff = time.time() - self.ttl
        removed = 0
        for shard in _listdir(self.root):
            folder = os.path.join(self.root, shard)
            for name in _listdir(folder):
                path = os.path.join(folder, name)
                try:
                    if os.stat(path).st_mtime >= cutoff:
                        continue
                    with _locked(path, os.O_RDWR) as fd:
                        if os.fstat(fd).st_mtime < cutoff:  # nobody wrote while this waited
                            os.unlink(path)
                            removed += 1
                except FileNotFoundError:
                    continue
        return removed

    def _take(self, sources: list[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for source in sources:
            name = self._file(source)
            try:
                with _locked(name, os.O_RDWR) as fd:
                    paths = _read_lines(fd)
                    # Emptied, not unlinked: a worker waiting on the lock to append writes to
                    # this file, which an unlink would have taken from under it.
                    os.ftruncate(fd, 0)
            except FileNotFoundError:
                continue
            if paths:
                found[source] = paths
        return found


@contextlib.contextmanager
def _locked(name: str, flags: int) -> Iterator[int]:
    fd = os.open(name, flags | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _read_lines(fd: int) -> set[str]:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return set(b"".join(chunks).decode("utf-8", "surrogateescape").splitlines()) - {""}
