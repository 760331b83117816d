"""A throwaway nginx (master + 1 worker, foreground) running edge-config/nginx/imgorigin.conf
with only the lines an operator edits changed: origin address, listen port, cache directory;
with `purge`, also imgorigin-purge.conf on a port of its own (ngx_cache_purge loaded)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.net import free_port, port_open, stop_process, wait_until
from tests.support.origin import REPO
from tests.support.redis_server import require

CONF = REPO / "edge-config" / "nginx" / "imgorigin.conf"
PURGE_CONF = REPO / "edge-config" / "nginx" / "imgorigin-purge.conf"
# Where Debian's libnginx-mod-http-cache-purge puts the module.
PURGE_MODULE = Path("/usr/lib/nginx/modules/ngx_http_cache_purge_module.so")


def deployable_conf(origin_port: int, port: int, cache_dir: str, ttl: str | None = None,
                    client_hints: bool = False, follow_origin: bool = False) -> str:
    text = CONF.read_text()
    edits = [
        (r"server 127\.0\.0\.1:8080;", f"server 127.0.0.1:{origin_port};"),
        (r"listen 8081;", f"listen 127.0.0.1:{port};"),
        (r"proxy_cache_path /var/cache/nginx/imgorigin ", f"proxy_cache_path {cache_dir} "),
    ]
    if ttl is not None:
        edits.append((r"proxy_cache_valid 200 10m;", f"proxy_cache_valid 200 {ttl};"))
    if follow_origin:
        # The edit the config's comment offers beside imgorigin-purge.conf.
        edits.append((r"proxy_ignore_headers Vary Cache-Control Expires Set-Cookie;",
                      "proxy_ignore_headers Vary Set-Cookie;"))
    if client_hints:
        # The one edit the config's comment asks for with IMGORIGIN_CLIENT_HINTS=true.
        edits.append((r'(map \$imgorigin_dpr \$imgorigin_dpr_key \{\n    )default "";',
                      r"\1default $imgorigin_dpr;"))
    for pattern, replacement in edits:
        text, n = re.subn(pattern, replacement, text, count=1)
        assert n == 1, pattern
    return text


def deployable_purge_conf(port: int) -> str:
    text, n = re.subn(r"listen 127\.0\.0\.1:8082;", f"listen 127.0.0.1:{port};",
                      PURGE_CONF.read_text(), count=1)
    assert n == 1
    return text


class NginxProcess:
    def __init__(self, origin_port: int, ttl: str | None = None,
                 client_hints: bool = False, purge: bool = False,
                 follow_origin: bool = False) -> None:
        self.port = free_port()
        self.purge_port = free_port() if purge else 0
        self.dir = tempfile.mkdtemp(prefix="imgorigin-nginx-")
        os.chmod(self.dir, 0o755)
        site = Path(self.dir) / "imgorigin.conf"
        site.write_text(deployable_conf(origin_port, self.port, f"{self.dir}/cache", ttl,
                                        client_hints, follow_origin))
        temp = "".join(f"    {kind}_temp_path {self.dir}/{kind};\n"
                       for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        user = "user root root;\n" if os.geteuid() == 0 else ""
        module = include = ""
        if purge:
            if not PURGE_MODULE.exists():
                pytest.fail(f"{PURGE_MODULE} is missing; `make test` installs it "
                            "(make system-deps: libnginx-mod-http-cache-purge)")
            module = f"load_module {PURGE_MODULE};\n"
            (Path(self.dir) / "imgorigin-purge.conf").write_text(
                deployable_purge_conf(self.purge_port))
            include = f"    include {self.dir}/imgorigin-purge.conf;\n"
        (Path(self.dir) / "nginx.conf").write_text(
            f"{module}{user}daemon off;\nworker_processes 1;\npid {self.dir}/nginx.pid;\n"
            f"error_log {self.dir}/error.log warn;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n    access_log off;\n{temp}    include {site};\n{include}}}\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.port}"
        self.purge_base = f"http://127.0.0.1:{self.purge_port}"

    def _cmd(self, *extra: str) -> list[str]:
        return [require("nginx"), "-p", self.dir, "-c", f"{self.dir}/nginx.conf",
                "-e", f"{self.dir}/error.log", *extra]

    def check(self) -> str:
        """`nginx -t` on the deployable config; returns its output."""
        done = subprocess.run(self._cmd("-t"), capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stderr

    def start(self) -> NginxProcess:
        self.check()
        self.proc = subprocess.Popen(self._cmd(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if not wait_until(lambda: port_open(self.port), 15):
            self.stop()
            raise RuntimeError("nginx did not start")
        return self

    def url(self, path: str) -> str:
        return self.base + path

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGQUIT, timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> NginxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
