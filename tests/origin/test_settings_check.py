"""A setting's name spelled wrong is said, not silently ignored: `serve` warns at start and on a
reload, and `imgorigin config --check` checks a settings file before it is deployed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from origin.settings import unknown_names
from tests.support.net import wait_until
from tests.support.origin import REPO, OriginProcess


def test_unknown_names_come_with_the_setting_they_most_likely_meant() -> None:
    env = {"IMGORIGIN_PURGE_TOKEN": "x", "IMGORIGIN_REDIS_URI": "redis://", "IMGORIGIN_MAX_DIM":
           "10", "IMGORIGIN_WHATEVER": "1", "HOME": "/root"}
    assert unknown_names(env) == [
        "IMGORIGIN_PURGE_TOKEN is not a setting (did you mean IMGORIGIN_PURGE_TOKENS?); it is "
        "ignored",
        "IMGORIGIN_REDIS_URI is not a setting (did you mean IMGORIGIN_REDIS_URL?); it is ignored",
        "IMGORIGIN_WHATEVER is not a setting; it is ignored",
    ]
    assert unknown_names({"IMGORIGIN_SOURCE": "/srv", "PATH": "/bin"}) == []


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin"}  # none of the runner's IMGORIGIN_* settings
    return subprocess.run([sys.executable, "-m", "origin.cli", "config", "--check", str(path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_config_check_exits_by_what_it_found_and_never_prints_values(tmp_path: Path) -> None:
    path = tmp_path / "imgorigin.env"
    path.write_text("IMGORIGIN_PURGE_TOKENS=s3cret-token\nIMGORIGIN_MAX_DIM=4000\n")
    ok = _check(path)
    assert ok.returncode == 0, ok.stderr
    assert "IMGORIGIN_MAX_DIM" in ok.stdout and "IMGORIGIN_PURGE_TOKENS" in ok.stdout
    path.write_text("IMGORIGIN_PURGE_TOKEN=s3cret-token\n")
    typo = _check(path)
    assert typo.returncode == 1 and "did you mean IMGORIGIN_PURGE_TOKENS?" in typo.stderr
    path.write_text("IMGORIGIN_MAX_DIM=lots\nIMGORIGIN_PURGE_TOKENS=s3cret-token\n")
    broken = _check(path)
    assert broken.returncode == 2 and "IMGORIGIN_MAX_DIM" in broken.stderr
    path.write_text("NOT A LINE\n")
    assert _check(path).returncode == 2
    for run in (ok, typo, broken):
        assert "s3cret" not in run.stdout + run.stderr


def test_serve_warns_at_start_and_on_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "imgorigin.env"
    path.write_text("IMGORIGIN_PURGE_TOKEN=x\n")
    env = {"IMGORIGIN_ENV_FILE": str(path), "IMGORIGIN_ENV_FILE_WATCH": "0.2",
           "IMGORIGIN_SIGNING_KEY": "00"}
    with OriginProcess(env) as server:
        log = server.log()
        for typo in ("PURGE_TOKEN", "SIGNING_KEY"):  # one from the file, one from the process
            assert (f"IMGORIGIN_{typo} is not a setting (did you mean IMGORIGIN_{typo}S?)"
                    in log), typo
        path.write_text("IMGORIGIN_REDIS_URI=redis://127.0.0.1:1/0\n")
        assert wait_until(lambda: "IMGORIGIN_REDIS_URI is not a setting (did you mean "
                                  "IMGORIGIN_REDIS_URL?)" in server.log(), 20)
