"""Purge broadcast: every worker of every host subscribes to one channel and drops the purged
sources from its in-process caches (through the purge journal's listeners, the same path as a
same-host purge).

Pub/sub delivers at most once: a worker that was disconnected may have missed purges, so after
any reconnect it drops its whole L1 (`deliver(None)`) before trusting it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from cache.journal import PurgeRecord

log = logging.getLogger("imgorigin.cache")
Deliver = Callable[[PurgeRecord | None], None]
RECONNECT_DELAY = 0.5


def encode(sources: Sequence[str], prefixes: Sequence[str]) -> bytes:
    return json.dumps({"s": list(sources), "p": list(prefixes)},
                      separators=(",", ":")).encode("utf-8", "surrogatepass")


def decode(data: Any) -> PurgeRecord | None:
    try:
        item = json.loads(data)
        return PurgeRecord(tuple(map(str, item["s"])), tuple(map(str, item["p"])))
    except (ValueError, KeyError, TypeError):
        return None


class PurgeSubscriber:
    def __init__(self, client: Any, channel: str, deliver: Deliver) -> None:
        self.client = client
        self.channel = channel
        self.deliver = deliver
        self.connected = False
        self.reconnects = 0
        self._missed = False  # set by any failure: messages may have been lost since

    async def run(self) -> None:
        """Forever: subscribe, apply messages; on any error wait a little and resubscribe."""
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if self._missed:
                    self.reconnects += 1
                    log.warning("purge channel resubscribed: dropping in-process caches")
                    self.deliver(None)
                    self._missed = False
                self.connected = True
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        record = decode(message["data"])
                        if record is not None:
                            self.deliver(record)
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
                # The connection is being dropped anyway; a failing close changes nothing.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), 1.0)
