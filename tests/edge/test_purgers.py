"""The Fastly, Cloudflare and CloudFront purgers against a local server that records requests:
method, path, headers and body must be what each provider's API reference documents."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cache.edge_urls import DiskUrlStore, EdgeUrl, EdgeUrls, RecordUnavailable, by_tag
from cache.keys import watermark_tag
from cache.purgers import CdnPurgeResult, from_settings, needs_edge_urls
from cache.purgers._http import _delay
from cache.purgers.cloudfront import invalidation_paths
from cache.purgers.nginx import requests_for
from cache.purgers.varnish import _purged_objects
from origin.settings import Settings
from tests.edge import sigv4
from tests.edge.recorder import Recorder, Reply

TAGS = ["s-0123456789abcdef0123", "d-89abcdef0123456789ab"]
SOURCES = ["products/shoe.jpg"]
CF_NS = "{http://cloudfront.amazonaws.com/doc/2020-05-31/}"


@pytest.fixture(scope="module")
def api() -> Iterator[Recorder]:
    with Recorder() as server:
        yield server


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Credentials from the environment, the first link of the standard chain; nothing else
    (no ~/.aws files, no instance metadata) may be consulted."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def settings(api: Recorder, purgers: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        cdn_purgers=tuple(purgers.split(",")),
        fastly_api_token="fastly-token",
        cloudflare_api_token="cf-token",
        fastly_api_url=api.base,
        cloudflare_api_url=api.base + "/client/v4",
        cloudfront_api_url=api.base,
        cdn_purge_backoff=0.01,
    )
    values.update(overrides)
    return Settings.from_env({}, **values)


def run_purge(s: Settings, tags: list[str], sources: list[str], *,
              soft: bool = False) -> CdnPurgeResult:
    async def go() -> CdnPurgeResult:
        async with httpx.AsyncClient() as client:
            (purger,) = from_settings(s, client)
            return await purger.purge(tags, sources, soft=soft)

    return asyncio.run(go())


def fastly_ok(req: Any) -> Reply:
    return Reply.json(200, {k: f"id-{k}" for k in req.json()["surrogate_keys"]})


# --- Fastly -------------------------------------------------------------------------------


@pytest.mark.parametrize("soft", [False, True])
def test_fastly_batch_purge_request_is_the_documented_one(api: Recorder, soft: bool) -> None:
    api.reset(fastly_ok)
    result = run_purge(settings(api, "fastly:SVC123"), TAGS, SOURCES, soft=soft)
    assert result.ok and result.purged_tags == 2 and result.name == "fastly:SVC123"
    assert result.soft is soft
    (req,) = api.requests
    assert req.method == "POST"
    assert req.path == "/service/SVC123/purge"
    assert req.headers["fastly-key"] == "fastly-token"
    assert req.headers["accept"] == "application/json"
    assert req.headers["content-type"] == "application/json"
    # Hard by default, so replaced images never reappear; soft only when asked.
    assert req.headers.get("fastly-soft-purge") == ("1" if soft else None)
    assert req.json() == {"surrogate_keys": TAGS}


def test_fastly_batches_256_keys_and_reports_partial_failure(api: Recorder) -> None:
    tags = [f"s-{i:020x}" for i in range(300)]
    calls = 0

    def respond(req: Any) -> Reply:
        nonlocal calls
        calls += 1
        return fastly_ok(req) if calls == 1 else Reply(503, b"upstream busy")

    api.reset(respond)
    result = run_purge(settings(api, "fastly:SVC", cdn_purge_attempts=3), tags, [])
    assert [len(r.json()["surrogate_keys"]) for r in api.requests] == [256, 44, 44, 44]
    assert not result.ok
    assert result.purged_tags == 256
    assert result.detail["not_purged"] == tags[256:]
    assert result.detail["batches"][1] == {"items": 44, "status": 503, "attempts": 3,
                                           "error": "HTTP 503: upstream busy"}
    assert "1 of 2 purge call(s) failed; 44 item(s) not purged" in result.error


def test_fastly_retries_429_honouring_retry_after(api: Recorder) -> None:
    api.script(Reply.json(429, {"msg": "slow down"}, **{"Retry-After": "0"}),
               Reply.json(200, {t: "x" for t in TAGS}))
    result = run_purge(settings(api, "fastly:SVC"), TAGS, SOURCES)
    assert result.ok and len(api.requests) == 2
    assert result.detail["batches"][0]["attempts"] == 2


def test_fastly_unacknowledged_key_is_a_failure(api: Recorder) -> None:
    api.script(Reply.json(200, {TAGS[0]: "x"}))
    result = run_purge(settings(api, "fastly:SVC", cdn_purge_attempts=1), TAGS, SOURCES)
    assert not result.ok and TAGS[1] in result.error


# --- Cloudflare ---------------------------------------------------------------------------


def cf_ok(req: Any) -> Reply:
    return Reply.json(200, {"success": True, "errors": [], "messages": [],
                            "result": {"id": "purge-1"}})


def test_cloudflare_purge_by_tag_request_is_the_documented_one(api: Recorder) -> None:
    api.reset(cf_ok)
    result = run_purge(settings(api, "cloudflare:ZONE9"), TAGS, SOURCES)
    assert result.ok and result.purged_tags == 2 and result.name == "cloudflare:ZONE9"
    (req,) = api.requests
    assert req.method == "POST"
    assert req.path == "/client/v4/zones/ZONE9/purge_cache"
    assert req.headers["authorization"] == "Bearer cf-token"
    assert req.headers["content-type"] == "application/json"
    assert req.json() == {"tags": TAGS}
    assert result.detail["batches"][0]["id"] == "purge-1"


@pytest.mark.parametrize("cdn", ["cloudflare:ZONE9", "cloudfront:EDFDVBD6EXAMPLE"])
def test_cdns_without_soft_purge_purge_hard_and_say_so(api: Recorder, cdn: str) -> None:
    """Cloudflare's tag purge and CloudFront's invalidation have no soft mode: a soft purge
    sends the same request as a hard one and reports soft=False."""
    s = settings(api, cdn, cloudfront_option_segments=("w_400,fmt_webp",))
    sent = []
    for soft in (False, True):
        api.reset(cf_ok if cdn.startswith("cloudflare") else cloudfront_created)
        result = run_purge(s, TAGS, SOURCES, soft=soft)
        assert result.ok and result.soft is False
        (req,) = api.requests
        body = req.body if cdn.startswith("cloudflare") else parse_batch(req.body)[1]
        sent.append((req.method, req.path, body,
                     {k: v for k, v in req.headers.items()
                      if k not in ("authorization", "x-amz-date", "x-amz-content-sha256",
                                  "content-length")}))
    assert sent[0] == sent[1]


def test_cloudflare_sends_at_most_100_tags_per_call(api: Recorder) -> None:
    api.reset(cf_ok)
    tags = [f"s-{i:020x}" for i in range(250)]
    result = run_purge(settings(api, "cloudflare:Z"), tags, [])
    assert result.ok and result.purged_tags == 250
    assert [len(r.json()["tags"]) for r in api.requests] == [100, 100, 50]
    assert [t for r in api.requests for t in r.json()["tags"]] == tags


def test_cloudflare_api_error_is_reported_not_retried(api: Recorder) -> None:
    api.script(Reply.json(400, {"success": False, "messages": [], "result": None,
                                "errors": [{"code": 1134, "message": "Invalid tag"}]}))
    result = run_purge(settings(api, "cloudflare:Z"), TAGS, SOURCES)
    assert len(api.requests) == 1
    assert not result.ok and result.purged_tags == 0
    assert "HTTP 400: 1134: Invalid tag" in result.error


def test_cloudflare_5xx_retried_then_succeeds(api: Recorder) -> None:
    api.script(Reply(502, b"bad gateway"), Reply(500, b""), cf_ok(None))
    result = run_purge(settings(api, "cloudflare:Z", cdn_purge_attempts=3), TAGS, SOURCES)
    assert result.ok and len(api.requests) == 3


# --- CloudFront ---------------------------------------------------------------------------


def cloudfront_created(req: Any) -> Reply:
    return Reply(201, (
        b'<?xml version="1.0"?><Invalidation xmlns="http://cloudfront.amazonaws.com/doc/'
        b'2020-05-31/"><Id>I2J0I21PCUYOIK</Id><Status>InProgress</Status></Invalidation>'
    ), {"Content-Type": "text/xml",
                 "Location": "https://cloudfront.amazonaws.com/2020-05-31/distribution/"
                             "EDFDVBD6EXAMPLE/invalidation/I2J0I21PCUYOIK"})


def parse_batch(body: bytes) -> tuple[str, list[str]]:
    root = ET.fromstring(body)
    assert root.tag == CF_NS + "InvalidationBatch"
    ref = root.findtext(CF_NS + "CallerReference") or ""
    paths = [p.text or "" for p in root.iter(CF_NS + "Path")]
    assert int(root.findtext(f"{CF_NS}Paths/{CF_NS}Quantity") or -1) == len(paths)
    return ref, paths


def test_cloudfront_invalidation_is_signed_and_documented(api: Recorder) -> None:
    api.reset(cloudfront_created)
    s = settings(api, "cloudfront:EDFDVBD6EXAMPLE",
                 cloudfront_option_segments=("w_400,fmt_webp", "w_800,fmt_webp"))
    result = run_purge(s, TAGS[:1], SOURCES)
    assert result.ok and result.name == "cloudfront:EDFDVBD6EXAMPLE"
    (req,) = api.requests
    assert req.method == "POST"
    assert req.path == "/2020-05-31/distribution/EDFDVBD6EXAMPLE/invalidation"
    assert req.headers["content-type"] == "text/xml"
    assert req.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    ref, paths = parse_batch(req.body)
    assert ref.startswith("imgorigin-")
    assert paths == ["/w_400,fmt_webp/products/shoe.jpg", "/w_800,fmt_webp/products/shoe.jpg"]
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    assert sigv4.verify(req, secret, "us-east-1", "cloudfront") == "AKIDEXAMPLE"
    assert result.detail["batches"][0]["id"] == "I2J0I21PCUYOIK"


@pytest.mark.parametrize("prefix", ["imgproxy_prefix", "thumbor_prefix", "ipx_prefix",
                                    "cloudinary_prefix", "imgix_prefix"])
def test_cloudfront_option_segments_do_not_name_dialect_urls(api: Recorder, prefix: str) -> None:
    """Another server's URLs are not `/{segment}/{source}`: the whole distribution goes."""
    api.reset(cloudfront_created)
    s = settings(api, "cloudfront:DIST", cloudfront_option_segments=("w_400,fmt_webp",),
                 **{prefix: "legacy"})
    assert run_purge(s, TAGS[:1], SOURCES).ok
    (req,) = api.requests
    assert parse_batch(req.body)[1] == ["/*"]


def test_cloudfront_retry_reuses_the_caller_reference(api: Recorder) -> None:
    api.script(Reply(503, b"<ErrorResponse/>"), cloudfront_created(None))
    result = run_purge(settings(api, "cloudfront:DIST"), TAGS[:1], SOURCES)
    assert result.ok and len(api.requests) == 2
    # The same reference makes CloudFront treat a repeated call as the same invalidation.
    assert parse_batch(api.requests[0].body) == parse_batch(api.requests[1].body)


def test_cloudfront_without_credentials_reports_failure(
        api: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    api.reset(cloudfront_created)
    result = run_purge(settings(api, "cloudfront:DIST"), TAGS[:1], SOURCES)
    assert not result.ok and "no AWS credentials" in result.error
    assert api.requests == []


@pytest.mark.parametrize(("tags", "sources", "segments", "signed", "expected"), [
    # CloudFront takes `*` only at the end of a path: no segment list -> whole distribution.
    (["s-1"], ["a.jpg"], (), False, ["/*"]),
    (["s-1"], ["dir/a b.jpg"], ("w_1",), False, ["/w_1/dir/a%20b.jpg"]),
    (["s-1", "d-2"], ["dir/a.jpg"], ("w_1",), False, ["/*"]),  # a directory purge
    (["s-1"], ["a.jpg"], ("w_1",), True, ["/*"]),  # signed URLs start with the signature
    (["s-1"], ["https://x.test/a.jpg"], ("w_1",), False, ["/*"]),
    ([], [], ("w_1",), False, []),
])
def test_cloudfront_invalidation_paths(tags: list[str], sources: list[str],
                                       segments: tuple[str, ...], signed: bool,
                                       expected: list[str]) -> None:
    assert invalidation_paths(tags, sources, segments, signed) == expected


@pytest.mark.parametrize(("tags", "segments", "answered", "expected"), [
    # The answered paths, as sent (already percent-encoded); raw non-ASCII bytes and `*`
    # encoded, since CloudFront reads `*` as a wildcard.
    (["s-1"], (), ["/w_1/a%20b.jpg", "/sig/w_2/a.jpg", "/w_3/\xc3\xa9*.jpg"],
     ["/sig/w_2/a.jpg", "/w_1/a%20b.jpg", "/w_3/%C3%A9%2A.jpg"]),
    # With segments too: URLs CloudFront took before the origin recorded them.
    (["s-1"], ("w_9",), ["/w_1/dir/a.jpg"], ["/w_1/dir/a.jpg", "/w_9/dir/a.jpg"]),
    (["s-1"], (), [], []),  # nothing answered, nothing held
    # A directory purge: the record indexes the directory's sources, so it is exact too.
    (["s-1", "d-2"], (), ["/w_1/dir/a.jpg"], ["/w_1/dir/a.jpg"]),
    (["s-1"], (), [f"/w_{i}/dir/a.jpg" for i in range(1001)], ["/*"]),  # too many to list
    # imgix URLs (options in the query): every query of the path, whatever its order.
    (["s-1"], (), ["/imgix/dir/a.jpg?w=1&fm=png", "/imgix/dir/a.jpg?fm=png&w=1",
                   "/imgix/dir/a%20b.jpg?w=2"],
     ["/imgix/dir/a%20b.jpg*", "/imgix/dir/a.jpg*"]),
])
def test_cloudfront_invalidation_paths_answered(tags: list[str], segments: tuple[str, ...],
                                                answered: list[str],
                                                expected: list[str]) -> None:
    assert invalidation_paths(tags, ["dir/a.jpg"], segments, False, answered) == expected


def test_cloudfront_invalidates_the_answered_paths_and_keeps_them_when_it_fails(
        api: Recorder, tmp_path: Path) -> None:
    """The request CloudFront gets names the recorded paths, signed ones included; a refused
    invalidation leaves them recorded for the next purge, a created one takes them."""
    s = settings(api, "cloudfront:DIST", cloudfront_answered_paths=True,
                 signing_keys=("00ff",))
    paths = ["/SIG1/w_400,fmt_webp/products/shoe.jpg", "/SIG2/w_800/products/shoe.jpg"]

    async def go() -> list[CdnPurgeResult]:
        urls = EdgeUrls(DiskUrlStore(str(tmp_path), ttl=3600))
        for path in paths:
            urls.record("products/shoe.jpg", path, False)
        results = []
        async with httpx.AsyncClient() as client:
            (purger,) = from_settings(s, client, urls)
            for _ in range(3):
                results.append(await purger.purge(TAGS[:1], SOURCES))
        return results

    api.script(Reply(400, b"<ErrorResponse><Error><Code>InvalidArgument</Code></Error>"
                          b"</ErrorResponse>"), cloudfront_created(None))
    refused, created, empty = asyncio.run(go())
    assert not refused.ok and created.ok and empty.ok
    first, second = api.requests  # the third purge had nothing to invalidate: no call
    for req in (first, second):
        assert req.path == "/2020-05-31/distribution/DIST/invalidation"
        assert parse_batch(req.body)[1] == paths
        assert sigv4.verify(req, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1",
                            "cloudfront") == "AKIDEXAMPLE"
    assert empty.detail == {"batches": []}


# --- configuration ------------------------------------------------------------------------


def test_purgers_from_settings_validate_at_startup(api: Recorder) -> None:
    async def build(s: Settings) -> list[str]:
        async with httpx.AsyncClient() as client:
            return [p.name for p in from_settings(s, client)]

    s = settings(api, "varnish:http://127.0.0.1:6081,fastly:F,cloudflare:C,cloudfront:D")
    assert asyncio.run(build(s)) == ["varnish:http://127.0.0.1:6081", "fastly:F",
                                     "cloudflare:C", "cloudfront:D"]
    for bad, message in [("akamai:x", "unknown CDN purger"), ("varnish:localhost", "http://"),
                         ("fastly:F", "IMGORIGIN_FASTLY_API_TOKEN"),
                         ("nginx:localhost:8082", "purge server"),
                         ("nginx:http://127.0.0.1:8082", "record of answered paths")]:
        with pytest.raises(ValueError, match=message):
            asyncio.run(build(settings(api, bad, fastly_api_token="")))


def test_nginx_purger_is_built_with_the_record_of_answered_paths(tmp_path: Path) -> None:
    async def build() -> list[str]:
        urls = EdgeUrls(DiskUrlStore(str(tmp_path), ttl=3600))
        async with httpx.AsyncClient() as client:
            return [p.name for p in from_settings(s, client, urls)]

    s = Settings.from_env({}, cdn_purgers=("nginx:http://127.0.0.1:8082/", "varnish:http://v"))
    assert needs_edge_urls(s) and not needs_edge_urls(Settings.from_env({}))
    assert asyncio.run(build()) == ["nginx:http://127.0.0.1:8082", "varnish:http://v"]


def test_cloudfront_invalidates_the_paths_a_watermark_was_answered_under(
        api: Recorder, tmp_path: Path) -> None:
    """A watermark purge names no source: the paths filed under the watermark's tag are the
    invalidation (not `/*`)."""
    api.reset(cloudfront_created)
    s = settings(api, "cloudfront:DIST", cloudfront_answered_paths=True)
    tag = watermark_tag("logo")

    async def go() -> CdnPurgeResult:
        urls = EdgeUrls(DiskUrlStore(str(tmp_path), ttl=3600))
        urls.record(by_tag(tag), "/w_400,wm_logo/products/shoe.jpg", False)
        urls.record("products/shoe.jpg", "/w_400/products/shoe.jpg", False)
        async with httpx.AsyncClient() as client:
            (purger,) = from_settings(s, client, urls)
            return await purger.purge([tag], [])

    assert asyncio.run(go()).ok
    (req,) = api.requests
    assert parse_batch(req.body)[1] == ["/w_400,wm_logo/products/shoe.jpg"]


class _Unreadable:
    async def add(self, entries: Any) -> None:
        return None

    async def take(self, sources: Any) -> dict[str, set[str]]:
        raise RecordUnavailable("Redis did not answer for the record of answered paths")


def test_purgers_that_cannot_read_the_record_say_so_or_purge_everything(api: Recorder) -> None:
    """nginx: a failed purge naming the cause (it cannot tell which objects to name); CloudFront:
    what it does without the record, here `/*`."""
    api.reset(cloudfront_created)

    async def go(purgers: str, **overrides: Any) -> CdnPurgeResult:
        s = settings(api, purgers, **overrides)
        async with httpx.AsyncClient() as client:
            (purger,) = from_settings(s, client, EdgeUrls(_Unreadable()))
            return await purger.purge(TAGS[:1], SOURCES)

    nginx = asyncio.run(go("nginx:http://127.0.0.1:1"))
    assert not nginx.ok and "Redis did not answer" in nginx.error
    cloudfront = asyncio.run(go("cloudfront:DIST", cloudfront_answered_paths=True))
    assert cloudfront.ok
    (req,) = api.requests
    assert parse_batch(req.body)[1] == ["/*"]


@pytest.mark.parametrize(("url", "expected"), [
    (EdgeUrl("/w_10/a.jpg", hinted=False),
     [{"Accept": "image/avif"}, {"Accept": "image/webp"}, {"Accept": "*/*"}]),
    (EdgeUrl("/w_10/a.jpg", hinted=True),
     [{"Accept": a, "Sec-CH-DPR": d} for a in ("image/avif", "image/webp", "*/*")
      for d in ("1", "1.5", "2", "3", "4")]),
])
def test_nginx_purger_names_every_key_nginx_may_hold(url: EdgeUrl,
                                                     expected: list[dict[str, str]]) -> None:
    assert requests_for(url) == expected


def test_numbers_in_cdn_answers_are_read_as_ascii_digits_only() -> None:
    """A `Retry-After` or `X-Purged` of '²' (a digit to str.isdigit(), not to int()) is no
    number: the backoff and a count of 0, not a crash in the middle of a purge."""
    # As raw bytes, as they come off the wire (httpx reads them as Latin-1 past ASCII).
    odd = httpx.Response(429, headers=[(b"Retry-After", b"\xb2"), (b"X-Purged", b"\xb2")])
    assert odd.headers["retry-after"] == "²"
    assert 0.08 <= _delay(1, 0.1, odd) <= 0.12  # the exponential backoff, jittered
    assert _purged_objects(odd) == 0
    assert _delay(1, 0.1, httpx.Response(429, headers={"Retry-After": "3"})) == 3.0
