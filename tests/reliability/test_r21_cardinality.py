"""R21: a variant-cardinality attack (one client asking for endless distinct variants, the
CVE-2026-27980 shape) stays inside every cache's cap, and URLs that are unsigned or only spell
an existing variant differently create no entries at all."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cache.disk import DiskTier
from cache.entry import CachedVariant
from cache.journal import PurgeJournal
from cache.variants import VariantCache
from origin.security import signing
from tests.reliability.faults import photo
from tests.security.support import AppServer
from tests.support.redis_server import RedisProcess

MIB = 1024 * 1024
KEY = "72323120636172642d6b6579"


def _tiny(i: int, source: str | None = None) -> tuple[str, CachedVariant]:
    """A distinct small variant with the strings a real one carries (each its own object)."""
    source = source or f"products/shoes/shoe-{i % 50}.jpg"
    version = f"{time.time_ns():x}-{i:x}"
    key = hashlib.sha256(f"w_{i}|{source}|{version}".encode()).hexdigest()[:32]
    entry = CachedVariant(body=os.urandom(100), content_type="image/webp", etag=f'"{key}"',
                          source_id=source, source_version=version, format="webp", width=1,
                          height=1, created=time.time(), transform_ms=1.0)
    return key, entry


def _disk_usage(root: Path) -> int:
    """What the tier's tree takes on the filesystem: source folders and their files, in
    allocated blocks (the 256 shard folders above them are a fixed cost outside the cap)."""
    total = 0
    for path in (root / "v").glob("*/**/*"):
        st = path.stat()
        total += max(st.st_size, st.st_blocks * 512)
    return total


def test_r21_memory_cap_counts_what_entries_really_cost(tmp_path: Path) -> None:
    """Tiny variants: each costs the worker far more than its body; counting 256 bytes for that
    let a flood hold about twice the configured cap."""
    cap = 2 * MIB
    cache = VariantCache(cap, [], PurgeJournal(str(tmp_path)))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):
            key, entry = _tiny(i)
            asyncio.run(cache.store(key, entry)) if i == 0 else cache.memory.set(
                key, entry, entry.size, entry.source_id)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert cache.memory.bytes <= cap
    assert 1_000 < len(cache.memory) < 20_000  # the flood filled it and was evicted
    assert held <= cap * 1.1, f"{held / MIB:.2f} MiB held under a {cap / MIB:.0f} MiB cap"


def test_r21_disk_cap_counts_the_blocks_a_flood_of_tiny_variants_takes(tmp_path: Path) -> None:
    """A 300-byte entry takes a 4 KiB block (and each source a folder and a name file):
    counting lengths let such a flood take many times the cap."""
    cap = 1 * MIB
    tier = DiskTier(str(tmp_path), cap)

    async def flood() -> None:
        for i in range(3_000):
            key, entry = _tiny(i, f"flood/src-{i % 40}.jpg")
            await tier.set(key, entry)
        while tier._sweeping:
            await asyncio.sleep(0.01)

    asyncio.run(flood())
    used = _disk_usage(tmp_path)
    # A sweep runs every twentieth of the cap written, above 95 %, and leaves 90 %: the cap.
    assert used <= cap * 1.1, f"{used / MIB:.2f} MiB on disk under a {cap / MIB:.0f} MiB cap"
    assert len([p for p in (tmp_path / "v").rglob("*") if p.is_file()]) > 100


def test_r21_sweep_counts_the_folders_it_frees_and_stops_at_its_goal(tmp_path: Path) -> None:
    """Many sources of one tiny variant each: a source's folder and name file take twice its
    variant's blocks and go with it, so a sweep that counted only the variants as freed took
    three times what it needed (and, flooded, emptied the whole tier)."""
    tier = DiskTier(str(tmp_path), 64 * MIB)

    async def fill() -> None:
        for i in range(300):
            key, entry = _tiny(i, f"one-each/src-{i}.jpg")
            await tier.set(key, entry)

    asyncio.run(fill())
    full = _disk_usage(tmp_path)
    tier.max_bytes = full  # 100 % of the cap: above the 95 % mark, to be swept to 90 %
    assert tier.sweep() > 0
    after = _disk_usage(tmp_path)
    assert 0.80 * full <= after <= 0.90 * full, f"swept to {after / full:.0%} of the cap"


def test_r21_sources_emptied_by_the_sweep_leave_no_folder_behind(tmp_path: Path) -> None:
    """One tiny variant for each of many sources (e.g. distinct upstream URLs): the sweep takes
    the variants, and must take the folders too, or each source leaves two inodes for good."""
    tier = DiskTier(str(tmp_path), 512 * 1024)

    async def flood() -> None:
        for i in range(600):
            key, entry = _tiny(i, f"many/src-{i}.jpg")
            await tier.set(key, entry)
        while tier._sweeping:
            await asyncio.sleep(0.01)

    asyncio.run(flood())
    folders = [p for p in (tmp_path / "v").glob("*/*") if p.is_dir()]
    with_files = [f for f in folders if any(not p.name.startswith(".") for p in f.iterdir())]
    assert len(folders) < 600  # the sweep ran and took folders with it
    assert folders == with_files or len(folders) - len(with_files) <= 1, (
        f"{len(folders) - len(with_files)} emptied folders left")
    # The survivors keep their name files, so a purge by prefix still finds them.
    surviving = sum(len([p for p in f.iterdir() if not p.name.startswith(".")])
                    for f in with_files)
    count = asyncio.run(tier.purge([], ["many/"]))
    assert count.variants == surviving > 0
    assert not [p for p in (tmp_path / "v").glob("*/*") if p.is_dir()]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("r21")
    (root / "photo.jpg").write_bytes(photo(640, 480))
    return root


def _variant_files(server: AppServer) -> list[Path]:
    root = Path(server.settings.cache_dir) / "v"
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]


def _transforms() -> float:
    from prometheus_client import REGISTRY

    return sum(s.value for m in REGISTRY.collect() if m.name == "imgorigin_transforms"
               for s in m.samples if s.name == "imgorigin_transforms_total")


def test_r21_unsigned_and_non_canonical_urls_create_no_entries(images: Path) -> None:
    with AppServer({"IMGORIGIN_SOURCE": str(images), "IMGORIGIN_SIGNING_KEYS": KEY}) as server:
        before = _transforms()
        forged = "/" + signing.sign("/w_100/photo.jpg", KEY)
        attempts = ([f"/w_{w}/photo.jpg" for w in range(100, 140)]
                    + [f"/AAAA/w_{w}/photo.jpg" for w in range(100, 140)]
                    + [f"{forged}/w_{w}/photo.jpg" for w in range(101, 141)])
        statuses = {server.get(path).status_code for path in attempts}
        assert statuses == {403}
        assert _transforms() == before
        assert _variant_files(server) == []
        assert len(server.app.state.imgorigin.service.variants.memory) == 0

        spellings = ["/w_120,h_90,fmt_webp/photo.jpg", "/h_90,w_120,fmt_webp/photo.jpg",
                     "/s_120x90,fmt_webp/photo.jpg", "/width_120,height_90,f_webp/photo.jpg",
                     "/h_90,format_webp,w_120/photo.jpg", "/w_120,h_90,fmt_webp,dpr_1.0/photo.jpg",
                     "/fmt_webp,size_120x90/photo.jpg", "/w_120,h_90,fmt_webp,fit_cover/photo.jpg",
                     "/w_120,h_90,fmt_webp,dpr_1/photo.jpg", "/s_120x90,fmt_webp,strip_1/photo.jpg"]
        answers = [server.get("/" + signing.sign(path, KEY) + path) for path in spellings]
        assert [a.status_code for a in answers] == [200] * len(spellings), [
            (a.status_code, a.text[:80]) for a in answers]
        assert len({a.headers["etag"] for a in answers}) == 1
        assert len({a.content for a in answers}) == 1
        assert _transforms() == before + 1
        assert len(_variant_files(server)) == 1
        assert len(server.app.state.imgorigin.service.variants.memory) == 1


@pytest.mark.parametrize("default", ["original", "auto"])
def test_r21_the_default_format_spelled_out_is_the_same_variant(images: Path,
                                                                 default: str) -> None:
    with AppServer({"IMGORIGIN_SOURCE": str(images),
                    "IMGORIGIN_DEFAULT_FORMAT": default}) as server:
        before = _transforms()
        spellings = ["/w_120/photo.jpg", f"/w_120,fmt_{default}/photo.jpg",
                     f"/w_120,f_{default}/photo.jpg"]
        answers = [server.get(path, Accept="image/webp") for path in spellings]
        assert [a.status_code for a in answers] == [200] * len(spellings)
        assert len({a.headers["etag"] for a in answers}) == 1
        assert [a.headers["server-timing"].split(";")[0] for a in answers] == [
            "transform", "memory", "memory"]
        assert _transforms() == before + 1
        assert len(server.app.state.imgorigin.service.variants.memory) == 1
        # Another format is another variant.
        other = "webp" if default == "original" else "original"
        assert server.get(f"/w_120,fmt_{other}/photo.jpg").headers["server-timing"].startswith(
            "transform")


def test_r21_a_flood_of_distinct_variants_stays_within_the_memory_and_disk_caps(
    images: Path,
) -> None:
    memory_cap, disk_cap = 256 * 1024, 1 * MIB
    env = {"IMGORIGIN_SOURCE": str(images), "IMGORIGIN_MEMORY_CACHE_MAX_BYTES": str(memory_cap),
           "IMGORIGIN_DISK_CACHE_MAX_BYTES": str(disk_cap)}
    with AppServer(env) as server:
        statuses = {server.get(f"/w_{w},h_{w},fmt_webp/photo.jpg").status_code
                    for w in range(16, 416)}
        assert statuses == {200}
        memory = server.app.state.imgorigin.service.variants.memory
        assert memory.bytes <= memory_cap
        assert wait_for_sweeps(server)
        used = _disk_usage(Path(server.settings.cache_dir))
        assert used <= disk_cap * 1.1, f"{used / MIB:.2f} MiB on disk"
        assert server.get("/-/healthz").status_code == 200
        assert server.get("/w_64/photo.jpg").status_code == 200


def wait_for_sweeps(server: AppServer, timeout: float = 10) -> bool:
    disk = next(t for t in server.app.state.imgorigin.service.variants.shared if t.name == "disk")
    deadline = time.monotonic() + timeout
    while disk._sweeping:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def lru_redis() -> Iterator[RedisProcess]:
    server = RedisProcess().start()
    try:
        yield server
    finally:
        server.stop()


def test_r21_redis_memory_stays_bounded_under_an_lru_policy(
    images: Path, lru_redis: RedisProcess
) -> None:
    client = redis.Redis(port=lru_redis.port)
    baseline = int(client.info("memory")["used_memory"])
    limit = baseline + 2 * MIB
    client.config_set("maxmemory", limit)
    client.config_set("maxmemory-policy", "allkeys-lru")
    env = {"IMGORIGIN_SOURCE": str(images), "IMGORIGIN_REDIS_URL": lru_redis.url,
           "IMGORIGIN_MEMORY_CACHE_MAX_BYTES": "0"}
    with AppServer(env) as server:
        # The counters are process-wide (other tests' servers count into them): compare.
        errors = server.app.state.imgorigin.service.variants.shared[0]._errors
        errors_before = sum(c._value.get() for c in errors.values())
        statuses = {server.get(f"/w_{w},fmt_png/photo.jpg").status_code
                    for w in range(200, 300)}
        assert statuses == {200}
        info = client.info()
        assert int(info["evicted_keys"]) > 0  # the flood was bigger than the limit ...
        assert int(info["used_memory"]) <= limit * 1.05  # ... and Redis stayed within it
        # A variant stored after the flood is there to hit. Redis' LRU clock ticks once a
        # second, so keys written within one second are equally old to it and the newest of
        # the flood may be the one evicted: let the clock move on before storing a new one.
        time.sleep(1.1)
        assert server.get("/w_300,fmt_png/photo.jpg").headers["server-timing"].startswith(
            "transform")
        assert server.get("/w_300,fmt_png/photo.jpg").headers["server-timing"].startswith(
            "redis")
        # Nothing failed on the way.
        assert sum(c._value.get() for c in errors.values()) == errors_before
    client.close()
