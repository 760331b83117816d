"""IMGORIGIN_ENV_FILE: systemd's EnvironmentFile format, applied over the process's own
environment, checked before anything changes; re-read on SIGHUP so settings (purge tokens,
signing keys) change without a restart, and a broken file keeps the running settings."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from origin.envfile import EnvFile, EnvFileError, parse
from origin.settings import SettingsError
from tests.support.net import wait_until
from tests.support.origin import OriginProcess


def test_the_systemd_format() -> None:
    text = """
# a comment
; another
IMGORIGIN_PURGE_TOKENS=a,b
export IMGORIGIN_LOG_LEVEL = warning
IMGORIGIN_PRESETS="thumb:w_64;hero:w_800,g_north"
QUOTED='single # not a comment'
ESCAPED="say \\"hi\\" \\\\ bye"
EMPTY=
"""
    assert parse(text) == {
        "IMGORIGIN_PURGE_TOKENS": "a,b", "IMGORIGIN_LOG_LEVEL": "warning",
        "IMGORIGIN_PRESETS": "thumb:w_64;hero:w_800,g_north",
        "QUOTED": "single # not a comment", "ESCAPED": 'say "hi" \\ bye', "EMPTY": ""}


@pytest.mark.parametrize(("text", "line"), [
    ("IMGORIGIN_PURGE_TOKENS", "line 1"), ("=x", "line 1"), ("\n9NAME=x", "line 2"),
    ("A B=x", "line 1"), ('A="open', "line 1"),
])
def test_a_line_that_is_not_name_value_is_named(text: str, line: str) -> None:
    with pytest.raises(EnvFileError, match=line):
        parse(text)


def test_the_file_goes_over_the_process_environment_and_a_dropped_name_falls_back(
        tmp_path: Path) -> None:
    path = tmp_path / "imgorigin.env"
    environ = {"IMGORIGIN_LOG_LEVEL": "info", "HOME": "/root"}
    env_file = EnvFile(str(path), environ)
    path.write_text("IMGORIGIN_LOG_LEVEL=warning\nIMGORIGIN_PURGE_TOKENS=t1\n")
    assert env_file.apply().purge_tokens == ("t1",)
    assert environ == {"IMGORIGIN_LOG_LEVEL": "warning", "IMGORIGIN_PURGE_TOKENS": "t1",
                       "HOME": "/root"}
    path.write_text("IMGORIGIN_PURGE_TOKENS=t2\nIMGORIGIN_ENV_FILE=/elsewhere\n")
    env_file.apply()
    assert environ == {"IMGORIGIN_LOG_LEVEL": "info", "IMGORIGIN_PURGE_TOKENS": "t2",
                       "HOME": "/root"}


def test_nothing_changes_when_the_settings_do_not_parse_or_the_file_is_gone(
        tmp_path: Path) -> None:
    path = tmp_path / "imgorigin.env"
    path.write_text("IMGORIGIN_PURGE_TOKENS=t1\n")
    environ: dict[str, str] = {}
    env_file = EnvFile(str(path), environ)
    env_file.apply()
    path.write_text("IMGORIGIN_PURGE_TOKENS=t2\nIMGORIGIN_MAX_DIM=lots\n")
    with pytest.raises(SettingsError, match="IMGORIGIN_MAX_DIM"):
        env_file.apply()
    assert not env_file.reload()
    path.unlink()
    with pytest.raises(EnvFileError, match=r"imgorigin\.env"):
        env_file.apply()
    assert environ == {"IMGORIGIN_PURGE_TOKENS": "t1"}


def test_a_path_with_a_leading_dash_may_be_missing(tmp_path: Path) -> None:
    environ = {"IMGORIGIN_LOG_LEVEL": "info"}
    missing = tmp_path / "absent.env"
    assert EnvFile(f"-{missing}", environ).apply().log_level == "info"
    with pytest.raises(EnvFileError, match="no such file"):
        EnvFile(str(missing), environ).apply()
    missing.write_text("IMGORIGIN_LOG_LEVEL=debug\n")
    assert EnvFile(f"-{missing}", environ).apply().log_level == "debug"


def _purge(server: OriginProcess, token: str) -> int:
    return httpx.post(server.url("/-/purge"), json={"sources": ["landscape.jpg"]},
                      headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def test_sighup_rereads_the_file_and_a_broken_one_keeps_the_running_settings(
        tmp_path: Path) -> None:
    path = tmp_path / "imgorigin.env"
    path.write_text("IMGORIGIN_PURGE_TOKENS=old-token\n")
    # The watcher off: the signal alone re-reads the file (tests/origin/test_envwatch.py).
    with OriginProcess({"IMGORIGIN_ENV_FILE": str(path), "IMGORIGIN_ENV_FILE_WATCH": "0"},
                       workers=2) as server:
        assert server.proc is not None
        assert _purge(server, "old-token") == 200 and _purge(server, "new-token") == 403

        def reload() -> None:
            before = set(server.worker_pids())
            server.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
            assert wait_until(lambda: len(server.worker_pids()) == 2
                              and not before & set(server.worker_pids()), 30)

        # Key rotation: both tokens for a while, then only the new one.
        path.write_text("IMGORIGIN_PURGE_TOKENS=old-token,new-token\n")
        reload()
        assert _purge(server, "old-token") == 200 and _purge(server, "new-token") == 200
        path.write_text("IMGORIGIN_PURGE_TOKENS=new-token\n")
        reload()
        assert [_purge(server, "old-token") for _ in range(4)] == [403] * 4
        assert _purge(server, "new-token") == 200

        # A broken file: logged, and the workers keep the settings they had.
        path.write_text("IMGORIGIN_PURGE_TOKENS=other\nIMGORIGIN_MAX_DIM=lots\n")
        reload()
        assert wait_until(lambda: "IMGORIGIN_ENV_FILE not applied" in server.log(), 5)
        assert _purge(server, "new-token") == 200 and _purge(server, "other") == 403
        assert httpx.get(server.url("/w_64/landscape.jpg"), timeout=30).status_code == 200


def test_a_broken_file_stops_the_server_from_starting(tmp_path: Path) -> None:
    path = tmp_path / "imgorigin.env"
    path.write_text("IMGORIGIN_MAX_DIM=lots\n")
    with pytest.raises(RuntimeError, match="IMGORIGIN_MAX_DIM"):
        OriginProcess({"IMGORIGIN_ENV_FILE": str(path)}).start(timeout=20)
