"""CDN purgers: one per provider, behind the `CdnPurger` interface.

`from_settings` builds them from `IMGORIGIN_CDN_PURGERS`; the concrete providers live in their
own modules and register themselves in `PROVIDERS`. Purgers of edges without tags (nginx) name
objects by the paths the origin answered, which `EdgeUrls` records when `needs_edge_urls`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx

if TYPE_CHECKING:
    from cache.edge_urls import EdgeUrls


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
                    soft: bool = False, prefixes: Sequence[str] = ()) -> CdnPurgeResult:
        """Purge every object carrying one of `tags` (Surrogate-Key/Cache-Tag values); `soft`
        asks the CDN to keep them as stale copies to revalidate, where it can. `prefixes` are
        the purged directories (their tags are in `tags`), for purgers that name paths."""
        ...


# (target, settings, client, the answered paths' record when `needs_edge_urls`)
Factory = Callable[[str, Any, httpx.AsyncClient, "EdgeUrls | None"], CdnPurger]
PROVIDERS: dict[str, Factory] = {}
# Providers whose purges name paths, not tags: the origin records what it answers for them
# (CloudFront only with IMGORIGIN_CLOUDFRONT_ANSWERED_PATHS).
BY_PATH = frozenset({"nginx"})


def needs_edge_urls(settings: Any) -> bool:
    """Whether a configured purger names objects by the paths the origin answered."""
    providers = {item.partition(":")[0] for item in settings.cdn_purgers}
    return bool(providers & BY_PATH) or (
        "cloudfront" in providers and settings.cloudfront_answered_paths)


def from_settings(settings: Any, client: httpx.AsyncClient,
                  edge_urls: EdgeUrls | None = None) -> list[CdnPurger]:
    """`varnish:http://h:p,fastly:ID` -> purgers; unknown providers fail at startup."""
    purgers = []
    for item in settings.cdn_purgers:
        provider, sep, target = item.partition(":")
        factory = PROVIDERS.get(provider)
        if factory is None or not sep:
            raise ValueError(f"IMGORIGIN_CDN_PURGERS: unknown CDN purger {item!r}")
        purgers.append(factory(target, settings, client, edge_urls))
    return purgers


def _register() -> None:
    # Imported here, after the names above exist: each provider module imports them.
    from cache.purgers import cloudflare, cloudfront, fastly, nginx, varnish

    def without_paths(create: Callable[[str, Any, httpx.AsyncClient], CdnPurger]) -> Factory:
        # Purgers by tag never read the record of answered paths.
        return lambda target, settings, client, _urls: create(target, settings, client)

    PROVIDERS.update(
        varnish=without_paths(varnish.VarnishPurger.create),
        fastly=without_paths(fastly.FastlyPurger.create),
        cloudflare=without_paths(cloudflare.CloudflarePurger.create),
        cloudfront=cloudfront.CloudFrontPurger.create,
        nginx=nginx.NginxPurger.create,
    )


_register()
