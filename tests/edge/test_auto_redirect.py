"""IMGORIGIN_AUTO_REDIRECT (issue 4, item 4): for CDNs that cannot vary on Accept, fmt_auto
answers 302 to the explicit-format URL; the redirect is never edge-cacheable, the target is."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from origin.autoredirect import explicit_path
from origin.security import signing
from tests.edge.accepts import CHROME, LEGACY, SAFARI_15
from tests.edge.stack import Stack, edge_stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    env = {"IMGORIGIN_AUTO_REDIRECT": "true", "IMGORIGIN_DEFAULT_FORMAT": "auto"}
    with edge_stack(env, workers=1) as s:
        yield s


@pytest.mark.parametrize(("path", "accept", "location", "content_type"), [
    ("/w_200,fmt_auto/landscape.jpg", CHROME, "/w_200,fmt_avif/landscape.jpg", "image/avif"),
    ("/w_200,f_auto/landscape.jpg", SAFARI_15, "/w_200,fmt_webp/landscape.jpg", "image/webp"),
    ("/w_200,fmt_auto/landscape.jpg", LEGACY, "/w_200,fmt_jpeg/landscape.jpg", "image/jpeg"),
    ("/w_100,fmt_auto/logo.png", LEGACY, "/w_100,fmt_png/logo.png", "image/png"),  # alpha
    ("/w_100/products/shoe.jpg", CHROME, "/w_100,fmt_avif/products/shoe.jpg", "image/avif"),
    ("/_/logo.png", "", "/fmt_png/logo.png", "image/png"),
])
def test_fmt_auto_redirects_to_the_negotiated_format(
        stack: Stack, path: str, accept: str, location: str, content_type: str) -> None:
    r = httpx.get(stack.origin.url(path), headers={"Accept": accept})
    assert r.status_code == 302
    assert r.headers["location"] == location
    assert r.headers["cache-control"].startswith("private")
    assert r.headers["surrogate-control"] == "no-store"
    assert r.headers["cdn-cache-control"] == "no-store"
    assert r.headers["vary"] == "Accept"
    target = httpx.get(stack.origin.url(location), headers={"Accept": accept})
    assert target.status_code == 200
    assert target.headers["content-type"] == content_type
    assert "vary" not in target.headers  # one format per URL: nothing for a CDN to vary on


def test_explicit_formats_are_served_directly(stack: Stack) -> None:
    r = httpx.get(stack.origin.url("/w_120,fmt_webp/landscape.jpg"), headers={"Accept": LEGACY})
    assert r.status_code == 200 and r.headers["content-type"] == "image/webp"


def test_through_an_edge_only_the_explicit_urls_are_cached(stack: Stack) -> None:
    path = "/w_160,fmt_auto/landscape.jpg"
    for _ in range(2):
        r = httpx.get(stack.varnish.url(path), headers={"Accept": CHROME})
        assert r.status_code == 302 and r.headers["x-cache"] == "MISS"  # never cached
    target = r.headers["location"]
    first = httpx.get(stack.varnish.url(target), headers={"Accept": CHROME})
    again = httpx.get(stack.varnish.url(target), headers={"Accept": LEGACY})
    assert (first.headers["x-cache"], again.headers["x-cache"]) == ("MISS", "HIT")
    # Even a client whose Accept differs gets the format the URL names.
    assert again.headers["content-type"] == "image/avif"


def test_redirect_of_a_signed_url_is_signed() -> None:
    key = "0f" * 32
    path = "/w_300,fmt_auto,exp_4102444800/a%20b.jpg"
    raw = "/" + signing.sign(path, key) + path
    location = explicit_path(raw, "webp", (key, "aa" * 32))
    signature, signed = signing.split(location)
    assert signed == "/w_300,exp_4102444800,fmt_webp/a%20b.jpg"
    signing.verify(signature, signed, [key], signing.sign)
