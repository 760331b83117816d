"""The ASGI application: `create_app(settings)`; the lifespan owns the client, caches and pool."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from cache.coalesce import FileLeases, Leases, SingleFlight
from cache.disk import DiskTier
from cache.edge_urls import DiskUrlStore, EdgeUrls, RedisUrlStore, by_tag
from cache.journal import PurgeJournal
from cache.keys import watermark_tag
from cache.memo import second_sight
from cache.purge import PurgeService
from cache.purgers import from_settings as purgers_from_settings
from cache.purgers import needs_edge_urls
from cache.tiers import SharedTier
from cache.variants import VariantCache
from origin import accesslog, autoredirect, metrics, operator_api, recycle, warm
from origin.accesslog import AccessLog
from origin.balance import BOARD
from origin.cpus import usable_cpus
from origin.errors import (
    ImgOriginError,
    MethodNotAllowed,
    Refused,
    SourceNotFound,
)
from origin.executor import TransformExecutor
from origin.malloc import Trimmer
from origin.ratelimit import RateLimiter, RatePolicy, make_redis
from origin.responses import (
    SECURITY_HEADERS,
    CachePolicy,
    PreparedResponse,
    close_after,
    content_disposition,
    error_response,
    etag_matches,
    internal_error_response,
    policy_headers,
    set_lifetime,
    tag_headers,
)
from origin.security.netguard import NetworkGuard, Resolver, origin_of, system_resolver
from origin.service import Answer, TransformService, Unchanged
from origin.settings import BUNDLED_SAMPLES, Settings
from origin.sources.fallback import FALLBACK_STATUSES
from origin.sources.http import make_client
from origin.sources.shared import SharedSources
from origin.sources.shared_disk import DiskSources
from origin.sources.store import SourceStore
from origin.tarpit import Tarpit, connection_of
from origin.threadnames import name_os_thread
from transforms import describe, placeholder, vipsconfig
from transforms.options import Options

log = logging.getLogger("imgorigin")
DEMO_PAGE = BUNDLED_SAMPLES / "index.html"
_H = tuple[bytes, bytes]


@dataclass
class State:
    settings: Settings
    service: TransformService
    purge: PurgeService
    policy: CachePolicy
    started: float
    tarpit: Tarpit
    access_log: AccessLog
    # The paths answered per source, when a purger names objects by path (nginx).
    edge_urls: EdgeUrls | None = None
    shutting_down: bool = False

    @cached_property
    def success_headers(self) -> list[tuple[bytes, bytes]]:
        return policy_headers(self.policy)

    @cached_property
    def entry_headers(self) -> Callable[[str, str, int, str, bool, bool], tuple[_H, ...]]:
        """The encoded headers of a variant's answers but Server-Timing, built once per variant
        (a hit repeats them all): without and then with Content-Type/-Length (304 vs 200)."""
        common = tuple(self.success_headers)

        @second_sight(maxsize=4096)
        def build(etag: str, content_type: str, length: int, tags: str,
                  negotiated: bool, hinted: bool) -> tuple[_H, ...]:
            return (
                (b"etag", etag.encode()),
                *common,
                *tag_headers(tags),
                *_vary(negotiated, hinted),
                # `fmt_json` documents and `fmt_blurhash` strings are read by scripts on the
                # pages that show the images.
                *((_ANY_ORIGIN,) if content_type in _SCRIPT_READ else ()),
                (b"content-type", content_type.encode()),
                (b"content-length", str(length).encode()),
            )

        return build


def _shared_tiers(settings: Settings) -> list[SharedTier]:
    tiers: list[SharedTier] = []
    if settings.redis_url:
        from cache.redis import RedisTier  # the Redis tier is optional at import time

        tiers.append(RedisTier.from_settings(settings))
    if settings.disk_cache_enabled:
        tiers.insert(0, DiskTier(settings.cache_dir, settings.disk_cache_max_bytes))
    return tiers


def _shared_sources(tiers: list[SharedTier], journal: PurgeJournal, leases: Leases,
                    settings: Settings) -> SharedSources | None:
    """HTTP source versions and bytes go where the variants are shared: Redis (every host), else
    the disk tier (this host's workers), else nowhere and each worker fetches for itself."""
    by_name = {tier.name: tier for tier in tiers}
    redis_tier = by_name.get("redis")
    if redis_tier is not None:
        from origin.sources.shared_redis import RedisSources  # needs the optional Redis tier

        return RedisSources(redis_tier, leases, version_ttl=settings.redis_ttl,
                            originals_ttl=settings.originals_ttl,
                            max_bytes=settings.shared_originals_max_bytes)
    disk = by_name.get("disk")
    if isinstance(disk, DiskTier):
        return DiskSources(disk, journal, leases, settings.originals_ttl)
    return None


async def build_state(settings: Settings, stack: contextlib.AsyncExitStack,
                      resolver: Resolver | None = None,
                      transport: httpx.AsyncBaseTransport | None = None) -> State:
    """Everything a worker serves with; each part's cleanup goes on `stack` as it is made, so
    a start-up that fails half-way still closes what it opened."""
    vipsconfig.configure(concurrency=settings.vips_concurrency,
                         cache_max_mem=settings.vips_cache_max_mem,
                         jpeg_optimize_coding=settings.jpeg_optimize_coding,
                         webp_effort=settings.webp_effort, avif_effort=settings.avif_effort)
    # `asyncio.to_thread` work (disk-tier files, purges, sweeps) on threads the OS sees as "io";
    # the size is asyncio's own default.
    io_pool = ThreadPoolExecutor(max_workers=min(32, usable_cpus() + 4),
                                 thread_name_prefix="io", initializer=name_os_thread,
                                 initargs=("io",))
    asyncio.get_running_loop().set_default_executor(io_pool)
    stack.callback(io_pool.shutdown, wait=False)
    client = make_client(settings.connect_timeout, settings.fetch_timeout, transport)
    stack.push_async_callback(client.aclose)
    # The configured source is trusted as host and port, never the whole host.
    base_url = settings.source_base_url
    trusted = frozenset({origin_of(base_url)}) if base_url else frozenset()
    guard = NetworkGuard(allow_private=settings.allow_private_networks, trusted=trusted,
                         resolver=resolver or system_resolver)
    state_dir = os.path.join(settings.cache_dir, "state")
    journal = PurgeJournal(state_dir)
    stack.callback(journal.close)
    variants = VariantCache(settings.memory_cache_max_bytes, _shared_tiers(settings), journal)
    stack.push_async_callback(variants.close)
    file_leases = FileLeases(state_dir)
    stack.callback(file_leases.close)
    leases: Leases = file_leases
    redis_tier = next((t for t in variants.shared if t.name == "redis"), None)
    if redis_tier is not None:
        # Redis leases coalesce across hosts; the broadcast carries purges to every L1.
        leases = redis_tier.leases()  # type: ignore[attr-defined]
        await redis_tier.start(variants.remote_purges())  # type: ignore[attr-defined]
    sources = SourceStore(settings, client, guard,
                          _shared_sources(variants.shared, journal, leases, settings))
    stack.push_async_callback(sources.close)
    journal.listeners.append(
        lambda record: sources.forget(record.sources, record.prefixes)
        if record is not None else sources.forget_all()
    )
    flights = SingleFlight(leases, wait_limit=settings.request_timeout / 2)
    trimmer = Trimmer(settings.malloc_trim_seconds, metrics.MALLOC_TRIM_DURATION.observe)
    executor = TransformExecutor(settings.transform_threads, settings.transform_queue,
                                 max_wait=settings.max_queue_wait,
                                 burst=settings.queue_burst,
                                 after_each=trimmer.maybe_trim if trimmer.active else None,
                                 on_pending=BOARD.publish)
    stack.callback(executor.shutdown)
    limiter = _rate_limiter(settings)
    if limiter is not None:
        stack.push_async_callback(limiter.close)
    service = TransformService(settings, sources, variants, flights, executor, limiter)
    journal.listeners.append(service.failures.forget)
    policy = CachePolicy.from_settings(settings)
    edge_urls = None
    if needs_edge_urls(settings):
        # An edge that follows Cache-Control (CloudFront; nginx without its fixed lifetime)
        # keeps an answer as long as the headers allow: the record must too.
        keep = max(settings.edge_urls_ttl, policy.lifetimes.cache_control_keep())
        edge_urls = EdgeUrls(
            RedisUrlStore(redis_tier, keep)  # type: ignore[arg-type]
            if redis_tier is not None
            else DiskUrlStore(os.path.join(settings.cache_dir, "edge-urls"), keep))
        stack.push_async_callback(edge_urls.drain)
    purge = PurgeService(variants, purgers_from_settings(settings, client, edge_urls))
    metrics.export_alerted_series([item.partition(":")[0] for item in settings.cdn_purgers])
    return State(settings, service, purge, policy, time.time(),
                 Tarpit(settings.refusal_hold),
                 AccessLog(settings.access_log, settings.access_log_format), edge_urls)


def create_app(settings: Settings | None = None, *, resolver: Resolver | None = None,
               transport: httpx.AsyncBaseTransport | None = None) -> OriginApp:
    """Build the app; nothing heavy happens until the lifespan starts (in each worker).
    `resolver` and `transport` are test seams (a stub DNS, a connect spy)."""
    settings = settings or Settings.from_env()
    holder: dict[str, State] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            state = holder["state"] = await build_state(settings, stack, resolver, transport)
            app.state.imgorigin = state
            # Everything built so far lives as long as the worker: out of the collector's
            # sight, a full collection no longer walks the hundreds of thousands of objects that
            # imports and start-up made (a pause of tens of ms in the middle of hits).
            gc.collect()
            gc.freeze()
            recycle.warn_if_cap_too_low(settings.worker_rss_cap)
            try:
                yield
            finally:
                state.shutting_down = True

    def state() -> State:
        return holder["state"]

    async def transform_route(request: Request) -> Response:
        st = state()
        started = time.perf_counter()
        tier = "none"
        req = None
        client = ""
        hinted = False
        answer: Answer | Unchanged | None = None
        error = detail = ""
        try:
            raw_path = (request.scope.get("raw_path") or request.scope["path"].encode()).decode(
                "latin-1")
            query = request.scope.get("query_string", b"").decode("latin-1")
            req = st.service.admit(raw_path, query)
            # Only the miss rate limiter needs to know who is asking.
            client = _client_key(request, st.settings) if st.service.limiter else ""
            # The redirect rewrites a native options segment; an imgproxy, thumbor or ipx URL
            # is answered with `Vary: Accept` like any `fmt_auto` URL without the setting.
            if (st.settings.auto_redirect and req.requested_format == "auto"
                    and not req.dialect):
                response = await autoredirect.redirect(
                    st.service, st.settings, req, raw_path, request.headers.get("accept", ""),
                    client)
            else:
                if st.settings.client_hints:
                    req, hinted = st.service.with_client_hints(
                        req, request.headers.get("sec-ch-dpr", ""))
                answer = await st.service.answer(req, request.headers.get("accept", ""), client,
                                                 request.headers.get("if-none-match", ""))
                tier = answer.tier
                if isinstance(answer, Unchanged):
                    response = _unchanged(st, answer, started, hinted)
                else:
                    response = _success(st, answer, request, started, hinted)
                    if req.download is not None and response.status_code == 200:
                        response.raw_headers.append(content_disposition(
                            req.download, req.source.id, answer.entry.content_type))
                if st.edge_urls is not None:
                    edge_path = st.service.edge_path(req, raw_path, query)
                    st.edge_urls.record(req.source.id, edge_path, hinted)
                    # A purge of a watermark's or mask's file names no source: file the path
                    # by the file's tag.
                    for name in _operator_images(req.options):
                        st.edge_urls.record(by_tag(watermark_tag(name)), edge_path, hinted)
                if req.max_age is not None or req.expires is not None:
                    expires_in = (None if req.expires is None
                                  else max(0, req.expires - int(time.time())))
                    set_lifetime(response, st.policy, req.max_age, expires_in)
        except ImgOriginError as exc:
            error, detail = exc.code, exc.detail
            if isinstance(exc, Refused) and await st.tarpit.refuse(
                    connection_of(request.scope), exc.retry_after):
                metrics.REFUSALS_HELD.inc()
            if exc.status >= 500:
                log.warning("%s %s: %s %s", request.method, request.url.path, exc.status,
                            exc.internal or exc.detail)
            fallback = None
            if req is not None and exc.status in FALLBACK_STATUSES:
                fallback = await st.service.fallback(req, request.headers.get("accept", ""),
                                                     client, exc)
            if fallback is not None:
                metrics.FALLBACKS.labels(exc.code).inc()
                tier, answer = fallback.tier, fallback
                response = _fallback(st, fallback, exc, started, hinted)
            else:
                response = error_response(exc, st.policy)
        except Exception:
            log.exception("unhandled error for %s", request.url.path)
            response = internal_error_response()
            error = "internal_error"
        if BOARD.should_hand_over(st.service.executor.pending, st.settings.rebalance_gap):
            close_after(response)
            metrics.CONNECTIONS_HANDED_OVER.inc()
        elapsed = time.perf_counter() - started
        metrics.observe_request("transform", response.status_code, tier, elapsed)
        if st.access_log.wants(response.status_code, tier, error):
            st.access_log.write(accesslog.transform_fields(request, response, tier, elapsed, answer,
                                                error, detail))
        return response

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    async def readyz(request: Request) -> Response:
        st = holder.get("state")
        if st is None or st.shutting_down:
            return JSONResponse({"status": "unready"}, status_code=503,
                                headers={"Cache-Control": "no-store"})
        degraded = st.service.variants.degraded
        body: dict[str, Any] = {"status": "degraded" if degraded else "ok", "degraded": degraded}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def metrics_route(request: Request) -> Response:
        return Response(metrics.render(), media_type=metrics.CONTENT_TYPE,
                        headers={"Cache-Control": "no-store"})

    async def purge_route(request: Request) -> Response:
        st = state()
        try:
            operator_api.check_token(request, st.settings.purge_tokens)
            if st.service.limiter is not None:
                await st.service.limiter.check("purge", _client_key(request, st.settings))
            asked = await operator_api.read_purge(request)
            result = await st.purge.purge(asked.sources, asked.prefixes, soft=asked.soft,
                                          watermarks=asked.watermarks)
            response: Response = JSONResponse(result, headers={"Cache-Control": "no-store"})
            fields = {"sources": asked.sources[:accesslog.LOGGED_NAMES],
                      "prefixes": asked.prefixes[:accesslog.LOGGED_NAMES],
                      "watermarks": asked.watermarks[:accesslog.LOGGED_NAMES],
                      "soft": asked.soft or "", "variants": result.get("variants")}
        except ImgOriginError as exc:
            response = error_response(exc, None)
            fields = {"error": exc.code, "detail": exc.detail}
        metrics.REQUESTS.labels("purge", str(response.status_code), "none").inc()
        if st.access_log.wants_operation(response.status_code):
            st.access_log.write(accesslog.operation_fields("purge", request, response, fields))
        return response

    async def warm_route(request: Request) -> Response:
        st = state()
        try:
            operator_api.check_token(request, st.settings.purge_tokens)
            client = _client_key(request, st.settings)
            if st.service.limiter is not None:
                await st.service.limiter.check("purge", client)
            asked = await operator_api.read_warm(request)
            results = await warm.warm(st.service, asked.paths, client)
            response: Response = JSONResponse({"variants": results},
                                              headers={"Cache-Control": "no-store"})
            fields = {"paths": len(asked.paths), "variants": len(results)}
        except ImgOriginError as exc:
            response = error_response(exc, None)
            fields = {"error": exc.code, "detail": exc.detail}
        metrics.REQUESTS.labels("warm", str(response.status_code), "none").inc()
        if st.access_log.wants_operation(response.status_code):
            st.access_log.write(accesslog.operation_fields("warm", request, response, fields))
        return response

    async def ops_not_found(request: Request) -> Response:
        return error_response(SourceNotFound("no such endpoint"), None)

    async def demo_page(request: Request) -> Response:
        st = state()
        # The srcset demo over the bundled samples (samples/index.html); its own CSP, since the
        # image responses' `default-src 'none'; sandbox` would block its images and styles.
        try:
            body = DEMO_PAGE.read_bytes()
        except OSError:
            return error_response(SourceNotFound("no demo page"), None)
        headers = {
            "Cache-Control": "public, max-age=300",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; img-src 'self'; "
                                       "style-src 'unsafe-inline'",
        }
        if st.settings.client_hints:
            # What a page must send for its browser to send the hint with its images.
            headers["Accept-CH"] = "Sec-CH-DPR"
            headers["Vary"] = "Sec-CH-DPR"
        return Response(body, media_type="text/html; charset=utf-8", headers=headers)

    routes = [
        Route("/-/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/-/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/-/metrics", metrics_route, methods=["GET"]),
        Route("/-/purge", purge_route, methods=["POST"]),
        Route("/-/warm", warm_route, methods=["POST"]),
        Route("/-/{rest:path}", ops_not_found, methods=["GET", "HEAD", "POST", "PUT", "PATCH",
                                                        "DELETE", "OPTIONS"]),
        Route("/", demo_page, methods=["GET", "HEAD"]),
        Route("/index.html", demo_page, methods=["GET", "HEAD"]),
        Route("/{path:path}", transform_route, methods=["GET", "HEAD"]),
    ]
    return OriginApp(Starlette(routes=routes, lifespan=lifespan), transform_route)


class OriginApp:
    """Transform GETs go straight to their handler; everything else (operations endpoints, the
    demo page, other methods, the lifespan) through Starlette's router. Routing by regex and the
    middleware stack were a tenth of a cache hit's cost."""

    def __init__(self, router: Starlette,
                 transform: Callable[[Request], Awaitable[Response]]) -> None:
        self.router = router
        self.transform = transform

    @property
    def state(self) -> Any:
        return self.router.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            allowed = _allowed_methods(scope["path"])
            if allowed is not None and scope["method"] not in allowed:
                # As JSON with no-store, like every other error (Starlette's is plain text).
                await error_response(MethodNotAllowed(allowed), None)(scope, receive, send)
                return
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and not scope["path"].startswith("/-/")
            and scope["path"] not in _ROUTED_PATHS
        ):
            scope["app"] = self.router
            response = await self.transform(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.router(scope, receive, send)


_ROUTED_PATHS = frozenset({"/", "/index.html"})
_OPS_METHODS = {"/-/purge": ("POST",), "/-/warm": ("POST",), "/-/metrics": ("GET", "HEAD"),
                "/-/healthz": ("GET", "HEAD"), "/-/readyz": ("GET", "HEAD")}


def _operator_images(options: Options) -> tuple[str, ...]:
    """The names of the operator's images a variant shows (its watermark, its mask)."""
    names = (options.watermark.name if options.watermark is not None else None, options.mask)
    return tuple(name for name in names if name is not None)


def _allowed_methods(path: str) -> tuple[str, ...] | None:
    """The methods a path answers; None for unknown operations paths (404 for any method)."""
    if path.startswith("/-/"):
        return _OPS_METHODS.get(path)
    return ("GET", "HEAD")


_VARY_ACCEPT = (b"vary", b"Accept")
_VARY = {
    (False, False): (),
    (True, False): (_VARY_ACCEPT,),
    (False, True): ((b"vary", b"Sec-CH-DPR"),),
    (True, True): ((b"vary", b"Accept, Sec-CH-DPR"),),
}


_ANY_ORIGIN = (b"access-control-allow-origin", b"*")
_SCRIPT_READ = frozenset({describe.CONTENT_TYPE, placeholder.CONTENT_TYPE})


def _vary(negotiated: bool, hinted: bool) -> tuple[_H, ...]:
    """`Vary` for an answer chosen by Accept (`fmt_auto`) and/or a client hint."""
    return _VARY[negotiated, hinted]


def _unchanged(st: State, answer: Unchanged, started: float, hinted: bool) -> Response:
    """304 for a variant the client holds, with the validators and cache headers of its 200."""
    timing = f"none;dur={(time.perf_counter() - started) * 1000:.2f}"
    fixed = st.entry_headers(answer.etag, "", 0, answer.tags, answer.negotiated, hinted)
    return PreparedResponse(304, [*fixed[:-2], (b"server-timing", timing.encode())])


def _success(st: State, answer: Answer, request: Request, started: float,
             hinted: bool) -> Response:
    entry = answer.entry
    if answer.tier == "transform":
        timing = f"transform;dur={entry.transform_ms:.1f}"
        if answer.fetch_ms:
            timing += f", fetch;dur={answer.fetch_ms:.1f}"
    else:
        timing = f"{answer.tier};dur={(time.perf_counter() - started) * 1000:.2f}"
    fixed = st.entry_headers(entry.etag, entry.content_type, len(entry.body), answer.tags,
                             answer.negotiated, hinted)
    if etag_matches(request.headers.get("if-none-match", ""), entry.etag):
        return PreparedResponse(304, [*fixed[:-2], (b"server-timing", timing.encode())])
    return PreparedResponse(200, [*fixed, (b"server-timing", timing.encode())], entry.body)


def _fallback(st: State, answer: Answer, exc: ImgOriginError, started: float,
              hinted: bool) -> Response:
    """The fallback image for a failed request: the error's status (or 200, as configured) and
    its caching (a short public max-age for a 404, else no-store), no validators, the failed
    source's tags, and `Imgorigin-Fallback` naming the error."""
    entry = answer.entry
    status = 200 if st.settings.fallback_status == "200" else exc.status
    cache_control = st.policy.not_found_cache_control if exc.status == 404 else "no-store"
    timing = f"{answer.tier};dur={(time.perf_counter() - started) * 1000:.2f}"
    headers = [
        (b"content-type", entry.content_type.encode()),
        (b"content-length", str(len(entry.body)).encode()),
        (b"cache-control", cache_control.encode()),
        *((k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()),
        *tag_headers(answer.tags),
        *_vary(answer.negotiated, hinted),
        (b"imgorigin-fallback", exc.code.encode()),
        (b"server-timing", timing.encode()),
    ]
    return PreparedResponse(status, headers, entry.body)


def _rate_limiter(settings: Settings) -> RateLimiter | None:
    """The miss/purge limiter, on its own small Redis client when Redis is configured."""
    policy = RatePolicy.from_settings(settings.rate_limit, settings.rate_limit_burst)
    if policy is None:
        return None
    redis = make_redis(settings.redis_url, settings.redis_timeout) if settings.redis_url else None
    return RateLimiter(policy, redis, prefix=settings.redis_prefix)


def _client_key(request: Request, settings: Settings) -> str:
    """Who a request counts against: the configured API key header, else the client address
    (uvicorn has applied X-Forwarded-For from trusted proxies)."""
    if settings.rate_limit_key_header:
        value = request.headers.get(settings.rate_limit_key_header)
        if value:
            return "k:" + value
    return "a:" + (request.client.host if request.client else "")


def mark_draining(app: Starlette | OriginApp) -> None:
    """Readiness answers 503 from now on; called by the server when a drain begins."""
    state = getattr(app.state, "imgorigin", None)
    if state is not None:
        state.shutting_down = True
