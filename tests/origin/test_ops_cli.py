"""`imgorigin purge` and `imgorigin warm` against a real origin: batching, token lookup, what
they print and their exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from origin.operator_api import MAX_WARM_PATHS
from tests.support.net import free_port
from tests.support.origin import REPO, OriginProcess

TOKEN = "cli-token"


@pytest.fixture(scope="module")
def origin() -> Iterator[OriginProcess]:
    env = {"IMGORIGIN_SOURCE": str(REPO / "samples"), "IMGORIGIN_PURGE_TOKENS": TOKEN}
    with OriginProcess(env) as server:
        yield server


def imgorigin(*args: str, stdin: str = "", env: dict[str, str] | None = None,
              ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("IMGORIGIN_")}
    return subprocess.run([sys.executable, "-m", "origin.cli", *args], input=stdin, cwd=REPO,
                          env={**base, **(env or {})}, capture_output=True, text=True,
                          timeout=300)


def tier(origin: OriginProcess, path: str) -> str:
    return httpx.get(origin.url(path), timeout=30).headers["server-timing"].split(";")[0]


def test_warm_reads_stdin_in_batches_and_the_variants_are_then_hits(
        origin: OriginProcess) -> None:
    # More paths than one call takes: the command splits them.
    paths = [f"/w_{20 + i},fmt_webp/landscape.jpg" for i in range(MAX_WARM_PATHS + 5)]
    before = origin.metric("imgorigin_requests_total", route="warm")
    run = imgorigin("warm", "--server", origin.base, "--token", TOKEN,
                    stdin="\n".join(paths) + "\n\n")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[-1] == f"{len(paths)} variants warm, 0 failed"
    assert all(line.startswith("200 /w_") and " webp " in line for line in lines[:-1])
    assert origin.metric("imgorigin_requests_total", route="warm") == before + 2
    assert tier(origin, paths[0]) in ("memory", "disk")
    assert tier(origin, paths[-1]) in ("memory", "disk")


def test_warm_reports_failures_with_exit_status_1(origin: OriginProcess) -> None:
    run = imgorigin("warm", "--server", origin.base, "--token", TOKEN,
                    "/w_30,fmt_auto/landscape.jpg", "/w_30/missing.jpg")
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["200", "200", "200", "404"]
    assert "[avif]" in lines[0] and "[legacy]" in lines[2]
    assert lines[-1] == "3 variants warm, 1 failed"


def test_purge_takes_the_token_from_the_servers_setting_and_prints_the_answer(
        origin: OriginProcess) -> None:
    path = "/w_44,fmt_jpeg/products/shoe.jpg"
    tier(origin, path)
    assert tier(origin, path) == "memory"
    run = imgorigin("purge", "--server", origin.base, "products/shoe.jpg", "--prefix", "docs/",
                    "--soft", "--watermark", "logo",
                    env={"IMGORIGIN_PURGE_TOKENS": f"{TOKEN},other"})
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["sources"] == ["products/shoe.jpg"] and answer["prefixes"] == ["docs/"]
    assert answer["watermarks"] == ["logo"]
    assert tier(origin, path) == "transform"


@pytest.mark.parametrize(("args", "env", "message"), [
    (["purge", "x.jpg"], {}, "no token"),
    (["purge"], {"IMGORIGIN_PURGE_TOKENS": TOKEN}, "name sources"),
    (["purge", "--token", "wrong", "x.jpg"], {}, "answered 403"),
    (["warm", "--token", "wrong", "/w_10/x.jpg"], {}, "answered 403"),
])
def test_usage_and_refusals_exit_2_with_a_reason(
        origin: OriginProcess, args: list[str], env: dict[str, str], message: str) -> None:
    run = imgorigin(*args, "--server", origin.base, env=env)
    assert run.returncode == 2 and message in run.stderr, (run.stdout, run.stderr)


def test_an_unreachable_server_exits_2() -> None:
    run = imgorigin("warm", "--server", f"http://127.0.0.1:{free_port()}", "--token", TOKEN,
                    "/w_10/x.jpg")
    assert run.returncode == 2 and "ConnectError" in run.stderr, run.stderr
