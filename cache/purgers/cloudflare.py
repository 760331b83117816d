"""Cloudflare purger: purge by Cache-Tag (`POST /zones/{zone}/purge_cache`, 100 tags a call).

URL-prefix purges are not used: Cloudflare prefixes start with the host name and a directory
purge here is a tag (`d-…`) anyway, which covers every options segment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from cache.purgers import CdnPurgeResult
from cache.purgers._http import TIMEOUT, Report, batches, call, http_error

BATCH = 100  # Cloudflare's documented maximum of operations per purge request, every plan


class CloudflarePurger:
    def __init__(self, zone_id: str, token: str, api_url: str, client: httpx.AsyncClient,
                 attempts: int, backoff: float) -> None:
        self.name = f"cloudflare:{zone_id}"
        self.token = token
        self.url = f"{api_url.rstrip('/')}/zones/{zone_id}/purge_cache"
        self.client = client
        self.attempts = attempts
        self.backoff = backoff

    @classmethod
    def create(cls, target: str, settings: Any, client: httpx.AsyncClient) -> CloudflarePurger:
        if not target:
            raise ValueError("IMGORIGIN_CDN_PURGERS: cloudflare needs a zone id")
        if not settings.cloudflare_api_token:
            raise ValueError("IMGORIGIN_CDN_PURGERS names cloudflare but "
                             "IMGORIGIN_CLOUDFLARE_API_TOKEN is not set")
        return cls(target, settings.cloudflare_api_token, settings.cloudflare_api_url, client,
                   settings.cdn_purge_attempts, settings.cdn_purge_backoff)

    async def purge(self, tags: Sequence[str], sources: Sequence[str]) -> CdnPurgeResult:
        report = Report(self.name)
        for batch in batches(list(tags), BATCH):
            def build(batch: list[str] = batch) -> httpx.Request:
                return self.client.build_request(
                    "POST", self.url, json={"tags": batch}, timeout=TIMEOUT,
                    headers={"Authorization": f"Bearer {self.token}",
                             "Accept": "application/json"})

            outcome = await call(self.client, "cloudflare", build, _accepted, self.attempts,
                                 self.backoff)
            purge_id = ""
            if outcome.ok and outcome.response is not None:
                purge_id = (outcome.response.json().get("result") or {}).get("id", "")
            report.add(batch, outcome, id=purge_id)
        return report.result()


def _accepted(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict) and body.get("success") is True:
        return ""
    if isinstance(body, dict) and body.get("errors"):
        messages = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in body["errors"]
                             if isinstance(e, dict))
        return f"HTTP {response.status_code}: {messages}"
    return http_error(response)
