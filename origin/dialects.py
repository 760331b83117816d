"""Other servers' URL dialects (imgproxy, thumbor, ipx, Cloudinary, imgix), each under the first
path segment the operator gives it.

A dialect is a signature check plus a translation into a native options segment
(`transforms/imgproxy.py`, `thumbor.py`, `ipx.py`, `cloudinary.py`, `imgix.py`); the service parses
the result with the native grammar, so a dialect URL is the same variant as the native URL of
the same transform. imgix's options are in the query string, so its dialect reads the query
too: the rest of its path is `{image}?{query}`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath

from origin.errors import Forbidden, InvalidSource
from origin.security import signing
from origin.settings import Settings
from transforms import cloudinary, imgix, imgproxy, ipx, thumbor
from transforms.dialect import Translated


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    prefix: str  # "/imgproxy/": the configured segment with both slashes
    # The rest of the path is `?query` too where the dialect reads the query.
    check: Callable[[str, str], None]  # (signature segment, rest of the path); raises 403
    translate: Callable[[str], Translated]  # the rest of the path; raises 400
    signed: bool = True  # whether the path has a signature segment (ipx's has none)
    reads_query: bool = False  # the options are in the query string (imgix), kept in the rest
    # Every URL must carry the dialect's own signature (its keys are set): the site's own URLs,
    # which may draw text where IMGORIGIN_TEXT_OVERLAYS=signed.
    checks_signatures: bool = False

    def split(self, raw_path: str) -> tuple[str, str]:
        """(signature segment, rest) of `/{prefix}/{signature}/{rest}`."""
        if not self.signed:
            return "", raw_path[len(self.prefix):]
        signature, slash, rest = raw_path[len(self.prefix):].partition("/")
        if not slash or not rest:
            raise InvalidSource(f"{self.name} URL has no options and source after the "
                                "signature")
        return signature, rest


def from_settings(settings: Settings) -> tuple[Dialect, ...]:
    """The dialects the settings turn on."""
    dialects = []
    if settings.imgproxy_prefix:
        dialects.append(Dialect("imgproxy", f"/{settings.imgproxy_prefix}/",
                                _imgproxy_check(settings),
                                lambda rest: imgproxy.translate(
                                    "/" + rest, settings.imgproxy_watermark,
                                    settings.imgproxy_skip_processing),
                                checks_signatures=bool(settings.imgproxy_keys)))
    if settings.thumbor_prefix:
        marks = thumbor_watermarks(settings)
        dialects.append(Dialect("thumbor", f"/{settings.thumbor_prefix}/",
                                _thumbor_check(settings.thumbor_keys),
                                lambda rest: thumbor.translate(rest, marks),
                                checks_signatures=bool(settings.thumbor_keys)))
    if settings.ipx_prefix:
        dialects.append(Dialect("ipx", f"/{settings.ipx_prefix}/", _unsigned, ipx.translate,
                                signed=False))
    if settings.cloudinary_prefix:
        # A Cloudinary signature (`s--…--`) sits inside the path, after the delivery type.
        dialects.append(Dialect("cloudinary", f"/{settings.cloudinary_prefix}/",
                                _cloudinary_check(settings.cloudinary_secrets),
                                cloudinary.translate, signed=False,
                                checks_signatures=bool(settings.cloudinary_secrets)))
    if settings.imgix_prefix:
        imgix_marks = thumbor_watermarks(settings)
        dialects.append(Dialect("imgix", f"/{settings.imgix_prefix}/",
                                _imgix_check(settings.imgix_tokens),
                                lambda rest: imgix.translate(rest, imgix_marks),
                                signed=False, reads_query=True,
                                checks_signatures=bool(settings.imgix_tokens)))
    return tuple(dialects)


def thumbor_watermarks(settings: Settings) -> dict[str, str]:
    """The server's watermarks by file name: thumbor's watermark() and imgix's `mark` name an
    image by its URL, which here must end in the file name of one of them."""
    return {PurePath(path).name: name for name, path in settings.watermarks.items()}


def _unsigned(signature: str, rest: str) -> None:
    """ipx URLs are not checked (the settings refuse them beside native signing)."""


def _imgproxy_check(settings: Settings) -> Callable[[str, str], None]:
    pairs = tuple(zip(settings.imgproxy_keys, settings.imgproxy_salts, strict=True))
    size = settings.imgproxy_signature_size

    def check(signature: str, rest: str) -> None:
        # Without keys imgproxy takes any signature segment (`insecure`, `_`).
        if pairs:
            signing.verify(signature, "/" + rest, pairs,
                           lambda path, pair: signing.sign_imgproxy(path, *pair, size=size))

    return check


def _thumbor_check(keys: tuple[str, ...]) -> Callable[[str, str], None]:
    def check(signature: str, rest: str) -> None:
        if not keys:
            if signature != "unsafe":
                raise Forbidden("thumbor URLs start with unsafe/ on this server (no keys set)")
            return
        if signature == "unsafe":
            raise Forbidden("unsafe thumbor URLs are refused: this server checks signatures")
        signing.verify(signature, rest, keys, signing.sign_thumbor)

    return check


def _imgix_check(tokens: tuple[str, ...]) -> Callable[[str, str], None]:
    def check(signature: str, rest: str) -> None:
        # imgix's `s` is a query parameter; what it signs is the path as sent and the query
        # without it, in the order sent.
        if not tokens:
            return  # `s` is not read at all: this runs on every request, hits included
        path, _, query = rest.partition("?")
        given, unsigned = imgix.signature_of(query)
        signing.verify(given, f"/{path}?{unsigned}" if unsigned else f"/{path}", tokens,
                       signing.sign_imgix)

    return check


def _cloudinary_check(secrets: tuple[str, ...]) -> Callable[[str, str], None]:
    # An 8-character signature is SHA-1 unless the account chose SHA-256 (the SDKs'
    # `signature_algorithm`); both are taken, which costs one bit of its 48. The 32-character
    # long signature is always SHA-256.
    short = tuple((secret, algorithm) for secret in secrets for algorithm in ("sha1", "sha256"))
    long = tuple((secret, "sha256") for secret in secrets)

    def check(_segment: str, rest: str) -> None:
        if not secrets:
            return  # the signature segment is skipped unread
        signature, signed = cloudinary.signed_part(rest)
        size = len(signature)
        signing.verify(signature, signed, long if size == 32 else short,
                       lambda path, key: signing.sign_cloudinary(path, *key, size=size))

    return check
