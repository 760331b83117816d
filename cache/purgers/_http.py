"""One CDN API call with bounded retries, and the per-batch bookkeeping every purger reports."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import httpx

from cache.purgers import CdnPurgeResult
from origin import metrics

log = logging.getLogger("imgorigin.purge")
# A purge answers an operator's request: wait for a rate limit briefly, never for minutes.
MAX_RETRY_AFTER = 5.0
TIMEOUT = httpx.Timeout(10.0, connect=3.0)


@dataclass(slots=True)
class CallOutcome:
    response: httpx.Response | None
    attempts: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def retryable(response: httpx.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


def _delay(attempt: int, backoff: float, response: httpx.Response | None) -> float:
    if response is not None:
        retry_after = response.headers.get("retry-after", "")
        if retry_after.strip().isascii() and retry_after.strip().isdigit():
            return min(float(retry_after.strip()), MAX_RETRY_AFTER)
    # Exponential with jitter, so several workers purging at once do not retry in step.
    return backoff * (2 ** (attempt - 1)) * random.uniform(0.8, 1.2)


async def call(
    client: httpx.AsyncClient,
    cdn: str,
    build: Callable[[], httpx.Request],
    accept: Callable[[httpx.Response], str],
    attempts: int,
    backoff: float,
) -> CallOutcome:
    """Send `build()` up to `attempts` times. `accept(response)` returns "" when the provider
    reports success, else why not; network errors, 429 and 5xx are retried, other answers not."""
    response: httpx.Response | None = None
    error = ""
    for attempt in range(1, attempts + 1):
        response = None
        try:
            response = await client.send(build())
            await response.aread()
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        else:
            error = accept(response)
            if not error:
                metrics.CDN_PURGE_REQUESTS.labels(cdn, "ok").inc()
                return CallOutcome(response, attempt)
            if not retryable(response):
                break
        if attempt < attempts:
            metrics.CDN_PURGE_REQUESTS.labels(cdn, "retry").inc()
            await asyncio.sleep(_delay(attempt, backoff, response))
    metrics.CDN_PURGE_REQUESTS.labels(cdn, "failed").inc()
    return CallOutcome(response, attempt, error)


def http_error(response: httpx.Response) -> str:
    """`HTTP 503: <first 200 characters of the body>`."""
    body = response.text.strip().replace("\n", " ")[:200]
    return f"HTTP {response.status_code}" + (f": {body}" if body else "")


def batches(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


@dataclass(slots=True)
class Report:
    """Collects batch outcomes into one `CdnPurgeResult`, naming what was not purged."""

    name: str
    batches: list[dict[str, Any]] = field(default_factory=list)
    purged: int = 0
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, items: Sequence[str], outcome: CallOutcome, **extra: Any) -> None:
        status = outcome.response.status_code if outcome.response is not None else None
        entry: dict[str, Any] = {"items": len(items), "status": status,
                                 "attempts": outcome.attempts, **extra}
        if outcome.ok:
            self.purged += len(items)
        else:
            entry["error"] = outcome.error
            self.failed.extend(items)
            self.errors.append(outcome.error)
        self.batches.append(entry)

    def result(self, purged_tags: int | None = None) -> CdnPurgeResult:
        detail: dict[str, Any] = {"batches": self.batches}
        error = ""
        if self.failed:
            detail["not_purged"] = self.failed
            total = len(self.batches)
            bad = sum(1 for b in self.batches if "error" in b)
            error = (f"{bad} of {total} purge call(s) failed; {len(self.failed)} item(s) not "
                     f"purged; last error: {self.errors[-1]}")
            log.warning("%s: %s", self.name, error)
        return CdnPurgeResult(
            name=self.name,
            ok=not self.failed,
            purged_tags=self.purged if purged_tags is None else purged_tags,
            error=error,
            detail=detail,
        )


class TokenApiPurger:
    """The shape shared by the API-token purgers (Fastly, Cloudflare): one endpoint per target
    (service, zone), a bearer-like token and the retry settings, built from settings."""

    provider = ""  # "fastly": names the settings IMGORIGIN_FASTLY_API_TOKEN / _API_URL
    target_kind = ""  # what IMGORIGIN_CDN_PURGERS names after the colon, for error messages
    endpoint = ""  # the purge URL, from {api} (the API base URL) and {target}

    def __init__(self, target: str, token: str, api_url: str, client: httpx.AsyncClient,
                 attempts: int, backoff: float) -> None:
        self.name = f"{self.provider}:{target}"
        self.token = token
        self.url = self.endpoint.format(api=api_url.rstrip("/"), target=target)
        self.client = client
        self.attempts = attempts
        self.backoff = backoff

    @classmethod
    def create(cls, target: str, settings: Any, client: httpx.AsyncClient) -> Self:
        """From `IMGORIGIN_CDN_PURGERS`' `provider:target` and the provider's token setting."""
        if not target:
            raise ValueError(f"IMGORIGIN_CDN_PURGERS: {cls.provider} needs a {cls.target_kind}")
        token = getattr(settings, f"{cls.provider}_api_token")
        if not token:
            raise ValueError(f"IMGORIGIN_CDN_PURGERS names {cls.provider} but "
                             f"IMGORIGIN_{cls.provider.upper()}_API_TOKEN is not set")
        return cls(target, token, getattr(settings, f"{cls.provider}_api_url"), client,
                   settings.cdn_purge_attempts, settings.cdn_purge_backoff)
