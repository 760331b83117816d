"""Purge broadcast: every worker of every host subscribes to one channel and drops the purged
sources from its in-process caches (through the purge journal's listeners, the same path as a
same-host purge).

Pub/sub delivers at most once: a worker that was disconnected may have missed purges, so after
any reconnect it drops its whole L1 (`deliver(None)`) before trusting it again. A connection
that goes quiet without an error (a NAT or firewall forgot it) is found by a periodic PING.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from cache.journal import PurgeRecord

log = logging.getLogger("imgorigin.cache")
Deliver = Callable[[PurgeRecord | None], None]
RECONNECT_DELAY = 0.5
# How often the subscriber checks that its connection still answers; a silently dropped
# connection is found within two intervals, and the caches it feeds are dropped then.
HEALTH_INTERVAL = 5.0
HEALTH_TOKEN = b"imgorigin-purge-health"


def encode(sources: Sequence[str], prefixes: Sequence[str]) -> bytes:
    return json.dumps({"s": list(sources), "p": list(prefixes)},
                      separators=(",", ":")).encode("utf-8", "surrogatepass")


def decode(data: Any) -> PurgeRecord | None:
    try:
        item = json.loads(data)
        return PurgeRecord(tuple(map(str, item["s"])), tuple(map(str, item["p"])))
    except (ValueError, KeyError, TypeError):
        return None


class SubscriptionSilent(Exception):
    """The channel's connection stopped answering: it may be dropping messages unseen."""


class PurgeSubscriber:
    def __init__(self, client: Any, channel: str, deliver: Deliver,
                 health_interval: float = HEALTH_INTERVAL) -> None:
        self.client = client
        self.channel = channel
        self.deliver = deliver
        self.health_interval = health_interval
        self.connected = False
        self.connected_since: float | None = None  # monotonic time the subscription was confirmed
        self.reconnects = 0
        self._missed = False  # set by any failure: messages may have been lost since

    def unbroken_since(self, moment: float) -> bool:
        """Whether the subscription has been confirmed, and not lost, since before `moment`:
        then every message published meanwhile has arrived (or its loss is yet to be found
        by the health check, which drops the caches itself)."""
        return self.connected and self.connected_since is not None and (
            self.connected_since <= moment)

    async def run(self) -> None:
        """Forever: subscribe, apply messages; on any error wait a little and resubscribe."""
        while True:
            pubsub = self.client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                await self._confirmed(pubsub)
                if self._missed:
                    self.reconnects += 1
                    log.warning("purge channel resubscribed: dropping in-process caches")
                    self.deliver(None)
                    self._missed = False
                self.connected = True
                self.connected_since = time.monotonic()
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure means: maybe missed messages, reconnect
                if self.connected:
                    log.warning("purge channel lost (%s); resubscribing", type(exc).__name__)
                self.connected = False
                self._missed = True
                await asyncio.sleep(RECONNECT_DELAY)
            finally:
                self.connected = False
                self.connected_since = None
                # The connection is being dropped anyway; a failing close changes nothing.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), 1.0)

    async def _confirmed(self, pubsub: Any) -> None:
        """Wait for Redis' reply to SUBSCRIBE: messages are delivered only from then on, so the
        caches are dropped for what came before only once it has arrived."""
        deadline = time.monotonic() + self.health_interval
        while time.monotonic() < deadline:
            message = await pubsub.get_message(timeout=min(1.0, self.health_interval))
            _raise_if_cancelled()
            if message is not None and message.get("type") == "subscribe":
                return
        raise SubscriptionSilent("no reply to SUBSCRIBE")

    async def _listen(self, pubsub: Any) -> None:
        """Apply messages; PING the connection every `health_interval` and give up on it when
        the previous PING is still unanswered. A connection that a NAT or firewall forgot gives
        no error, it only goes quiet, and every purge sent to it would be lost."""
        wait = min(1.0, self.health_interval)
        next_ping = time.monotonic() + self.health_interval
        unanswered = False
        while True:
            message = await pubsub.get_message(timeout=wait)
            _raise_if_cancelled()
            if message is not None:
                kind = message.get("type")
                if kind == "message":
                    record = decode(message["data"])
                    if record is not None:
                        self.deliver(record)
                elif kind == "pong":
                    unanswered = False
            if time.monotonic() >= next_ping:
                if unanswered:
                    raise SubscriptionSilent("no reply to PING")
                await pubsub.ping(HEALTH_TOKEN)
                unanswered = True
                next_ping = time.monotonic() + self.health_interval


def _raise_if_cancelled() -> None:
    """Honour a cancellation that the client's read swallowed (seen with the cluster client's
    get_message under a read timeout): without this the loop goes on for ever, and whoever
    awaits the cancelled task (a worker's shutdown) waits with it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
