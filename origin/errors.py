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
    ├── RateLimited (429)
    ├── UpstreamError (502)
    ├── Overloaded (503)
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


class RateLimited(ImgOriginError):
    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


class UpstreamError(ImgOriginError):
    status = 502
    code = "upstream_error"


class Overloaded(ImgOriginError):
    status = 503
    code = "overloaded"

    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(detail)
        # The connection is closed after the refusal: the client's next connection is hashed
        # over every worker's listening socket again, instead of queueing behind this busy one
        # (a load generator that ignores Retry-After otherwise re-sends to it at once).
        self.headers = {"Retry-After": str(retry_after), "Connection": "close"}


class UpstreamTimeout(ImgOriginError):
    status = 504
    code = "timeout"
