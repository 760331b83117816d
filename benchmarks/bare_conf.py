"""gunicorn config for the bare server: imgorigin's per-worker listening sockets, so the hit
ratio compares the two apps over the same connection spread (origin/listeners.py)."""

from origin.listeners import child_exit, on_starting, pre_fork

__all__ = ["child_exit", "on_starting", "pre_fork"]
