"""A Secret or ConfigMap volume as the kubelet writes it: each version in its own timestamped
directory, `..data` a symlink to the current one, each key a symlink through `..data`, and an
update a new directory plus an atomic rename of a new `..data` (its AtomicWriter)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path


def write_volume(root: Path, files: dict[str, str]) -> None:
    """Publish `files` (name -> text) in the volume at `root`, replacing what it held."""
    root.mkdir(parents=True, exist_ok=True)
    data = root / "..data"
    old = os.readlink(data) if data.is_symlink() else None
    version = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    (root / version).mkdir()
    for name, text in files.items():
        (root / version / name).write_text(text)
    tmp = root / "..data_tmp"
    tmp.symlink_to(version)
    os.rename(tmp, data)
    for name in files:
        link = root / name
        if not link.is_symlink():
            link.symlink_to(f"..data/{name}")
    if old is not None:
        shutil.rmtree(root / old)
