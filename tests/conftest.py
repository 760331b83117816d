"""Shared fixtures: the corpus, sample images made on the fly, and real servers on loopback."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support.origin import REPO, OriginProcess
from tests.support.redis_server import RedisProcess
from tests.support.upstream import Upstream

settings.register_profile("default", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=200_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

CORPUS = (REPO / ".." / "shared" / "corpus").resolve()
OUTPUT = REPO / "tests" / "output"


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared image corpus, read-only; tests that need it skip when it is absent."""
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.skip(f"image corpus not found at {CORPUS} (../shared/corpus); skipping")
    return CORPUS


def read_manifest(corpus: Path) -> list[dict[str, str]]:
    with open(corpus / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.fixture(scope="session")
def manifest(corpus: Path) -> list[dict[str, str]]:
    return read_manifest(corpus)


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return REPO / "samples"


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    """A per-test folder under tests/output for screenshots and reports."""
    path = OUTPUT / request.node.name.replace("/", "_")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


@pytest.fixture(scope="module")
def origin(samples_dir: Path) -> Iterator[OriginProcess]:
    """One origin worker over the bundled samples, with purge enabled (token `test-token`)."""
    with OriginProcess({"IMGORIGIN_SOURCE": str(samples_dir),
                        "IMGORIGIN_PURGE_TOKENS": "test-token"}) as server:
        yield server


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    server = RedisProcess().start()
    try:
        yield server
    finally:
        server.stop()
