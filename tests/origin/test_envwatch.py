"""IMGORIGIN_ENV_FILE_WATCH: the master reloads when the settings file's bytes change (a
Kubernetes Secret updated behind its symlinks, a file edited), and only then."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from origin.envwatch import EnvFileWatcher
from tests.support.kubelet import write_volume
from tests.support.net import wait_until
from tests.support.origin import OriginProcess


class _Calls:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def test_a_swapped_secret_volume_is_one_change(tmp_path: Path) -> None:
    write_volume(tmp_path, {"imgorigin.env": "IMGORIGIN_PURGE_TOKENS=a\n"})
    calls = _Calls()
    watcher = EnvFileWatcher(str(tmp_path / "imgorigin.env"), 1, calls)
    assert not watcher.check()
    write_volume(tmp_path, {"imgorigin.env": "IMGORIGIN_PURGE_TOKENS=b\n"})
    assert watcher.check() and calls.count == 1
    assert not watcher.check() and calls.count == 1


def test_the_same_bytes_again_are_no_change(tmp_path: Path) -> None:
    path = tmp_path / "imgorigin.env"
    path.write_text("IMGORIGIN_PURGE_TOKENS=a\n")
    calls = _Calls()
    watcher = EnvFileWatcher(str(path), 1, calls)
    os.utime(path, ns=(1, 1))  # touched: another stat, the same settings
    assert not watcher.check()
    write_volume(tmp_path / "secret", {"imgorigin.env": "IMGORIGIN_PURGE_TOKENS=a\n"})
    path.unlink()
    path.symlink_to(tmp_path / "secret" / "imgorigin.env")  # another inode, the same bytes
    assert not watcher.check() and calls.count == 0


def test_an_optional_file_that_appears_or_goes_is_a_change(tmp_path: Path) -> None:
    path = tmp_path / "imgorigin.env"
    calls = _Calls()
    watcher = EnvFileWatcher(f"-{path}", 1, calls)
    assert not watcher.check()
    path.write_text("IMGORIGIN_PURGE_TOKENS=a\n")
    assert watcher.check()
    path.unlink()
    assert watcher.check() and calls.count == 2


def _purge(server: OriginProcess, token: str) -> int:
    return httpx.post(server.url("/-/purge"), json={"sources": ["landscape.jpg"]},
                      headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def test_the_server_takes_a_rotated_secret_without_a_signal(tmp_path: Path) -> None:
    volume = tmp_path / "etc-imgorigin"
    write_volume(volume, {"imgorigin.env": "IMGORIGIN_PURGE_TOKENS=old-token\n"})
    env = {"IMGORIGIN_ENV_FILE": f"-{volume / 'imgorigin.env'}",
           "IMGORIGIN_ENV_FILE_WATCH": "0.2"}
    with OriginProcess(env, workers=2) as server:
        assert _purge(server, "old-token") == 200 and _purge(server, "new-token") == 403
        before = set(server.worker_pids())
        write_volume(volume, {"imgorigin.env": "IMGORIGIN_PURGE_TOKENS=new-token\n"})
        assert wait_until(lambda: len(server.worker_pids()) == 2
                          and not before & set(server.worker_pids()), 30)
        assert wait_until(lambda: _purge(server, "new-token") == 200, 10)
        assert [_purge(server, "old-token") for _ in range(4)] == [403] * 4
        assert "imgorigin.env changed, reloading" in server.log()
        # A touch of the file (the same bytes) replaces no worker.
        settled = set(server.worker_pids())
        os.utime(volume / "imgorigin.env")
        assert not wait_until(lambda: set(server.worker_pids()) != settled, 2)
