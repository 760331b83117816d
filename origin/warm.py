"""Warming: compute variants before anyone asks (`POST /-/warm`), like Cloudinary's eager
transformations, so a new image's first views, and a CDN's first misses, are cache hits.

Each path is taken exactly as a client would request it (signature included when URLs are
signed; an imgix URL with its query), so warming can make nothing a client could not; an
`fmt_auto` path is warmed once per Accept class a CDN will send (AVIF, WebP, the rest). Variants
are made one at a time, through the same tiers, single-flight, admission and deadlines as a
request, so a warm call takes at most one transform slot from the traffic it runs beside. A call
starts no variant after BUDGET_SECONDS (so it ends within that plus one request's deadline); what
it did not reach is reported as 503 `not_attempted`, for another call.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

from origin.errors import ImgOriginError, InvalidSource
from origin.service import Answer, TransformRequest, Unchanged

BUDGET_SECONDS = 60.0
# One Accept per fmt_auto class (transforms.formats.negotiate), as Varnish's VCL normalises it.
AUTO_CLASSES = (("avif", "image/avif"), ("webp", "image/webp"), ("legacy", "*/*"))


class Service(Protocol):
    """What warming needs of origin.service.TransformService."""

    def admit(self, raw_path: str, query: str = "") -> TransformRequest: ...

    async def answer(self, req: TransformRequest, accept: str, client: str = "",
                     if_none_match: str = "") -> Answer | Unchanged: ...


async def warm(service: Service, paths: Sequence[str], client: str,
               budget: float = BUDGET_SECONDS) -> list[dict[str, Any]]:
    """One result per variant made or found (per Accept class for fmt_auto), or per path that
    failed, with the status a GET of it would have had."""
    results: list[dict[str, Any]] = []
    deadline = time.monotonic() + budget
    for path in paths:
        if time.monotonic() >= deadline:
            results.append(_not_attempted(path, "", budget))
            continue
        try:
            if not path.startswith("/") or path.startswith("/-/"):
                raise InvalidSource("a warm path is /{options}/{source}, as a client requests it")
            # As a GET of it would be read: the query counts only where it is the options
            # (an imgix URL's).
            raw_path, _, query = path.partition("?")
            req = service.admit(raw_path, query)
        except ImgOriginError as exc:
            results.append(_failure(path, "", exc))
            continue
        classes = AUTO_CLASSES if req.requested_format == "auto" else (("", ""),)
        for fmt_class, accept in classes:
            if time.monotonic() >= deadline:
                results.append(_not_attempted(path, fmt_class, budget))
                continue
            try:
                answer = await service.answer(req, accept, client)
            except ImgOriginError as exc:
                results.append(_failure(path, fmt_class, exc))
                continue
            assert isinstance(answer, Answer)  # Unchanged needs an If-None-Match
            entry = answer.entry
            results.append({"path": path, **({"accept": fmt_class} if fmt_class else {}),
                            "status": 200, "tier": answer.tier, "format": entry.format,
                            "bytes": len(entry.body), "etag": entry.etag})
    return results


def _failure(path: str, fmt_class: str, exc: ImgOriginError) -> dict[str, Any]:
    return {"path": path, **({"accept": fmt_class} if fmt_class else {}),
            "status": exc.status, "error": exc.code, "detail": exc.detail}


def _not_attempted(path: str, fmt_class: str, budget: float) -> dict[str, Any]:
    return {"path": path, **({"accept": fmt_class} if fmt_class else {}), "status": 503,
            "error": "not_attempted",
            "detail": f"this call's {budget:g} s were used up; warm it in another call"}
