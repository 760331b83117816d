"""Fastly purger: batch purge by surrogate key (`POST /service/{id}/purge`, up to 256 keys)."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from cache.purgers import CdnPurgeResult
from cache.purgers._http import TIMEOUT, Report, TokenApiPurger, batches, call, http_error

BATCH = 256  # Fastly's documented maximum of keys per batch purge


class FastlyPurger(TokenApiPurger):
    provider = "fastly"
    target_kind = "service id"
    endpoint = "{api}/service/{target}/purge"

    async def purge(self, tags: Sequence[str], sources: Sequence[str], *,
                    soft: bool = False, prefixes: Sequence[str] = ()) -> CdnPurgeResult:
        report = Report(self.name)
        # Hard by default: a replaced or withdrawn image must not be served again, even stale.
        # A soft purge marks the objects stale, so edges serve them once more while they
        # revalidate (Fastly documents Fastly-Soft-Purge for batch purges too).
        headers = {"Fastly-Key": self.token, "Accept": "application/json",
                   **({"Fastly-Soft-Purge": "1"} if soft else {})}
        for batch in batches(list(tags), BATCH):
            def build(batch: list[str] = batch) -> httpx.Request:
                return self.client.build_request(
                    "POST", self.url, json={"surrogate_keys": batch}, timeout=TIMEOUT,
                    headers=headers)

            def accepted(response: httpx.Response, batch: list[str] = batch) -> str:
                if response.status_code != 200:
                    return http_error(response)
                try:
                    ids = response.json()
                except ValueError:
                    return "Fastly answered 200 without a JSON body"
                missing = [k for k in batch if not isinstance(ids, dict) or k not in ids]
                return f"Fastly did not acknowledge keys {missing}" if missing else ""

            outcome = await call(self.client, "fastly", build, accepted, self.attempts,
                                 self.backoff)
            report.add(batch, outcome)
        result = report.result()
        result.soft = soft
        return result
