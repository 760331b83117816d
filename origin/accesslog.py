"""The access log: one line per request worth a person's look, on standard output.

`IMGORIGIN_ACCESS_LOG` picks which: `off`; `errors` (every answer of 400 or more, and every
fallback image sent in place of one); `misses` (the default: errors, plus every transform and
every purge or warm request); `all` (also cache hits and 304s). Health probes, metric scrapes and
the demo page are never logged. Behind a CDN the hits are the CDN's to log, and a line costs
a fifth of a memory hit (docs/operations.md, "Logs").
`IMGORIGIN_ACCESS_LOG_FORMAT` is `json` (one object per line) or `text` (key=value pairs).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from origin import metrics

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from origin.service import Answer, Unchanged

LEVELS = ("off", "errors", "misses", "all")
FORMATS = ("json", "text")
_HIT_TIERS = frozenset({"memory", "disk", "redis", "none"})
# A line and its newline stay within PIPE_BUF (4096 bytes), so lines written by several workers
# to one pipe never interleave: a longer one has its values cut, to MAX_PATH characters each at
# first, then shorter until it fits (escaping can make a character six bytes).
LINE_LIMIT = 4095
MAX_PATH = 1024


# Lines waiting for the writer thread, per worker: about 1 MiB of typical lines. A reader that
# falls this far behind loses the newest lines (counted), never the worker's time.
QUEUE_LINES = 4096
FLUSH_SECONDS = 1.0  # what a stopping worker gives the last lines to leave
GATHER_SECONDS = 0.02  # how long a line may wait for others to leave with it


class LineWriter:
    """Hands lines to a thread that writes them to `fd`, so a stalled log reader (a full pipe)
    never blocks the event loop; lines beyond QUEUE_LINES are dropped and counted."""

    def __init__(self, fd: int = 1, max_lines: int = QUEUE_LINES,
                 on_drop: Callable[[], None] | None = None) -> None:
        self.fd = fd
        self.max_lines = max_lines
        self.dropped = 0
        self._on_drop = on_drop or _count_drop
        self._lines: deque[bytes] = deque()
        self._wake = threading.Condition(threading.Lock())
        self._pid = 0  # the thread belongs to the process that started it, not to a fork of it
        self._idle = True

    def __call__(self, line: bytes) -> None:
        with self._wake:
            if len(self._lines) >= self.max_lines:
                self.dropped += 1
                self._on_drop()
                return
            self._lines.append(line)
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="access-log", daemon=True).start()
            elif self._idle:
                self._wake.notify()

    def forget_parent(self) -> None:
        """In a forked child: the parent's thread, lock and unwritten lines are not ours."""
        self._lines = deque()
        self._wake = threading.Condition(threading.Lock())
        self._pid = 0
        self._idle = True

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._lines:
                    self._idle = True
                    self._wake.notify_all()  # for flush()
                    self._wake.wait()
                self._idle = False
            # Gather what comes next: callers wake the thread once per batch, not per line.
            time.sleep(GATHER_SECONDS)
            while True:
                with self._wake:
                    if not self._lines:
                        break
                    batch = self._batch()
                with contextlib.suppress(OSError):  # a closed log pipe must not stop the thread
                    os.write(self.fd, batch)

    def _batch(self) -> bytes:
        # Lines joined up to PIPE_BUF: one write stays atomic on a pipe the workers share.
        parts = [self._lines.popleft()]
        size = len(parts[0])
        while self._lines and size + len(self._lines[0]) <= LINE_LIMIT + 1:
            size += len(self._lines[0])
            parts.append(self._lines.popleft())
        return b"".join(parts)

    def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the queued lines to be written; whether they were."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._lines or not self._idle:
                left = deadline - time.monotonic()
                if left <= 0 or self._pid != os.getpid():
                    return False
                self._wake.wait(left)
        return True


def _count_drop() -> None:
    metrics.ACCESS_LOG_DROPPED.inc()


# One writer per process for standard output, whatever the number of apps in it.
STDOUT = LineWriter()
os.register_at_fork(after_in_child=STDOUT.forget_parent)
atexit.register(STDOUT.flush, FLUSH_SECONDS)


def _logfmt_value(value: object) -> str:
    text = str(value)
    if text and all(c.isprintable() and c not in ' "=\\' for c in text):
        return text
    return json.dumps(text)  # quoted, with quotes, backslashes and control characters escaped


def _empty(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, (list, tuple)) and not value)


def _cut(value: object, budget: int) -> object:
    """`value` with its text cut to `budget` characters (a list also to budget / 64 items)."""
    if isinstance(value, str):
        return value[:budget]
    if isinstance(value, (list, tuple)):
        return [_cut(str(item), budget) for item in value[:max(1, budget // 64)]]
    return value


def _flat(value: object) -> object:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value


class AccessLog:
    """Decides which answers to log and writes their lines."""

    def __init__(self, level: str = "misses", fmt: str = "json",
                 write: Callable[[bytes], None] | None = None) -> None:
        self.level = LEVELS.index(level)
        self.json = fmt == "json"
        self._write = write or STDOUT

    def wants(self, status: int, tier: str, error: str = "") -> bool:
        """Whether an answer of the transform route is logged at this level."""
        if self.level == 0:
            return False
        if status >= 400 or error:
            return True
        if self.level == 1:
            return False
        return self.level == 3 or tier not in _HIT_TIERS

    def wants_operation(self, status: int) -> bool:
        """Whether a purge or warm request is logged at this level."""
        return self.level >= 2 or (self.level == 1 and status >= 400)

    def write(self, fields: Mapping[str, Any]) -> None:
        """Write one line of `fields` (empty values left out), the time first."""
        now = time.time()
        stamp = f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(now))}.{int(now % 1 * 1000):03d}Z"
        record = {"time": stamp, **{k: v for k, v in fields.items() if not _empty(v)}}
        line = self._encode(record)
        budget = MAX_PATH
        while len(line) > LINE_LIMIT and budget >= 4:
            record = {key: _cut(value, budget) for key, value in record.items()}
            line = self._encode(record)
            budget //= 4
        self._write(line[:LINE_LIMIT] + b"\n")

    def _encode(self, record: Mapping[str, Any]) -> bytes:
        if self.json:
            line = json.dumps(record, separators=(",", ":"), ensure_ascii=True)
        else:
            line = " ".join(f"{key}={_logfmt_value(_flat(value))}" for key, value in record.items())
        return line.encode("ascii", "backslashreplace")


# A purge names at most this many sources, prefixes and watermarks in its log line.
LOGGED_NAMES = 20


def _request_fields(request: Request) -> dict[str, Any]:
    scope = request.scope
    path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    if scope.get("query_string"):
        path += "?" + scope["query_string"].decode("latin-1")
    return {"method": request.method, "path": path,
            "client": request.client.host if request.client else "",
            "request_id": _request_id(request)}


# Where a request's id comes from: the caller's own, then the CDN's (Cloudflare, CloudFront,
# Varnish's transaction ids), so a line can be matched with the edge's log.
_REQUEST_ID_HEADERS = ("x-request-id", "cf-ray", "x-amz-cf-id", "x-varnish")


def _request_id(request: Request) -> str:
    headers = request.headers
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value[:200]
    return ""


def transform_fields(request: Request, response: Response, tier: str, seconds: float,
                     answer: Answer | Unchanged | None, error: str, detail: str
                     ) -> dict[str, Any]:
    """The access log's fields for an answer of the transform route."""
    entry = getattr(answer, "entry", None)  # an Unchanged (304 by ETag alone) has none
    fetch_ms = getattr(answer, "fetch_ms", 0.0)
    return {
        "route": "transform", **_request_fields(request),
        "status": response.status_code, "bytes": len(response.body),
        "ms": round(seconds * 1000, 2), "tier": tier,
        "type": entry.content_type if entry is not None and response.status_code != 304 else "",
        "transform_ms": round(entry.transform_ms, 1) if entry and tier == "transform" else "",
        "fetch_ms": round(fetch_ms, 1) if fetch_ms else "",
        "error": error, "detail": detail,
    }


def operation_fields(route: str, request: Request, response: Response,
                     fields: dict[str, Any]) -> dict[str, Any]:
    """The access log's fields for a purge or warm request (never its token)."""
    return {"route": route, **_request_fields(request), "status": response.status_code,
            **fields}
