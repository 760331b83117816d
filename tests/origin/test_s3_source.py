"""An S3 bucket as the default source, against a real S3 endpoint on loopback (moto's server)
that checks every request's SigV4 signature; signing stays with the bucket's host."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import pyvips

from origin.security.netguard import NetworkGuard
from origin.settings import Settings, SettingsError
from origin.sources.http import HttpSource, make_client
from origin.sources.s3 import S3Auth
from tests.support.origin import OriginProcess
from tests.support.s3_server import REGION, S3Server, isolated_aws_env

BUCKET = "imgs"
ODD_KEY = "with space/été+1.jpg"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def bucket(s3: S3Server, samples_dir: Path) -> str:
    client = s3.s3()
    client.create_bucket(Bucket=BUCKET,
                         CreateBucketConfiguration={"LocationConstraint": REGION})
    shoe = (samples_dir / "products" / "shoe.jpg").read_bytes()
    for key, body in (("site/products/shoe.jpg", shoe),
                      ("site/logo.png", (samples_dir / "logo.png").read_bytes()),
                      (f"site/{ODD_KEY}", shoe),
                      ("outside.jpg", shoe)):
        client.put_object(Bucket=BUCKET, Key=key, Body=body)
    return BUCKET


@pytest.fixture(scope="module")
def s3_origin(s3: S3Server, bucket: str) -> Iterator[OriginProcess]:
    env = {**s3.origin_env(f"s3://{bucket}/site/"),
           # Revalidate every request, in the request: a replaced object shows at once.
           "IMGORIGIN_SOURCE_TTL": "0", "IMGORIGIN_SOURCE_STALE": "0"}
    with OriginProcess(env) as server:
        yield server


def width_of(body: bytes) -> int:
    return pyvips.Image.new_from_buffer(body, "").width


def test_s3_object_is_fetched_signed_and_transformed(s3_origin: OriginProcess) -> None:
    r = httpx.get(s3_origin.url("/w_120,fmt_webp/products/shoe.jpg"), timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/webp"
    assert width_of(r.content) == 120
    png = httpx.get(s3_origin.url("/w_40/logo.png"), timeout=30)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert s3_origin.metric("imgorigin_source_bytes_total") > 0


def test_s3_key_with_spaces_and_unicode_is_signed_as_sent(s3_origin: OriginProcess) -> None:
    # The signature covers the encoded path: one encoding mistake and S3 answers 403.
    r = httpx.get(s3_origin.url("/w_60/" + quote(ODD_KEY)), timeout=30)
    assert r.status_code == 200, r.text
    assert width_of(r.content) == 60


def test_s3_prefix_confines_keys(s3_origin: OriginProcess) -> None:
    # `outside.jpg` exists at the bucket's root, not under the configured prefix.
    r = httpx.get(s3_origin.url("/w_50/outside.jpg"), timeout=30)
    assert r.status_code == 404
    assert r.json()["error"]
    missing = httpx.get(s3_origin.url("/w_50/products/absent.jpg"), timeout=30)
    assert missing.status_code == 404
    assert missing.headers["cache-control"] == "public, max-age=60"


def test_s3_replaced_object_gives_new_variant(
    s3_origin: OriginProcess, s3: S3Server, bucket: str, samples_dir: Path
) -> None:
    client = s3.s3()
    key = "site/swap.jpg"
    client.put_object(Bucket=bucket, Key=key,
                      Body=(samples_dir / "products" / "shoe.jpg").read_bytes())
    first = httpx.get(s3_origin.url("/w_50/swap.jpg"), timeout=30)
    again = httpx.get(s3_origin.url("/w_50/swap.jpg"), timeout=30)
    assert first.status_code == again.status_code == 200
    # Unchanged: the revalidation (IMGORIGIN_SOURCE_TTL=0) got a 304, so the variant is a hit.
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["server-timing"].startswith("memory")
    client.put_object(Bucket=bucket, Key=key, Body=(samples_dir / "landscape.jpg").read_bytes())
    second = httpx.get(s3_origin.url("/w_50/swap.jpg"), timeout=30)
    assert second.status_code == 200
    assert second.headers["etag"] != first.headers["etag"]
    assert second.content != first.content


def test_s3_bad_or_missing_credentials_are_a_502_not_a_crash(
    s3: S3Server, bucket: str
) -> None:
    wrong = s3.origin_env(f"s3://{bucket}/site/", secret_key="not-the-secret")
    anonymous = {**s3.origin_env(f"s3://{bucket}/site/"), **isolated_aws_env()}
    for env in (wrong, anonymous):
        with OriginProcess(env) as server:
            r = httpx.get(server.url("/w_50/products/shoe.jpg"), timeout=30)
            assert r.status_code == 502, r.text
            assert r.headers["cache-control"] == "no-store"
            assert "403" in r.json()["detail"]
            assert httpx.get(server.url("/-/healthz"), timeout=10).status_code == 200


class OneChunk(httpx.AsyncByteStream):
    """A body that is streamed, as from the network (bytes given as `content` are read at
    once, and the source reads raw chunks)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data


def test_signature_goes_to_the_bucket_host_only() -> None:
    """A redirect away from the bucket is followed unsigned: S3's signature names the request,
    and no other host gets a header made from the bucket's key."""
    seen: list[httpx.Request] = []
    bucket_host = "imgs.s3.eu-west-1.amazonaws.com"

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers["host"] == bucket_host:
            return httpx.Response(302, headers={"Location": "https://cdn.example.net/x.jpg"})
        return httpx.Response(200, stream=OneChunk(b"image bytes"), headers={"ETag": '"x"'})

    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    from botocore.credentials import Credentials

    source = HttpSource(
        make_client(1, 1, transport=httpx.MockTransport(answer)), NetworkGuard(resolver=resolve),
        max_bytes=1 << 20, total_timeout=5, max_redirects=2,
        allowed_hosts=("cdn.example.net",), base_url=f"https://{bucket_host}/site/",
        base_auth=S3Auth("eu-west-1", Credentials("AKIDEXAMPLE", "secret")))
    fetched = asyncio.run(source.fetch(f"https://{bucket_host}/site/x.jpg"))
    assert fetched.data == b"image bytes"
    signed, redirected = seen
    auth = signed.headers["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, " \
        "Signature=" in auth
    assert signed.headers["x-amz-content-sha256"] and signed.headers["x-amz-date"]
    assert redirected.headers["host"] == "cdn.example.net"
    assert not [h for h in redirected.headers if h.lower().startswith(("authorization", "x-amz"))]


@pytest.mark.parametrize(("env", "base"), [
    ({"IMGORIGIN_SOURCE": "s3://my-bucket/photos/"},
     "https://my-bucket.s3.us-east-1.amazonaws.com/photos/"),
    ({"IMGORIGIN_SOURCE": "s3://my-bucket", "IMGORIGIN_S3_REGION": "eu-west-1"},
     "https://my-bucket.s3.eu-west-1.amazonaws.com/"),
    # A dotted name cannot be virtual-hosted over TLS: path style.
    ({"IMGORIGIN_SOURCE": "s3://my.bucket/a", "IMGORIGIN_S3_REGION": "eu-west-1"},
     "https://s3.eu-west-1.amazonaws.com/my.bucket/a/"),
    ({"IMGORIGIN_SOURCE": "s3://imgs/a b", "IMGORIGIN_S3_ENDPOINT": "http://minio:9000/"},
     "http://minio:9000/imgs/a%20b/"),
])
def test_s3_uri_becomes_an_http_base(env: dict[str, str], base: str) -> None:
    assert Settings.from_env(env).source_base_url == base


def test_s3_region_comes_from_the_aws_variables_when_not_set() -> None:
    env = {"IMGORIGIN_SOURCE": "s3://my-bucket", "AWS_DEFAULT_REGION": "ap-south-1"}
    assert Settings.from_env(env).s3_region == "ap-south-1"
    assert Settings.from_env({**env, "AWS_REGION": "eu-north-1"}).s3_region == "eu-north-1"
    assert Settings.from_env({**env, "IMGORIGIN_S3_REGION": "us-west-2"}).s3_region == "us-west-2"


@pytest.mark.parametrize(("env", "message"), [
    ({"IMGORIGIN_SOURCE": "s3://Bad_Bucket/x"}, "not an S3 bucket name"),
    ({"IMGORIGIN_SOURCE": "s3://"}, "not an S3 bucket name"),
    ({"IMGORIGIN_SOURCE": "s3://ok-bucket", "IMGORIGIN_S3_ENDPOINT": "minio:9000"},
     "IMGORIGIN_S3_ENDPOINT"),
])
def test_bad_s3_settings_fail_at_startup(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
