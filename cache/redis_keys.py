"""Redis key layout. Every key of one source carries the hash tag `{<source hash>}`, so a source's
variants, its purge index and its generation live in one Cluster slot and one Lua script can
touch them all.

    P:{h}:v:<variant key>   value: generation + one CachedVariant blob     TTL redis_ttl
    P:{h}:idx               SET of the source's variant keys (purge index) TTL redis_ttl
    P:{h}:gen               the source's purge generation (a random token,  TTL redis_ttl, or
                            a space, the source id)                        longer: never shorter
                                                                           than a value under it
    P:{h}:src               generation + HTTP source version, check time  TTL redis_ttl
    P:{h}:orig              generation + HTTP source version and bytes   TTL originals_ttl
    P:{h}:edge              SET of request paths answered (nginx purger)   TTL edge_urls_ttl
    P:{d}:dir               SET of source ids under a directory prefix     TTL redis_ttl
    P:{d}:edgedir:<n>       SET of source ids with answered paths (`edge`) 2 x edge_urls_ttl
                            under a directory prefix, for period n
    P:lock:<variant key>    single-flight lease (token)                    TTL lease_ttl, renewed
    P:lock:src-<h>          lease of one upstream fetch of a source        TTL lease_ttl, renewed
    P:purge                 pub/sub channel: purges, for every worker's L1

`h` is `source_hash(source_id)`, `d` is `source_hash(prefix)` (prefixes end with `/`).
"""

from __future__ import annotations

from dataclasses import dataclass

from cache.keys import source_hash


@dataclass(frozen=True, slots=True)
class SourceKeys:
    value_prefix: str
    index: str
    generation: str
    version: str
    original: str
    edge_urls: str

    def value(self, variant_key: str) -> str:
        return self.value_prefix + variant_key


class KeyLayout:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.channel = f"{prefix}:purge"

    def source(self, source_id: str) -> SourceKeys:
        base = f"{self.prefix}:{{{source_hash(source_id)}}}:"
        return SourceKeys(base + "v:", base + "idx", base + "gen", base + "src", base + "orig",
                          base + "edge")

    def generation_pattern(self) -> str:
        """SCAN's MATCH pattern for every source's generation key."""
        return f"{_glob_escape(self.prefix)}:{{*}}:gen"

    def directory(self, prefix: str) -> str:
        return f"{self.prefix}:{{{source_hash(prefix)}}}:dir"

    def edge_directory(self, prefix: str, period: int) -> str:
        return f"{self.prefix}:{{{source_hash(prefix)}}}:edgedir:{period}"

    def lease(self, variant_key: str) -> str:
        return f"{self.prefix}:lock:{variant_key}"


def _glob_escape(text: str) -> str:
    """`text` matched literally by Redis' glob patterns."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
