"""Keep-alive connections follow load between workers, not only the kernel's first hash.

The kernel hashes each new connection to one worker slot's socket (origin/listeners.py) and a
keep-alive connection stays where it landed: 8 connections all land on one of two workers in
about 1 case of 128, and 6:2 splits are common. A proxy or CDN shield with a small keep-alive pool
then queues misses on one worker while the other idles, for as long as its connections live.

Each worker publishes how many transforms it has admitted (running + queued) in a small table
of shared memory that the master maps before it forks. After an answer, a worker whose count is
at least `IMGORIGIN_REBALANCE_GAP` above its least busy sibling's adds `Connection: close`; the
client's next connection is hashed afresh and lands on the idle worker half the time, so a few
answers even out a bad split. With no queue (hits) the table is not even read.
"""

from __future__ import annotations

import mmap
import struct

MAX_SLOTS = 256
_VALUE = struct.Struct("q")
_ABSENT = -1  # a slot with no live worker


class LoadBoard:
    """Admitted transforms per worker slot, in memory shared by the master and its workers."""

    def __init__(self, slots: int = MAX_SLOTS) -> None:
        # Anonymous and MAP_SHARED: a forked worker writes the very pages its siblings read.
        self._map = mmap.mmap(-1, (slots + 1) * _VALUE.size)
        self.slots = slots
        for index in range(slots):
            self._set(index, _ABSENT)
        self.slot: int | None = None  # this worker's slot; None outside a gunicorn worker

    def _set(self, index: int, value: int) -> None:
        _VALUE.pack_into(self._map, (index + 1) * _VALUE.size, value)

    def _used(self) -> int:
        return _VALUE.unpack_from(self._map, 0)[0]

    # Master side, from gunicorn's hooks.
    def open(self, slot: int) -> None:
        """A worker is about to fork into `slot`."""
        if 0 <= slot < self.slots:
            self._set(slot, 0)
            _VALUE.pack_into(self._map, 0, max(self._used(), slot + 1))

    def close(self, slot: int) -> None:
        """`slot`'s worker exited; until a replacement forks, nobody is counted there."""
        if 0 <= slot < self.slots:
            self._set(slot, _ABSENT)

    # Worker side.
    def attach(self, slot: int) -> None:
        """Called in the forked worker: from now on it publishes as `slot`."""
        if 0 <= slot < self.slots:
            self.slot = slot

    def publish(self, load: int) -> None:
        """This worker's admitted transforms (event loop thread only)."""
        if self.slot is not None:
            self._set(self.slot, load)

    def withdraw(self) -> None:
        """A retiring worker stops counting: siblings must not send clients towards a slot whose
        connections wait for a replacement."""
        if self.slot is not None:
            self._set(self.slot, _ABSENT)
            self.slot = None

    def least_other(self) -> int | None:
        """The smallest load among the other live workers, or None when there is none."""
        if self.slot is None:
            return None
        loads = [value for index, (value,) in enumerate(
            _VALUE.iter_unpack(self._map[_VALUE.size:(self._used() + 1) * _VALUE.size]))
            if index != self.slot and value != _ABSENT]
        return min(loads) if loads else None

    def should_hand_over(self, load: int, gap: int) -> bool:
        """True when a worker with `load` admitted transforms should close the connection it
        just answered, so that its client reconnects towards a less busy sibling."""
        if gap <= 0 or load < gap or self.slot is None:
            return False
        least = self.least_other()
        return least is not None and load - least >= gap


BOARD = LoadBoard()
