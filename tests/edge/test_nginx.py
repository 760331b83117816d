"""edge-config/nginx against real nginx and the real origin: Accept classes, one origin request
per missing object (proxy_cache_lock), stale answers while the origin is down, end users named
to the origin (X-Forwarded-For)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.edge.accepts import CHROME, FIREFOX, LEGACY, MAGIC, SAFARI_15
from tests.edge.nginx import NginxProcess
from tests.support.origin import REPO, OriginProcess

ORIGIN_ENV = {"IMGORIGIN_SOURCE": str(REPO / "samples"), "IMGORIGIN_CLOUDINARY_PREFIX": "demo"}


@pytest.fixture(scope="module")
def origin() -> Iterator[OriginProcess]:
    with OriginProcess(ORIGIN_ENV, workers=2) as server:
        yield server


@pytest.fixture(scope="module")
def nginx(origin: OriginProcess) -> Iterator[NginxProcess]:
    with NginxProcess(origin.port) as server:
        yield server


def origin_requests(origin: OriginProcess) -> float:
    return origin.metric("imgorigin_requests_total", route="transform")


def get(nginx: NginxProcess, path: str, accept: str = CHROME) -> httpx.Response:
    return httpx.get(nginx.url(path), headers={"Accept": accept}, timeout=30)


@pytest.mark.parametrize("path", [
    "/w_260,fmt_auto/products/shoe.jpg",
    # A dialect's negotiated URL too: the config's regex finds Cloudinary's `f_auto` component.
    "/demo/image/upload/w_260/f_auto/products/shoe.jpg",
])
def test_r16_nginx_accept_classes_share_and_separate(
        origin: OriginProcess, nginx: NginxProcess, path: str) -> None:
    for accept, same_class, content_type in [(CHROME, FIREFOX, "image/avif"),
                                             (SAFARI_15, "image/webp", "image/webp"),
                                             (LEGACY, "", "image/jpeg")]:
        first = get(nginx, path, accept)
        assert (first.headers["x-cache"], first.headers["content-type"]) == ("MISS", content_type)
        assert MAGIC[content_type](first.content)
        assert first.headers["vary"] == "Accept"  # kept for browser caches
        before = origin_requests(origin)
        for header in (same_class, accept):
            again = get(nginx, path, header)
            assert (again.headers["x-cache"], again.content) == ("HIT", first.content), header
        assert origin_requests(origin) == before
    # Explicit formats are stored once, whatever the Accept; query strings do not split it.
    explicit = "/w_260,fmt_webp/products/shoe.jpg" if path.startswith("/w_") else \
        "/demo/image/upload/w_260/f_webp/products/shoe.jpg"
    assert get(nginx, explicit, CHROME).headers["x-cache"] == "MISS"
    assert get(nginx, explicit, LEGACY).headers["x-cache"] == "HIT"
    assert get(nginx, explicit + "?v=2", SAFARI_15).headers["x-cache"] == "HIT"
    assert httpx.get(nginx.url("/-/metrics")).status_code == 404
    assert "surrogate-key" not in get(nginx, explicit).headers


def test_r1_nginx_cache_lock_sends_one_request_per_missing_object(
        origin: OriginProcess, nginx: NginxProcess) -> None:
    path = "/w_333,fmt_webp/landscape.jpg"
    before = origin_requests(origin)
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: get(nginx, path), range(12)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert origin_requests(origin) == before + 1


def test_r9_nginx_serves_stale_while_the_origin_is_down() -> None:
    with OriginProcess(ORIGIN_ENV) as origin, NginxProcess(origin.port, ttl="1s") as nginx:
        path = "/w_120,fmt_jpeg/landscape.jpg"
        first = get(nginx, path)
        assert first.headers["x-cache"] == "MISS"
        time.sleep(2.5)  # past the 1 s edge lifetime (nginx counts it in whole seconds)
        origin.stop()
        stale = get(nginx, path)
        assert (stale.status_code, stale.headers["x-cache"]) == (200, "STALE")
        assert stale.content == first.content
        assert get(nginx, "/w_121,fmt_jpeg/landscape.jpg").status_code == 502


def test_r13_behind_nginx_the_origin_counts_end_users_not_the_proxy() -> None:
    """edge-config/nginx names the client in X-Forwarded-For, so the miss rate limit counts each
    end user on its own, and refusals on nginx's pooled connections are never held as if nginx
    were one client re-sending early (origin/tarpit.py). The two users are two loopback source
    addresses; neither sends X-Forwarded-For itself."""
    env = {**ORIGIN_ENV, "IMGORIGIN_RATE_LIMIT": "1/m", "IMGORIGIN_RATE_LIMIT_BURST": "1",
           "IMGORIGIN_REFUSAL_HOLD": "0.8"}
    with OriginProcess(env, workers=1) as origin, NginxProcess(origin.port) as nginx:

        def miss(width: int, user: str) -> tuple[int, float]:
            transport = httpx.HTTPTransport(local_address=user)
            with httpx.Client(transport=transport, timeout=30) as client:
                started = time.perf_counter()
                r = client.get(nginx.url(f"/w_{width}/landscape.jpg"))
                return r.status_code, time.perf_counter() - started

        first = [miss(140 + i, "127.0.0.2") for i in range(4)]
        other = miss(150, "127.0.0.3")
        held = origin.metric("imgorigin_refusals_held_total")
    assert [status for status, _ in first] == [200, 429, 429, 429]
    assert max(seconds for _, seconds in first[1:]) < 0.5 and held == 0
    assert other[0] == 200  # another user has a budget of its own


def test_r16_nginx_client_hints_keep_one_object_per_step() -> None:
    """With the config's one edit for IMGORIGIN_CLIENT_HINTS, nginx keys each Sec-CH-DPR step
    apart (it ignores Vary) and sends the origin the rounded value."""
    with OriginProcess({**ORIGIN_ENV, "IMGORIGIN_CLIENT_HINTS": "true"}) as origin, \
            NginxProcess(origin.port, client_hints=True) as nginx:
        path = "/w_100,fmt_png/landscape.jpg"
        seen: dict[str, bytes] = {}
        for header, step in [("1", "1"), ("1.25", "1.5"), ("1.5", "1.5"), ("1.75", "2"),
                             ("2", "2"), ("2.625", "3"), ("9", "4"), ("junk", "1"), ("", "1")]:
            headers = {"Sec-CH-DPR": header} if header else {}
            r = httpx.get(nginx.url(path), headers=headers, timeout=30)
            assert r.status_code == 200
            assert r.headers["x-cache"] == ("HIT" if step in seen else "MISS"), header
            width = int.from_bytes(r.content[16:20], "big")
            assert width == round(100 * float(step)), header
            assert seen.setdefault(step, r.content) == r.content


def test_r16_nginx_without_its_switch_never_mixes_hinted_sizes() -> None:
    """An origin with IMGORIGIN_CLIENT_HINTS behind the config as shipped (switch off): nginx
    keys no step, so it must not send the hint either, or one object would serve every ratio
    at whatever size its first request had."""
    with OriginProcess({**ORIGIN_ENV, "IMGORIGIN_CLIENT_HINTS": "true"}) as origin, \
            NginxProcess(origin.port) as nginx:
        path = "/w_100,fmt_png/landscape.jpg"
        for header in ("2", "3", "1", ""):
            headers = {"Sec-CH-DPR": header} if header else {}
            r = httpx.get(nginx.url(path), headers=headers, timeout=30)
            assert r.status_code == 200
            assert int.from_bytes(r.content[16:20], "big") == 100, header
