"""R16 through edge-config's Cloudflare Worker running in workerd, Cloudflare's own Workers
runtime: client -> workerd (the Worker, unchanged) -> a recording hop -> the real origin.

The Node run in test_edge_scripts.py checks the Worker's rules with a stand-in `fetch`; here the
runtime's real Request, Headers and fetch carry real images both ways, so what the origin is
asked and what the client gets back are both seen. Cloudflare's cache between the Worker and the
origin is not emulated (edge-config/README.md, Tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest

from tests.edge.accepts import CHROME, FIREFOX, LEGACY, MAGIC, SAFARI_15
from tests.edge.recorder import Recorded, Recorder, Reply
from tests.edge.workerd import WorkerdProcess, workerd_binary
from tests.support.origin import REPO, OriginProcess

BINARY = workerd_binary()
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="workerd is not installed (`make test` installs it with npm)")

# Hop-by-hop or recomputed by the recording hop, so not compared.
_NOT_FORWARDED = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}
_HOP_BY_HOP = _NOT_FORWARDED - {"content-length"}
CLASS_ACCEPT = {"avif": "image/avif", "webp": "image/webp", "other": "*/*"}
PATH = "/w_120,fmt_auto/landscape.jpg"


@dataclass
class Edge:
    origin: OriginProcess
    hop: Recorder
    worker: WorkerdProcess

    def forward_all(self) -> None:
        """Record each request the Worker makes and answer it from the origin."""

        def forward(req: Recorded) -> Reply:
            headers = {k: v for k, v in req.headers.items() if k not in _NOT_FORWARDED}
            got = httpx.request(req.method, self.origin.url(req.path), headers=headers,
                                content=req.body or None, timeout=30)
            # A HEAD answer's Content-Length is the GET's, so it is passed on.
            kept = _HOP_BY_HOP if req.method == "HEAD" else _NOT_FORWARDED
            return Reply(got.status_code, got.content,
                         {k: v for k, v in got.headers.items() if k not in kept})

        self.hop.reset(forward)


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    assert BINARY is not None
    with ExitStack() as stack:
        origin = OriginProcess({"IMGORIGIN_SOURCE": str(REPO / "samples"),
                                "IMGORIGIN_IMGIX_PREFIX": "imgix"}).start()
        stack.callback(origin.stop)
        hop = stack.enter_context(Recorder())
        worker = WorkerdProcess(hop.port).start(BINARY)
        stack.callback(worker.stop)
        yield Edge(origin, hop, worker)


@pytest.fixture
def fresh(edge: Edge) -> Edge:
    edge.forward_all()
    return edge


@pytest.mark.parametrize(("accept", "cls", "content_type"), [
    (CHROME, "avif", "image/avif"),
    (FIREFOX, "avif", "image/avif"),
    (SAFARI_15, "webp", "image/webp"),
    (LEGACY, "other", "image/jpeg"),
], ids=["chrome", "firefox", "safari-15", "legacy"])
def test_r16_worker_in_workerd_keys_negotiated_urls_by_accept_class(
        fresh: Edge, accept: str, cls: str, content_type: str) -> None:
    r = httpx.get(fresh.worker.url(PATH + "?bust=1"), timeout=30,
                  headers={"Accept": accept, "Cookie": "session=1", "Authorization": "Bearer x"})
    assert r.status_code == 200, fresh.worker.log()
    assert r.headers["content-type"] == content_type and MAGIC[content_type](r.content)
    [asked] = fresh.hop.requests
    assert (asked.method, asked.path) == ("GET", f"{PATH}?imgorigin-accept={cls}")
    assert asked.headers["accept"] == CLASS_ACCEPT[cls]
    assert "cookie" not in asked.headers and "authorization" not in asked.headers
    # The runtime hands the origin's answer back unchanged: the same bytes and edge headers.
    direct = httpx.get(fresh.origin.url(PATH), headers={"Accept": CLASS_ACCEPT[cls]})
    assert r.content == direct.content
    for name in ("etag", "cache-control", "cdn-cache-control", "surrogate-control",
                 "surrogate-key", "cache-tag", "vary"):
        assert r.headers[name] == direct.headers[name], name
    assert r.headers["vary"] == "Accept"


def test_r16_explicit_formats_reach_the_origin_without_a_query(fresh: Edge) -> None:
    r = httpx.get(fresh.worker.url("/w_120,fmt_webp/landscape.jpg?bust=2"),
                  headers={"Accept": CHROME}, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "image/webp"
    assert "vary" not in r.headers
    [asked] = fresh.hop.requests
    assert asked.path == "/w_120,fmt_webp/landscape.jpg"


def test_r16_an_imgix_query_reaches_the_origin_with_the_class_after_it(fresh: Edge) -> None:
    path = "/imgix/landscape.jpg?w=120&auto=format"
    r = httpx.get(fresh.worker.url(path), headers={"Accept": SAFARI_15}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/webp" and r.headers["vary"] == "Accept"
    [asked] = fresh.hop.requests
    assert asked.path == f"{path}&imgorigin-accept=webp"
    # The origin reads the options from the query and skips the class parameter: the same
    # image as the URL without it.
    direct = httpx.get(fresh.origin.url(path), headers={"Accept": "image/webp"}, timeout=30)
    assert r.content == direct.content


def test_r16_on_the_imgix_hostname_the_worker_puts_the_prefix_in_front(fresh: Edge) -> None:
    r = httpx.get(fresh.worker.url("/landscape.jpg?w=60&fm=png"), timeout=30,
                  headers={"Host": "imgix.example.com"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text
    [asked] = fresh.hop.requests
    assert asked.path == "/imgix/landscape.jpg?w=60&fm=png"


def test_r16_head_through_the_worker_has_the_get_headers_and_no_body(fresh: Edge) -> None:
    get = httpx.get(fresh.worker.url(PATH), headers={"Accept": SAFARI_15}, timeout=30)
    head = httpx.head(fresh.worker.url(PATH), headers={"Accept": SAFARI_15}, timeout=30)
    assert head.status_code == 200 and head.content == b""
    for name in ("content-type", "content-length", "etag", "cache-control", "vary"):
        assert head.headers[name] == get.headers[name], name
    assert [(r.method, r.path) for r in fresh.hop.requests] == [
        ("GET", f"{PATH}?imgorigin-accept=webp"), ("HEAD", f"{PATH}?imgorigin-accept=webp")]


def test_r16_revalidation_through_the_worker_is_a_304_without_body(fresh: Edge) -> None:
    first = httpx.get(fresh.worker.url(PATH), headers={"Accept": LEGACY}, timeout=30)
    again = httpx.get(fresh.worker.url(PATH), timeout=30,
                      headers={"Accept": LEGACY, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert fresh.hop.requests[-1].headers["if-none-match"] == first.headers["etag"]


def test_r16_errors_pass_through_with_their_cache_policy(fresh: Edge) -> None:
    bad = httpx.get(fresh.worker.url("/w_abc/landscape.jpg"), timeout=30)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_options"
    assert bad.headers["cache-control"] == "no-store"
    missing = httpx.get(fresh.worker.url("/w_100/no-such-image.jpg"), timeout=30)
    assert missing.status_code == 404
    assert missing.headers["cache-control"] == "public, max-age=60"


def test_r16_operations_endpoints_and_other_methods_stay_at_the_edge(fresh: Edge) -> None:
    for method, path in (("GET", "/-/purge"), ("POST", "/-/purge"), ("GET", "/-/metrics")):
        r = httpx.request(method, fresh.worker.url(path), timeout=30,
                          json={"sources": ["landscape.jpg"]} if method == "POST" else None)
        assert r.status_code == 404, (method, path)
    post = httpx.post(fresh.worker.url(PATH), content=b"x", timeout=30)
    assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"
    assert fresh.hop.requests == []  # none of them reached the origin
    health = httpx.get(fresh.worker.url("/-/healthz"), timeout=30)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert [r.path for r in fresh.hop.requests] == ["/-/healthz"]
