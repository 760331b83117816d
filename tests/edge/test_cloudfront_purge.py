"""CloudFront purges of the paths a real origin answered (IMGORIGIN_CLOUDFRONT_ANSWERED_PATHS),
against the recorder standing in for CloudFront's API: the invalidation names exactly the URLs
the origin served for the purged source, signed ones included, and the record is kept in Redis
as long as the origin's headers let CloudFront keep an answer."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest
import redis

from cache.redis_keys import KeyLayout
from origin.security.signing import sign
from tests.edge.recorder import Recorder, Reply
from tests.support.origin import REPO, OriginProcess
from tests.support.redis_server import RedisProcess

CF_NS = "{http://cloudfront.amazonaws.com/doc/2020-05-31/}"
TOKEN = "cf-purge-token"
KEY = "00112233445566778899aabbccddeeff"


@pytest.fixture(scope="module")
def api() -> Iterator[Recorder]:
    with Recorder() as server:
        yield server


def created(_req: object) -> Reply:
    return Reply(201, b'<?xml version="1.0"?><Invalidation xmlns="http://cloudfront.amazonaws.com'
                      b'/doc/2020-05-31/"><Id>I1</Id><Status>InProgress</Status></Invalidation>',
                 {"Content-Type": "text/xml"})


def sign_path(path: str, key: str) -> str:
    return "/" + sign(path, key) + path


def origin_env(api: Recorder, redis_server: RedisProcess, prefix: str) -> dict[str, str]:
    """An origin on the samples that records answered paths in Redis (keys under `prefix`) and
    purges CloudFront through the recorder, signing its URLs."""
    return {"IMGORIGIN_SOURCE": str(REPO / "samples"), "IMGORIGIN_PURGE_TOKENS": TOKEN,
            "IMGORIGIN_REDIS_URL": redis_server.url, "IMGORIGIN_REDIS_PREFIX": prefix,
            "IMGORIGIN_CDN_PURGERS": "cloudfront:EDIST", "IMGORIGIN_CLOUDFRONT_API_URL": api.base,
            "IMGORIGIN_CLOUDFRONT_ANSWERED_PATHS": "true", "IMGORIGIN_SIGNING_KEYS": KEY,
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "AWS_EC2_METADATA_DISABLED": "true"}


def invalidated(api: Recorder) -> list[list[str]]:
    return [[p.text or "" for p in ET.fromstring(r.body).iter(CF_NS + "Path")]
            for r in api.requests]


def test_r14_cloudfront_invalidates_exactly_what_the_origin_answered(
        api: Recorder, redis_server: RedisProcess) -> None:
    api.reset(created)
    with OriginProcess(origin_env(api, redis_server, "imgorigin"), workers=2) as origin:
        signed = [sign_path(f"/{segment}/products/shoe.jpg", KEY)
                  for segment in ("w_300,fmt_webp", "w_500,fmt_auto")]
        for path in [*signed, sign_path("/w_300,fmt_webp/landscape.jpg", KEY)]:
            for _ in range(2):  # twice: listed once
                assert httpx.get(origin.url(path), timeout=30).status_code == 200
        r = httpx.get(origin.url("/w_1,fmt_webp/products/shoe.jpg"), timeout=30)
        assert r.status_code == 403  # unsigned: refused, so never at CloudFront, not listed
        client = redis.Redis(port=redis_server.port)
        try:
            assert len(client.keys("*:edge")) == 2  # one record per source
            key = KeyLayout("imgorigin").source("products/shoe.jpg").edge_urls
            # 1 day fresh + 7 days stale-if-error, the origin's defaults: CloudFront may keep
            # an answer that long without asking, so the record lasts at least as long.
            assert 691_100_000 < client.pttl(key) <= 691_200_000
        finally:
            client.close()

        purged = httpx.post(origin.url("/-/purge"), json={"sources": ["products/shoe.jpg"]},
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert purged.status_code == 200, purged.text
        (cdn,) = purged.json()["cdn"]
        assert cdn["ok"], cdn
        assert invalidated(api) == [sorted(signed)]
        # Taken: a second purge of the source has nothing left at CloudFront to name.
        httpx.post(origin.url("/-/purge"), json={"sources": ["products/shoe.jpg"]},
                   headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert len(api.requests) == 1


def test_r14_cloudfront_directory_purge_invalidates_the_paths_answered_under_it(
        api: Recorder, redis_server: RedisProcess) -> None:
    """The record indexes each directory's sources, so a directory purge names their answered
    paths (signed too) rather than `/*`, and nothing of the sources outside it."""
    api.reset(created)
    with OriginProcess(origin_env(api, redis_server, "cfdir"), workers=2) as origin:
        inside = sign_path("/w_310,fmt_webp/products/shoe.jpg", KEY)
        outside = sign_path("/w_310,fmt_webp/landscape.jpg", KEY)
        for path in (inside, outside):
            assert httpx.get(origin.url(path), timeout=30).status_code == 200

        def purge(**body: list[str]) -> None:
            r = httpx.post(origin.url("/-/purge"), json=body, timeout=30,
                           headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200 and r.json()["cdn"][0]["ok"], r.text

        purge(prefixes=["products/"])
        assert invalidated(api) == [[inside]]
        purge(sources=["landscape.jpg"])
        assert invalidated(api)[1:] == [[outside]]
