"""Prometheus metrics with the contract's names, aggregated across gunicorn workers.

With `PROMETHEUS_MULTIPROC_DIR` set (`imgorigin serve` sets it) every worker writes its values to
shared files and `/-/metrics` merges them; without it the metrics are this process's own.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

from prometheus_client import REGISTRY as _DEFAULT_REGISTRY
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TIERS = ("memory", "disk", "redis", "transform", "none")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter("imgorigin_requests_total", "HTTP requests answered",
                   ("route", "status", "tier"))
REQUEST_DURATION = Histogram("imgorigin_request_duration_seconds", "Request latency",
                             ("route", "tier"), buckets=_LATENCY_BUCKETS)
TRANSFORMS = Counter("imgorigin_transforms_total", "libvips pipelines actually run", ("format",))
TRANSFORM_DURATION = Histogram("imgorigin_transform_duration_seconds", "Pipeline run time",
                               ("format",), buckets=_LATENCY_BUCKETS)
FETCH_DURATION = Histogram("imgorigin_source_fetch_duration_seconds", "Source fetch time",
                           ("source",), buckets=_LATENCY_BUCKETS)
SOURCE_BYTES = Counter("imgorigin_source_bytes", "Source bytes read")
CACHE_HITS = Counter("imgorigin_cache_hits_total", "Cache hits", ("tier",))
CACHE_MISSES = Counter("imgorigin_cache_misses_total", "Cache misses", ("tier",))
COALESCED = Counter("imgorigin_coalesced", "Requests that waited for another's transform")
SOURCE_COALESCED = Counter("imgorigin_source_fetch_coalesced",
                           "Source reads that waited for another request's or worker's fetch")
SOURCE_SHARED = Counter("imgorigin_source_shared_hits",
                        "HTTP source versions and bytes taken from the shared tier instead of "
                        "upstream", ("what",))
SHED = Counter("imgorigin_shed", "Misses refused with 503: queue full, estimated wait too long, "
               "estimated cost past the deadline, or the deadline passed while queued",
               ("reason",))
RATE_LIMITED = Counter("imgorigin_rate_limited", "Requests refused by the rate limiter",
                       ("route",))
RATE_LIMIT_FALLBACKS = Counter("imgorigin_rate_limit_fallbacks",
                               "Rate-limit decisions made in-process because Redis failed")
ACCESS_LOG_DROPPED = Counter(
    "imgorigin_access_log_dropped",
    "Access log lines dropped because standard output's reader fell more than a queue "
    "(4096 lines per worker) behind; the requests themselves were answered")
SLOW_CLIENTS = Counter("imgorigin_slow_clients",
                       "Connections closed for a slow client: stage 'head' when a request head "
                       "did not arrive within IMGORIGIN_HEADER_TIMEOUT (408 when a request had "
                       "begun), 'send' when an answer stayed unread for IMGORIGIN_SEND_TIMEOUT",
                       ("stage",))
PURGED_VARIANTS = Counter("imgorigin_purged_variants", "Cached variants removed by purges")
STALE_STORES = Counter("imgorigin_cache_stale_stores",
                       "Results not stored because their source was purged while computing; "
                       "tier 'journal' when a purge seen on this host stopped it first",
                       ("tier",))
CACHE_ERRORS = Counter("imgorigin_cache_errors_total", "Errors talking to a cache tier",
                       ("tier", "op"))
CDN_PURGE_REQUESTS = Counter("imgorigin_cdn_purge_requests_total",
                             "CDN purge API calls, by CDN and outcome (ok, retry, failed)",
                             ("cdn", "outcome"))
MALLOC_TRIM_DURATION = Histogram("imgorigin_malloc_trim_duration_seconds",
                                 "Time a transform thread spent in glibc's malloc_trim "
                                 "(IMGORIGIN_MALLOC_TRIM_SECONDS)", buckets=_LATENCY_BUCKETS)
WORKER_RECYCLES = Counter("imgorigin_worker_recycles_total",
                          "Workers asked to stop and be replaced, by reason: 'transforms' "
                          "(IMGORIGIN_WORKER_MAX_TRANSFORMS) or 'rss' "
                          "(IMGORIGIN_WORKER_MAX_RSS_BYTES)", ("reason",))
CONNECTIONS_HANDED_OVER = Counter(
    "imgorigin_connections_handed_over_total",
    "Keep-alive connections closed after an answer because this worker had "
    "IMGORIGIN_REBALANCE_GAP more transforms admitted than its least busy sibling")
REFUSALS_HELD = Counter(
    "imgorigin_refusals_held",
    "Refusals held back because their connection re-sent before its Retry-After (origin/tarpit.py)")
FAILURES_REMEMBERED = Counter(
    "imgorigin_failures_remembered",
    "Requests answered with a variant's remembered 400/413/415/422 instead of reading and "
    "decoding its source again (IMGORIGIN_FAILURE_TTL)")
FALLBACKS = Counter(
    "imgorigin_fallbacks",
    "Failed requests answered with the fallback image (IMGORIGIN_FALLBACK_IMAGE), by error code",
    ("error",))
BACKGROUND_REVALIDATIONS = Counter(
    "imgorigin_source_background_revalidations",
    "HTTP source versions revalidated behind a request (IMGORIGIN_SOURCE_STALE), by result: "
    "ok, not_found (the next request answers 404) or failed (the known version serves on)",
    ("result",))
CLIENT_HINTS = Counter(
    "imgorigin_client_hints",
    "Answers that could follow the browser's Sec-CH-DPR (IMGORIGIN_CLIENT_HINTS), by the step "
    "used (1 when the browser sent none)", ("dpr",))
DIALECT_REQUESTS = Counter(
    "imgorigin_dialect_requests",
    "Requests admitted in another server's URL dialect (imgproxy, thumbor, ipx, cloudinary, "
    "imgix: the IMGORIGIN_*_PREFIX settings), to follow a migration to native URLs",
    ("dialect",))
BYTE_BUDGETS = Counter(
    "imgorigin_byte_budgets",
    "Encodes under an mb_ byte budget, by result: fit (the first quality fitted), lowered (a "
    "lower quality fitted) or unmet (not even quality 1 did; the smallest output was sent)",
    ("result",))
BYTE_BUDGET_ENCODES = Counter("imgorigin_byte_budget_encodes",
                              "Encodes run for mb_ byte budgets, the first one included")
AUTO_QUALITY = Histogram(
    "imgorigin_auto_quality", "Qualities q_auto chose, by output format", ("format",),
    buckets=tuple(range(20, 100, 5)))
AUTO_QUALITY_ENCODES = Counter("imgorigin_auto_quality_encodes",
                               "Encodes run by q_auto's searches")
INFLIGHT = Gauge("imgorigin_transforms_in_flight", "Transforms running or queued",
                 multiprocess_mode="livesum")


@functools.lru_cache(maxsize=512)
def _request_series(route: str, status: int, tier: str) -> tuple[Any, Any]:
    return REQUESTS.labels(route, str(status), tier), REQUEST_DURATION.labels(route, tier)


@functools.lru_cache(maxsize=16)
def cache_hits(tier: str) -> Any:
    """The hit counter of one tier (its label child, looked up once)."""
    return CACHE_HITS.labels(tier)


@functools.lru_cache(maxsize=16)
def cache_misses(tier: str) -> Any:
    return CACHE_MISSES.labels(tier)


def observe_request(route: str, status: int, tier: str, seconds: float) -> None:
    """Count one answered request (label children are looked up once per combination)."""
    counter, histogram = _request_series(route, status, tier)
    counter.inc()
    histogram.observe(seconds)


def observe_fetch(kind: str, seconds: float, size: int) -> None:
    FETCH_DURATION.labels(kind).observe(seconds)
    SOURCE_BYTES.inc(size)


def export_alerted_series(cdn_providers: Sequence[str]) -> None:
    """Export at 0 the series that alerts count with `increase()` before they first move.

    Prometheus sees no increase in a series whose first sample already holds the count, so
    without this a host's first internal error or first failed CDN purge would never alert
    (deploy/prometheus/imgorigin-alerts.yml)."""
    for route in ("transform", "purge"):
        REQUESTS.labels(route, "500", "none")
    for cdn in cdn_providers:
        for outcome in ("ok", "retry", "failed"):
            CDN_PURGE_REQUESTS.labels(cdn, outcome)
    for reason in ("rss", "transforms"):
        WORKER_RECYCLES.labels(reason)


def render() -> bytes:
    """The exposition text: merged over workers in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(_DEFAULT_REGISTRY)
