"""What a transform request does, from raw path to cached variant, independent of the web layer.

Hit path: parse (memoised) -> source version (a stat, or a remembered HTTP version) -> key ->
L1 -> shared tiers. Miss path: rate limit -> capacity check -> single-flight -> fetch
(coalesced) -> probe (own thread, memoised) -> plan -> admission by estimated cost -> pipeline in
the thread pool -> store unless the source was purged meanwhile. One deadline bounds it all.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from typing import TypeVar
from urllib.parse import unquote

from cache.coalesce import SingleFlight
from cache.entry import CachedVariant
from cache.keys import surrogate_keys, variant_key, watermark_tag
from cache.memo import second_sight
from cache.variants import VariantCache
from origin import dialects, metrics
from origin.dialects import Dialect
from origin.errors import (
    ImgOriginError,
    InvalidOptions,
    InvalidSource,
    SourceNotFound,
    UpstreamTimeout,
)
from origin.executor import TransformExecutor, estimate_seconds
from origin.failures import FailureMemo
from origin.operator_files import load_watermarks
from origin.ratelimit import RateLimiter
from origin.recycle import Recycler
from origin.responses import etag_matches
from origin.security import signing
from origin.security.ladder import SizeLadder
from origin.settings import Settings, SettingsError
from origin.sources.fallback import FALLBACK_BUDGET, FALLBACK_SOURCE
from origin.sources.ref import SourceRef
from origin.sources.store import SourceStore
from transforms import (
    PIPELINE_VERSION,
    Limits,
    ParsedOptions,
    Probe,
    as_stored,
    describe,
    negotiate,
    parse,
    placeholder,
    prepare,
    probe,
    render,
    render_blurhash,
    watermarks,
)
from transforms.formats import AVIF_EFFORT, WEBP_EFFORT
from transforms.grammar import serialize
from transforms.hints import bucket_text, dpr_bucket
from transforms.options import Options

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TransformRequest:
    """A parsed transform URL: what to make, from what, and what the signature covered."""

    options: Options
    canonical: str
    requested_format: str  # a concrete format, "original" or "auto"
    source: SourceRef
    expires: int | None
    signature: str
    signed_path: str
    # `dl`: answer as a download under this name ("": the source's); not part of the variant.
    download: str | None = None
    # The dialect of a URL in another server's form (imgproxy, thumbor, ipx, cloudinary), "" for
    # a native one.
    dialect: str = ""
    # `maxage`: the lifetime browsers and edges are given, not part of the variant.
    max_age: int | None = None
    # `default_KEY`: what is shown, made to the same options, when the source is not found.
    default_source: SourceRef | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    entry: CachedVariant
    tier: str
    negotiated: bool
    tags: str
    fetch_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Unchanged:
    """The client holds this variant already: its If-None-Match names the variant key, which is
    the ETag and is known before any tier or transform (equal keys make equal bytes, R17)."""

    etag: str
    negotiated: bool
    tags: str
    tier: str = "none"


# Trim takes its background from the top-left pixel since 2026-12-06 (white before): other
# bytes, so keyed apart from what older hosts of a fleet cached, without moving other keys.
TRIM_KEY = "/trim-corner"


class TransformService:
    def __init__(
        self,
        settings: Settings,
        sources: SourceStore,
        variants: VariantCache,
        flights: SingleFlight,
        executor: TransformExecutor,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.sources = sources
        self.variants = variants
        self.flights = flights
        self.executor = executor
        self.limiter = limiter
        self.recycler = Recycler(
            settings.worker_max_transforms, settings.worker_rss_cap,
            on_recycle=lambda reason: metrics.WORKER_RECYCLES.labels(reason).inc())
        self.failures = FailureMemo(settings.failure_ttl)
        # Header facts per (source, version): a new size of a known source skips the probe.
        self._probes: OrderedDict[tuple[str, str], Probe] = OrderedDict()
        self.limits = Limits(max_dim=settings.max_dim, max_pixels=settings.max_source_pixels,
                             max_frames=settings.max_frames)
        self.signing = bool(settings.signing_keys)
        # AVIF bytes depend on the encoder's thread count, which is libvips' (R17: 1, 2 and 4
        # threads made three different files). Keyed apart, hosts with another setting never
        # answer one ETag with other bytes; every other format is the same at any count.
        # An encoder effort other than the default makes other bytes too; the default's keys stay
        # as they were, so a fleet that never sets it keeps its cached variants.
        self._avif_pipeline = f"{PIPELINE_VERSION}/avif-threads-{settings.vips_concurrency}" + (
            "" if settings.avif_effort == AVIF_EFFORT else f"/avif-effort-{settings.avif_effort}")
        # Standard Huffman tables make other JPEG bytes: keyed apart for the same reason. Any
        # class but AVIF may end up JPEG (`original`, a negotiated fallback) or WebP.
        self._pipeline_other = PIPELINE_VERSION + (
            "" if settings.jpeg_optimize_coding else "/jpeg-standard-huffman") + (
            "" if settings.webp_effort == WEBP_EFFORT else f"/webp-effort-{settings.webp_effort}")
        self._json_pipeline = f"{PIPELINE_VERSION}/json-{describe.DESCRIPTION_VERSION}"
        self._blurhash_pipeline = f"{PIPELINE_VERSION}/blurhash-{placeholder.VERSION}"
        try:
            # Decoded once per worker; a broken file fails the worker at startup.
            self.watermarks = load_watermarks(settings.watermarks)
        except ValueError as exc:
            raise SettingsError(f"IMGORIGIN_WATERMARKS: {exc}") from None
        presets = dict(settings.presets)
        ladder = SizeLadder(settings.size_ladder, settings.size_ladder_mode)

        # Text from a URL is the site's own only where URLs are signed (or the operator says):
        # every URL with native signing, and a dialect's URLs where its own signature is
        # required (imgproxy, thumbor, imgix, Cloudinary with their keys).
        text = settings.text_overlays == "on" or (settings.text_overlays == "signed"
                                                  and self.signing)

        def options_parser(text: bool) -> Callable[[str], tuple[ParsedOptions, str]]:
            @second_sight(maxsize=4096)
            def parse_options(segment: str) -> tuple[ParsedOptions, str]:
                parsed = parse(segment, presets=presets, max_dim=settings.max_dim,
                               presets_only=settings.presets_only, watermarks=self.watermarks,
                               text=text)
                options = ladder.apply(parsed.options)
                if options.format == settings.default_format:
                    # The server's default format is a default like any other: dropped from
                    # the canonical form, so `fmt_original` and `_` are one variant, one entry.
                    options = replace(options, format=None)
                parsed = replace(parsed, options=options)
                return parsed, serialize(parsed.options)

            return parse_options

        parse_options = self._parse_options = options_parser(text)
        self._parse_signed_dialect_options = (
            options_parser(True) if settings.text_overlays == "signed" and not text
            else parse_options)
        self._parse_path = second_sight(4096)(self._parse_path_uncached)
        self._parse_dialect = second_sight(4096)(self._parse_dialect_uncached)
        self.dialects = dialects.from_settings(settings)
        self._query_dialects = frozenset(d.name for d in self.dialects if d.reads_query)
        # Bound once: a labelled child per dialect, not a label lookup per request.
        self._dialect_counts = {d.name: metrics.DIALECT_REQUESTS.labels(d.name)
                                for d in self.dialects}
        for dialect in self.dialects:
            try:
                parse_options(dialect.prefix.strip("/"))
            except InvalidOptions:
                continue
            raise SettingsError(f"IMGORIGIN_{dialect.name.upper()}_PREFIX: a native options "
                                "segment; pick a segment no native URL can start with")
        for name in presets:
            # A broken preset fails the worker at startup, not one request at a time.
            try:
                parse_options(f"p_{name}")
            except InvalidOptions as exc:
                raise SettingsError(f"IMGORIGIN_PRESETS: preset '{name}': {exc.detail}") from None

    def admit(self, raw_path: str, query: str = "") -> TransformRequest:
        """A request path as a client sent it: signature first (an unsigned URL is not even
        parsed), this host's purges applied, then the parse and the signed expiry. The query
        string counts only in a dialect that reads it (imgix)."""
        for dialect in self.dialects:
            if raw_path.startswith(dialect.prefix):
                return self._admit_dialect(dialect, raw_path, query)
        if self.signing:
            signing.authenticate(raw_path, self.settings.signing_keys)
        self.sync_purges()
        req = self.parse_path(raw_path)
        if self.signing:
            signing.check_expiry(req.expires)
        return req

    def _admit_dialect(self, dialect: Dialect, raw_path: str, query: str) -> TransformRequest:
        """Another server's URL: its own signature check before anything else, as natively."""
        signature, rest = dialect.split(raw_path)
        if dialect.reads_query and query:
            rest = f"{rest}?{query}"
        dialect.check(signature, rest)
        self.sync_purges()
        req = self.parse_dialect(dialect, rest)
        signing.check_expiry(req.expires)
        self._dialect_counts[dialect.name].inc()
        return req

    def edge_path(self, req: TransformRequest, raw_path: str, query: str) -> str:
        """The request as an edge keys it: the path, and the query where it is the options."""
        return f"{raw_path}?{query}" if query and req.dialect in self._query_dialects else raw_path

    def parse_dialect(self, dialect: Dialect, rest: str) -> TransformRequest:
        """The part of a dialect URL after its signature, translated; raises 400/403."""
        return self._parse_dialect(dialect, rest)

    def _parse_dialect_uncached(self, dialect: Dialect, rest: str) -> TransformRequest:
        translated = dialect.translate(rest)
        parse_options = (self._parse_signed_dialect_options if dialect.checks_signatures
                         else self._parse_options)
        parsed, canonical = parse_options(translated.tokens)
        options = parsed.options
        return TransformRequest(
            options=options,
            canonical=canonical,
            requested_format=self._requested_format(options),
            source=self.sources.ref(translated.source),
            expires=translated.expires,
            signature="",
            signed_path=rest,
            download=parsed.download,
            dialect=dialect.name,
            max_age=parsed.max_age,
            default_source=self._default_source(parsed),
        )

    def _requested_format(self, options: Options) -> str:
        # `raw` keeps the source's format: no Accept classes for bytes that never change.
        return "original" if options.raw else options.format or self.settings.default_format

    def parse_path(self, raw_path: str) -> TransformRequest:
        """Split `/{signature}/{options}/{source}`; raises 400/403 for a bad path."""
        # A path always parses the same way under one set of settings; hot paths repeat. Kept
        # from a path's second request on (cache/memo.py); about 1 KB per entry.
        return self._parse_path(raw_path)

    def _parse_path_uncached(self, raw_path: str) -> TransformRequest:
        signature = ""
        rest = raw_path[1:] if raw_path.startswith("/") else raw_path
        if self.signing:
            # By position only, exactly as `signing.authenticate` checked it.
            signature, signed = signing.split(raw_path)
            if not signed:
                raise InvalidSource("path has no options and source after the signature")
            rest = signed[1:]
        segment, slash, source_raw = rest.partition("/")
        if not slash or not source_raw:
            raise InvalidSource("path must be /{options}/{source}")
        parsed, canonical = self._parse_options(unquote(segment))
        if parsed.expires is not None and not self.signing:
            raise InvalidOptions("exp_ needs signed URLs, which this server does not use")
        options = parsed.options
        source = self.sources.ref(unquote(source_raw))
        requested = self._requested_format(options)
        return TransformRequest(
            options=options,
            canonical=canonical,
            requested_format=requested,
            source=source,
            expires=parsed.expires,
            signature=signature,
            signed_path="/" + rest,
            download=parsed.download,
            max_age=parsed.max_age,
            default_source=self._default_source(parsed),
        )

    def _default_source(self, parsed: ParsedOptions) -> SourceRef | None:
        # A key under the configured source, checked like a URL's own (400 when it is not one).
        return self.sources.ref(parsed.default) if parsed.default is not None else None

    def with_client_hints(self, req: TransformRequest,
                          dpr_hint: str) -> tuple[TransformRequest, bool]:
        """`req` as the browser's `Sec-CH-DPR` makes it, and whether its answer varies on the
        hint (URLs that size the image and leave `dpr` out). Called only with
        IMGORIGIN_CLIENT_HINTS on; the app checks the setting, so hits pay nothing without it."""
        options = req.options
        if options.dpr != 1.0 or (options.width is None and options.height is None):
            return req, False
        bucket = dpr_bucket(dpr_hint)
        metrics.CLIENT_HINTS.labels(bucket_text(bucket)).inc()
        return (req if bucket == 1.0 else _at_dpr(req, bucket)), True

    def sync_purges(self) -> None:
        self.variants.journal.sync()

    async def answer(self, req: TransformRequest, accept: str, client: str = "",
                     if_none_match: str = "", budget: float | None = None) -> Answer | Unchanged:
        """The variant for a request, from the cheapest tier that has it, or Unchanged when
        `if_none_match` names it. `client` names the requester for the miss rate limit. One
        deadline (`budget` seconds, else the request timeout) covers fetch, queue and transform."""
        deadline = time.monotonic() + (budget or self.settings.request_timeout)
        negotiated = req.requested_format == "auto"
        fmt_class = negotiate(accept) if negotiated else req.requested_format
        source = req.source
        tags = _tags(source.id, req.options)
        fetch_started = time.perf_counter()
        # A fetch is timed only when the version was not already known here (Server-Timing's
        # and the access log's `fetch` is then the upstream's or the shared tier's answer).
        fetches = not self.sources.trusts(source)
        if source.kind == "local":
            version = await self.sources.version(source)
        else:
            version = await _by(deadline, self.sources.version(source))
        fetch_ms = (time.perf_counter() - fetch_started) * 1000 if fetches else 0.0
        key = self._key(req, fmt_class, version)
        entry = self.variants.get_memory(key)
        if entry is not None:
            return Answer(entry, "memory", negotiated, tags)
        # A revalidation (a CDN after its TTL or a soft purge, a browser after max-age) of a
        # variant whose source has not changed: no shared-tier read, no transform. Not for `*`,
        # which a GET that would fail (a corrupt source) must not answer with 304.
        if etag_matches(if_none_match, f'"{key}"', wildcard=False):
            return Unchanged(f'"{key}"', negotiated, tags)
        # A shared tier holds a variant its source cannot make only if a host with other limits
        # made it: not worth a read per repeated failure.
        remembered = self.failures.recall(key)
        if remembered is not None:
            raise remembered
        entry, tier = await self.variants.get_shared(key, source.id)
        if entry is not None:
            return Answer(entry, tier, negotiated, tags)
        if self.limiter is not None:
            await self.limiter.check("misses", client)
        self.executor.check_capacity()

        async def compute() -> CachedVariant:
            return await self._compute(req, fmt_class, key, version, deadline)

        async def lookup() -> CachedVariant | None:
            return await self.variants.lookup_shared(key, source.id)

        # The work runs shielded for every waiter; each waiter leaves at its own deadline.
        try:
            entry, _waited = await _by(deadline, self.flights.run(key, lookup, compute))
        except ImgOriginError as exc:
            self.failures.remember(key, source.id, exc)
            raise
        return Answer(entry, "transform", negotiated, tags, fetch_ms)

    async def fallback(self, req: TransformRequest, accept: str, client: str,
                       exc: ImgOriginError) -> Answer | None:
        """What is shown, made to `req`'s options, in place of a source that cannot be shown:
        the URL's `default_` image when the source was not found, else the server's fallback
        image. Tagged as `req`'s source (and the default's), so a purge of either takes the
        CDN's copies too. None when neither applies, for `fmt_json` and `fmt_blurhash`, or when
        they fail as well."""
        if req.requested_format in ("json", "blurhash"):
            return None
        substitutes = []
        if req.default_source is not None and isinstance(exc, SourceNotFound):
            substitutes.append(req.default_source)
        if self.sources.fallback is not None:
            substitutes.append(FALLBACK_SOURCE)
        for substitute in substitutes:
            try:
                answer = await self.answer(replace(req, source=substitute, default_source=None),
                                           accept, client, budget=FALLBACK_BUDGET)
            except ImgOriginError:
                continue
            assert isinstance(answer, Answer)  # no If-None-Match was passed on
            tags = _tags(req.source.id, req.options).split()
            if substitute is not FALLBACK_SOURCE:
                tags += _tags(substitute.id, req.options).split()
            return replace(answer, tags=" ".join(dict.fromkeys(tags)))
        return None

    def _key(self, req: TransformRequest, fmt_class: str, version: str) -> str:
        """The variant key: the request, the format class, the source's version, and what
        besides them decides the bytes (encoder settings, the watermark file)."""
        pipeline = self._pipeline(fmt_class) + watermarks.digest_of(
            self.watermarks, req.options.watermark, req.options.mask)
        if req.options.trim:
            pipeline += TRIM_KEY
        return variant_key(req.canonical, fmt_class, req.source.id, version, pipeline)

    def _pipeline(self, fmt_class: str) -> str:
        """What besides the request decides the output's bytes (part of the variant key)."""
        if fmt_class == "json":
            return self._json_pipeline
        if fmt_class == "blurhash":
            return self._blurhash_pipeline
        return self._avif_pipeline if fmt_class == "avif" else self._pipeline_other

    async def _probe(self, source_id: str, version: str, data: bytes) -> Probe:
        cache_key = (source_id, version)
        info = self._probes.get(cache_key)
        if info is None:
            info = await self.executor.probe(
                probe, data, svg_allowed=self.settings.svg_policy == "rasterize")
            self._probes[cache_key] = info
            if len(self._probes) > 4096:
                self._probes.popitem(last=False)
        return info

    async def _compute(self, req: TransformRequest, fmt_class: str, key: str,
                       version: str, deadline: float) -> CachedVariant:
        source = req.source
        # Journal position + shared-tier generations: a purge of this source while the transform
        # runs (on any host) makes `store` drop the result instead of caching it.
        mark = await self.variants.mark(source.id)
        data, got_version = await self.sources.read(source, version)
        if got_version != version:
            # The source changed since its version was looked up: file the result under the
            # version of the bytes actually transformed.
            version = got_version
            key = self._key(req, fmt_class, version)
        # Decide first: header probe, then the checked plan, then admission by its cost.
        info = await self._probe(source.id, version, data)
        if fmt_class == "json":
            entry = self._description(req, info, key, version, len(data))
            await self.variants.store(key, entry, mark)
            return entry
        if req.options.served_as_stored(info.format):
            entry = self._as_stored(req, info, key, version, data)
            await self.variants.store(key, entry, mark)
            return entry
        placeholder_only = fmt_class == "blurhash"
        planned_as = placeholder.PLANNED_AS if placeholder_only else fmt_class
        plan = prepare(info, req.options, planned_as, self.limits, self.watermarks)
        started = time.perf_counter()
        renderer = render_blurhash if placeholder_only else render
        result = await self.executor.run(partial(renderer, deadline=deadline), data, plan,
                                         self.limits, deadline=deadline,
                                         estimate=estimate_seconds(plan))
        elapsed = time.perf_counter() - started
        metrics.TRANSFORMS.labels(result.format).inc()
        if result.budget is not None:
            metrics.BYTE_BUDGETS.labels(result.budget[0]).inc()
            metrics.BYTE_BUDGET_ENCODES.inc(result.budget[1])
        if result.auto_quality is not None:
            metrics.AUTO_QUALITY.labels(result.format).observe(result.auto_quality[0])
            metrics.AUTO_QUALITY_ENCODES.inc(result.auto_quality[1])
        self.recycler.count()
        metrics.TRANSFORM_DURATION.labels(result.format).observe(elapsed)
        entry = CachedVariant(
            body=result.body,
            content_type=result.content_type,
            etag=f'"{key}"',
            source_id=source.id,
            source_version=version,
            format=result.format,
            width=result.width,
            height=result.height,
            created=time.time(),
            transform_ms=elapsed * 1000,
        )
        await self.variants.store(key, entry, mark)
        return entry

    def _as_stored(self, req: TransformRequest, info: Probe, key: str, version: str,
                   data: bytes) -> CachedVariant:
        """`raw` or `skip_`: the source's own bytes (transforms.as_stored), as a variant."""
        result = as_stored(data, info, self.limits)
        return CachedVariant(
            body=result.body,
            content_type=result.content_type,
            etag=f'"{key}"',
            source_id=req.source.id,
            source_version=version,
            format=result.format,
            width=result.width,
            height=result.height,
            created=time.time(),
        )

    def _description(self, req: TransformRequest, info: Probe, key: str, version: str,
                     size: int) -> CachedVariant:
        """`fmt_json`: the plan of the image URL without a format, described, not rendered."""
        # Planned as `fmt_original`: the same options fail the same limits with the same errors.
        plan = prepare(info, req.options, "original", self.limits, self.watermarks)
        document = describe.describe(plan, size)
        output = document["output"]
        return CachedVariant(
            body=describe.encode(document),
            content_type=describe.CONTENT_TYPE,
            etag=f'"{key}"',
            source_id=req.source.id,
            source_version=version,
            format="json",
            width=output["width"] or 0,
            height=output["height"] or 0,
            created=time.time(),
        )


@lru_cache(maxsize=4096)
def _at_dpr(req: TransformRequest, dpr: float) -> TransformRequest:
    """The request with a client-hinted `dpr`: the same variant as the URL that names it."""
    options = replace(req.options, dpr=dpr)
    return replace(req, options=options, canonical=serialize(options))


def _tags(source_id: str, options: Options) -> str:
    """The answer's purge tags: its source's, and those of the operator's images it carries (a
    watermark's, a mask's), so replacing such a file reaches every variant that shows it."""
    mark = options.watermark.name if options.watermark else ""
    tags = surrogate_keys(source_id, mark)
    return tags if options.mask in (None, mark) else f"{tags} {watermark_tag(options.mask)}"


async def _by(deadline: float, awaitable: Awaitable[T]) -> T:
    """`awaitable`, or 504 when the request deadline (monotonic) comes first."""
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            return await awaitable
    except TimeoutError:
        raise UpstreamTimeout("request took longer than its deadline") from None
