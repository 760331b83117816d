"""Cloudflare purger: purge by Cache-Tag (`POST /zones/{zone}/purge_cache`, 100 tags a call).

URL-prefix purges are not used: Cloudflare prefixes start with the host name and a directory
purge here is a tag (`d-…`) anyway, which covers every options segment.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from cache.purgers import CdnPurgeResult
from cache.purgers._http import TIMEOUT, Report, TokenApiPurger, batches, call, http_error

BATCH = 100  # Cloudflare's documented maximum of operations per purge request, every plan


class CloudflarePurger(TokenApiPurger):
    provider = "cloudflare"
    target_kind = "zone id"
    endpoint = "{api}/zones/{target}/purge_cache"

    async def purge(self, tags: Sequence[str], sources: Sequence[str], *,
                    soft: bool = False, prefixes: Sequence[str] = ()) -> CdnPurgeResult:
        # Cloudflare's purge by tag has no soft mode: a soft purge is a hard one here, and the
        # result says so (soft=False).
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
