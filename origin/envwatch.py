"""IMGORIGIN_ENV_FILE_WATCH: the gunicorn master reloads when the settings file's bytes change.

Kubernetes updates a mounted Secret or ConfigMap by swapping a symlink behind the file and tells
no process, and a file edited in place has no `systemctl reload` behind it either. So a thread
in the master looks at the file every few seconds and, when what it holds changed, sends the
master the SIGHUP an operator would: the file is re-read (origin/envfile.py) and new workers
replace the old ones. A `stat` answers most looks; the bytes are read and hashed only when it
changed, so a touched file with the same settings does not restart the workers.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable

from origin.envfile import MAX_FILE_BYTES

log = logging.getLogger("imgorigin.server")

_Stat = tuple[int, int, int, int] | None


class EnvFileWatcher:
    """Calls `on_change` when the bytes at `path` (`-path`: may be missing) differ from the
    ones seen last; `check` looks once, `start` every `interval` seconds in a daemon thread."""

    def __init__(self, path: str, interval: float,
                 on_change: Callable[[], None] | None = None) -> None:
        self.path = path.removeprefix("-")
        self.interval = interval
        self.on_change = on_change or _reload_master
        self._stat = _stat(self.path)
        self._digest = _digest(self.path)

    def check(self) -> bool:
        """Whether the file changed since the last look (and `on_change` was called)."""
        stat = _stat(self.path)
        if stat == self._stat:
            return False
        self._stat = stat
        digest = _digest(self.path)
        if digest == self._digest:
            return False
        self._digest = digest
        log.info("%s changed, reloading", self.path)
        self.on_change()
        return True

    def start(self) -> None:
        threading.Thread(target=self._run, name="envwatch", daemon=True).start()

    def _run(self) -> None:
        while True:  # a daemon thread: it ends with the master
            time.sleep(self.interval)
            try:
                self.check()
            except Exception:  # a watcher that dies silently would look like one that works
                log.exception("watching %s failed", self.path)


def _stat(path: str) -> _Stat:
    try:
        st = os.stat(path)  # follows the symlinks Kubernetes swaps
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _digest(path: str) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return hashlib.sha256(file.read(MAX_FILE_BYTES + 1)).digest()
    except OSError:
        return None


def _reload_master() -> None:
    os.kill(os.getpid(), signal.SIGHUP)
