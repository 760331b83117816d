"""Every setting of imgorigin: one environment variable each, with a default and a description.

`Settings.from_env()` reads and validates them once at startup; `SETTINGS_TABLE` drives
`imgorigin serve --help`, `imgorigin config` and the README configuration table.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

from transforms.imgproxy import skip_formats

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_SAMPLES = REPO_ROOT / "samples"
MIB = 1024 * 1024
# Beyond its caches a worker measured 75-85 MiB at its peak in a 10-minute soak of 12 MP
# sources at concurrency 32 (benchmarks/README.md): 288 MiB is over three times that, so the
# RSS cap replaces a worker that grows, not one that is merely busy at that load.
RSS_HEADROOM = 288 * MIB


class SettingsError(ValueError):
    """A setting has a value we cannot use; raised at startup, never per request."""


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean, got {raw!r}")


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _skip_formats(raw: str) -> tuple[str, ...]:
    return skip_formats(list(_csv(raw)))


def _words(raw: str) -> tuple[str, ...]:
    return tuple(raw.split())


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {raw!r}")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(f"expected an integer >= 0, got {raw!r}")
    return value


def _int_from_to(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"expected an integer from {low} to {high}, got {raw!r}")
        return value
    return parse


def _optional_bytes(raw: str) -> int | None:
    """Unset (empty): None, for a default derived from other settings."""
    return _non_negative_int(raw) if raw.strip() else None


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError(f"expected a positive number, got {raw!r}")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not 0 <= value < float("inf"):
        raise ValueError(f"expected a number >= 0, got {raw!r}")
    return value



def _rate(raw: str) -> float:
    """`20/s`, `600/m`, `1000/h` or a bare per-second number -> requests per second; empty = 0."""
    value = raw.strip().lower()
    if not value:
        return 0.0
    number, _, unit = value.partition("/")
    seconds = {"": 1, "s": 1, "m": 60, "h": 3600}.get(unit.strip())
    rate = float(number)
    if seconds is None or not rate >= 0 or rate == float("inf"):
        raise ValueError(f"expected RATE/s, RATE/m or RATE/h, got {raw!r}")
    return rate / seconds



def _path_segment(raw: str) -> str:
    value = raw.strip().strip("/")
    if value and (value == "-" or not set(value) <= _SEGMENT_CHARS):
        raise ValueError(f"expected one path segment of letters, digits, '-', '_' or '.', "
                         f"not '-', got {raw!r}")
    return value


_SEGMENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def _choice(*allowed: str) -> Callable[[str], str]:
    """A parser for one of `allowed` (case-insensitive)."""
    expected = " or ".join(f"'{value}'" for value in allowed)

    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"expected {expected}, got {raw!r}")
        return value

    return parse


def _named(raw: str, what: str) -> dict[str, str]:
    """`a:x;b:y` -> {"a": "x", "b": "y"}; ValueError names an item without NAME:`what`."""
    items: dict[str, str] = {}
    for item in raw.split(";"):
        if not item.strip():
            continue
        name, sep, value = item.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ValueError(f"expected NAME:{what}, got {item!r}")
        items[name] = value
    return items


def _presets(raw: str) -> dict[str, str]:
    """`name:w_200,h_200;thumb:s_64x64` -> {"name": "w_200,h_200", ...}."""
    return _named(raw, "TOKENS")



def _watermarks(raw: str) -> dict[str, str]:
    """`logo:/etc/imgorigin/logo.png;stamp:/srv/stamp.png` -> {"logo": "/etc/...", ...}."""
    marks = _named(raw, "PATH")
    if marks:
        # The grammar's own rule for the `wm_NAME` token (imported here: it loads libvips).
        from transforms.grammar import WATERMARK_NAME_CHARS

        for name in marks:
            if not set(name) <= WATERMARK_NAME_CHARS:
                raise ValueError(f"watermark names are a-z, 0-9 and -, got {name!r}")
    return marks


def _ladder(raw: str) -> tuple[int, ...]:
    """`64,128,256` -> (64, 128, 256): sorted, distinct, positive."""
    return tuple(sorted({_positive_int(part) for part in _csv(raw)}))



def _default_cache_dir() -> str:
    return str(Path(platformdirs.user_cache_dir("imgorigin")) / "cache")


@dataclass(frozen=True)
class Setting:
    """One row of the settings table."""

    env: str
    attr: str
    default: str
    parse: Callable[[str], Any]
    help: str
    default_doc: str = ""


SETTINGS_TABLE: tuple[Setting, ...] = (
    Setting("IMGORIGIN_SOURCE", "source", "", str,
            "default source: a directory, file:// URL, http(s):// base URL or "
            "`s3://bucket/prefix` (needs botocore: `pip install 'imgorigin[s3]'`)",
            "the bundled samples/"),
    Setting("IMGORIGIN_S3_ENDPOINT", "s3_endpoint", "", str,
            "S3-compatible endpoint (`http(s)://host:port`, MinIO, Ceph, R2) for an s3:// "
            "source, addressed path style; unset: AWS S3, virtual-hosted style",
            "unset: AWS"),
    Setting("IMGORIGIN_S3_REGION", "s3_region", "", str,
            "SigV4 signing region of an s3:// source",
            "`AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`"),
    Setting("IMGORIGIN_ALLOWED_HOSTS", "allowed_hosts", "", _csv,
            "hosts (`*.example.com` allowed) that absolute source URLs may name",
            "empty: absolute URLs refused"),
    Setting("IMGORIGIN_ALLOW_PRIVATE_NETWORKS", "allow_private_networks", "false", _bool,
            "allow sources resolving to loopback, private (RFC 1918, ULA) and CGNAT addresses; "
            "link-local (cloud metadata), 0.0.0.0, multicast and reserved ones never are "
            "(the IMGORIGIN_SOURCE host and port themselves are always allowed)"),
    Setting("IMGORIGIN_REDIS_URL", "redis_url", "", str,
            "redis://… or redis+cluster://host:port,…; unset = embedded on-disk cache",
            "unset"),
    Setting("IMGORIGIN_REDIS_TIMEOUT", "redis_timeout", "0.05", _positive_float,
            "seconds one Redis call may take (connect included) before the request goes on "
            "without Redis"),
    Setting("IMGORIGIN_REDIS_TTL", "redis_ttl", "604800", _positive_int,
            "seconds a variant lives in Redis (its source's purge index lives as long)", "7 days"),
    Setting("IMGORIGIN_REDIS_LEASE_TTL", "redis_lease_ttl", "5", _positive_float,
            "seconds a cross-host single-flight lease lives unless its holder renews it; a "
            "waiter takes over this long after the holder died"),
    Setting("IMGORIGIN_REDIS_BREAKER_FAILURES", "redis_breaker_failures", "3", _positive_int,
            "consecutive Redis failures (errors or timeouts) that open the circuit breaker"),
    Setting("IMGORIGIN_REDIS_BREAKER_COOLDOWN", "redis_breaker_cooldown", "1", _positive_float,
            "seconds between health probes while the breaker is open (it closes on the first "
            "successful probe)"),
    Setting("IMGORIGIN_REDIS_PURGE_TIMEOUT", "redis_purge_timeout", "5", _positive_float,
            "seconds a purge may spend in Redis"),
    Setting("IMGORIGIN_REDIS_MAX_CONNECTIONS", "redis_max_connections", "64", _positive_int,
            "Redis connections per worker (per node in a cluster)"),
    Setting("IMGORIGIN_REDIS_PREFIX", "redis_prefix", "imgorigin", str,
            "prefix of every Redis key and channel, to share one Redis between deployments"),
    Setting("IMGORIGIN_CACHE_DIR", "cache_dir", "", str,
            "embedded on-disk cache directory (shared by the workers of one host)",
            "user cache dir/imgorigin/cache"),
    Setting("IMGORIGIN_DISK_CACHE", "disk_cache", "", str,
            "`on`/`off`: the on-disk tier; default on without Redis, off with Redis (on beside "
            "Redis: other hosts' purges reach it by the broadcast, and a missed broadcast "
            "empties it)",
            "auto"),
    Setting("IMGORIGIN_DISK_CACHE_MAX_BYTES", "disk_cache_max_bytes", str(2048 * MIB),
            _positive_int, "byte cap of the on-disk tier (oldest files evicted first)", "2 GiB"),
    Setting("IMGORIGIN_MEMORY_CACHE_MAX_BYTES", "memory_cache_max_bytes", str(64 * MIB),
            _non_negative_int, "byte cap of the in-process LRU, per worker (0 disables it); "
            "it counts against the worker's RSS budget, see docs/resilience.md", "64 MiB"),
    Setting("IMGORIGIN_ORIGINALS_CACHE_MAX_BYTES", "originals_cache_max_bytes", str(32 * MIB),
            _non_negative_int,
            "byte cap of recently fetched source bytes kept in each worker's memory (they are "
            "shared between workers through the shared tier too)", "32 MiB"),
    Setting("IMGORIGIN_ORIGINALS_TTL", "originals_ttl", "30", _positive_float,
            "seconds fetched source bytes are kept for reuse (per worker and in the shared "
            "tier)"),
    Setting("IMGORIGIN_SHARED_ORIGINALS_MAX_BYTES", "shared_originals_max_bytes", str(8 * MIB),
            _non_negative_int,
            "largest HTTP source whose bytes are shared through Redis (a worker needing a "
            "bigger one fetches its own copy; 0: share versions only); the on-disk tier takes "
            "any size under its own cap", "8 MiB"),
    Setting("IMGORIGIN_SOURCE_TTL", "source_ttl", "300", _non_negative_int,
            "seconds an HTTP source's version (ETag/Last-Modified) is trusted before it is "
            "revalidated with a conditional GET (one per host, or per cluster with Redis)"),
    Setting("IMGORIGIN_SOURCE_STALE", "source_stale", "300", _non_negative_int,
            "seconds past IMGORIGIN_SOURCE_TTL in which a request still uses the known version "
            "and the revalidation runs in the background (stale-while-revalidate); after them, "
            "or with 0, a request waits for it"),
    Setting("IMGORIGIN_NOT_FOUND_TTL", "not_found_ttl", "60", _non_negative_int,
            "seconds a 404 source is remembered (shared like source versions) and the 404 may be "
            "cached downstream"),
    Setting("IMGORIGIN_FALLBACK_IMAGE", "fallback_image", "", str,
            "an image file made to the request's options and sent in place of a source that "
            "cannot be shown (404, 413, 415, 422, 502, 504), with header `Imgorigin-Fallback` "
            "naming the error; unset: those errors are JSON", "unset"),
    Setting("IMGORIGIN_FALLBACK_STATUS", "fallback_status", "error", _choice("error", "200"),
            "status of a fallback answer: `error` (the error's own) or `200`"),
    Setting("IMGORIGIN_FAILURE_TTL", "failure_ttl", "60", _non_negative_int,
            "seconds a worker answers a variant that failed with 400, 413, 415 or 422 (a corrupt, "
            "oversized or unsupported source) with the same error, without reading or decoding "
            "its source again; a changed source has new keys; 0 never"),
    Setting("IMGORIGIN_PURGE_TOKENS", "purge_tokens", "", _csv,
            "bearer tokens accepted by POST /-/purge", "unset: purge disabled (403)"),
    Setting("IMGORIGIN_SIGNING_KEYS", "signing_keys", "", _csv,
            "HMAC keys (hex); when set, every transform URL must be signed", "unset"),
    Setting("IMGORIGIN_DEFAULT_FORMAT", "default_format", "original", _choice("original", "auto"),
            "output format when the URL names none: `original` or `auto`"),
    Setting("IMGORIGIN_PRESETS", "presets", "", _presets,
            "named option sets, `name:tokens;name2:tokens`", "none"),
    Setting("IMGORIGIN_WATERMARKS", "watermarks", "", _watermarks,
            "named watermark images for `wm_NAME` (and masks, `mask_NAME`), "
            "`name:/path/logo.png;name2:/path/b.png` "
            "(PNG/WebP/JPEG/GIF/AVIF up to 2048x2048 and a 16 MiB file, decoded when a worker "
            "starts)",
            "none"),
    Setting("IMGORIGIN_TEXT_OVERLAYS", "text_overlays", "signed", _choice("off", "signed", "on"),
            "who may put text on images with `text_` (and Cloudinary's `l_text:`, imgix's "
            "`txt`): `signed` for URLs that must be signed (so only the site's own URLs draw "
            "text): every URL with IMGORIGIN_SIGNING_KEYS, else imgproxy, thumbor, imgix and "
            "Cloudinary URLs whose own keys are set, "
            "`on` for every URL (anyone can then caption the site's images), `off` for none; "
            "presets may always carry a text", "signed"),
    Setting("IMGORIGIN_PRESETS_ONLY", "presets_only", "false", _bool,
            "accept only `p_NAME` (and `exp_` when signing) as options, or `_`: clients "
            "cannot invent variants"),
    Setting("IMGORIGIN_SIZE_LADDER", "size_ladder", "", _ladder,
            "allowed `w`/`h` values (CSS px), e.g. `64,128,256,512,1024`; other sizes are "
            "snapped or refused (IMGORIGIN_SIZE_LADDER_MODE)", "unset: any size"),
    Setting("IMGORIGIN_SIZE_LADDER_MODE", "size_ladder_mode", "snap", _choice("snap", "refuse"),
            "`snap`: a size off the ladder becomes the next step up (the top step above it); "
            "`refuse`: 400"),
    Setting("IMGORIGIN_MAX_SOURCE_BYTES", "max_source_bytes", str(50 * MIB), _positive_int,
            "largest source accepted, in bytes (checked while streaming)", "50 MiB"),
    Setting("IMGORIGIN_MAX_SOURCE_PIXELS", "max_source_pixels", str(100_000_000),
            _positive_int, "largest source in pixels, all loaded frames counted", "100 MP"),
    Setting("IMGORIGIN_MAX_FRAMES", "max_frames", "500", _positive_int,
            "most frames an animated source may have"),
    Setting("IMGORIGIN_MAX_DIM", "max_dim", "8192", _positive_int,
            "largest output width or height; `w`/`h` above it are refused, `dpr` is capped"),
    Setting("IMGORIGIN_BROWSER_MAX_AGE", "browser_max_age", "86400", _non_negative_int,
            "`Cache-Control: max-age` of successful answers"),
    Setting("IMGORIGIN_CDN_MAX_AGE", "cdn_max_age", "31536000", _non_negative_int,
            "edge lifetime in `CDN-Cache-Control` and `Surrogate-Control`"),
    Setting("IMGORIGIN_S_MAXAGE", "s_maxage", "", str,
            "if set, also send `s-maxage` (off by default: on Cloudflare it disables "
            "stale-while-revalidate)", "unset"),
    Setting("IMGORIGIN_STALE_WHILE_REVALIDATE", "stale_while_revalidate", "86400",
            _non_negative_int, "`stale-while-revalidate` seconds"),
    Setting("IMGORIGIN_STALE_IF_ERROR", "stale_if_error", "604800", _non_negative_int,
            "`stale-if-error` seconds"),
    Setting("IMGORIGIN_CDN_PURGERS", "cdn_purgers", "", _csv,
            "CDNs that /-/purge also purges: `varnish:http://HOST:PORT`, `fastly:SERVICE_ID`, "
            "`cloudflare:ZONE_ID`, `cloudfront:DISTRIBUTION_ID`, `nginx:http://HOST:PORT` (the "
            "purge server of edge-config/nginx/imgorigin-purge.conf)", "unset"),
    Setting("IMGORIGIN_EDGE_URLS_TTL", "edge_urls_ttl", "604800", _positive_int,
            "with an `nginx` purger: seconds the paths answered for a source are remembered "
            "after the last one (in Redis, else in files under IMGORIGIN_CACHE_DIR); at least "
            "the longest nginx keeps an object without asking the origin "
            "(`proxy_cache_valid 200`, and `inactive=` for objects nobody asks for); never less "
            "than `Cache-Control` lets a cache keep an answer (8 days by default)", "7 days"),
    Setting("IMGORIGIN_FASTLY_API_TOKEN", "fastly_api_token", "", str, "Fastly API token",
            "unset"),
    Setting("IMGORIGIN_CLOUDFLARE_API_TOKEN", "cloudflare_api_token", "", str,
            "Cloudflare API token", "unset"),
    Setting("IMGORIGIN_FASTLY_API_URL", "fastly_api_url", "https://api.fastly.com", str,
            "Fastly API base URL (tests point it at a local server)"),
    Setting("IMGORIGIN_CLOUDFLARE_API_URL", "cloudflare_api_url",
            "https://api.cloudflare.com/client/v4", str, "Cloudflare API base URL"),
    Setting("IMGORIGIN_CLOUDFRONT_API_URL", "cloudfront_api_url",
            "https://cloudfront.amazonaws.com", str,
            "CloudFront API base URL (requests are SigV4-signed for us-east-1)"),
    Setting("IMGORIGIN_CLOUDFRONT_OPTION_SEGMENTS", "cloudfront_option_segments", "", _words,
            "space-separated options segments your pages use (`w_400,fmt_webp w_800,fmt_webp`); "
            "a CloudFront purge then invalidates `/SEGMENT/SOURCE` for each, else `/*` "
            "(CloudFront allows `*` only at the end of a path)", "unset: invalidate `/*`"),
    Setting("IMGORIGIN_CLOUDFRONT_ANSWERED_PATHS", "cloudfront_answered_paths", "false", _bool,
            "a CloudFront purge invalidates the paths the origin answered for each source and "
            "directory purged (recorded as for the nginx purger, kept as long as "
            "`Cache-Control` lets CloudFront keep an answer, or IMGORIGIN_EDGE_URLS_TTL if "
            "longer: raise it for URLs with a longer `maxage`), not `/*`: signed and "
            "absolute-URL sources too"),
    Setting("IMGORIGIN_CDN_PURGE_ATTEMPTS", "cdn_purge_attempts", "3", _positive_int,
            "tries per CDN purge API call (network errors, 429 and 5xx are retried)"),
    Setting("IMGORIGIN_CDN_PURGE_BACKOFF", "cdn_purge_backoff", "0.2", _positive_float,
            "seconds before the first retry of a CDN purge call; doubles each retry "
            "(a `Retry-After` up to 5 s is honoured)"),
    Setting("IMGORIGIN_AUTO_REDIRECT", "auto_redirect", "false", _bool,
            "for CDNs that cannot vary on Accept: answer `fmt_auto` with a 302 to the URL of "
            "the negotiated format (uncacheable at the edge), so each cached URL has one format"),
    Setting("IMGORIGIN_CLIENT_HINTS", "client_hints", "false", _bool,
            "honour the browser's `Sec-CH-DPR` for URLs with `w`/`h` and no `dpr`: rounded up to "
            "1, 1.5, 2, 3 or 4, answered with `Vary: Sec-CH-DPR` (the edge configurations reduce "
            "the header to the same steps); pages opt in with `Accept-CH` and delegate the hint "
            "to the image host"),
    Setting("IMGORIGIN_IMGPROXY_PREFIX", "imgproxy_prefix", "", _path_segment,
            "serve imgproxy URLs under this first path segment: `/PREFIX/{signature}/{options}/"
            "plain/{url}` (or base64 source), translated into this server's options, so pages "
            "built for imgproxy keep their URLs with a new base URL (docs/imgproxy.md)",
            "unset: off"),
    Setting("IMGORIGIN_IMGPROXY_KEYS", "imgproxy_keys", "", _csv,
            "imgproxy's `IMGPROXY_KEYS` (hex): when set, imgproxy URLs must carry imgproxy's "
            "signature; required when IMGORIGIN_SIGNING_KEYS is set", "unset"),
    Setting("IMGORIGIN_IMGPROXY_SALTS", "imgproxy_salts", "", _csv,
            "imgproxy's `IMGPROXY_SALTS` (hex), one per key", "unset"),
    Setting("IMGORIGIN_IMGPROXY_WATERMARK", "imgproxy_watermark", "", _path_segment,
            "which of IMGORIGIN_WATERMARKS imgproxy URLs' `watermark`/`wm` puts on (imgproxy's "
            "IMGPROXY_WATERMARK_PATH); unset: `wm` in an imgproxy URL is a 400", "unset"),
    Setting("IMGORIGIN_IMGPROXY_SKIP_PROCESSING_FORMATS", "imgproxy_skip_processing", "",
            _skip_formats,
            "imgproxy's `IMGPROXY_SKIP_PROCESSING_FORMATS`: comma-separated formats (jpg, png, "
            "webp, avif, gif; svg is accepted and ignored, as SVG sources are always rendered "
            "here) whose sources imgproxy URLs answer as stored when no other format is asked "
            "for, beside each URL's own `skip_processing`", "none"),
    Setting("IMGORIGIN_IMGPROXY_SIGNATURE_SIZE", "imgproxy_signature_size", "32",
            _int_from_to(1, 32), "imgproxy's `IMGPROXY_SIGNATURE_SIZE`: bytes of the HMAC kept"),
    Setting("IMGORIGIN_THUMBOR_PREFIX", "thumbor_prefix", "", _path_segment,
            "serve thumbor URLs under this first path segment: `/PREFIX/unsafe/300x200/smart/"
            "{image}` (or a signature for `unsafe`), translated into this server's options "
            "(docs/thumbor.md)", "unset: off"),
    Setting("IMGORIGIN_THUMBOR_KEYS", "thumbor_keys", "", _csv,
            "thumbor's `SECURITY_KEY` (more than one for rotation): when set, thumbor URLs must "
            "be signed (`unsafe/` is refused); required when IMGORIGIN_SIGNING_KEYS is set",
            "unset"),
    Setting("IMGORIGIN_IPX_PREFIX", "ipx_prefix", "", _path_segment,
            "serve ipx URLs (Nuxt Image's default provider) under this first path segment, "
            "e.g. `_ipx`: `/_ipx/w_300&f_webp/{image}`, translated into this server's options "
            "(docs/ipx.md); ipx URLs are unsigned, so not with IMGORIGIN_SIGNING_KEYS",
            "unset: off"),
    Setting("IMGORIGIN_CLOUDINARY_PREFIX", "cloudinary_prefix", "", _path_segment,
            "serve Cloudinary delivery URLs under this first path segment (the cloud name, so "
            "`res.cloudinary.com/demo/image/upload/...` becomes `/demo/image/upload/...` on this "
            "host), translated into this server's options (docs/cloudinary.md)",
            "unset: off"),
    Setting("IMGORIGIN_CLOUDINARY_SECRETS", "cloudinary_secrets", "", _csv,
            "the Cloudinary account's API secret (more than one for rotation): when set, "
            "Cloudinary URLs must carry Cloudinary's `s--…--` signature; required when "
            "IMGORIGIN_SIGNING_KEYS is set", "unset"),
    Setting("IMGORIGIN_IMGIX_PREFIX", "imgix_prefix", "", _path_segment,
            "serve imgix URLs under this first path segment: `/PREFIX/{image}?w=400&auto=format`"
            " (the image a key under the source, or an encoded absolute URL as imgix's Web "
            "Proxy takes it), translated into this server's options (docs/imgix.md); the edge "
            "must keep their query strings in its cache key (edge-config/README.md)",
            "unset: off"),
    Setting("IMGORIGIN_IMGIX_TOKENS", "imgix_tokens", "", _csv,
            "imgix's secure URL token (more than one for rotation): when set, imgix URLs must "
            "carry imgix's `s` signature; required when IMGORIGIN_SIGNING_KEYS is set", "unset"),
    Setting("IMGORIGIN_FETCH_TIMEOUT", "fetch_timeout", "15", _positive_float,
            "seconds a whole source fetch may take (504 past it)"),
    Setting("IMGORIGIN_CONNECT_TIMEOUT", "connect_timeout", "3", _positive_float,
            "seconds to connect to an HTTP source"),
    Setting("IMGORIGIN_MAX_REDIRECTS", "max_redirects", "3", _non_negative_int,
            "redirects followed for an HTTP source, each re-checked"),
    Setting("IMGORIGIN_REQUEST_TIMEOUT", "request_timeout", "30", _positive_float,
            "seconds a transform request may take from start to answer (fetch + queue + "
            "transform)"),
    Setting("IMGORIGIN_TRANSFORM_THREADS", "transform_threads", "1", _positive_int,
            "transforms run at once per worker (the thread pool size)"),
    Setting("IMGORIGIN_TRANSFORM_QUEUE", "transform_queue", "16", _non_negative_int,
            "transforms that may wait for a thread per worker before new misses get 503"),
    Setting("IMGORIGIN_MAX_QUEUE_WAIT", "max_queue_wait", "0.5", _non_negative_float,
            "estimated seconds of queued work a miss may wait behind (besides what is left of "
            "the running ones) before it gets 503 instead, so a slower machine does not make "
            "admitted misses wait longer (0: only the queue's length and the request timeout "
            "bound the wait)"),
    Setting("IMGORIGIN_QUEUE_BURST", "queue_burst", "4", _non_negative_int,
            "transforms per thread a young queue (work waiting for under a second) admits "
            "whatever `IMGORIGIN_MAX_QUEUE_WAIT` estimates, so the images of a page arriving "
            "together on a quiet server are made, not refused; a standing queue (overload) "
            "gets the wait bound alone (0: the bound from the first queued transform)"),
    Setting("IMGORIGIN_REFUSAL_HOLD", "refusal_hold", "1", _non_negative_float,
            "longest a 503/429 is held back on a connection whose client re-sent before the "
            "Retry-After it was given, so a client that ignores it gets about one refusal per "
            "Retry-After instead of one per event-loop turn (0: off)"),
    Setting("IMGORIGIN_HEADER_TIMEOUT", "header_timeout", "20", _positive_float,
            "seconds a connection may take to send a whole request head (from connecting, or "
            "from the first byte of a later request on it); past it a request cut short gets "
            "408 and the connection is closed (slowloris)"),
    Setting("IMGORIGIN_SEND_TIMEOUT", "send_timeout", "60", _positive_float,
            "seconds an answer may wait unread in a worker's write buffer (writing paused) "
            "before the connection is dropped, as nginx's send_timeout"),
    Setting("IMGORIGIN_KEEPALIVE_TIMEOUT", "keepalive_timeout", "75", _positive_int,
            "seconds an idle keep-alive connection stays open between requests; keep it above "
            "the idle timeout of whatever connects (a CDN, a load balancer), so that side always "
            "closes first and never sends a request on a connection this server is closing"),
    Setting("IMGORIGIN_REBALANCE_GAP", "rebalance_gap", "2", _non_negative_int,
            "a worker with this many more transforms admitted than its least busy sibling "
            "closes each keep-alive connection after its answer, so the client reconnects and "
            "the kernel hashes it afresh (0: off)"),
    Setting("IMGORIGIN_VIPS_CONCURRENCY", "vips_concurrency", "1", _positive_int,
            "libvips threads per transform (VIPS_CONCURRENCY)"),
    Setting("IMGORIGIN_JPEG_OPTIMIZE_CODING", "jpeg_optimize_coding", "true", _bool,
            "optimised Huffman tables for JPEG output: 2-3 % fewer bytes on every delivery for "
            "about 3.5 ms more encoder CPU per 800x600 JPEG; `false` where misses, not bytes, are "
            "the cost (variants are keyed apart, so hosts may differ)"),
    Setting("IMGORIGIN_WEBP_EFFORT", "webp_effort", "2", _int_from_to(0, 6),
            "WebP encoder effort (0-6): 4, the peers' default, writes about 7 % fewer bytes at "
            "equal SSIM for twice the encoder CPU (`make bench-effort`); keyed apart when not 2"),
    Setting("IMGORIGIN_AVIF_EFFORT", "avif_effort", "2", _int_from_to(0, 9),
            "AVIF encoder effort (0-9; imgproxy's speed 8 is effort 1): 1 writes about 4 % more "
            "bytes at equal SSIM for 0.64 of the CPU, 3 about 5 % fewer for twice it; keyed "
            "apart when not 2"),
    Setting("IMGORIGIN_VIPS_CACHE_MAX_MEM", "vips_cache_max_mem", "0", _non_negative_int,
            "bytes of libvips' operation cache per worker (0: off; every request has new "
            "input, so the cache only holds memory)"),
    Setting("IMGORIGIN_RATE_LIMIT", "rate_limit", "", _rate,
            "misses (and purges) a client may cause, e.g. `20/s` or `600/m`, checked with GCRA "
            "in Redis when IMGORIGIN_REDIS_URL is set, per worker otherwise; 429 past it",
            "unset: off"),
    Setting("IMGORIGIN_RATE_LIMIT_BURST", "rate_limit_burst", "0", _non_negative_int,
            "misses a client may cause at once before the rate applies (0: one second's worth)"),
    Setting("IMGORIGIN_RATE_LIMIT_KEY_HEADER", "rate_limit_key_header", "", str,
            "request header naming the client (an API key) for rate limits; without it, or "
            "when a request lacks it, the client address", "unset: client address"),
    Setting("IMGORIGIN_WORKER_MAX_TRANSFORMS", "worker_max_transforms", "10000",
            _non_negative_int,
            "transforms after which a worker is replaced (±50 % jitter) to return memory that "
            "libvips fragmented; 0 never. Hits do not count, so busy caches are not restarted"),
    Setting("IMGORIGIN_WORKER_MAX_RSS_BYTES", "worker_max_rss_bytes", "", _optional_bytes,
            "RSS past which a worker is replaced after its current transform, whatever made it "
            "grow; 0 never. Unset, it follows the caches: the in-process and originals caps "
            "plus 288 MiB", "unset: 384 MiB with the default caches"),
    Setting("IMGORIGIN_MALLOC_ARENA_MAX", "malloc_arena_max", "2", _non_negative_int,
            "glibc malloc arenas per worker (mallopt M_ARENA_MAX, set before the workers fork); "
            "fewer arenas fragment less under libvips' threads; 0 keeps glibc's default"),
    Setting("IMGORIGIN_MALLOC_MMAP_THRESHOLD", "malloc_mmap_threshold", "0", _non_negative_int,
            "bytes from which glibc serves an allocation with its own mmap, returned to the "
            "system on free (mallopt M_MMAP_THRESHOLD; fixes it instead of letting it rise to "
            "32 MiB); 0 keeps glibc's dynamic threshold"),
    Setting("IMGORIGIN_MALLOC_TRIM_SECONDS", "malloc_trim_seconds", "1", _non_negative_float,
            "at most this often, a transform thread calls glibc's malloc_trim after its "
            "transform, handing pages libvips freed inside the heap back to the system "
            "(like imgproxy's IMGPROXY_FREE_MEMORY_INTERVAL); 0 never"),
    Setting("IMGORIGIN_DRAIN_SECONDS", "drain_seconds", "0", _non_negative_float,
            "after SIGTERM, seconds a worker keeps serving with /-/readyz answering 503 so load "
            "balancers stop sending traffic, before it stops accepting; in-flight requests then "
            "finish"),
    Setting("IMGORIGIN_SVG", "svg_policy", "rasterize", _choice("rasterize", "refuse"),
            "`rasterize` SVG sources (never served as SVG) or `refuse` them with 415"),
    Setting("IMGORIGIN_LOG_LEVEL", "log_level", "info", str, "log level"),
    Setting("IMGORIGIN_ACCESS_LOG", "access_log", "misses",
            _choice("off", "errors", "misses", "all"),
            "which requests get a line on standard output: `errors` (status 400 or more, and "
            "fallback images), `misses` (errors, transforms, purges and warms), `all` (also "
            "cache hits and 304s), `off`; health probes and metric scrapes never"),
    Setting("IMGORIGIN_ACCESS_LOG_FORMAT", "access_log_format", "json", _choice("json", "text"),
            "access log lines as JSON objects or `text` (key=value pairs)"),
    Setting("IMGORIGIN_ENV_FILE", "env_file", "", str,
            "a file of NAME=value lines (systemd's EnvironmentFile format) applied over the "
            "environment at start and again on SIGHUP (`systemctl reload`), so settings change "
            "without a restart (new workers read them; `--port`, `--workers` and what the master "
            "sets up at start need one); a file that does not read or parse stops the start, "
            "and on a reload is logged and ignored", "unset"),
    Setting("IMGORIGIN_ENV_FILE_WATCH", "env_file_watch", "10", _non_negative_float,
            "seconds between two looks of the master at IMGORIGIN_ENV_FILE: when its bytes "
            "changed (a Kubernetes Secret or ConfigMap updated, the file edited) it reloads as "
            "on SIGHUP; 0: only on SIGHUP. Read at start"),
)


@dataclass(frozen=True)
class Settings:
    """The parsed settings; build with `Settings.from_env()` or `Settings.from_env(overrides)`."""

    source: str = ""
    s3_endpoint: str = ""
    s3_region: str = ""
    allowed_hosts: tuple[str, ...] = ()
    allow_private_networks: bool = False
    redis_url: str = ""
    redis_timeout: float = 0.05
    redis_ttl: int = 604800
    redis_lease_ttl: float = 5.0
    redis_breaker_failures: int = 3
    redis_breaker_cooldown: float = 1.0
    redis_purge_timeout: float = 5.0
    redis_max_connections: int = 64
    redis_prefix: str = "imgorigin"
    cache_dir: str = ""
    disk_cache: str = ""
    disk_cache_max_bytes: int = 2048 * MIB
    memory_cache_max_bytes: int = 64 * MIB
    originals_cache_max_bytes: int = 32 * MIB
    originals_ttl: float = 30.0
    shared_originals_max_bytes: int = 8 * MIB
    source_ttl: int = 300
    source_stale: int = 300
    not_found_ttl: int = 60
    fallback_image: str = ""
    fallback_status: str = "error"
    failure_ttl: int = 60
    purge_tokens: tuple[str, ...] = ()
    signing_keys: tuple[str, ...] = ()
    default_format: str = "original"
    presets: Mapping[str, str] = field(default_factory=dict)
    watermarks: Mapping[str, str] = field(default_factory=dict)
    presets_only: bool = False
    text_overlays: str = "signed"
    size_ladder: tuple[int, ...] = ()
    size_ladder_mode: str = "snap"
    max_source_bytes: int = 50 * MIB
    max_source_pixels: int = 100_000_000
    max_frames: int = 500
    max_dim: int = 8192
    browser_max_age: int = 86400
    cdn_max_age: int = 31536000
    s_maxage: str = ""
    stale_while_revalidate: int = 86400
    stale_if_error: int = 604800
    cdn_purgers: tuple[str, ...] = ()
    edge_urls_ttl: int = 604800
    fastly_api_token: str = ""
    cloudflare_api_token: str = ""
    fastly_api_url: str = "https://api.fastly.com"
    cloudflare_api_url: str = "https://api.cloudflare.com/client/v4"
    cloudfront_api_url: str = "https://cloudfront.amazonaws.com"
    cloudfront_option_segments: tuple[str, ...] = ()
    cloudfront_answered_paths: bool = False
    cdn_purge_attempts: int = 3
    cdn_purge_backoff: float = 0.2
    auto_redirect: bool = False
    client_hints: bool = False
    imgproxy_prefix: str = ""
    imgproxy_keys: tuple[str, ...] = ()
    imgproxy_salts: tuple[str, ...] = ()
    imgproxy_signature_size: int = 32
    imgproxy_watermark: str = ""
    imgproxy_skip_processing: tuple[str, ...] = ()
    thumbor_prefix: str = ""
    thumbor_keys: tuple[str, ...] = ()
    ipx_prefix: str = ""
    cloudinary_prefix: str = ""
    cloudinary_secrets: tuple[str, ...] = ()
    imgix_prefix: str = ""
    imgix_tokens: tuple[str, ...] = ()
    fetch_timeout: float = 15.0
    connect_timeout: float = 3.0
    max_redirects: int = 3
    request_timeout: float = 30.0
    transform_threads: int = 1
    transform_queue: int = 16
    max_queue_wait: float = 0.5
    queue_burst: int = 4
    refusal_hold: float = 1.0
    header_timeout: float = 20.0
    send_timeout: float = 60.0
    keepalive_timeout: int = 75
    rebalance_gap: int = 2
    vips_concurrency: int = 1
    vips_cache_max_mem: int = 0
    jpeg_optimize_coding: bool = True
    webp_effort: int = 2
    avif_effort: int = 2
    rate_limit: float = 0.0
    rate_limit_burst: int = 0
    rate_limit_key_header: str = ""
    worker_max_transforms: int = 10000
    worker_max_rss_bytes: int | None = None
    malloc_arena_max: int = 2
    malloc_mmap_threshold: int = 0
    malloc_trim_seconds: float = 1.0
    drain_seconds: float = 0.0
    svg_policy: str = "rasterize"
    log_level: str = "info"
    access_log: str = "misses"
    access_log_format: str = "json"
    env_file: str = ""
    env_file_watch: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every IMGORIGIN_* variable (from `env`, default os.environ), then overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for setting in SETTINGS_TABLE:
            raw = env.get(setting.env, setting.default)
            try:
                values[setting.attr] = setting.parse(raw)
            except ValueError as exc:
                raise SettingsError(f"{setting.env}: {exc}") from None
        values.update(overrides)
        if not values["source"]:
            values["source"] = str(BUNDLED_SAMPLES)
        if not values["cache_dir"]:
            values["cache_dir"] = _default_cache_dir()
        if values["source"].startswith("s3://"):
            values["s3_region"] = _check_s3(values["source"], values["s3_endpoint"],
                                            values["s3_region"], env)
        if values["disk_cache"] not in {"", "on", "off"}:
            raise SettingsError("IMGORIGIN_DISK_CACHE: expected 'on' or 'off'")
        if values["size_ladder"] and values["size_ladder"][-1] > values["max_dim"]:
            raise SettingsError("IMGORIGIN_SIZE_LADDER: steps must not exceed IMGORIGIN_MAX_DIM")
        for key in values["signing_keys"]:
            try:
                bytes.fromhex(key)
            except ValueError:
                raise SettingsError("IMGORIGIN_SIGNING_KEYS: keys must be hex") from None
        _check_dialects(values)
        return cls(**values)

    @property
    def worker_rss_cap(self) -> int:
        """IMGORIGIN_WORKER_MAX_RSS_BYTES, or when unset what the worker's caches may hold plus
        headroom for the interpreter, libvips, the transforms in flight and fragmentation."""
        if self.worker_max_rss_bytes is not None:
            return self.worker_max_rss_bytes
        return self.memory_cache_max_bytes + self.originals_cache_max_bytes + RSS_HEADROOM

    @property
    def source_base_url(self) -> str:
        """The HTTP base of an http(s):// or s3:// IMGORIGIN_SOURCE; "" for a directory."""
        if self.source.startswith(("http://", "https://")):
            return self.source
        if self.source.startswith("s3://"):
            from origin.sources import s3

            return s3.base_url(s3.parse_s3(self.source), endpoint=self.s3_endpoint,
                               region=self.s3_region)
        return ""

    @property
    def disk_cache_enabled(self) -> bool:
        """On by default in embedded mode, off by default when Redis is the shared tier."""
        if self.disk_cache:
            return self.disk_cache == "on"
        return not self.redis_url


def _check_dialects(values: Mapping[str, Any]) -> None:
    keys, salts = values["imgproxy_keys"], values["imgproxy_salts"]
    if len(keys) != len(salts):
        raise SettingsError("IMGORIGIN_IMGPROXY_KEYS and IMGORIGIN_IMGPROXY_SALTS: one salt per "
                            "key")
    for value in (*keys, *salts):
        try:
            bytes.fromhex(value)
        except ValueError:
            raise SettingsError("IMGORIGIN_IMGPROXY_KEYS/SALTS: keys and salts must be "
                                "hex") from None
    # Otherwise a dialect would be an unsigned way around the signed native URLs.
    if values["imgproxy_prefix"] and values["signing_keys"] and not keys:
        raise SettingsError("IMGORIGIN_IMGPROXY_PREFIX: with IMGORIGIN_SIGNING_KEYS set, "
                            "imgproxy URLs must be signed too: set IMGORIGIN_IMGPROXY_KEYS and "
                            "IMGORIGIN_IMGPROXY_SALTS")
    if values["thumbor_prefix"] and values["signing_keys"] and not values["thumbor_keys"]:
        raise SettingsError("IMGORIGIN_THUMBOR_PREFIX: with IMGORIGIN_SIGNING_KEYS set, "
                            "thumbor URLs must be signed too: set IMGORIGIN_THUMBOR_KEYS")
    if values["ipx_prefix"] and values["signing_keys"]:
        raise SettingsError("IMGORIGIN_IPX_PREFIX: ipx URLs cannot be signed, and "
                            "IMGORIGIN_SIGNING_KEYS asks for signed URLs only")
    mark = values["imgproxy_watermark"]
    if mark and mark not in values["watermarks"]:
        raise SettingsError(f"IMGORIGIN_IMGPROXY_WATERMARK: '{mark}' is not one of "
                            "IMGORIGIN_WATERMARKS")
    if values["cloudinary_prefix"] and values["signing_keys"] and not values[
            "cloudinary_secrets"]:
        raise SettingsError("IMGORIGIN_CLOUDINARY_PREFIX: with IMGORIGIN_SIGNING_KEYS set, "
                            "Cloudinary URLs must be signed too: set "
                            "IMGORIGIN_CLOUDINARY_SECRETS")
    if values["imgix_prefix"] and values["signing_keys"] and not values["imgix_tokens"]:
        raise SettingsError("IMGORIGIN_IMGIX_PREFIX: with IMGORIGIN_SIGNING_KEYS set, imgix "
                            "URLs must be signed too: set IMGORIGIN_IMGIX_TOKENS")
    prefixes = [values[k] for k in ("imgproxy_prefix", "thumbor_prefix", "ipx_prefix",
                                    "cloudinary_prefix", "imgix_prefix") if values[k]]
    if len(set(prefixes)) != len(prefixes):
        raise SettingsError("IMGORIGIN_IMGPROXY_PREFIX, IMGORIGIN_THUMBOR_PREFIX, "
                            "IMGORIGIN_IPX_PREFIX, IMGORIGIN_CLOUDINARY_PREFIX and "
                            "IMGORIGIN_IMGIX_PREFIX must differ")


def _check_s3(source: str, endpoint: str, region: str, env: Mapping[str, str]) -> str:
    """Check an s3:// source's settings; returns the signing region."""
    from origin.sources import s3

    try:
        s3.parse_s3(source)
    except ValueError as exc:
        raise SettingsError(f"IMGORIGIN_SOURCE: {exc}") from None
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise SettingsError("IMGORIGIN_S3_ENDPOINT: expected an http:// or https:// URL")
    try:
        import botocore  # noqa: F401 - signs each request to the bucket
    except ImportError:
        raise SettingsError("IMGORIGIN_SOURCE: s3:// sources need botocore: "
                            "pip install 'imgorigin[s3]'") from None
    return s3.region_of(region, env)


def unknown_names(env: Mapping[str, str] | None = None) -> list[str]:
    """The IMGORIGIN_* names in `env` (os.environ) that are no setting, each with the setting
    it most likely meant: a typo would otherwise leave its default in place without a word."""
    env = os.environ if env is None else env
    known = [s.env for s in SETTINGS_TABLE]
    notes = []
    for name in sorted(n for n in env if n.startswith("IMGORIGIN_") and n not in known):
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        notes.append(f"{name} is not a setting" + (f" (did you mean {close[0]}?)" if close
                                                   else "") + "; it is ignored")
    return notes


def settings_markdown() -> str:
    """The configuration table as Markdown, for the README and `imgorigin config`."""
    rows = ["| variable | meaning | default |", "|---|---|---|"]
    for s in SETTINGS_TABLE:
        default = s.default_doc or (f"`{s.default}`" if s.default else "unset")
        rows.append(f"| `{s.env}` | {s.help} | {default} |")
    return "\n".join(rows)


assert {s.attr for s in SETTINGS_TABLE} == {f.name for f in fields(Settings)}
