"""The edge stack the end-to-end tests run: redis-server, the origin (gunicorn workers) and
varnishd with edge-config's VCL, each a real process on free loopback ports."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from tests.edge.varnish import VarnishProcess
from tests.support.origin import REPO, OriginProcess
from tests.support.redis_server import RedisProcess

PURGE_TOKEN = "edge-token"


def redis_tier_available() -> bool:
    """The Redis tier is used when its module exists (it is built alongside this suite)."""
    return importlib.util.find_spec("cache.redis") is not None


@dataclass
class Stack:
    origin: OriginProcess
    varnish: VarnishProcess
    redis: RedisProcess | None

    @property
    def shared_tier(self) -> str:
        return "redis" if self.redis is not None else "embedded disk"


@contextmanager
def edge_stack(env: dict[str, str] | None = None, workers: int = 2,
               acl: list[str] | None = None) -> Iterator[Stack]:
    with ExitStack() as stack:
        redis = None
        origin_env = {
            "IMGORIGIN_SOURCE": str(REPO / "samples"),
            "IMGORIGIN_PURGE_TOKENS": PURGE_TOKEN,
        }
        if redis_tier_available():
            redis = RedisProcess().start()
            stack.callback(redis.stop)
            origin_env["IMGORIGIN_REDIS_URL"] = redis.url
        varnish = VarnishProcess(acl=acl)
        stack.callback(varnish.stop)
        origin_env["IMGORIGIN_CDN_PURGERS"] = f"varnish:{varnish.base}"
        origin_env.update(env or {})
        origin = OriginProcess(origin_env, workers=workers).start()
        stack.callback(origin.stop)
        varnish.start(origin.port)
        yield Stack(origin, varnish, redis)
