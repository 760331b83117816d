"""The gunicorn master opens no control socket (gunicorn 25.1+ does by default, in $HOME or
$XDG_RUNTIME_DIR): signals already do what it offers, and every instance of a user would share
its path."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.origin import OriginProcess


def test_the_master_opens_no_control_socket(tmp_path: Path) -> None:
    home, runtime = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    runtime.mkdir()
    with OriginProcess({"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}) as server:
        assert httpx.get(server.url("/w_64/landscape.jpg"), timeout=30).status_code == 200
        assert "Control socket" not in server.log()
        assert list(home.iterdir()) == [] and list(runtime.iterdir()) == []
