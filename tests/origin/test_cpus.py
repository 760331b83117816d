"""The worker count's default: affinity mask capped by the cgroup CPU quota (origin/cpus.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from origin import cpus


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


@pytest.mark.parametrize(("cpu_max", "expected"), [
    ("200000 100000", 2.0), ("150000 100000", 1.5), ("50000 100000", 0.5), ("max 100000", None),
])
def test_cgroup_v2_quota_in_a_container(tmp_path: Path, cpu_max: str,
                                        expected: float | None) -> None:
    _write(tmp_path / "cpu.max", cpu_max)
    assert cpus.cgroup_cpu_limit(tmp_path, "0::/\n") == expected


def test_cgroup_v2_own_group_on_a_host(tmp_path: Path) -> None:
    # A service's group lies below the root, which has no quota of its own.
    _write(tmp_path / "system.slice" / "imgorigin.service" / "cpu.max", "300000 100000")
    assert cpus.cgroup_cpu_limit(tmp_path, "0::/system.slice/imgorigin.service\n") == 3.0


@pytest.mark.parametrize(("quota", "expected"), [("400000", 4.0), ("-1", None)])
def test_cgroup_v1_cfs_quota(tmp_path: Path, quota: str, expected: float | None) -> None:
    _write(tmp_path / "cpu" / "docker" / "abc" / "cpu.cfs_quota_us", quota)
    _write(tmp_path / "cpu" / "docker" / "abc" / "cpu.cfs_period_us", "100000")
    proc = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n"
    assert cpus.cgroup_cpu_limit(tmp_path, proc) == expected


def test_no_cgroup_files_means_no_limit(tmp_path: Path) -> None:
    assert cpus.cgroup_cpu_limit(tmp_path, "") is None


@pytest.mark.parametrize(("cpu_max", "affinity", "expected"), [
    ("150000 100000", 8, 2),   # a quota of 1.5 CPUs keeps two workers busy
    ("200000 100000", 8, 2),
    ("800000 100000", 3, 3),   # the affinity mask is the smaller
    ("10000 100000", 8, 1),    # never 0
    ("max 100000", 6, 6),
])
def test_usable_cpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_max: str,
                     affinity: int, expected: int) -> None:
    _write(tmp_path / "cpu.max", cpu_max)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(affinity)))
    assert cpus.usable_cpus(tmp_path, "0::/\n") == expected
