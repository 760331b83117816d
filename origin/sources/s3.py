"""S3 and S3-compatible buckets as the default source (`IMGORIGIN_SOURCE=s3://bucket/prefix`).

A bucket is an HTTP source like any other (streaming byte cap, conditional GETs on the ETag,
shared versions and originals, the network guard): the `s3://` URI becomes an HTTP base URL,
and each request to that base is signed with SigV4 by botocore, which also resolves the
standard AWS credential chain. With no credentials in the chain, requests go unsigned (a
public bucket). Requests to any other host, e.g. after a redirect, are never signed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from origin.errors import UpstreamError

# S3's rules for new buckets: 3-63 characters, lower case, digits, dots and hyphens.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
DEFAULT_REGION = "us-east-1"
# Headers SigV4 adds; copied from botocore's signed copy onto the request that is sent.
_SIGNATURE_HEADERS = ("Authorization", "X-Amz-Date", "X-Amz-Content-SHA256",
                      "X-Amz-Security-Token")


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    prefix: str  # "" or a key prefix ending in "/"


def is_s3(source: str) -> bool:
    return source.startswith("s3://")


def parse_s3(uri: str) -> S3Location:
    """`s3://bucket[/prefix]`; ValueError naming what is wrong."""
    rest = uri.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(f"'{bucket}' is not an S3 bucket name")
    prefix = prefix.strip("/")
    return S3Location(bucket, prefix + "/" if prefix else "")


def region_of(configured: str, env: Mapping[str, str]) -> str:
    """IMGORIGIN_S3_REGION, else AWS_REGION / AWS_DEFAULT_REGION, else us-east-1."""
    return (configured or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            or DEFAULT_REGION)


def base_url(location: S3Location, *, endpoint: str, region: str) -> str:
    """The HTTP base under which a source key is appended (percent-encoded).

    AWS itself is addressed virtual-hosted style (`https://BUCKET.s3.REGION.amazonaws.com/`);
    a bucket whose name has dots cannot be (its TLS name would not match), nor can most
    S3-compatible stores (MinIO, Ceph, R2 behind a custom endpoint): those are path style,
    `ENDPOINT/BUCKET/`."""
    prefix = quote(location.prefix)
    if endpoint:
        return f"{endpoint.rstrip('/')}/{location.bucket}/{prefix}"
    if "." in location.bucket:
        return f"https://s3.{region}.amazonaws.com/{location.bucket}/{prefix}"
    return f"https://{location.bucket}.s3.{region}.amazonaws.com/{prefix}"


class S3Auth(httpx.Auth):
    """Signs a request with SigV4 for service `s3` in `region`, with the credentials of the
    standard AWS chain (resolved once, in a thread, on the first request; refreshed by
    botocore when they are temporary)."""

    def __init__(self, region: str, credentials: Any = None) -> None:
        self.region = region
        self._credentials = credentials
        self._resolved = credentials is not None

    def _frozen(self) -> Any:
        """Blocking (the chain may ask the instance metadata service or STS)."""
        try:
            if not self._resolved:
                from botocore.session import get_session

                self._credentials = get_session().get_credentials()
                self._resolved = True
            if self._credentials is None:
                return None
            return self._credentials.get_frozen_credentials()
        except Exception as exc:  # botocore raises many kinds while resolving the chain
            raise UpstreamError("S3 credentials could not be resolved",
                                internal=f"{type(exc).__name__}: {exc}") from None

    def sign(self, request: httpx.Request, credentials: Any) -> None:
        """Add the SigV4 headers for `credentials` (None: leave the request anonymous)."""
        if credentials is None:
            return
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        # Only Host is signed besides what SigV4 adds: the other headers (User-Agent,
        # If-None-Match) may then differ between this request and its retries.
        aws = AWSRequest(method=request.method, url=str(request.url),
                         headers={"Host": request.headers["Host"]})
        S3SigV4Auth(credentials, "s3", self.region).add_auth(aws)
        for name in _SIGNATURE_HEADERS:
            if name in aws.headers:
                request.headers[name] = aws.headers[name]

    async def async_auth_flow(
            self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        credentials = await asyncio.to_thread(self._frozen)
        self.sign(request, credentials)
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Any:
        raise RuntimeError("S3Auth is used by the async client only")
