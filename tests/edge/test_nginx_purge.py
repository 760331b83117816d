"""Instant purges of nginx (edge-config/nginx/imgorigin-purge.conf, ngx_cache_purge) by the
origin's nginx purger, against real nginx and real origins: every object of a purged source
goes (each Accept class, dialect, imgix query and percent-encoded URLs, client-hinted steps),
other sources stay; paths answered by one origin host are purged from another through Redis; a
purge the purge server missed is retried by the next one."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis

from cache.keys import source_hash
from cache.redis_keys import KeyLayout
from origin.security.signing import sign_imgix
from tests.edge.accepts import CHROME, LEGACY, SAFARI_15
from tests.edge.nginx import CONF, PURGE_CONF, NginxProcess
from tests.support.origin import REPO, OriginProcess
from tests.support.redis_server import RedisProcess
from tests.support.tcp_proxy import TcpProxy

TOKEN = "nginx-purge-token"
SAMPLES = REPO / "samples"


def get(nginx: NginxProcess, path: str, accept: str = CHROME,
        **headers: str) -> httpx.Response:
    r = httpx.get(nginx.url(path), headers={"Accept": accept, **headers}, timeout=30)
    assert r.status_code == 200, (path, r.status_code, r.text[:200])
    return r


def purge(origin: OriginProcess, **body: Any) -> dict[str, Any]:
    r = httpx.post(origin.url("/-/purge"), json=body, timeout=30,
                   headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    return r.json()


def sources_dir(tmp_path: Path) -> Path:
    """A copy of two samples the test can replace: `pic.jpg` and `other.jpg`."""
    shutil.copy(SAMPLES / "landscape.jpg", tmp_path / "pic.jpg")
    shutil.copy(SAMPLES / "landscape.jpg", tmp_path / "other.jpg")
    (tmp_path / "dir with space").mkdir()
    shutil.copy(SAMPLES / "landscape.jpg", tmp_path / "dir with space" / "pic.jpg")
    return tmp_path


@contextmanager
def nginx_and_origin(source: Path, env: dict[str, str] | None = None, workers: int = 2,
                     purge_url: str | None = None,
                     client_hints: bool = False) -> Iterator[tuple[OriginProcess, NginxProcess]]:
    origin = OriginProcess({"IMGORIGIN_SOURCE": str(source), "IMGORIGIN_PURGE_TOKENS": TOKEN,
                            "IMGORIGIN_CLOUDINARY_PREFIX": "demo",
                            "IMGORIGIN_IMGIX_PREFIX": "imgix", **(env or {})},
                           workers=workers)
    # An hour: only a purge can make these objects miss within the test.
    nginx = NginxProcess(origin.port, ttl="1h", purge=True, client_hints=client_hints)
    origin.env["IMGORIGIN_CDN_PURGERS"] = f"nginx:{purge_url or nginx.purge_base}"
    with origin, nginx:
        yield origin, nginx


def test_r16_nginx_purge_server_keys_objects_as_the_cache_does() -> None:
    """The purge server must compute imgorigin.conf's key, or every PURGE names nothing."""
    (cache_key,) = re.findall(r'proxy_cache_key "([^"]+)";', CONF.read_text())
    (purge_key,) = re.findall(r'proxy_cache_purge imgorigin "([^"]+)";', PURGE_CONF.read_text())
    assert purge_key == cache_key


PIC_PATHS = [
    ("/w_200,fmt_auto/pic.jpg", (CHROME, SAFARI_15, LEGACY)),  # one object per Accept class
    ("/w_200,fmt_webp/pic.jpg", (CHROME,)),
    ("/h_90,fmt_png/pic.jpg", (CHROME,)),
    ("/demo/image/upload/w_150/f_auto/pic.jpg", (CHROME, LEGACY)),  # a dialect URL
    # imgix's options are its query, part of nginx's key: each query is an object of its own.
    ("/imgix/pic.jpg?w=150&auto=format", (CHROME, LEGACY)),
    ("/imgix/pic.jpg?w=120&fm=png", (CHROME,)),
]


def test_r14_nginx_purge_removes_every_object_of_the_source_and_only_those(
        tmp_path: Path) -> None:
    source = sources_dir(tmp_path)
    with nginx_and_origin(source) as (origin, nginx):
        old: dict[tuple[str, str], bytes] = {}
        for path, accepts in PIC_PATHS:
            for accept in accepts:
                assert get(nginx, path, accept).headers["x-cache"] == "MISS"
                hit = get(nginx, path, accept)
                assert hit.headers["x-cache"] == "HIT", (path, accept)
                old[path, accept] = hit.content
        spaced = "/w_100,fmt_jpeg/dir%20with%20space/pic.jpg"  # percent-encoded as sent
        get(nginx, spaced)
        other = "/w_200,fmt_webp/other.jpg"
        get(nginx, other)
        assert get(nginx, other).headers["x-cache"] == "HIT"

        shutil.copy(SAMPLES / "products" / "shoe.jpg", source / "pic.jpg")  # replaced
        result = purge(origin, sources=["pic.jpg"])
        (cdn,) = result["cdn"]
        objects = sum(len(accepts) for _, accepts in PIC_PATHS)
        assert cdn == {"name": f"nginx:{nginx.purge_base}", "ok": True, "purged_tags": 1,
                       "soft": False,
                       "detail": {"paths": len(PIC_PATHS), "objects": objects}}, cdn

        for path, accepts in PIC_PATHS:
            for accept in accepts:
                fresh = get(nginx, path, accept)
                assert fresh.headers["x-cache"] == "MISS", (path, accept)
                assert fresh.content != old[path, accept], (path, accept)
        assert get(nginx, other).headers["x-cache"] == "HIT"
        assert get(nginx, spaced).headers["x-cache"] == "HIT"

        # The refills were recorded again: a second purge finds them (and the spaced source's
        # path, named as sent, is purged with its own source).
        (cdn,) = purge(origin, sources=["pic.jpg", "dir with space/pic.jpg"])["cdn"]
        assert cdn["ok"] and cdn["detail"] == {"paths": len(PIC_PATHS) + 1,
                                               "objects": objects + 1}, cdn
        assert get(nginx, spaced).headers["x-cache"] == "MISS"
        # Nothing left to name: a third purge sends nothing.
        (cdn,) = purge(origin, sources=["pic.jpg"])["cdn"]
        assert cdn["ok"] and cdn["detail"] == {"paths": 0, "objects": 0}, cdn


def test_r16_on_the_imgix_hostname_nginx_serves_every_path_as_an_imgix_url(
        tmp_path: Path) -> None:
    """imgix's SDKs take a bare domain: on that hostname nginx puts the prefix in front of the
    request URI as sent, so a signature over an encoded path holds, the object is the prefixed
    URL's, and purges reach it."""
    source = sources_dir(tmp_path)
    token = "nginx-imgix-token"
    with nginx_and_origin(source, env={"IMGORIGIN_IMGIX_TOKENS": token}, workers=1) as (
            origin, nginx):
        # `%2E` stays encoded only if nginx passes the URI as sent: imgix signs it so, and the
        # origin checks the path it receives (a decoded or re-encoded one is a 403).
        path, query = "/pic%2Ejpg", "w=140&fm=png"
        url = f"{path}?{query}&s={sign_imgix(f'{path}?{query}', token)}"
        first = get(nginx, url, Host="imgix.example.com")
        assert first.headers["content-type"] == "image/png"
        assert first.headers["x-cache"] == "MISS"
        assert get(nginx, url, Host="IMGIX.example.com:443").headers["x-cache"] == "HIT"
        # One object with the prefixed URL on the origin's other hostnames.
        assert get(nginx, "/imgix" + url).headers["x-cache"] == "HIT"
        # Elsewhere the path is a native one (no options segment: 400); health answers on both.
        assert httpx.get(nginx.url(url), timeout=30).status_code == 400
        assert httpx.get(nginx.url("/-/healthz"), headers={"Host": "imgix.example.com"},
                         timeout=30).status_code == 200

        shutil.copy(SAMPLES / "products" / "shoe.jpg", source / "pic.jpg")
        (cdn,) = purge(origin, sources=["pic.jpg"])["cdn"]
        assert cdn["ok"] and cdn["detail"]["paths"] == 1, cdn
        fresh = get(nginx, url, Host="imgix.example.com")
        assert fresh.headers["x-cache"] == "MISS" and fresh.content != first.content


def test_r14_nginx_directory_purge_reaches_the_sources_under_it(tmp_path: Path) -> None:
    source = sources_dir(tmp_path)
    with nginx_and_origin(source, workers=1) as (origin, nginx):
        inside = "/w_64,fmt_webp/dir%20with%20space/pic.jpg"
        outside = "/w_64,fmt_webp/pic.jpg"
        for path in (inside, outside):
            get(nginx, path)
            assert get(nginx, path).headers["x-cache"] == "HIT"
        (cdn,) = purge(origin, prefixes=["dir with space/"])["cdn"]
        assert cdn["ok"] and cdn["detail"] == {"paths": 1, "objects": 1}, cdn
        assert get(nginx, inside).headers["x-cache"] == "MISS"
        assert get(nginx, outside).headers["x-cache"] == "HIT"


def test_r14_nginx_directory_purge_reaches_sources_the_shared_tier_forgot(
        tmp_path: Path, redis_server: RedisProcess) -> None:
    """nginx keeps serving an object without asking the origin, so the source's values and
    its directory's index in Redis may expire first; the record's own directory index still
    names the source to a purge of the directory."""
    source = sources_dir(tmp_path)
    env = {"IMGORIGIN_REDIS_URL": redis_server.url, "IMGORIGIN_REDIS_PREFIX": "forgot"}
    with nginx_and_origin(source, env, workers=1) as (origin, nginx):
        inside = "/w_66,fmt_webp/dir%20with%20space/pic.jpg"
        get(nginx, inside)
        assert get(nginx, inside).headers["x-cache"] == "HIT"
        layout = KeyLayout("forgot")
        client = redis.Redis(port=redis_server.port)
        try:
            kept = layout.source("dir with space/pic.jpg").edge_urls
            tag = "{" + source_hash("dir with space/pic.jpg") + "}"
            forgotten = [k for k in client.scan_iter(match=f"forgot:{tag}:*") if k != kept.encode()]
            forgotten.append(layout.directory("dir with space/").encode())
            assert client.delete(*forgotten) >= 2  # as if expired: values, generation, index
            assert client.exists(kept)
        finally:
            client.close()
        result = purge(origin, prefixes=["dir with space/"])
        assert result["variants"] == 0  # the shared tier had nothing left of it
        (cdn,) = result["cdn"]
        assert cdn["ok"] and cdn["detail"] == {"paths": 1, "objects": 1}, cdn
        assert get(nginx, inside).headers["x-cache"] == "MISS"


def test_r14_nginx_purge_removes_each_client_hinted_step(tmp_path: Path) -> None:
    source = sources_dir(tmp_path)
    with nginx_and_origin(source, {"IMGORIGIN_CLIENT_HINTS": "true"}, workers=1,
                          client_hints=True) as (origin, nginx):
        path = "/w_100,fmt_png/pic.jpg"
        for dpr in ("1", "2", "2.625"):
            get(nginx, path, **{"Sec-CH-DPR": dpr})
            assert get(nginx, path, **{"Sec-CH-DPR": dpr}).headers["x-cache"] == "HIT"
        (cdn,) = purge(origin, sources=["pic.jpg"])["cdn"]
        # Steps 1, 2 and 3 were kept; the purger names all five under each Accept class.
        assert cdn["ok"] and cdn["detail"] == {"paths": 1, "objects": 3}, cdn
        for dpr in ("1", "2", "2.625"):
            assert get(nginx, path, **{"Sec-CH-DPR": dpr}).headers["x-cache"] == "MISS"


def test_r14_nginx_paths_answered_by_one_host_are_purged_from_another(
        tmp_path: Path, redis_server: RedisProcess) -> None:
    """Two origin hosts share Redis: nginx reaches only the first, the purge is posted to the
    second, which finds the first host's paths in Redis."""
    source = sources_dir(tmp_path)
    env = {"IMGORIGIN_REDIS_URL": redis_server.url}
    with nginx_and_origin(source, env) as (first, nginx):
        second = OriginProcess({**first.env, "IMGORIGIN_CACHE_DIR": str(tmp_path / "c2")},
                               workers=1)
        with second:
            path = "/w_120,fmt_auto/pic.jpg"
            for accept in (CHROME, LEGACY):
                get(nginx, path, accept)
                assert get(nginx, path, accept).headers["x-cache"] == "HIT"
            (cdn,) = purge(second, sources=["pic.jpg"])["cdn"]
            assert cdn["ok"] and cdn["detail"] == {"paths": 1, "objects": 2}, cdn
            for accept in (CHROME, LEGACY):
                assert get(nginx, path, accept).headers["x-cache"] == "MISS"


def test_r14_nginx_purge_the_purge_server_missed_is_retried_by_the_next(
        tmp_path: Path) -> None:
    """The purge server is unreachable during one purge: the answer names the paths it could
    not purge, the origin keeps them, and the next purge of the source removes the objects."""
    source = sources_dir(tmp_path)
    origin = OriginProcess({"IMGORIGIN_SOURCE": str(source), "IMGORIGIN_PURGE_TOKENS": TOKEN,
                            "IMGORIGIN_CDN_PURGE_ATTEMPTS": "2",
                            "IMGORIGIN_CDN_PURGE_BACKOFF": "0.05"}, workers=1)
    nginx = NginxProcess(origin.port, ttl="1h", purge=True)
    proxy = TcpProxy(nginx.purge_port).start()
    origin.env["IMGORIGIN_CDN_PURGERS"] = f"nginx:http://127.0.0.1:{proxy.port}"
    with origin, nginx:
        path = "/w_90,fmt_webp/pic.jpg"
        get(nginx, path)
        assert get(nginx, path).headers["x-cache"] == "HIT"
        port = proxy.port
        proxy.stop()
        (cdn,) = purge(origin, sources=["pic.jpg"])["cdn"]
        assert cdn["ok"] is False and cdn["detail"]["not_purged"] == [path], cdn
        assert "ConnectError" in cdn["error"], cdn
        assert get(nginx, path).headers["x-cache"] == "HIT"  # still there

        proxy = TcpProxy(nginx.purge_port).start(port)
        try:
            (cdn,) = purge(origin, sources=["pic.jpg"])["cdn"]
        finally:
            proxy.stop()
        assert cdn["ok"] and cdn["detail"] == {"paths": 1, "objects": 1}, cdn
        assert get(nginx, path).headers["x-cache"] == "MISS"


def test_r16_nginx_purge_server_refuses_other_addresses() -> None:
    """The shipped purge server allows loopback only: a request from another address is 403,
    so the public never purges (the EDIT line names the origin hosts)."""
    with OriginProcess({"IMGORIGIN_SOURCE": str(SAMPLES)}) as origin, \
            NginxProcess(origin.port, purge=True) as nginx:
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as client:
            r = client.request("PURGE", nginx.purge_base + "/w_10/landscape.jpg")
        assert r.status_code == 403
        assert httpx.request("PURGE", nginx.purge_base + "/w_10/landscape.jpg").status_code \
            == 404


def test_r16_with_purges_nginx_can_follow_the_origins_lifetimes(tmp_path: Path) -> None:
    """The config's offered edit beside the purge server: nginx honours Cache-Control, so a
    URL's `maxage_1` goes stale after a second (served stale while it refreshes) where the
    plain URL stays a fresh hit; a purge still removes both at once."""
    source = sources_dir(tmp_path)
    origin = OriginProcess({"IMGORIGIN_SOURCE": str(source), "IMGORIGIN_PURGE_TOKENS": TOKEN},
                           workers=1)
    nginx = NginxProcess(origin.port, purge=True, follow_origin=True)
    origin.env["IMGORIGIN_CDN_PURGERS"] = f"nginx:{nginx.purge_base}"
    with origin, nginx:
        short, plain = "/w_90,maxage_1,fmt_webp/pic.jpg", "/w_90,fmt_webp/pic.jpg"
        for path in (short, plain):
            get(nginx, path)
            assert get(nginx, path).headers["x-cache"] == "HIT"
        time.sleep(2.5)  # past the one second (nginx counts whole seconds)
        assert get(nginx, short).headers["x-cache"] in ("STALE", "UPDATING", "EXPIRED")
        assert get(nginx, plain).headers["x-cache"] == "HIT"
        (cdn,) = purge(origin, sources=["pic.jpg"])["cdn"]
        assert cdn["ok"] and cdn["detail"]["paths"] == 2, cdn
        assert get(nginx, plain).headers["x-cache"] == "MISS"


def test_r14_a_purge_by_watermark_empties_nginx_of_that_watermark_only(tmp_path: Path) -> None:
    """A watermark purge names no source: the origin files each watermarked (or masked) path
    under the file's tag too, and the purge takes those."""
    source = sources_dir(tmp_path)
    mark = tmp_path / "logo.png"
    mark.write_bytes((SAMPLES / "logo.png").read_bytes())
    with nginx_and_origin(source, {"IMGORIGIN_WATERMARKS": f"logo:{mark}"},
                          workers=1) as (origin, nginx):
        marked = "/w_90,wm_logo,fmt_jpeg/pic.jpg"
        masked = "/w_90,mask_logo,fmt_jpeg/pic.jpg"
        plain = "/w_90,fmt_jpeg/pic.jpg"
        for path in (marked, masked, plain):
            get(nginx, path)
            assert get(nginx, path).headers["x-cache"] == "HIT"
        result = purge(origin, watermarks=["logo"])
        (cdn,) = result["cdn"]
        assert cdn["ok"] and cdn["detail"] == {"paths": 2, "objects": 2}, cdn
        assert get(nginx, marked).headers["x-cache"] == "MISS"
        assert get(nginx, masked).headers["x-cache"] == "MISS"
        assert get(nginx, plain).headers["x-cache"] == "HIT"
