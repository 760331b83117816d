"""Cache keys and surrogate tags. Keys hash everything that decides the output bytes."""

from __future__ import annotations

import hashlib

from cache.memo import second_sight


def _digest(text: str, size: int) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=size).hexdigest()


def source_hash(source_id: str) -> str:
    """Stable short name of a source, safe in paths, Redis keys and headers."""
    return _digest(source_id, 10)


@second_sight(maxsize=4096)
def variant_key(canonical: str, fmt: str, source_id: str, version: str, pipeline: str) -> str:
    """The key of one variant: canonical options, output format class, source identity and
    version, and the pipeline version (so a pipeline change never serves old bytes)."""
    return _digest("\x1f".join((pipeline, canonical, fmt, source_id, version)), 16)


def source_tag(source_id: str) -> str:
    return "s-" + source_hash(source_id)


def prefix_tag(prefix: str) -> str:
    return "d-" + source_hash(prefix)


def _directories(path: str) -> list[str]:
    """`a/b/c.jpg` -> [`a/`, `a/b/`]."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def purge_prefixes(source_id: str) -> list[str]:
    """Every directory a purge by prefix may name to reach `source_id`: each parent directory of
    a relative key; for an absolute URL its origin and each directory of its path
    (`https://h/a/b.jpg` -> [`https://h/`, `https://h/a/`]), query left out."""
    scheme, sep, rest = source_id.partition("://")
    if not sep or "/" in scheme:
        return _directories(source_id)
    host, slash, path = rest.partition("/")
    if not slash or not host:
        return []
    origin = f"{scheme}://{host}/"
    return [origin] + [origin + p for p in _directories(path.partition("?")[0])]


@second_sight(maxsize=16384)
def watermark_tag(name: str) -> str:
    """The tag of every variant that carries the watermark `name` (purged when its file changes)."""
    return "w-" + source_hash("wm:" + name)


@second_sight(maxsize=16384)
def surrogate_keys(source_id: str, watermark: str = "") -> str:
    """`Surrogate-Key`/`Cache-Tag` value: the source's tag, one tag per parent directory and the
    watermark's, so a CDN can purge a source, a whole directory or a watermark by tag. Kept from
    a source's second request on: a hit would otherwise hash every directory of its path."""
    tags = [source_tag(source_id)] + [prefix_tag(p) for p in purge_prefixes(source_id)]
    if watermark:
        tags.append(watermark_tag(watermark))
    return " ".join(tags)
