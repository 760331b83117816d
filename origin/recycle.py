"""Replace a worker after a number of transforms, handing back memory libvips fragmented.

Counted in transforms, not requests (gunicorn's `max_requests`), so a worker busy with cache hits
is never restarted and never loses its in-process cache for nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable

_stop: Callable[[], None] | None = None


def install(stop: Callable[[], None]) -> None:
    """Called by the server worker: how to stop gracefully (finish in-flight, then exit)."""
    global _stop
    _stop = stop


class Recycler:
    def __init__(self, limit: int) -> None:
        # ±10 % jitter, so the workers of a host do not all restart at once.
        self.limit = round(limit * random.uniform(0.9, 1.1)) if limit else 0
        self.done = 0

    def count(self) -> None:
        self.done += 1
        if self.limit and self.done == self.limit and _stop is not None:
            _stop()
