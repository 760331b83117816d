"""Fastly purger: batch purge by surrogate key (`POST /service/{id}/purge`, up to 256 keys)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from cache.purgers import CdnPurgeResult
from cache.purgers._http import TIMEOUT, Report, batches, call, http_error

BATCH = 256  # Fastly's documented maximum of keys per batch purge


class FastlyPurger:
    def __init__(self, service_id: str, token: str, api_url: str, client: httpx.AsyncClient,
                 attempts: int, backoff: float) -> None:
        self.service_id = service_id
        self.name = f"fastly:{service_id}"
        self.token = token
        self.url = f"{api_url.rstrip('/')}/service/{service_id}/purge"
        self.client = client
        self.attempts = attempts
        self.backoff = backoff

    @classmethod
    def create(cls, target: str, settings: Any, client: httpx.AsyncClient) -> FastlyPurger:
        if not target:
            raise ValueError("IMGORIGIN_CDN_PURGERS: fastly needs a service id")
        if not settings.fastly_api_token:
            raise ValueError("IMGORIGIN_CDN_PURGERS names fastly but "
                             "IMGORIGIN_FASTLY_API_TOKEN is not set")
        return cls(target, settings.fastly_api_token, settings.fastly_api_url, client,
                   settings.cdn_purge_attempts, settings.cdn_purge_backoff)

    async def purge(self, tags: Sequence[str], sources: Sequence[str]) -> CdnPurgeResult:
        report = Report(self.name)
        for batch in batches(list(tags), BATCH):
            def build(batch: list[str] = batch) -> httpx.Request:
                # Hard purge: a replaced source must not be served again, even stale.
                return self.client.build_request(
                    "POST", self.url, json={"surrogate_keys": batch}, timeout=TIMEOUT,
                    headers={"Fastly-Key": self.token, "Accept": "application/json"})

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
        return report.result()
