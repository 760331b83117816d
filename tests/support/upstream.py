"""A fake upstream image server: a real uvicorn server in a thread, on a free loopback port.

Paths:
    /files/NAME            the registered bytes, with ETag / Last-Modified and 304 support
    /delay/SECONDS/NAME    the same, after a delay
    /trickle/NAME          one byte per second
    /redirect/N/NAME       N redirects, then NAME
    /to?url=URL            one redirect to any URL
    /status/CODE           that status, empty body
    /gzip/NAME             gzip-encoded body
    /lie/NAME              declares a Content-Length of 500 MB, sends the real bytes
    /stream/BYTES          BYTES bytes, chunked, no Content-Length
    /reset/NAME            closes the connection without an answer
Every request is counted in `hits[path]`, conditional ones (If-None-Match / If-Modified-Since)
also in `conditional[path]`.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections import Counter
from typing import Any
from urllib.parse import unquote

import uvicorn

from tests.support.net import free_port, wait_until


class Upstream:
    def __init__(self) -> None:
        self.port = free_port()
        self.files: dict[str, tuple[bytes, str]] = {}
        self.hits: Counter[str] = Counter()
        self.conditional: Counter[str] = Counter()
        self.etag_enabled = True
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, name: str, data: bytes, etag: str | None = None) -> None:
        self.files[name] = (data, etag or f'"{hash(data) & 0xFFFFFFFF:x}"')

    def total_hits(self, prefix: str = "") -> int:
        return sum(n for p, n in self.hits.items() if p.startswith(prefix))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path: str = scope["path"]
        self.hits[path] += 1
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if "if-none-match" in headers or "if-modified-since" in headers:
            self.conditional[path] += 1
        parts = path.strip("/").split("/")
        kind = parts[0]
        if kind == "files":
            await self._file("/".join(parts[1:]), headers, send)
        elif kind == "delay":
            await asyncio.sleep(float(parts[1]))
            await self._file("/".join(parts[2:]), headers, send)
        elif kind == "trickle":
            data, _ = self.files.get("/".join(parts[1:]), (b"x" * 64, ""))
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"image/jpeg")]})
            for i in range(len(data)):
                await send({"type": "http.response.body", "body": data[i:i + 1],
                            "more_body": True})
                await asyncio.sleep(1)
            await send({"type": "http.response.body", "body": b""})
        elif kind == "redirect":
            remaining = int(parts[1])
            name = "/".join(parts[2:])
            target = f"/redirect/{remaining - 1}/{name}" if remaining > 1 else f"/files/{name}"
            await self._send(send, 302, b"", [(b"location", target.encode())])
        elif kind == "to":
            query = scope.get("query_string", b"").decode()
            url = query.partition("url=")[2]
            await self._send(send, 302, b"", [(b"location", unquote(url).encode())])
        elif kind == "status":
            await self._send(send, int(parts[1]), b"")
        elif kind == "gzip":
            data, _ = self.files["/".join(parts[1:])]
            await self._send(send, 200, gzip.compress(data),
                             [(b"content-encoding", b"gzip"), (b"content-type", b"image/png")])
        elif kind == "lie":
            data, _ = self.files.get("/".join(parts[1:]), (b"x" * 100, ""))
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"524288000")]})
            await send({"type": "http.response.body", "body": data, "more_body": True})
            await asyncio.sleep(5)
            await send({"type": "http.response.body", "body": b""})
        elif kind == "stream":
            total = int(parts[1])
            await send({"type": "http.response.start", "status": 200, "headers": []})
            sent = 0
            chunk = b"\0" * 65536
            while sent < total:
                piece = chunk[: min(len(chunk), total - sent)]
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                sent += len(piece)
            await send({"type": "http.response.body", "body": b""})
        elif kind == "reset":
            raise RuntimeError("simulated reset")  # uvicorn drops the connection
        else:
            await self._send(send, 404, b"not found")

    async def _file(self, name: str, headers: dict[str, str], send: Any) -> None:
        item = self.files.get(name)
        if item is None:
            await self._send(send, 404, b"not found")
            return
        data, etag = item
        extra: list[tuple[bytes, bytes]] = [(b"content-type", b"application/octet-stream")]
        if self.etag_enabled:
            extra.append((b"etag", etag.encode()))
            if headers.get("if-none-match") == etag:
                await self._send(send, 304, b"", extra)
                return
        await self._send(send, 200, data, extra)

    @staticmethod
    async def _send(send: Any, status: int, body: bytes,
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [*(headers or []), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def start(self) -> Upstream:
        config = uvicorn.Config(self, host="127.0.0.1", port=self.port, log_level="critical",
                                lifespan="on", loop="asyncio")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        if not wait_until(lambda: self._server is not None and self._server.started, 10):
            raise RuntimeError("upstream did not start")
        return self

    def stop(self) -> None:
        if self._server is not None:
            # Without force_exit uvicorn waits for answers still being sent, such as a
            # trickle's one byte a second (10 s of every module that trickled).
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Upstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
