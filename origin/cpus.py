"""How many CPUs this process may use: its affinity mask and its cgroup's CPU quota.

`os.cpu_count()` counts the host's CPUs, so a container limited to 2 CPUs on a 64-core node would
start 64 workers (each with its own caches and libvips) and be throttled and killed for memory.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _own_groups(proc_cgroup: str) -> dict[str, str]:
    """This process's cgroup path per controller ("" for v2's unified tree), from
    /proc/self/cgroup."""
    groups: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        _, controllers, path = line.split(":", 2) if line.count(":") >= 2 else ("", "", "")
        for name in controllers.split(",") if controllers else [""]:
            groups[name] = path.lstrip("/")
    return groups


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, proc_cgroup: str | None = None) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (cgroup v2 `cpu.max`, else v1's CFS
    quota), or None when there is none or it cannot be read. A container sees its own group at
    the root of the tree; a service on a host sees it under its path in /proc/self/cgroup."""
    if proc_cgroup is None:
        proc_cgroup = _read(Path("/proc/self/cgroup"))
    groups = _own_groups(proc_cgroup)
    for directory in dict.fromkeys((root / groups.get("", ""), root)):
        v2 = _read(directory / "cpu.max").split()
        if len(v2) == 2:
            return None if v2[0] == "max" else _ratio(*v2)
    v1 = root / "cpu"
    for directory in dict.fromkeys((v1 / groups.get("cpu", ""), v1)):
        limit = _ratio(_read(directory / "cpu.cfs_quota_us"),
                       _read(directory / "cpu.cfs_period_us"))
        if limit is not None:
            return limit
    return None


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    if q <= 0 or p <= 0:  # v1 writes -1 for "no quota"
        return None
    return q / p


def usable_cpus(root: Path = CGROUP_ROOT, proc_cgroup: str | None = None) -> int:
    """CPUs this process may run on: the affinity mask, capped by the cgroup quota rounded up
    (a quota of 1.5 CPUs keeps 2 workers busy), at least 1."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root, proc_cgroup)
    if limit is not None:
        count = min(count, math.ceil(limit))
    return max(1, count)
