"""CloudFront purger: one invalidation per purge (`POST /2020-05-31/distribution/ID/invalidation`).

CloudFront has no tags, and allows `*` only as the last character of a path, so a source's
variants (`/{options}/{source}`) cannot be matched by one pattern. With
IMGORIGIN_CLOUDFRONT_OPTION_SEGMENTS listing the options segments a site uses, each source gets
one exact path per segment; otherwise, and for directory purges, signed URLs and absolute source
URLs, the invalidation is `/*` (one path, whole distribution). With
IMGORIGIN_CLOUDFRONT_ANSWERED_PATHS the paths are the ones the origin answered for each source
(cache/edge_urls.py), which names signed and absolute-URL sources' objects too. Requests are
signed with SigV4 by botocore, which also resolves the standard AWS credential chain.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

import httpx

from cache.edge_urls import EdgeUrl, EdgeUrls, RecordUnavailable, record_keys
from cache.purgers import CdnPurgeResult
from cache.purgers._http import TIMEOUT, CallOutcome, Report, call, http_error

API_VERSION = "2020-05-31"
XMLNS = f"http://cloudfront.amazonaws.com/doc/{API_VERSION}/"
# Past this many exact paths one `/*` is cheaper (each path is billed past 1,000 a month) and
# stays far below the 3,000 paths CloudFront allows in progress.
MAX_PATHS = 1000


# Left as they are in an invalidation path: RFC 1738's safe and reserved characters and `%`
# (answered paths are already percent-encoded as the viewer sent them); `*` is encoded, as
# CloudFront reads it as a wildcard.
_PATH_SAFE = "/,_:.-~%!$&'()+;=@"


def invalidation_paths(tags: Sequence[str], sources: Sequence[str], segments: Sequence[str],
                       signed: bool, answered: Sequence[str] | None = None) -> list[str]:
    """The paths that remove every cached variant of `sources` (and the tagged directories);
    `answered`, when the origin records them, are the raw paths it answered for `sources`."""
    if not tags and not sources:
        return []
    directory_purge = any(t.startswith("d-") for t in tags)
    # The record indexes each directory's sources too: a directory purge is exact with it.
    if answered is not None:
        exact = {_invalidation_path(p) for p in answered}
        if segments and not signed:
            exact.update(invalidation_paths(tags, sources, segments, signed))
        exact.discard("/*")
        paths = sorted(exact)
        return paths if len(paths) <= MAX_PATHS else ["/*"]
    if signed or not segments or directory_purge or not sources \
            or any("://" in s for s in sources):
        return ["/*"]
    paths = [f"/{quote(seg, safe=',_:.-~')}/{quote(src, safe='/,_:.-~')}"
             for src in sources for seg in segments]
    return paths if len(paths) <= MAX_PATHS else ["/*"]


def _invalidation_path(answered: str) -> str:
    """One answered path as an invalidation path. A query (an imgix URL's options) becomes a
    trailing `*`: every query of that path, whatever order or encoding the viewer used."""
    path, mark, _ = answered.partition("?")
    return quote(path.encode("latin-1"), safe=_PATH_SAFE) + ("*" if mark else "")


def invalidation_batch(paths: Sequence[str], caller_reference: str) -> bytes:
    items = "".join(f"<Path>{escape(p)}</Path>" for p in paths)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<InvalidationBatch xmlns="{XMLNS}">'
        f"<CallerReference>{escape(caller_reference)}</CallerReference>"
        f"<Paths><Items>{items}</Items><Quantity>{len(paths)}</Quantity></Paths>"
        "</InvalidationBatch>"
    ).encode()


class CloudFrontPurger:
    def __init__(self, distribution_id: str, api_url: str, segments: Sequence[str], signed: bool,
                 client: httpx.AsyncClient, attempts: int, backoff: float,
                 urls: EdgeUrls | None = None) -> None:
        self.name = f"cloudfront:{distribution_id}"
        self.url = (f"{api_url.rstrip('/')}/{API_VERSION}/distribution/{distribution_id}"
                    "/invalidation")
        self.segments = tuple(segments)
        self.signed = signed
        self.client = client
        self.attempts = attempts
        self.backoff = backoff
        self.urls = urls  # the paths the origin answered, with IMGORIGIN_CLOUDFRONT_ANSWERED_PATHS
        self._credentials: Any = None

    @classmethod
    def create(cls, target: str, settings: Any, client: httpx.AsyncClient,
               urls: EdgeUrls | None = None) -> CloudFrontPurger:
        if not target:
            raise ValueError("IMGORIGIN_CDN_PURGERS: cloudfront needs a distribution id")
        try:
            import botocore  # noqa: F401 - checked at startup, used per purge
        except ImportError:
            raise ValueError("the cloudfront purger needs botocore: "
                             "pip install 'imgorigin[cloudfront]'") from None
        if settings.cloudfront_answered_paths and urls is None:
            raise ValueError("the cloudfront purger needs the record of answered paths")
        # Native option segments name neither signed URLs nor other servers' URL dialects.
        dialects = any((settings.imgproxy_prefix, settings.thumbor_prefix, settings.ipx_prefix,
                        settings.cloudinary_prefix, settings.imgix_prefix))
        return cls(target, settings.cloudfront_api_url, settings.cloudfront_option_segments,
                   bool(settings.signing_keys) or dialects, client, settings.cdn_purge_attempts,
                   settings.cdn_purge_backoff, urls if settings.cloudfront_answered_paths else None)

    def _frozen_credentials(self) -> Any:
        """Blocking (the chain may ask the instance metadata service): run in a thread."""
        if self._credentials is None:
            from botocore.session import get_session

            self._credentials = get_session().get_credentials()
        if self._credentials is None:
            return None
        return self._credentials.get_frozen_credentials()

    def _signed_request(self, body: bytes, credentials: Any) -> httpx.Request:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        aws = AWSRequest(method="POST", url=self.url, data=body,
                         headers={"Content-Type": "text/xml"})
        # CloudFront is a global service: its signing region is always us-east-1.
        SigV4Auth(credentials, "cloudfront", "us-east-1").add_auth(aws)
        return self.client.build_request("POST", self.url, content=body, timeout=TIMEOUT,
                                         headers={**dict(aws.headers.items()),
                                                  "Accept": "text/xml"})

    async def purge(self, tags: Sequence[str], sources: Sequence[str], *,
                    soft: bool = False, prefixes: Sequence[str] = ()) -> CdnPurgeResult:
        # An invalidation has no soft mode: a soft purge is a hard one (the result's soft=False).
        report = Report(self.name)
        taken: dict[str, list[EdgeUrl]] = {}
        answered = None
        if self.urls is not None:
            try:
                taken = await self.urls.take(record_keys(sources, tags), prefixes)
            except RecordUnavailable:
                pass  # which paths were answered is unknown: segments or `/*`, as without it
            else:
                answered = [url.path for urls in taken.values() for url in urls]
        paths = invalidation_paths(tags, sources, self.segments, self.signed, answered)
        if not paths:
            return report.result()
        result = await self._invalidate(paths, tags, report)
        if not result.ok and taken:
            await self.urls.give_back(taken)  # type: ignore[union-attr]
        return result

    async def _invalidate(self, paths: list[str], tags: Sequence[str],
                          report: Report) -> CdnPurgeResult:
        # One reference per purge, reused by the retries: CloudFront then creates at most one
        # invalidation even when an answer was lost and the call is repeated.
        reference = f"imgorigin-{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        body = invalidation_batch(paths, reference)
        try:
            credentials = await asyncio.to_thread(self._frozen_credentials)
        except Exception as exc:  # botocore raises many kinds while resolving the chain
            credentials = None
            problem = f"AWS credentials: {type(exc).__name__}: {exc}"
        else:
            problem = "no AWS credentials found (standard AWS credential chain)"
        if credentials is None:
            report.add(paths, CallOutcome(None, 0, problem), paths=paths)
            return report.result(purged_tags=0)
        outcome = await call(self.client, "cloudfront",
                             lambda: self._signed_request(body, credentials), _accepted,
                             self.attempts, self.backoff)
        invalidation = _invalidation_id(outcome.response) if outcome.ok else ""
        report.add(paths, outcome, paths=paths, id=invalidation)
        return report.result(purged_tags=len(tags) if outcome.ok else 0)


def _accepted(response: httpx.Response) -> str:
    return "" if response.status_code == 201 else http_error(response)


def _invalidation_id(response: httpx.Response | None) -> str:
    if response is None:
        return ""
    text = response.text
    start = text.find("<Id>")
    end = text.find("</Id>", start)
    return text[start + 4:end] if start >= 0 and end > start else ""
