"""CDN purgers: one per provider, behind the `CdnPurger` interface.

`from_settings` builds them from `IMGORIGIN_CDN_PURGERS`; the concrete providers live in their
own modules and register themselves in `PROVIDERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx


@dataclass(slots=True)
class CdnPurgeResult:
    name: str
    ok: bool
    purged_tags: int = 0
    error: str = ""
    soft: bool = False  # the CDN marked the objects stale instead of removing them
    detail: dict[str, Any] = field(default_factory=dict)


class CdnPurger(Protocol):
    name: str

    async def purge(self, tags: Sequence[str], sources: Sequence[str], *,
                    soft: bool = False) -> CdnPurgeResult:
        """Purge every object carrying one of `tags` (Surrogate-Key/Cache-Tag values); `soft`
        asks the CDN to keep them as stale copies to revalidate, where it can."""
        ...


Factory = Callable[[str, Any, httpx.AsyncClient], CdnPurger]
PROVIDERS: dict[str, Factory] = {}


def from_settings(settings: Any, client: httpx.AsyncClient) -> list[CdnPurger]:
    """`varnish:http://h:p,fastly:ID` -> purgers; unknown providers fail at startup."""
    purgers = []
    for item in settings.cdn_purgers:
        provider, sep, target = item.partition(":")
        factory = PROVIDERS.get(provider)
        if factory is None or not sep:
            raise ValueError(f"IMGORIGIN_CDN_PURGERS: unknown CDN purger {item!r}")
        purgers.append(factory(target, settings, client))
    return purgers


def _register() -> None:
    # Imported here, after the names above exist: each provider module imports them.
    from cache.purgers import cloudflare, cloudfront, fastly, varnish

    PROVIDERS.update(
        varnish=varnish.VarnishPurger.create,
        fastly=fastly.FastlyPurger.create,
        cloudflare=cloudflare.CloudflarePurger.create,
        cloudfront=cloudfront.CloudFrontPurger.create,
    )


_register()
