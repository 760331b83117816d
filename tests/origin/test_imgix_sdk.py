"""URLs built by imgix's own JavaScript SDK (@imgix/js-core, installed by `make test` beside
workerd) are answered by a real server under IMGORIGIN_IMGIX_PREFIX: its signatures with the
secure URL token (its `ixlib` tag included), its srcset widths, its encoding of parameters and of
Web Proxy source URLs. Not a mock of imgix: the SDK is the code pages run."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import pyvips

from tests.support.origin import REPO, OriginProcess

SDK = REPO / ".cache" / "edge-tools" / "node_modules" / "@imgix" / "js-core"
NODE = shutil.which("node") or shutil.which("nodejs")
pytestmark = pytest.mark.skipif(
    NODE is None or not SDK.is_dir(),
    reason="node or @imgix/js-core is not installed (`make test` installs both)")
SECURE = "sdk-secure-url-token"

BUILD = r"""
const { default: ImgixClient } = await import(process.argv[1]);
const client = new ImgixClient({domain: "img.test", secureURLToken: process.argv[2],
                                includeLibraryParam: true});
console.log(JSON.stringify({
  webp: client.buildURL("/landscape.jpg", {w: 120, h: 80, fit: "crop", fm: "webp"}),
  auto: client.buildURL("/landscape.jpg", {w: 90, auto: "format,compress"}),
  text: client.buildURL("/landscape.jpg", {w: 200, txt: "Hello, world", "txt-size": 20}),
  plain: client.buildURL("/landscape.jpg", {w: 200}),
  proxied: client.buildURL("https://images.example.com/a b.jpg", {w: 10}),
  srcset: client.buildSrcSet("/landscape.jpg", {fm: "png"}, {widths: [100, 160]}),
  densities: client.buildSrcSet("/landscape.jpg", {w: 90, fm: "webp"}),
  wrong: new ImgixClient({domain: "img.test", secureURLToken: "another-token"})
    .buildURL("/landscape.jpg", {w: 50}),
}));
"""


@pytest.fixture(scope="module")
def urls() -> dict[str, str]:
    assert NODE is not None
    done = subprocess.run([NODE, "--input-type=module", "-e", BUILD,
                           str(SDK / "dist" / "index.esm.js"), SECURE],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def server() -> Iterator[OriginProcess]:
    with OriginProcess({"IMGORIGIN_SOURCE": str(REPO / "samples"),
                        "IMGORIGIN_IMGIX_PREFIX": "imgix",
                        "IMGORIGIN_IMGIX_TOKENS": SECURE}) as origin:
        yield origin


def fetch(server: OriginProcess, sdk_url: str, **headers: str) -> httpx.Response:
    """The SDK's URL with its host replaced by the server's and the prefix in front."""
    parts = urlsplit(sdk_url)
    return httpx.get(server.url(f"/imgix{parts.path}?{parts.query}"), headers=headers,
                     timeout=30)


def _image(response: httpx.Response) -> pyvips.Image:
    assert response.status_code == 200, response.text
    return pyvips.Image.new_from_buffer(response.content, "")


def test_signed_sdk_urls_are_answered(server: OriginProcess, urls: dict[str, str]) -> None:
    assert "ixlib=js-" in urls["webp"] and "&s=" in urls["webp"]
    webp = fetch(server, urls["webp"])
    assert webp.headers["content-type"] == "image/webp"
    assert (_image(webp).width, _image(webp).height) == (120, 80)
    auto = fetch(server, urls["auto"], Accept="image/avif,image/webp,*/*")
    assert auto.headers["content-type"] == "image/avif" and _image(auto).width == 90


def test_the_sdks_srcset_widths(server: OriginProcess, urls: dict[str, str]) -> None:
    candidates = [line.strip().rsplit(" ", 1) for line in urls["srcset"].split(",\n")]
    assert [w for _, w in candidates] == ["100w", "160w"]
    for url, width in candidates:
        r = fetch(server, url)
        assert r.headers["content-type"] == "image/png"
        assert _image(r).width == int(width.removesuffix("w"))


def test_the_sdks_density_srcset_up_to_5x(server: OriginProcess, urls: dict[str, str]) -> None:
    # A fixed width gives 1x..5x candidates (with the SDK's lower quality for the dense ones);
    # 5x is past the native dpr range, so its sides take the rest of the factor.
    candidates = [line.strip().rsplit(" ", 1) for line in urls["densities"].split(",\n")]
    assert [d for _, d in candidates] == ["1x", "2x", "3x", "4x", "5x"]
    for url, density in candidates:
        image = _image(fetch(server, url))
        assert image.width == 90 * int(density.removesuffix("x")), url


def test_encoded_text_and_web_proxy_sources(server: OriginProcess, urls: dict[str, str]) -> None:
    # Text needs a signed URL by default (IMGORIGIN_TEXT_OVERLAYS=signed): imgix URLs are,
    # with the tokens set, though native URLs are not here. Drawn: other pixels, same size.
    text, plain = _image(fetch(server, urls["text"])), _image(fetch(server, urls["plain"]))
    assert (text.width, text.height) == (plain.width, plain.height)
    assert (text - plain).abs().max() > 100
    # A Web Proxy source: the signature passes, then the host is refused (no allowed hosts).
    r = fetch(server, urls["proxied"])
    assert r.status_code == 403 and "not allowed" in r.json()["detail"]


def test_a_url_signed_with_another_token_is_refused(server: OriginProcess,
                                                     urls: dict[str, str]) -> None:
    r = fetch(server, urls["wrong"])
    assert r.status_code == 403 and r.json()["detail"] == "invalid signature"
    tampered = urls["webp"].replace("w=120", "w=121")
    assert fetch(server, tampered).status_code == 403
