"""S20-S21: error bodies leak nothing (no source URL, internal address, disk path or traceback),
and the purge endpoint refuses missing or bad credentials without purging anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.security.support import AppServer, StubResolver, jpeg
from tests.support.net import free_port
from tests.support.upstream import Upstream


class ExplodingResolver(StubResolver):
    """A resolver whose failure message carries secrets: it must never reach a body."""

    async def __call__(self, host: str, port: int) -> list[str]:
        if host == "boom.test":
            raise RuntimeError("resolver exploded at 10.9.8.7 reading /etc/secret")
        return await super().__call__(host, port)


@pytest.fixture(scope="module")
def server(upstream: Upstream) -> Iterator[AppServer]:
    upstream.add("s20/a.jpg", jpeg())
    upstream.add("s20/notimage", b"<html>hello</html>" * 10)
    upstream.add("s20/trunc.jpg", jpeg(200, 200)[:300])
    resolver = ExplodingResolver({"up.test": ["127.0.0.1"], "meta.test": ["169.254.10.20"],
                                  "refused.test": ["127.0.0.1"], "inner.test": ["10.20.30.40"]})
    with AppServer({"IMGORIGIN_SOURCE": f"http://up.test:{upstream.port}",
                    "IMGORIGIN_ALLOWED_HOSTS": "*.test",
                    "IMGORIGIN_ALLOW_PRIVATE_NETWORKS": "true",
                    "IMGORIGIN_FETCH_TIMEOUT": "0.5",
                    "IMGORIGIN_MAX_SOURCE_BYTES": "1048576"}, resolver=resolver) as app:
        yield app


def leaks(body: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s.lower() in body.lower()]


def check_error(r: httpx.Response, status: int, secrets: list[str]) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str) and isinstance(body["detail"], str)
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-content-type-options"] == "nosniff"
    expected_cc = "public, max-age=60" if status == 404 else "no-store"
    assert r.headers["cache-control"] == expected_cc
    found = leaks(r.text, secrets)
    assert not found, (found, r.text)


def test_s20_error_bodies_leak_nothing(server: AppServer, upstream: Upstream) -> None:
    closed = free_port()
    secrets = ["127.0.0.1", f":{upstream.port}", f":{closed}", "up.test", "169.254", "10.20.30",
               "10.9.8.7", "meta.test", "inner.test", "refused.test", "boom.test", "/etc/",
               "/tmp", "/work", "traceback", 'file "', "httpx", "httpcore", "errno", "vips",
               "connecterror", "exception"]
    cases = {
        "/_/http://meta.test/x.jpg": 403,  # link-local: never dialled
        "/_/http://inner.test:81/x.jpg": 502,  # private allowed, nothing there
        f"/_/http://refused.test:{closed}/x.jpg": 502,
        "/_/files/s20/missing.jpg": 404,
        "/_/status/500": 502,
        "/_/status/403": 502,
        "/_/reset/s20/a.jpg": 502,
        "/_/delay/5/s20/a.jpg": 504,
        "/_/lie/s20/a.jpg": 413,
        "/_/files/s20/notimage": 422,
        "/_/files/s20/trunc.jpg": 422,
        "/_/http://boom.test/x.jpg": 500,
        "/_/http://evil.example/x.jpg": 403,
        f"/_/{quote('http://user@up.test/x.jpg', safe=':/')}": 400,
        "/w_0400/files/s20/a.jpg": 400,
        "/_/files%2f..%2f..%2fsecret": 400,
    }
    for path, status in cases.items():
        check_error(server.get(path), status, secrets)


def test_s20_local_paths_never_appear(tmp_path: Path) -> None:
    (tmp_path / "real.jpg").write_bytes(jpeg())
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "dir.jpg").mkdir()
    with AppServer({"IMGORIGIN_SOURCE": str(tmp_path)}) as app:
        secrets = [str(tmp_path), "/tmp", "traceback", "errno", "vips", "no such file"]
        check_error(app.get("/_/missing.jpg"), 404, secrets)
        check_error(app.get("/_/bad.jpg"), 422, secrets)
        assert app.get("/_/dir.jpg").status_code in (404, 422)
        check_error(app.get("/_/..%2freal.jpg"), 400, secrets)


@pytest.fixture(scope="module")
def purgeable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    root: Path = tmp_path_factory.mktemp("purge-src")
    (root / "a.jpg").write_bytes(jpeg())
    with AppServer({"IMGORIGIN_SOURCE": str(root),
                    "IMGORIGIN_PURGE_TOKENS": "good-token,other-token"}) as app:
        yield app


def tier(app: AppServer, path: str) -> str:
    r = app.get(path)
    assert r.status_code == 200, r.text
    return r.headers["server-timing"].split(";")[0]


def purge(app: AppServer, headers: dict[str, str | bytes]) -> httpx.Response:
    return app.client.post("/-/purge", headers=headers,
                           content=json.dumps({"sources": ["a.jpg"]}))


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),
    ({"Authorization": "Basic Z29vZC10b2tlbjo="}, 401),
    ({"Authorization": "Bearer"}, 401),
    ({"Authorization": "Token good-token"}, 401),
    ({"Authorization": "Bearer bad-token"}, 403),
    ({"Authorization": "Bearer good-token2"}, 403),
    ({"Authorization": "Bearer good-toke"}, 403),
    ({"Authorization": "Bearer good-token,other-token"}, 403),
    ({"Authorization": "Bearer caf\u00e9".encode()}, 403),
])
def test_s21_purge_needs_a_valid_token(purgeable: AppServer, headers: dict[str, str | bytes],
                                       status: int) -> None:
    tier(purgeable, "/w_20/a.jpg")
    assert tier(purgeable, "/w_20/a.jpg") == "memory"
    r = purge(purgeable, headers)
    assert r.status_code == status, r.text
    assert r.headers["cache-control"] == "no-store"
    assert set(r.json()) == {"error", "detail"}
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"
    # Nothing was purged: the variant is still answered from memory.
    assert tier(purgeable, "/w_20/a.jpg") == "memory"


def test_s21_valid_token_purges(purgeable: AppServer) -> None:
    tier(purgeable, "/w_21/a.jpg")
    assert tier(purgeable, "/w_21/a.jpg") == "memory"
    r = purge(purgeable, {"Authorization": "Bearer other-token"})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert tier(purgeable, "/w_21/a.jpg") == "transform"


def test_s21_purge_disabled_without_tokens(tmp_path: Path) -> None:
    with AppServer({"IMGORIGIN_SOURCE": str(tmp_path)}) as app:
        r = app.client.post("/-/purge", headers={"Authorization": "Bearer anything"},
                            content=b"{}")
        assert r.status_code == 403 and r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(("body", "names"), [
    (b"not json", "not JSON"),
    (b"[]", "JSON object"),
    (b'{"sources": "a.jpg"}', "'sources'"),
    (b'{"sources": ["a.jpg"], "prefixes": [""]}', "empty prefix"),
    (b'{"sources": ["a.jpg"], "soft": "yes"}', "'soft'"),
    (b'{"watermarks": "logo"}', "'watermarks'"),
    (b'{"sources": ["a.jpg"], "sotf": true}', "'sotf'"),
    (b'{"source": ["a.jpg"]}', "'source'"),
    (b'{"sources": ["' + b"a" * (1024 * 1024) + b'"]}', "too large"),
])
def test_s21_malformed_purge_body_is_a_400_naming_it_and_purges_nothing(
        purgeable: AppServer, body: bytes, names: str) -> None:
    tier(purgeable, "/w_22/a.jpg")
    assert tier(purgeable, "/w_22/a.jpg") == "memory"
    r = purgeable.client.post("/-/purge", content=body,
                              headers={"Authorization": "Bearer good-token"})
    assert r.status_code == 400, r.text
    assert r.headers["cache-control"] == "no-store"
    assert names in r.json()["detail"] or names in r.json()["error"], r.text
    assert tier(purgeable, "/w_22/a.jpg") == "memory"


def test_soft_purge_still_empties_the_origins_own_tiers(purgeable: AppServer) -> None:
    tier(purgeable, "/w_23/a.jpg")
    assert tier(purgeable, "/w_23/a.jpg") == "memory"
    r = purgeable.client.post("/-/purge", content=b'{"sources": ["a.jpg"], "soft": true}',
                              headers={"Authorization": "Bearer good-token"})
    assert r.status_code == 200 and r.json()["cdn"] == [], r.text
    assert tier(purgeable, "/w_23/a.jpg") == "transform"
