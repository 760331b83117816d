"""`imgorigin purge` and `imgorigin warm`: the operator endpoints from a shell, with the
batching, token lookup and exit status a script wants (0 when everything asked was done)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

import httpx

from origin.operator_api import MAX_WARM_PATHS

TIMEOUT = httpx.Timeout(120.0, connect=5.0)  # a warm call may run for its 60 s and one request


class CallFailed(Exception):
    """The server refused the call (auth, body) or could not be reached."""


def default_server() -> str:
    return f"http://127.0.0.1:{os.environ.get('PORT', '8080')}"


def token_from_env() -> str:
    """The first of IMGORIGIN_PURGE_TOKENS: on the origin's own host, its own token."""
    return os.environ.get("IMGORIGIN_PURGE_TOKENS", "").split(",")[0].strip()


def purge(server: str, token: str, sources: Sequence[str], prefixes: Sequence[str],
          soft: bool, out: TextIO = sys.stdout, watermarks: Sequence[str] = ()) -> bool:
    """One purge call; prints the answer. True when it and every CDN purge succeeded."""
    answer = _post(server, "/-/purge", token,
                   {"sources": list(sources), "prefixes": list(prefixes),
                    **({"soft": True} if soft else {}),
                    **({"watermarks": list(watermarks)} if watermarks else {})})
    print(json.dumps(answer, indent=2), file=out)
    return all(cdn["ok"] for cdn in answer["cdn"])


def warm(server: str, token: str, paths: Iterable[str], out: TextIO = sys.stdout) -> bool:
    """Warm `paths` in calls of at most MAX_WARM_PATHS; prints a line per variant and a total.
    True when every variant was made or found."""
    batch: list[str] = []
    counts = {"ok": 0, "failed": 0}

    def send() -> None:
        for variant in _post(server, "/-/warm", token, {"paths": batch})["variants"]:
            ok = variant["status"] == 200
            counts["ok" if ok else "failed"] += 1
            what = (f"{variant['tier']} {variant['format']} {variant['bytes']} B" if ok
                    else f"{variant['error']}: {variant['detail']}")
            accept = f" [{variant['accept']}]" if "accept" in variant else ""
            print(f"{variant['status']} {variant['path']}{accept} {what}", file=out)
        batch.clear()

    for line in paths:
        path = line.strip()
        if path:
            batch.append(path)
        if len(batch) == MAX_WARM_PATHS:
            send()
    if batch:
        send()
    print(f"{counts['ok']} variants warm, {counts['failed']} failed", file=out)
    return counts["failed"] == 0


def _post(server: str, endpoint: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = httpx.post(server.rstrip("/") + endpoint, json=body, timeout=TIMEOUT,
                              headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise CallFailed(f"{server}: {type(exc).__name__}: {exc}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200 or not isinstance(answer, dict):
        reason = answer.get("detail") if isinstance(answer, dict) else None
        raise CallFailed(f"{endpoint} answered {response.status_code}: "
                         f"{reason or response.text[:200]}")
    return answer
