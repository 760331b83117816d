"""Security test fixtures: the app in-process on a real socket, a canary listener, a connect spy,
a stub resolver and a raw gzip-bomb server."""

from __future__ import annotations

import ipaddress
import socket
import tempfile
import threading
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pyvips
import uvicorn

from origin.app import create_app
from origin.errors import UpstreamError
from origin.settings import Settings
from tests.support.net import free_port, wait_until


def jpeg(width: int = 32, height: int = 24) -> bytes:
    """A small valid JPEG, made here rather than committed."""
    image = pyvips.Image.black(width, height).new_from_image([200, 120, 40])
    return bytes(image.jpegsave_buffer(Q=80))


class StubResolver:
    """Hostname -> addresses, as answers in turn (the last answer repeats). Counts lookups."""

    def __init__(self, answers: dict[str, list[str] | list[list[str]]] | None = None) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.calls: list[str] = []
        self.fail_with: BaseException | None = None
        for host, answer in (answers or {}).items():
            self.set(host, answer)

    def set(self, host: str, answer: list[str] | list[list[str]]) -> None:
        turns = answer if answer and isinstance(answer[0], list) else [answer]
        self.answers[host.lower()] = [list(t) for t in turns]  # type: ignore[arg-type]

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if self.fail_with is not None:
            raise self.fail_with
        turns = self.answers.get(host.lower())
        if turns is None:
            raise UpstreamError("source host could not be resolved")
        return turns.pop(0) if len(turns) > 1 else turns[0]


class _CountingStream(httpx.AsyncByteStream):
    def __init__(self, inner: Any, spy: SpyTransport) -> None:
        self.inner = inner
        self.spy = spy

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            self.spy.bytes_read += len(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class SpyTransport(httpx.AsyncBaseTransport):
    """Records every request the origin makes (the URL it dials) and the body bytes it pulls.
    Requests to anything but loopback are refused here, so tests never leave the machine."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []
        self.bytes_read = 0

    def dialled(self) -> list[str]:
        return [f"{r.url.host}:{r.url.port}" for r in self.requests]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not ipaddress.ip_address(request.url.host).is_loopback:
            raise httpx.ConnectError("spy: only loopback is dialled in tests", request=request)
        response = await self.inner.handle_async_request(request)
        response.stream = _CountingStream(response.stream, self)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class Canary:
    """Listens on 127.0.0.1 and ::1 (same port) and counts accepted connections."""

    def __init__(self) -> None:
        self.accepts = 0
        self._socks: list[socket.socket] = []
        self._stop = threading.Event()
        for _ in range(20):
            port = free_port()
            try:
                self._socks = [self._listen(socket.AF_INET, "127.0.0.1", port),
                               self._listen(socket.AF_INET6, "::1", port)]
                self.port = port
                break
            except OSError:
                for s in self._socks:
                    s.close()
                self._socks = []
        else:
            raise RuntimeError("no port free on both 127.0.0.1 and ::1")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _listen(family: int, host: str, port: int) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
        sock.settimeout(0.05)
        return sock

    def _run(self) -> None:
        while not self._stop.is_set():
            for sock in self._socks:
                try:
                    conn, _ = sock.accept()
                except (TimeoutError, OSError):
                    continue
                self.accepts += 1
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in self._socks:
            sock.close()


class RawServer:
    """Answers every connection with fixed response bytes (e.g. a gzip bomb), then closes."""

    def __init__(self, head: bytes, body: bytes) -> None:
        self.payload = head + body
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(5)
                try:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        data += conn.recv(65536)
                    conn.sendall(self.payload)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def gzip_bomb(decoded_bytes: int) -> bytes:
    """gzip of `decoded_bytes` zeros, built in steps so the test never holds them."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * (1 << 20)
    parts = []
    for _ in range(decoded_bytes // len(block)):
        parts.append(z.compress(block))
    parts.append(z.flush())
    return b"".join(parts)


class AppServer:
    """`create_app(settings)` served by uvicorn in a thread on a free loopback port, with the
    network guard's resolver and the client's transport injected."""

    def __init__(self, env: dict[str, str], *, resolver: Callable[..., Any] | None = None,
                 spy: SpyTransport | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="imgorigin-sec-")
        env = {"IMGORIGIN_CACHE_DIR": self._tmp.name + "/cache", **env}
        self.settings = Settings.from_env(env)
        self.spy = spy if spy is not None else SpyTransport()
        self.resolver = resolver
        self.app = create_app(self.settings, resolver=resolver, transport=self.spy)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, lifespan="on",
                                log_level="critical", loop="asyncio")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.client = httpx.Client(base_url=self.base, timeout=30, trust_env=False)

    def start(self) -> AppServer:
        self._thread.start()
        if not wait_until(lambda: self._server.started, 20):
            raise RuntimeError("in-process app did not start")
        return self

    def get(self, path: str, **headers: str) -> httpx.Response:
        # An absolute URL: httpx would read a relative `//x` as a network-path reference.
        return self.client.get(self.base + path, headers=headers)

    def stop(self) -> None:
        self.client.close()
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._tmp.cleanup()

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serving(env: dict[str, str], **kw: Any) -> Iterator[AppServer]:
    """Generator body for module fixtures."""
    with AppServer(env, **kw) as server:
        yield server


def raw_get(port: int, raw_path: bytes, timeout: float = 10) -> tuple[int, bytes]:
    """GET with the path bytes exactly as given (no client-side normalisation)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"GET " + raw_path + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body

