"""`IMGORIGIN_AUTO_REDIRECT`: for CDNs that cannot vary on Accept, `fmt_auto` answers with a
redirect to the same URL naming the negotiated format, so every cached URL holds one format.

The redirect itself depends on Accept, so only the browser may cache it (`private`); the edge
caches the explicit-format URLs it points to.
"""

from __future__ import annotations

from urllib.parse import unquote

from starlette.responses import Response

from origin.security import signing
from origin.service import Answer, TransformRequest, TransformService
from origin.settings import Settings
from transforms import negotiate

FORMAT_NAMES = frozenset({"fmt", "f", "format"})


def explicit_path(raw_path: str, fmt: str, signing_keys: tuple[str, ...]) -> str:
    """`raw_path` with its format token replaced by `fmt_{fmt}`, re-signed with the first key
    when URLs are signed. Other tokens are kept as written (presets, sizes, `exp_`)."""
    rest = raw_path.removeprefix("/")
    if signing_keys:
        _signature, _, rest = rest.partition("/")
    segment, _, source = rest.partition("/")
    tokens = [t for t in unquote(segment).split(",")
              if t and t != "_" and t.partition("_")[0] not in FORMAT_NAMES]
    path = f"/{','.join([*tokens, 'fmt_' + fmt])}/{source}"
    if signing_keys:
        path = "/" + signing.sign(path, signing_keys[0]) + path
    return path


async def redirect(service: TransformService, settings: Settings, req: TransformRequest,
                   raw_path: str, accept: str, client: str) -> Response:
    """302 to the explicit-format URL of what `fmt_auto` would answer for this Accept."""
    fmt = negotiate(accept)
    if fmt not in ("avif", "webp"):
        # The legacy class is JPEG or PNG depending on the source's alpha: make (and cache) the
        # auto answer once to learn which.
        answer = await service.answer(req, accept, client)
        assert isinstance(answer, Answer)  # Unchanged needs an If-None-Match, not passed here
        fmt = answer.entry.format
    location = explicit_path(raw_path, fmt, settings.signing_keys)
    return Response(status_code=302, headers={
        "Location": location,
        "Cache-Control": f"private, max-age={settings.browser_max_age}",
        "CDN-Cache-Control": "no-store",
        "Surrogate-Control": "no-store",
        "Vary": "Accept",
        "X-Content-Type-Options": "nosniff",
    })
