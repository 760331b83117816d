"""The embedded on-disk tier alone: layout, purges, the size cap and write failures.

The cross-process behaviour (two workers sharing it, purge reaching both, restart) is in
tests/origin/test_embedded_cache.py against a real server.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from cache.disk import DiskTier
from cache.entry import CachedVariant

REPO = Path(__file__).resolve().parents[2]


def _entry(source: str, body: bytes = b"x" * 1000) -> CachedVariant:
    return CachedVariant(body=body, content_type="image/jpeg", etag='"k"', source_id=source,
                         source_version="v1", format="jpeg", width=10, height=10,
                         created=1700000000.0, transform_ms=1.0)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _on_disk(path: Path) -> int:
    st = path.stat()
    return max(st.st_size, st.st_blocks * 512)


def _overhead(root: Path) -> int:
    """What the sweep counts beside the variants: the source folders and their name files."""
    folders = [p for p in (root / "v").glob("*/*") if p.is_dir()]
    return sum(_on_disk(f) + _on_disk(f / ".source") for f in folders)


def test_an_entry_reads_back_and_its_folder_names_its_source(tmp_path: Path) -> None:
    tier = DiskTier(str(tmp_path), 1 << 20)

    async def scenario() -> CachedVariant | None:
        await tier.set("k1", _entry("a/b.jpg"))
        await tier.set("k2", _entry("a/b.jpg"))  # the folder exists now: the short path
        return await tier.get("k1", "a/b.jpg")

    assert asyncio.run(scenario()) == _entry("a/b.jpg")
    names = {p.name for p in _files(tmp_path)}
    assert names == {".source", "k1", "k2"}  # no temporary file is left behind
    marker = next(p for p in _files(tmp_path) if p.name == ".source")
    assert marker.read_bytes() == b"a/b.jpg"
    assert tier.healthy


def test_a_purged_folder_is_made_again_with_its_name_file(tmp_path: Path) -> None:
    tier = DiskTier(str(tmp_path), 1 << 20)

    async def scenario() -> int:
        await tier.set("k1", _entry("a/b.jpg"))
        count = await tier.purge(["a/b.jpg"], [])
        await tier.set("k2", _entry("a/b.jpg"))
        return count.variants

    assert asyncio.run(scenario()) == 1
    assert {p.name for p in _files(tmp_path)} == {".source", "k2"}
    # The name file is back, so a prefix purge still finds the source.
    count = asyncio.run(tier.purge([], ["a/"]))
    assert (count.variants, count.sources) == (1, {"a/b.jpg"})
    assert asyncio.run(tier.get("k2", "a/b.jpg")) is None


def test_prefix_purge_takes_only_sources_under_the_prefix(tmp_path: Path) -> None:
    tier = DiskTier(str(tmp_path), 1 << 20)

    async def scenario() -> None:
        for source in ("shop/a.jpg", "shop/b.jpg", "shopping/c.jpg", "blog/d.jpg"):
            await tier.set("k", _entry(source))

    asyncio.run(scenario())
    count = asyncio.run(tier.purge([], ["shop/"]))
    assert (count.variants, count.sources) == (2, {"shop/a.jpg", "shop/b.jpg"})
    left = {s for s in ("shop/a.jpg", "shop/b.jpg", "shopping/c.jpg", "blog/d.jpg")
            if asyncio.run(tier.get("k", s)) is not None}
    assert left == {"shopping/c.jpg", "blog/d.jpg"}


def test_sweep_evicts_the_oldest_entries_down_to_90_percent(tmp_path: Path) -> None:
    body = b"y" * 10_000
    tier = DiskTier(str(tmp_path), 100_000)
    for i in range(12):
        tier._write(f"s{i % 3}.jpg", f"k{i:02d}", _entry(f"s{i % 3}.jpg", body).to_bytes())
    variants = [p for p in _files(tmp_path) if not p.name.startswith(".")]
    # What the filesystem allocated for each (whole blocks), which is what the cap counts.
    size = _on_disk(variants[0])
    assert size >= len(_entry("s0.jpg", body).to_bytes())
    overhead = _overhead(tmp_path)
    for i, path in enumerate(sorted(variants, key=lambda p: p.name)):
        os.utime(path, (1_000_000 + i, 1_000_000 + i))  # k00 is the oldest
    stale_tmp = variants[0].parent / "k99.1.tmp"  # a write that died half way, long ago
    stale_tmp.write_bytes(b"half")
    os.utime(stale_tmp, (time.time() - 600, time.time() - 600))

    removed = tier.sweep()

    kept = sorted(p.name for p in _files(tmp_path) if not p.name.startswith("."))
    assert len(kept) * size + overhead <= 90_000 < (len(kept) + 1) * size + overhead
    assert removed == 12 - len(kept)
    assert kept == [f"k{i:02d}" for i in range(12 - len(kept), 12)]  # the newest survive
    assert not stale_tmp.exists()


def test_sweep_takes_only_part_of_the_second_at_its_cutoff(tmp_path: Path) -> None:
    tier = DiskTier(str(tmp_path), 90_000)
    for i in range(12):
        tier._write("s.jpg", f"k{i:02d}", b"y" * 8192)  # two whole blocks each
    variants = [p for p in _files(tmp_path) if not p.name.startswith(".")]
    for path in variants[:6]:
        os.utime(path, (1_000_000, 1_000_000))  # six files written in the same second
    for i, path in enumerate(variants[6:]):
        os.utime(path, (1_000_010 + i, 1_000_010 + i))
    total = 12 * _on_disk(variants[0]) + _overhead(tmp_path)
    excess = total - 81_000
    goes = -(-excess // _on_disk(variants[0]))  # whole files, oldest first
    assert 0 < goes < 6  # the test's point: fewer than the oldest second holds

    removed = tier.sweep()

    kept = [p for p in _files(tmp_path) if not p.name.startswith(".")]
    assert removed == goes and len(kept) == 12 - goes
    assert set(variants[6:]) <= set(kept)


def test_sweep_does_not_hold_an_object_per_file(tmp_path: Path) -> None:
    """A list of every file made CPython's object arenas grow for good at each sweep
    (benchmarks/README.md finding 26); the sweep now streams."""
    tier = DiskTier(str(tmp_path), 1_000)
    for i in range(2_000):
        tier._write(f"s{i % 20}.jpg", f"variant-key-{i:06d}", b"z" * 10)
    tracemalloc.start()
    try:
        tier.sweep()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len([p for p in _files(tmp_path) if not p.name.startswith(".")]) < 2_000
    # A (mtime, size, path) tuple per file was about 250 bytes each, 500 KB here.
    assert peak < 100_000, peak


def test_sweep_leaves_a_tier_under_its_cap_alone(tmp_path: Path) -> None:
    tier = DiskTier(str(tmp_path), 1 << 20)
    tier._write("s.jpg", "k", b"z" * 1000)
    assert tier.sweep() == 0
    assert [p.name for p in _files(tmp_path) if not p.name.startswith(".")] == ["k"]


_FULL_DISK = """
import asyncio, resource, signal, sys
from cache.disk import DiskTier
from tests.cache.test_disk import _entry

tier = DiskTier(sys.argv[1], 1 << 20)
asyncio.run(tier.set("small", _entry("a.jpg", b"s" * 100)))
# Files may not grow past 4 KB from here on: a write past it fails like a full disk (EFBIG).
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
asyncio.run(tier.set("big", _entry("a.jpg", b"b" * 50_000)))
print("unhealthy" if not tier.healthy else "healthy")
asyncio.run(tier.set("small2", _entry("a.jpg", b"s" * 100)))
print("unhealthy" if not tier.healthy else "healthy")
"""


def test_a_failing_write_marks_the_tier_unhealthy_and_leaves_no_file(tmp_path: Path) -> None:
    # In a child: the file-size limit that stands in for a full disk would bind pytest too.
    done = subprocess.run([sys.executable, "-c", _FULL_DISK, str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["unhealthy", "healthy"]
    names = {p.name for p in _files(tmp_path)}
    assert names == {".source", "small", "small2"}  # no entry and no partial file of "big"


def test_only_complete_entries_read_back(tmp_path: Path) -> None:
    tier = DiskTier(str(tmp_path), 1 << 20)
    # A source name long enough that the metadata outgrows the first read of a file.
    long_source = "a/" + "x" * 3000 + ".jpg"
    entry = _entry(long_source, b"\xff\xd8" + bytes(range(256)) * 40)
    tier._write(long_source, "whole", entry.to_bytes())
    assert asyncio.run(tier.get("whole", long_source)) == entry

    blob = _entry("b.jpg").to_bytes()
    for name, data in {"torn-body": blob[:-1], "torn-meta": blob[:40], "empty": b"",
                       "foreign": b"GIF89a" + blob[6:], "empty-body": blob[:blob.index(b"}") + 1]
                       }.items():
        tier._write("b.jpg", name, data)
    assert asyncio.run(tier.get("torn-meta", "b.jpg")) is None
    assert asyncio.run(tier.get("empty", "b.jpg")) is None
    assert asyncio.run(tier.get("foreign", "b.jpg")) is None
    assert asyncio.run(tier.get("missing", "b.jpg")) is None
    # A file cut short, even inside the body, is a miss: never a truncated image.
    assert asyncio.run(tier.get("torn-body", "b.jpg")) is None
    assert asyncio.run(tier.get("empty-body", "b.jpg")) is None
