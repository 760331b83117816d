"""The embedded on-disk tier, shared by the workers of one host.

Layout: `ROOT/v/<h[:2]>/<h>/<variant key>` with `h` the source hash, and `.source` in each source
folder naming the source, so purging a source is one `rmtree` and a prefix purge reads the names.
Files are written to a temporary name and renamed, so a reader never sees half an entry.
Dot files beside the variants (`.version`, `.original` of an HTTP source) are not variants but
are purged and swept with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Iterator, Sequence

from cache.entry import HEADER_SIZE, CachedVariant, blob_lengths
from cache.keys import source_hash
from cache.tiers import PurgeCount

_SOURCE_FILE = ".source"


class DiskTier:
    name = "disk"

    def __init__(self, root: str, max_bytes: int) -> None:
        self.root = os.path.join(root, "v")
        self.max_bytes = max_bytes
        self.healthy = True
        self._written_since_sweep = 0
        self._sweeping = False
        os.makedirs(self.root, exist_ok=True)

    def _dir(self, source_id: str) -> str:
        h = source_hash(source_id)
        return os.path.join(self.root, h[:2], h)

    async def get(self, key: str, source_id: str) -> CachedVariant | None:
        # Entries are small and usually in the page cache: a direct read beats a thread hop.
        try:
            fd = os.open(os.path.join(self._dir(source_id), key), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            return _read_entry(fd)
        except OSError:
            return None
        finally:
            os.close(fd)

    async def set(self, key: str, entry: CachedVariant) -> None:
        try:
            blob = entry.to_bytes()
            extra = await asyncio.to_thread(self._write, entry.source_id, key, blob)
        except OSError:
            self.healthy = False
            return
        self.healthy = True
        self._written(_allocated(len(blob)) + extra)

    async def clear(self) -> None:
        """Drop every entry of the host: the tree is renamed away at once, then deleted."""
        await asyncio.to_thread(self._clear)

    def _clear(self) -> None:
        doomed = f"{self.root}.dropped.{os.getpid()}.{time.monotonic_ns()}"
        with contextlib.suppress(OSError):
            os.rename(self.root, doomed)  # another worker may have done it just now
        os.makedirs(self.root, exist_ok=True)
        # This one, and any a worker left half deleted when it died.
        parent, prefix = os.path.split(self.root)
        for name in _listdir(parent):
            if name.startswith(prefix + ".dropped."):
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)

    async def discard(self, name: str, source_id: str) -> None:
        """Remove one file of a source (a variant or a dot file), if it is there."""
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self._dir(source_id), name))

    def source_file(self, source_id: str, name: str) -> str:
        """The path of a per-source dot file (`name` starts with '.')."""
        return os.path.join(self._dir(source_id), name)

    async def put_source_file(self, source_id: str, name: str, data: bytes) -> bool:
        """Write a per-source dot file; it counts against the cap like a variant."""
        try:
            extra = await asyncio.to_thread(self._write, source_id, name, data)
        except OSError:
            return False  # e.g. a purge removed the folder meanwhile: a miss later, no harm
        self._written(_allocated(len(data)) + extra)
        return True

    def _written(self, size: int) -> None:
        self._written_since_sweep += size
        if not self._sweeping:
            self._sweep_if_due()

    def _sweep_if_due(self) -> None:
        if self._written_since_sweep > self.max_bytes // SWEEP_EVERY:
            self._written_since_sweep = 0
            self._sweeping = True
            task = asyncio.create_task(asyncio.to_thread(self.sweep))
            task.add_done_callback(self._swept)

    def _swept(self, _task: asyncio.Task[int]) -> None:
        # Writes that landed while the sweep ran were not counted by it: when they are due
        # a sweep of their own, run it now rather than at the next write, which may not come.
        self._sweeping = False
        with contextlib.suppress(RuntimeError):  # the loop is closing: nothing to sweep for
            self._sweep_if_due()

    def _write(self, source_id: str, name: str, data: bytes) -> int:
        """Write one file of a source; returns what making its folder took besides (0 or the
        folder's and name file's blocks), which the sweep's trigger counts too."""
        folder = self._dir(source_id)
        try:
            _atomic_write(os.path.join(folder, name), data)
            return 0
        except FileNotFoundError:
            # First entry of this source, or its folder was purged meanwhile: make the folder and
            # its name file, then write. Trying first keeps the usual write at four syscalls.
            os.makedirs(folder, exist_ok=True)
            source_name = source_id.encode("utf-8", "surrogatepass")
            _atomic_write(os.path.join(folder, _SOURCE_FILE), source_name)
            _atomic_write(os.path.join(folder, name), data)
            return _BLOCK + _allocated(len(source_name))

    async def purge(self, sources: Sequence[str], prefixes: Sequence[str]) -> PurgeCount:
        return await asyncio.to_thread(self._purge, list(sources), tuple(prefixes))

    def _purge(self, sources: list[str], prefixes: tuple[str, ...]) -> PurgeCount:
        count = PurgeCount()
        folders = {self._dir(s): s for s in sources}
        if prefixes:
            for folder, source in self._source_folders():
                if source.startswith(prefixes):
                    folders[folder] = source
                    count.sources.add(source)
        for folder in folders:
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            count.variants += sum(1 for n in names if not n.startswith(".")
                                  and not n.endswith(".tmp"))
            shutil.rmtree(folder, ignore_errors=True)
        return count

    def _source_folders(self) -> list[tuple[str, str]]:
        found = []
        for shard in _listdir(self.root):
            for h in _listdir(os.path.join(self.root, shard)):
                folder = os.path.join(self.root, shard, h)
                try:
                    with open(os.path.join(folder, _SOURCE_FILE), "rb") as f:
                        found.append((folder, f.read().decode("utf-8", "surrogatepass")))
                except OSError:
                    continue
        return found

    def sweep(self) -> int:
        """Evict the least recently written files until the tier is under 90 % of its cap (when
        it is above 95 %), and
        drop the folders of sources left with no file."""
        # Two streaming passes and a histogram of bytes per second of mtime, not a list of every
        # file: a list of tens of thousands of small objects made at once grew CPython's object
        # arenas for good each time, since a few long-lived objects made meanwhile pin them.
        # Sizes are what the filesystem allocated, folders and name files included: a 300-byte
        # entry takes a whole block, and a flood of tiny variants (or of sources) counted by
        # length would fill the disk many times over the cap.
        by_second: dict[int, int] = {}
        total = 0
        # The shard folders (at most 256 blocks, 1 MiB) are a fixed cost outside the cap.
        for folder in self._folders():
            folder_bytes = _on_disk(folder.stat(follow_symlinks=False))
            total += folder_bytes
            newest = None
            for path, st, evictable in self._files(folder.path):
                total += _on_disk(st)
                if evictable:
                    second = int(st.st_mtime)
                    by_second[second] = by_second.get(second, 0) + _on_disk(st)
                    newest = second if newest is None else max(newest, second)
                elif path.endswith(_SOURCE_FILE):
                    folder_bytes += _on_disk(st)
            # The folder and its name file go with its newest variant: with many sources of one
            # tiny variant each they are most of the bytes, and a sweep that did not count them
            # as freed would evict every variant to reach its goal.
            if newest is not None:
                by_second[newest] = by_second.get(newest, 0) + folder_bytes
        if total <= self.max_bytes * SWEEP_ABOVE:
            return 0
        excess = total - int(self.max_bytes * SWEEP_TO)
        cutoff = 0  # every file written before this second goes, then part of that second
        for second in sorted(by_second):
            cutoff = second
            if by_second[second] >= excess:
                break
            excess -= by_second[second]
        removed = 0
        for folder in self._folders():
            left = 0
            folder_bytes = _on_disk(folder.stat(follow_symlinks=False))
            in_cutoff_second = False
            for path, st, evictable in self._files(folder.path):
                second = int(st.st_mtime)
                if not evictable or second > cutoff or (second == cutoff and excess <= 0):
                    if path.endswith(_SOURCE_FILE):
                        folder_bytes += _on_disk(st)
                    else:
                        left += 1
                    continue
                try:
                    os.unlink(path)
                except OSError:
                    left += 1
                    continue
                removed += 1
                if second == cutoff:
                    excess -= _on_disk(st)
                    in_cutoff_second = True
            if not left and _drop_empty_folder(folder.path) and in_cutoff_second:
                excess -= folder_bytes
        return removed

    def _folders(self) -> Iterator[os.DirEntry[str]]:
        for shard in _scandir(self.root):
            yield from _scandir(shard.path)

    def _files(self, folder: str) -> Iterator[tuple[str, os.stat_result, bool]]:
        """Each file of a source folder and whether the sweep may evict it (not its `.source`
        name, nor a temporary file being written). Stale temporary files (a write that died
        half way) are removed on the way."""
        stale = time.time() - 300
        for file in _scandir(folder):
            try:
                st = file.stat(follow_symlinks=False)
            except OSError:
                continue
            if file.name.endswith(".tmp"):
                if st.st_mtime < stale:
                    with contextlib.suppress(OSError):
                        os.unlink(file.path)
                    continue
                yield file.path, st, False
                continue
            yield file.path, st, file.name != _SOURCE_FILE

    async def close(self) -> None:
        return None


def _drop_empty_folder(folder: str) -> bool:
    """Remove a source folder the sweep emptied; False if it stays. A writer may put a file in
    it meanwhile: then the folder stays and gets its name file back, which a purge by prefix
    reads."""
    name_file = os.path.join(folder, _SOURCE_FILE)
    try:
        with open(name_file, "rb") as f:
            name = f.read()
        os.unlink(name_file)
    except OSError:
        return False
    try:
        os.rmdir(folder)
    except OSError:
        with contextlib.suppress(OSError):
            _atomic_write(name_file, name)
        return False
    return True


def _read_entry(fd: int) -> CachedVariant | None:
    """The entry in an open file, its body read straight into its own bytes: slicing it out of
    one whole-file read would copy every hit's body once more."""
    size = os.fstat(fd).st_size
    first = os.pread(fd, min(size, _FIRST_READ), 0)
    lengths = blob_lengths(first)
    if lengths is None or size != HEADER_SIZE + sum(lengths):
        return None  # not an entry, or not a complete one
    meta_end = HEADER_SIZE + lengths[0]
    if meta_end > len(first):
        first = os.pread(fd, meta_end, 0)
    body = os.pread(fd, lengths[1], meta_end)
    if len(first) < meta_end or len(body) != lengths[1]:
        return None
    return CachedVariant.from_parts(first[HEADER_SIZE:meta_end], body)


_FIRST_READ = 1024  # the metadata of an entry fits in this, the body follows


def _atomic_write(path: str, data: bytes) -> None:
    """Write to a temporary name and rename, so a reader never sees half an entry."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # e.g. a full disk: leave no partial file behind
        raise
    os.close(fd)
    os.replace(tmp, path)


_BLOCK = 4096  # the allocation unit of ext4, XFS and tmpfs as usually set up
# A sweep runs after each twentieth of the cap written, evicts when the tier is above 95 % and
# leaves 90 %: the tier stays within the cap, with what is written during a sweep counted
# towards the next one.
SWEEP_EVERY = 20
SWEEP_ABOVE = 0.95
SWEEP_TO = 0.90


def _allocated(length: int) -> int:
    """The space a new file of `length` bytes takes, before the sweep can stat it."""
    return -(-length // _BLOCK) * _BLOCK


def _on_disk(st: os.stat_result) -> int:
    return max(st.st_size, st.st_blocks * 512)


def _scandir(path: str) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            yield from entries
    except OSError:
        return


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []
