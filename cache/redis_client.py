"""Build the redis-py asyncio client (single node or Cluster) and the aiocache front on it.

`redis://[:pw@]host:port/db` (or `rediss://`) is one node; `redis+cluster://[:pw@]h1:p1,h2:p2`
(or `rediss+cluster://`) is a Redis Cluster reached through any of the listed nodes. Both give
a client with the same command API, so the tier has one code path.

redis-py's defaults suit a database, not a cache on the request path: seconds-long timeouts and
three retries with backoff. Here every call has one short deadline and no retry; the breaker
decides when to try again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from aiocache import RedisCache
from aiocache.serializers import NullSerializer
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}

Client = Redis | RedisCluster


@dataclass(frozen=True, slots=True)
class RedisTarget:
    cluster: bool
    nodes: tuple[tuple[str, int], ...]
    db: int
    password: str | None
    username: str | None
    ssl: bool


def parse_url(url: str) -> RedisTarget:
    """Split a Redis URL into what the client constructors need; ValueError when malformed."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("redis", "rediss", *CLUSTER_SCHEMES):
        raise ValueError(f"IMGORIGIN_REDIS_URL: unsupported scheme {scheme!r}")
    auth, _, hosts = parts.netloc.rpartition("@")
    username, _, password = auth.partition(":") if auth else ("", "", "")
    nodes = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":") if ":" in item else (item.strip(), "", "")
        nodes.append((host.strip("[]") or "127.0.0.1", int(port or 6379)))
    cluster = scheme in CLUSTER_SCHEMES
    if len(nodes) > 1 and not cluster:
        raise ValueError("IMGORIGIN_REDIS_URL: several hosts need redis+cluster://")
    db = int(parts.path.strip("/") or 0)
    if cluster and db:
        raise ValueError("IMGORIGIN_REDIS_URL: Redis Cluster has only database 0")
    return RedisTarget(
        cluster=cluster, nodes=tuple(nodes), db=db,
        password=unquote(password) or None, username=unquote(username) or None,
        ssl=scheme in ("rediss",) or CLUSTER_SCHEMES.get(scheme, False),
    )


def make_client(target: RedisTarget, timeout: float, max_connections: int) -> Client:
    common: dict[str, Any] = {
        # Deadlines are per call, in the tier (`redis_deadline.within`, which tells a slow Redis
        # from a stalled event loop); redis-py's own timeouts would not, so they are only a
        # safety net here.
        "socket_timeout": max(10.0, timeout),
        "socket_connect_timeout": max(1.0, timeout),
        "retry": Retry(NoBackoff(), 0),
        "password": target.password,
        "username": target.username,
        "ssl": target.ssl,
        "max_connections": max_connections,
        "decode_responses": False,
        # No CLIENT SETINFO on connect: two fewer round trips for every new connection.
        "lib_name": None,
        "lib_version": None,
    }
    if target.cluster:
        return RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in target.nodes],
            cluster_error_retry_attempts=0,
            require_full_coverage=False,  # a dead master costs its slots, not the whole tier
            **common,
        )
    host, port = target.nodes[0]
    # A blocking pool: past `max_connections` a call waits (within its deadline) for a free
    # connection instead of failing, so a burst does not look like an outage.
    from redis.asyncio import BlockingConnectionPool

    pool_args = {k: v for k, v in common.items() if k not in ("retry", "max_connections", "ssl")}
    if target.ssl:
        from redis.asyncio.connection import SSLConnection

        pool_args["connection_class"] = SSLConnection
    pool = BlockingConnectionPool(host=host, port=port, db=target.db,
                                  max_connections=max_connections, timeout=max(1.0, timeout),
                                  retry=Retry(NoBackoff(), 0), **pool_args)
    return Redis(connection_pool=pool)


def make_cache(client: Client, timeout: float) -> RedisCache:
    """aiocache's Redis cache on our client: raw bytes in and out, one deadline per call."""
    cache = RedisCache(serializer=NullSerializer(encoding=None), timeout=timeout)
    cache.client = client  # its own (still unconnected) pool is never used
    return cache
