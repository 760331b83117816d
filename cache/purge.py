"""Purge by source or directory prefix: shared tiers first, then every worker's memory, then the
CDNs, so an edge refill can never pick up a copy the origin still had (R15)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from cache.keys import prefix_tag, source_tag, watermark_tag
from cache.purgers import CdnPurger
from cache.variants import VariantCache
from origin import metrics


class PurgeService:
    def __init__(self, variants: VariantCache, purgers: Sequence[CdnPurger]) -> None:
        self.variants = variants
        self.purgers = list(purgers)

    async def purge(self, sources: Sequence[str], prefixes: Sequence[str], *,
                    soft: bool = False, watermarks: Sequence[str] = ()) -> dict[str, Any]:
        """Remove every cached variant of these sources; idempotent. Returns counts per tier.

        `soft` reaches only the CDNs that can keep stale copies to revalidate; the origin's own
        tiers always drop theirs, since they are what the CDN revalidates against.
        `watermarks` reach only the CDNs: the origin's keys hold each watermark file's digest,
        so its tiers never answer with a replaced file's variants."""
        sources = list(dict.fromkeys(sources))
        prefixes = list(dict.fromkeys(prefixes))
        tiers: dict[str, int] = {}
        found: set[str] = set(sources)
        before = len(self.variants.memory)
        # Journaled twice. Before the deletions, so that a store of this host that writes to
        # disk while they run finds the purge when it checks again after its write, and
        # removes what it wrote. After them, because each worker drops the purged sources from
        # its memory (and its remembered source bytes and versions) on reading a line, and a
        # read of the disk tier between the first line and the deletions may have put a copy back.
        self.variants.journal.publish(sources, prefixes)
        for tier in self.variants.shared:
            count = await tier.purge(sources, prefixes)
            tiers[tier.name] = count.variants
            found |= count.sources
        self.variants.journal.publish(sources, prefixes)
        tiers["memory"] = before - len(self.variants.memory)
        shared_total = sum(v for k, v in tiers.items() if k != "memory")
        metrics.PURGED_VARIANTS.inc(shared_total or tiers["memory"])
        watermarks = list(dict.fromkeys(watermarks))
        tags = [source_tag(s) for s in sorted(found)] + [prefix_tag(p) for p in prefixes] + [
            watermark_tag(w) for w in watermarks]
        cdn = []
        if self.purgers and tags:
            results = await asyncio.gather(*(p.purge(tags, sorted(found), soft=soft,
                                                     prefixes=prefixes)
                                             for p in self.purgers))
            cdn = [
                {"name": r.name, "ok": r.ok, "purged_tags": r.purged_tags, "soft": r.soft,
                 **({"error": r.error} if r.error else {}),
                 **({"detail": r.detail} if r.detail else {})}
                for r in results
            ]
        return {
            "sources": sources,
            "prefixes": prefixes,
            **({"watermarks": watermarks} if watermarks else {}),
            "variants": shared_total if self.variants.shared else tiers["memory"],
            "purged": tiers,
            "cdn": cdn,
        }
