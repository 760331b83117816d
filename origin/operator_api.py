"""The operator endpoints' requests (`POST /-/purge`, `POST /-/warm`): bearer-token auth and the
JSON bodies, parsed into frozen values the routes trust."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from origin.errors import Forbidden, InvalidOptions, Unauthorized

MAX_BODY = 1024 * 1024
MAX_WARM_PATHS = 100


@dataclass(frozen=True, slots=True)
class PurgeRequest:
    sources: tuple[str, ...]
    prefixes: tuple[str, ...]
    soft: bool = False  # ours, beyond the contract's two lists (docs/decisions.md)
    watermarks: tuple[str, ...] = ()  # ours too: the CDN copies that carry these watermarks


@dataclass(frozen=True, slots=True)
class WarmRequest:
    paths: tuple[str, ...]


def check_token(request: Request, tokens: tuple[str, ...]) -> None:
    """401 without a bearer token, 403 with a wrong one or when no token is configured."""
    if not tokens:
        raise Forbidden("purge and warm are disabled on this server (no IMGORIGIN_PURGE_TOKENS)")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("this endpoint needs a bearer token")
    ok = False
    for candidate in tokens:  # every candidate compared, in constant time each
        ok |= hmac.compare_digest(candidate.encode(), token.strip().encode())
    if not ok:
        raise Forbidden("invalid token")


async def read_purge(request: Request) -> PurgeRequest:
    body = await _read_object(request, ("sources", "prefixes", "soft", "watermarks"))
    prefixes = _strings(body, "prefixes")
    if any(not p for p in prefixes):
        raise InvalidOptions("an empty prefix would purge everything; name a directory")
    soft = body.get("soft", False)
    if not isinstance(soft, bool):
        raise InvalidOptions("'soft' must be true or false")
    return PurgeRequest(_strings(body, "sources"), prefixes, soft, _strings(body, "watermarks"))


async def read_warm(request: Request) -> WarmRequest:
    paths = _strings(await _read_object(request, ("paths",)), "paths")
    if not paths or len(paths) > MAX_WARM_PATHS:
        raise InvalidOptions(f"'paths' must name 1 to {MAX_WARM_PATHS} paths; "
                             "split larger batches")
    return WarmRequest(tuple(dict.fromkeys(paths)))


async def _read_object(request: Request, fields: tuple[str, ...]) -> dict[str, Any]:
    """The body as a JSON object of these fields only: a misspelt field is a 400, not a purge
    that silently did less."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise InvalidOptions("request body is too large")
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise InvalidOptions("request body is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidOptions("request body must be a JSON object")
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise InvalidOptions(f"unknown field '{unknown[0]}'")
    return value


def _strings(body: dict[str, Any], name: str) -> tuple[str, ...]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidOptions(f"'{name}' must be a list of strings")
    return tuple(value)
