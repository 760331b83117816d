"""One listening socket per worker slot, all in one SO_REUSEPORT group, owned by the master.

On one shared socket the worker that woke first accepted a whole burst of keep-alive connections
(uvloop accepts until the queue is empty) and kept them while its siblings idled, so it shed load
it could have handed over. With a socket per worker the kernel spreads new connections over the
group by hash, as nginx's `reuseport` does.

The sockets belong to the master, not to the workers (gunicorn's own `reuse_port` makes each worker
bind its own): when a worker exits, its socket stays open with its queue, and the replacement that
takes over the slot accepts what arrived meanwhile. A worker-owned socket would reset those
connections, and there would be a moment with no socket at all.
"""

from __future__ import annotations

import socket
from typing import Any

from gunicorn import sock as gunicorn_sock

from origin.balance import BOARD


class _ReusePortConfig:
    """gunicorn's config as seen by its socket factory, with SO_REUSEPORT switched on."""

    reuse_port = True

    def __init__(self, cfg: Any) -> None:
        self._cfg = cfg

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cfg, name)


class ListenerSlots:
    """Which socket group each worker slot accepts on; slot k's sockets outlive its workers."""

    def __init__(self) -> None:
        self.slots: list[list[Any]] = []
        # Bumped by SIGHUP: the workers forked after it replace the running ones slot for slot,
        # on the same sockets, so no slot's queue is left without a worker while they retire.
        self.generation = 0

    @staticmethod
    def supported(cfg: Any) -> bool:
        addresses = cfg.address
        return hasattr(socket, "SO_REUSEPORT") and all(
            isinstance(a, tuple) and a[1] != 0 for a in addresses)

    def _open(self, arbiter: Any) -> list[Any]:
        return gunicorn_sock.create_sockets(_ReusePortConfig(arbiter.cfg), arbiter.log)

    def on_starting(self, arbiter: Any) -> None:
        """Open slot 0 in place of gunicorn's shared listeners (gunicorn keeps preset ones)."""
        if arbiter.LISTENERS or not self.supported(arbiter.cfg):
            return  # inherited sockets (systemd, re-exec) or a unix socket: keep one shared
        arbiter.LISTENERS = self._open(arbiter)
        self.slots = [arbiter.LISTENERS]

    def when_ready(self, arbiter: Any) -> None:
        """Take over SIGTTOU (one worker fewer): gunicorn stops the oldest worker, whose slot
        (0 at first) would keep its socket in the group with nobody accepting on it."""

        def handle_ttou() -> None:
            if arbiter.num_workers <= 1 or not arbiter.WORKERS:
                return
            arbiter.num_workers -= 1
            # The worker on the highest slot, made the oldest: manage_workers stops the oldest
            # (on every pass until it is reaped), and child_exit then closes that slot.
            last = max(arbiter.WORKERS.values(), key=lambda w: getattr(w, "listener_slot", 0))
            last.age = min(w.age for w in arbiter.WORKERS.values()) - 1
            arbiter.manage_workers()

        arbiter.handle_ttou = handle_ttou

    def on_reload(self, arbiter: Any) -> None:
        """SIGHUP: gunicorn forks a new set of workers, then stops the old ones."""
        self.generation += 1

    def pre_fork(self, arbiter: Any, worker: Any) -> None:
        """Give the worker about to fork the lowest slot no live worker of its generation
        holds (after a reload, the slot of a worker it replaces: both accept there meanwhile)."""
        held = {getattr(w, "listener_slot", None) for w in arbiter.WORKERS.values()
                if getattr(w, "slot_generation", 0) == self.generation}
        slot = next(i for i in range(len(held) + 1) if i not in held)
        worker.listener_slot = slot
        worker.slot_generation = self.generation
        BOARD.open(slot)  # slots also name workers in the load table (origin/balance.py)
        if not self.slots:
            return
        while len(self.slots) <= slot:
            self.slots.append([])
        if not self.slots[slot]:
            self.slots[slot] = self._open(arbiter)
        worker.sockets = self.slots[slot]

    def child_exit(self, arbiter: Any, worker: Any) -> None:
        """Close a slot nobody will take over (fewer workers after TTOU), or its queue would
        wait forever; slot 0 is gunicorn's own listener and stays."""
        slot = getattr(worker, "listener_slot", 0)
        if any(getattr(w, "listener_slot", None) == slot for w in arbiter.WORKERS.values()):
            return  # a reload's replacement already accepts on this slot
        BOARD.close(slot)
        if not self.slots or slot == 0 or len(arbiter.WORKERS) < arbiter.num_workers:
            return
        for listener in self.slots[slot]:
            listener.close()
        self.slots[slot] = []


SLOTS = ListenerSlots()


# gunicorn server hooks (plain functions: gunicorn checks their arity).
def on_starting(arbiter: Any) -> None:
    SLOTS.on_starting(arbiter)


def pre_fork(arbiter: Any, worker: Any) -> None:
    SLOTS.pre_fork(arbiter, worker)


def on_reload(arbiter: Any) -> None:
    SLOTS.on_reload(arbiter)


def when_ready(arbiter: Any) -> None:
    SLOTS.when_ready(arbiter)


def child_exit(arbiter: Any, worker: Any) -> None:
    SLOTS.child_exit(arbiter, worker)
