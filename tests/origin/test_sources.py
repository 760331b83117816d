"""Sources: a local directory that cannot be escaped, and an HTTP base URL on a real upstream."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.origin import OriginProcess
from tests.support.upstream import Upstream


def tier(response: httpx.Response) -> str:
    return response.headers["server-timing"].split(";")[0]


@pytest.fixture(scope="module")
def http_origin(upstream: Upstream, samples_dir: Path) -> Iterator[OriginProcess]:
    upstream.add("shoe.jpg", (samples_dir / "products" / "shoe.jpg").read_bytes(), '"v1"')
    upstream.add("logo.png", (samples_dir / "logo.png").read_bytes(), '"l1"')
    env = {
        "IMGORIGIN_SOURCE": upstream.base + "/files/",
        # Revalidate on every request, in the request, to see conditional GETs.
        "IMGORIGIN_SOURCE_TTL": "0", "IMGORIGIN_SOURCE_STALE": "0",
        "IMGORIGIN_NOT_FOUND_TTL": "60",
    }
    with OriginProcess(env) as server:
        yield server


def test_http_source_fetched_once_for_many_sizes(
    http_origin: OriginProcess, upstream: Upstream
) -> None:
    before = upstream.hits["/files/shoe.jpg"]
    for w in (100, 120, 140, 160):
        r = httpx.get(http_origin.url(f"/w_{w}/shoe.jpg"), timeout=30)
        assert r.status_code == 200
        assert r.headers["content-type"] == "image/jpeg"
    # The first request fetches; the others revalidate (304) and reuse the kept original.
    assert http_origin.metric("imgorigin_transforms_total") >= 4
    full_fetches = http_origin.metric("imgorigin_source_bytes_total")
    assert full_fetches == len(upstream.files["shoe.jpg"][0])
    assert upstream.hits["/files/shoe.jpg"] - before == 4


def test_hit_fetches_no_source_body_and_runs_no_pipeline(
    http_origin: OriginProcess, upstream: Upstream
) -> None:
    path = "/w_90,h_90,fmt_png/logo.png"
    assert httpx.get(http_origin.url(path), timeout=30).status_code == 200
    transforms = http_origin.metric("imgorigin_transforms_total")
    source_bytes = http_origin.metric("imgorigin_source_bytes_total")
    again = httpx.get(http_origin.url(path), timeout=30)
    assert again.status_code == 200 and tier(again) == "memory"
    assert http_origin.metric("imgorigin_transforms_total") == transforms
    assert http_origin.metric("imgorigin_source_bytes_total") == source_bytes


def test_changed_upstream_etag_gives_a_new_variant(
    http_origin: OriginProcess, upstream: Upstream, samples_dir: Path
) -> None:
    upstream.add("swap.jpg", (samples_dir / "products" / "shoe.jpg").read_bytes(), '"a"')
    first = httpx.get(http_origin.url("/w_50/swap.jpg"), timeout=30)
    upstream.add("swap.jpg", (samples_dir / "landscape.jpg").read_bytes(), '"b"')
    second = httpx.get(http_origin.url("/w_50/swap.jpg"), timeout=30)
    assert tier(second) == "transform"
    assert first.headers["etag"] != second.headers["etag"]
    assert first.content != second.content


def test_upstream_404_is_negatively_cached(
    http_origin: OriginProcess, upstream: Upstream
) -> None:
    for _ in range(3):
        r = httpx.get(http_origin.url("/w_50/absent.jpg"), timeout=30)
        assert r.status_code == 404
        assert r.headers["cache-control"] == "public, max-age=60"
    assert upstream.hits["/files/absent.jpg"] == 1


def test_dot_segments_never_leave_the_base(http_origin: OriginProcess) -> None:
    r = httpx.get(http_origin.url("/w_50/..%2Fstatus%2F500"), timeout=30)
    assert r.status_code == 400


def test_upstream_failures_map_to_502_and_504(upstream: Upstream, samples_dir: Path) -> None:
    upstream.add("slow.jpg", (samples_dir / "products" / "shoe.jpg").read_bytes())
    env = {"IMGORIGIN_SOURCE": upstream.base + "/", "IMGORIGIN_FETCH_TIMEOUT": "1"}
    with OriginProcess(env) as server:
        for path, status in {
            "/w_50/status/500": 502,
            "/w_50/status/503": 502,
            "/w_50/status/403": 502,
            "/w_50/status/410": 404,
            "/w_50/reset/x.jpg": 502,
            "/w_50/delay/3/slow.jpg": 504,
            "/w_50/files/slow.jpg": 200,
        }.items():
            r = httpx.get(server.url(path), timeout=30)
            assert r.status_code == status, (path, r.text)
            if status >= 500:
                assert r.headers["cache-control"] == "no-store"
                assert upstream.base not in r.text and "127.0.0.1" not in r.text


def test_local_symlink_out_of_root_is_not_found(tmp_path: Path, samples_dir: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.png").write_bytes((samples_dir / "logo.png").read_bytes())
    outside = tmp_path / "secret.png"
    outside.write_bytes((samples_dir / "logo.png").read_bytes())
    os.symlink(outside, root / "escape.png")
    with OriginProcess({"IMGORIGIN_SOURCE": str(root)}) as server:
        assert httpx.get(server.url("/w_10/ok.png"), timeout=30).status_code == 200
        assert httpx.get(server.url("/w_10/escape.png"), timeout=30).status_code == 404
        assert httpx.get(server.url("/w_10/%2Fetc%2Fpasswd"), timeout=30).status_code == 400
        assert httpx.get(server.url("/w_10/a%00b.png"), timeout=30).status_code == 400
