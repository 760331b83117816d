"""The hit-path floor: a bare Starlette endpoint answering fixed bytes, nothing else.

Served by the same gunicorn + uvicorn worker class as imgorigin (origin.server.Worker), so the
ratio imgorigin-hit / bare isolates what imgorigin's hit path itself costs.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY_FILE = os.environ.get("BENCH_BARE_BODY", "")
BODY = open(BODY_FILE, "rb").read() if BODY_FILE else b"x"  # noqa: SIM115 - read once at import
MEDIA_TYPE = os.environ.get("BENCH_BARE_TYPE", "application/octet-stream")


async def fixed(request: Request) -> Response:
    return Response(BODY, media_type=MEDIA_TYPE)


app = Starlette(routes=[Route("/{path:path}", fixed, methods=["GET", "HEAD"])])
