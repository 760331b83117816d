"""HTTP/1.1 by hand over a plain socket, for tests that need to see what a connection does
(when it is closed, what arrives before that), which a client library hides."""

from __future__ import annotations

import socket
import time

HEALTH = b"GET /-/healthz HTTP/1.1\r\nHost: imgorigin\r\n\r\n"


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.settimeout(5)
    return sock


def read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and after how many seconds."""
    started = time.monotonic()
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data, time.monotonic() - started
        data += chunk


def answer(sock: socket.socket) -> bytes:
    """One whole response to a request already sent (healthz: a small body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head
