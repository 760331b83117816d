"""A local HTTP server that records every request and answers from a script: the stand-in for
the Fastly, Cloudflare and CloudFront APIs (their real endpoints are never contacted)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] | None = None

    @classmethod
    def json(cls, status: int, value: Any, **headers: str) -> Reply:
        return cls(status, json.dumps(value).encode(),
                   {"Content-Type": "application/json", **headers})


Responder = Callable[[Recorded], Reply]


class Recorder:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.responder: Responder = lambda req: Reply()
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Recorded(self.command, self.path,
                               {k.lower(): v for k, v in self.headers.items()}, body)
                with recorder._lock:
                    recorder.requests.append(req)
                    reply = recorder.responder(req)
                self.send_response(reply.status)
                headers = {k.lower(): v for k, v in (reply.headers or {}).items()}
                if self.command != "HEAD" or "content-length" not in headers:
                    # A HEAD answer keeps the length its GET would have (RFC 9110, 9.3.2).
                    headers["content-length"] = str(len(reply.body))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_HEAD = do_POST = do_PURGE = do_PUT = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reset(self, responder: Responder | None = None) -> None:
        with self._lock:
            self.requests.clear()
            self.responder = responder or (lambda req: Reply())

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies in order, then repeat the last one."""
        queue = list(replies)

        def respond(req: Recorded) -> Reply:
            return queue.pop(0) if len(queue) > 1 else queue[0]

        self.reset(respond)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
