"""The one error hierarchy. Each error carries its HTTP status, a stable code and a public detail.

    ImgOriginError
    ├── InvalidOptions (400)         malformed, unknown, duplicate or out-of-range token
    ├── InvalidSource (400)          source path or URL that can never be valid
    ├── Unauthorized (401)           purge without credentials
    ├── Forbidden (403)              bad signature, bad token, host not allowed
    ├── SourceNotFound (404)
    ├── SourceTooLarge (413)
    ├── UnsupportedFormat (415)
    ├── UnprocessableImage (422)     not an image, corrupt, over pixel/frame limits
    ├── Refused                      told to come back after `Retry-After` seconds
    │   ├── RateLimited (429)
    │   └── Overloaded (503)
    ├── UpstreamError (502)
    └── UpstreamTimeout (504)        also used when the request deadline passes

The `detail` goes into the JSON body and must never hold a source URL, an address, a path on
disk or a traceback; internals go to the log through `internal`.
"""

from __future__ import annotations


class ImgOriginError(Exception):
    status = 500
    code = "internal_error"
    headers: dict[str, str] | None = None

    def __init__(self, detail: str, *, internal: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.internal = internal


class InvalidOptions(ImgOriginError):
    status = 400
    code = "invalid_options"


class InvalidSource(ImgOriginError):
    status = 400
    code = "invalid_source"


class Unauthorized(ImgOriginError):
    status = 401
    code = "unauthorized"
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(ImgOriginError):
    status = 403
    code = "forbidden"


class MethodNotAllowed(ImgOriginError):
    status = 405
    code = "method_not_allowed"

    def __init__(self, allowed: tuple[str, ...]) -> None:
        super().__init__(f"use {' or '.join(allowed)}")
        self.headers = {"Allow": ", ".join(allowed)}


class SourceNotFound(ImgOriginError):
    status = 404
    code = "not_found"


class SourceTooLarge(ImgOriginError):
    status = 413
    code = "source_too_large"


class UnsupportedFormat(ImgOriginError):
    status = 415
    code = "unsupported_format"


class UnprocessableImage(ImgOriginError):
    status = 422
    code = "unprocessable_image"


class Refused(ImgOriginError):
    """A request turned away for now; the client is told when to retry."""

    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


class RateLimited(Refused):
    status = 429
    code = "rate_limited"


class UpstreamError(ImgOriginError):
    status = 502
    code = "upstream_error"


class Overloaded(Refused):
    # The connection stays open: a worker busier than its sibling closes it after the answer
    # (origin/balance.py), and a client that re-sends on it at once is slowed by the tarpit.
    status = 503
    code = "overloaded"


class UpstreamTimeout(ImgOriginError):
    status = 504
    code = "timeout"
