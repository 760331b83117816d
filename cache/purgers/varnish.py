"""Varnish purger: `PURGE /` with an `xkey` header (and `xkey-soft: 1` for a soft purge),
answered by edge-config/varnish/default.vcl."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from cache.purgers import CdnPurgeResult
from cache.purgers._http import TIMEOUT, Report, batches, call, http_error

# Keys are ~22 bytes; 200 of them stay well under Varnish's 8 KiB request-header limit.
BATCH = 200


class VarnishPurger:
    def __init__(self, base_url: str, client: httpx.AsyncClient, attempts: int,
                 backoff: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = f"varnish:{self.base_url}"
        self.client = client
        self.attempts = attempts
        self.backoff = backoff

    @classmethod
    def create(cls, target: str, settings: Any, client: httpx.AsyncClient) -> VarnishPurger:
        if not target.startswith(("http://", "https://")):
            raise ValueError("IMGORIGIN_CDN_PURGERS: varnish needs http://HOST:PORT, "
                             f"got {target!r}")
        return cls(target, client, settings.cdn_purge_attempts, settings.cdn_purge_backoff)

    async def purge(self, tags: Sequence[str], sources: Sequence[str], *,
                    soft: bool = False, prefixes: Sequence[str] = ()) -> CdnPurgeResult:
        report = Report(self.name)
        objects = 0
        # The VCL turns `xkey-soft: 1` into xkey.softpurge: expired, kept for their grace.
        extra = {"xkey-soft": "1"} if soft else {}
        for batch in batches(list(tags), BATCH):
            def build(batch: list[str] = batch) -> httpx.Request:
                return self.client.build_request(
                    "PURGE", self.base_url + "/", headers={"xkey": " ".join(batch), **extra},
                    timeout=TIMEOUT)

            outcome = await call(self.client, "varnish", build, _accepted, self.attempts,
                                 self.backoff)
            gone = _purged_objects(outcome.response) if outcome.ok else 0
            objects += gone
            report.add(batch, outcome, objects=gone)
        result = report.result()
        result.detail["objects"] = objects
        result.soft = soft
        return result


def _accepted(response: httpx.Response) -> str:
    return "" if response.status_code == 200 else http_error(response)


def _purged_objects(response: httpx.Response | None) -> int:
    raw = response.headers.get("x-purged", "0") if response is not None else "0"
    return int(raw) if raw.isascii() and raw.isdigit() else 0
