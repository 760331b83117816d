"""nginx purger: one `PURGE` per cache key, at the purge server of
edge-config/nginx/imgorigin-purge.conf (ngx_cache_purge; Debian's libnginx-mod-http-cache-purge).

nginx keys an object by path, Accept class and DPR step (`proxy_cache_key` in imgorigin.conf)
and has no tags, so a source's objects are named one by one: every path the origin answered for
it (cache/edge_urls.py), under each Accept class and, for answers that followed `Sec-CH-DPR`,
each step. The purge server computes the key with the same maps from the same headers, so the
origin never spells nginx's key itself; a key nginx does not hold answers 404, which is fine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx

from cache.edge_urls import EdgeUrl, EdgeUrls, RecordUnavailable, record_keys
from cache.purgers import CdnPurgeResult
from cache.purgers._http import TIMEOUT, call, http_error
from transforms.hints import DPR_BUCKETS, bucket_text

# One Accept header per class of imgorigin.conf's map (avif, webp, everything else); for a URL
# nginx does not treat as negotiated, all three name its one object.
ACCEPT_CLASSES = ("image/avif", "image/webp", "*/*")
DPR_STEPS = tuple(bucket_text(b) for b in DPR_BUCKETS)
CONCURRENCY = 16  # purge requests in flight: local, tiny, and nginx answers each in microseconds


def requests_for(url: EdgeUrl) -> list[dict[str, str]]:
    """The headers of each PURGE that together name every object nginx may keep for `url`."""
    steps = DPR_STEPS if url.hinted else ("",)
    return [{"Accept": accept, **({"Sec-CH-DPR": step} if step else {})}
            for accept in ACCEPT_CLASSES for step in steps]


class NginxPurger:
    def __init__(self, base_url: str, urls: EdgeUrls, client: httpx.AsyncClient, attempts: int,
                 backoff: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = f"nginx:{self.base_url}"
        self.urls = urls
        self.client = client
        self.attempts = attempts
        self.backoff = backoff

    @classmethod
    def create(cls, target: str, settings: Any, client: httpx.AsyncClient,
               urls: EdgeUrls | None) -> NginxPurger:
        if not target.startswith(("http://", "https://")):
            raise ValueError("IMGORIGIN_CDN_PURGERS: nginx needs http://HOST:PORT of the purge "
                             f"server (edge-config/nginx/imgorigin-purge.conf), got {target!r}")
        if urls is None:
            raise ValueError("the nginx purger needs the record of answered paths")
        return cls(target, urls, client, settings.cdn_purge_attempts, settings.cdn_purge_backoff)

    async def purge(self, tags: Sequence[str], sources: Sequence[str], *,
                    soft: bool = False, prefixes: Sequence[str] = ()) -> CdnPurgeResult:
        # ngx_cache_purge has no soft mode: a soft purge is a hard one here (soft=False below).
        try:
            taken = await self.urls.take(record_keys(sources, tags), prefixes)
        except RecordUnavailable as exc:
            # Which paths nginx holds is unknown: say so; its lifetime bounds what stays.
            return CdnPurgeResult(self.name, ok=False, error=str(exc))
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(url: EdgeUrl) -> tuple[int, str]:
            """(objects removed, error) for every key of one path."""
            removed = 0
            # The path exactly as the edge sent it: nginx derives the key's `$uri` from it the
            # same way it did for the request it cached.
            target = httpx.URL(self.base_url).copy_with(raw_path=url.path.encode("latin-1"))
            for headers in requests_for(url):
                def build(headers: dict[str, str] = headers) -> httpx.Request:
                    return self.client.build_request("PURGE", target, headers=headers,
                                                     timeout=TIMEOUT)

                async with gate:
                    outcome = await call(self.client, "nginx", build, _accepted, self.attempts,
                                         self.backoff)
                if not outcome.ok:
                    return removed, outcome.error
                removed += outcome.response is not None and outcome.response.status_code == 200
            return removed, ""

        jobs = [(source, url) for source, urls in taken.items() for url in urls]
        outcomes = await asyncio.gather(*(one(url) for _, url in jobs))
        failed: dict[str, list[EdgeUrl]] = {}
        errors = []
        for (source, url), (_, error) in zip(jobs, outcomes, strict=True):
            if error:
                failed.setdefault(source, []).append(url)
                errors.append(error)
        if failed:
            # Kept for the next purge of these sources to try again.
            await self.urls.give_back(failed)
        objects = sum(removed for removed, _ in outcomes)
        detail: dict[str, Any] = {"paths": len(jobs), "objects": objects}
        error = ""
        if failed:
            not_purged = [url.path for urls in failed.values() for url in urls]
            detail["not_purged"] = not_purged
            error = (f"{len(not_purged)} of {len(jobs)} path(s) not purged; last error: "
                     f"{errors[-1]}")
        return CdnPurgeResult(self.name, ok=not failed, purged_tags=len(tags) if not failed
                              else 0, error=error, detail=detail)


def _accepted(response: httpx.Response) -> str:
    # 404: nginx holds no object under that key (never cached, expired, or another class).
    return "" if response.status_code in (200, 404) else http_error(response)
