"""Stops libvips evaluations whose request deadline has passed, from one watchdog thread.

The first kill switch listened to libvips' `eval` signal: a callback into Python for every few
tiles (32 per 2 MP -> 800 px JPEG), each one waiting for the GIL behind the event loop, which
slowed every transform to guard against the rare slow one. Here a thread sleeps until the earliest
armed deadline and sets the image's kill flag, which libvips checks between tiles anyway.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pyvips

from origin.threadnames import name_os_thread


class Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: dict[int, tuple[float, pyvips.Image]] = {}
        self._tokens = itertools.count()
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None

    @contextmanager
    def guard(self, image: pyvips.Image, deadline: float) -> Iterator[None]:
        """Kill `image`'s evaluation if it is still running at `deadline` (monotonic)."""
        with self._cond:
            token = next(self._tokens)
            self._armed[token] = (deadline, image)
            if self._thread is None:
                # Started on first use, so a forked worker gets its own thread.
                self._thread = threading.Thread(target=self._run, name="vips-watchdog",
                                                daemon=True)
                self._thread.start()
            if deadline < self._wake_at:
                self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._armed.pop(token, None)  # the watchdog drops the ones it killed

    def _run(self) -> None:
        name_os_thread("vips-watchdog")
        with self._cond:
            while True:
                now = time.monotonic()
                for token, (deadline, image) in list(self._armed.items()):
                    if deadline <= now:
                        image.set_kill(True)
                        self._armed.pop(token, None)
                self._wake_at = min((d for d, _ in self._armed.values()), default=float("inf"))
                self._cond.wait(None if self._armed == {} else self._wake_at - now)


WATCHDOG = Watchdog()
