"""A URL's own cache lifetime (`maxage_N`, thumbor's `max_age()`) and a signed URL's expiry
(`exp_`, imgproxy's `expires`): browsers and edges are told to keep the answer no longer, stale
copies included. Neither is part of the variant: the bytes and the cache entry are the plain
URL's."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import httpx
import pytest

from origin.cli import build_url
from origin.errors import InvalidOptions
from origin.responses import Lifetimes
from tests.support.origin import REPO, OriginProcess
from transforms.grammar import parse, serialize

KEY = "6b6579206f66206c69666574696d6573"
DEFAULTS = Lifetimes(browser=86400, edge=31536000, s_maxage=None,
                     stale_while_revalidate=86400, stale_if_error=604800)


def _get(server: OriginProcess, path: str, **headers: str) -> httpx.Response:
    return httpx.get(server.url(path), headers=headers, timeout=30)


def lifetimes(response: httpx.Response) -> tuple[str, str, str]:
    return (response.headers["cache-control"], response.headers["cdn-cache-control"],
            response.headers["surrogate-control"])


# --- grammar --------------------------------------------------------------------------------

def test_maxage_is_not_part_of_the_variant() -> None:
    for segment in ("w_100,maxage_300", "ttl_300,w_100"):
        parsed = parse(segment)
        assert parsed.options == parse("w_100").options
        assert serialize(parsed.options) == "w_100"
        assert parsed.max_age == 300
        assert parsed.extra_tokens() == ["maxage_300"]
    assert parse("w_100,maxage_0").max_age == 0
    assert parse("w_100").max_age is None
    # A preset may carry it, and the URL may override it.
    presets = {"banner": "w_1200,maxage_600"}
    assert parse("p_banner", presets=presets).max_age == 600
    assert parse("p_banner,maxage_60", presets=presets).max_age == 60


@pytest.mark.parametrize("token", ["maxage", "maxage_-1", "maxage_31536001", "maxage_1.5",
                                   "maxage_1e3", "maxage_0300"])
def test_a_bad_lifetime_is_a_400(token: str) -> None:
    with pytest.raises(InvalidOptions, match="maxage"):
        parse(f"w_100,{token}")


# --- the arithmetic -------------------------------------------------------------------------

def test_the_defaults_are_the_settings() -> None:
    assert DEFAULTS.headers() == (
        "public, max-age=86400, stale-while-revalidate=86400, stale-if-error=604800",
        "public, max-age=31536000, stale-while-revalidate=86400, stale-if-error=604800",
        "max-age=31536000, stale-while-revalidate=86400, stale-if-error=604800")


def test_maxage_sets_both_lifetimes_and_keeps_the_stale_windows() -> None:
    assert DEFAULTS.bounded(300, None) == Lifetimes(300, 300, None, 86400, 604800)
    assert DEFAULTS.bounded(0, None).headers()[1] == (
        "public, max-age=0, stale-while-revalidate=86400, stale-if-error=604800")
    # An operator's s-maxage (for a shared cache reading Cache-Control) follows it too.
    shared = Lifetimes(86400, 31536000, 600, 86400, 604800)
    assert shared.bounded(60, None).headers()[0].startswith("public, max-age=60, s-maxage=60,")


@pytest.mark.parametrize(("max_age", "expires_in", "expected"), [
    # Nothing, stale copies included, outlives the expiry.
    (None, 3600, Lifetimes(3600, 3600, None, 0, 0)),
    (None, 31536000 + 100, Lifetimes(86400, 31536000, None, 100, 100)),
    (None, 86400 * 400, DEFAULTS),
    (60, 100, Lifetimes(60, 60, None, 40, 40)),
    (600, 100, Lifetimes(100, 100, None, 0, 0)),
    (None, 0, Lifetimes(0, 0, None, 0, 0)),
])
def test_an_expiry_bounds_every_lifetime(max_age: int | None, expires_in: int,
                                        expected: Lifetimes) -> None:
    assert DEFAULTS.bounded(max_age, expires_in) == expected


# --- through a server -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OriginProcess]:
    root = tmp_path_factory.mktemp("lifetime-sources")
    shutil.copy(REPO / "samples" / "landscape.jpg", root / "landscape.jpg")
    with OriginProcess({"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_THUMBOR_PREFIX": "th"}) as o:
        yield o


def test_a_lifetime_shares_the_plain_variant(server: OriginProcess) -> None:
    plain = _get(server, "/w_110/landscape.jpg")
    assert lifetimes(plain) == DEFAULTS.headers()
    short = _get(server, "/w_110,maxage_300/landscape.jpg")
    assert short.status_code == 200
    assert lifetimes(short) == DEFAULTS.bounded(300, None).headers()
    # The same entry: no second transform, the same bytes, validator and tags.
    assert short.headers["server-timing"].startswith("memory")
    assert short.content == plain.content
    assert short.headers["etag"] == plain.headers["etag"]
    assert short.headers["surrogate-key"] == plain.headers["surrogate-key"]
    # A revalidation is told the same lifetime as the 200 was.
    unchanged = _get(server, "/w_110,maxage_300/landscape.jpg",
                     **{"If-None-Match": plain.headers["etag"]})
    assert unchanged.status_code == 304
    assert lifetimes(unchanged) == lifetimes(short)
    # And the plain URL keeps the server's.
    assert lifetimes(_get(server, "/w_110/landscape.jpg")) == DEFAULTS.headers()


def test_errors_keep_their_own_caching(server: OriginProcess) -> None:
    missing = _get(server, "/w_50,maxage_300/missing.jpg")
    assert missing.status_code == 404
    assert missing.headers["cache-control"] == "public, max-age=60"
    assert "cdn-cache-control" not in missing.headers


def test_thumbors_max_age_filter(server: OriginProcess) -> None:
    r = _get(server, "/th/unsafe/120x80/filters:max_age(45)/landscape.jpg")
    assert r.status_code == 200
    assert lifetimes(r) == DEFAULTS.bounded(45, None).headers()
    assert _get(server, "/th/unsafe/120x80/filters:max_age(-1)/landscape.jpg").status_code == 400


def test_a_signed_url_is_not_kept_past_its_expiry(tmp_path_factory: pytest.TempPathFactory,
                                                  ) -> None:
    root = tmp_path_factory.mktemp("lifetime-signed")
    shutil.copy(REPO / "samples" / "landscape.jpg", root / "landscape.jpg")
    with OriginProcess({"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_SIGNING_KEYS": KEY}) as signed:
        expires = int(time.time()) + 3600
        r = _get(signed, build_url("w_80", "landscape.jpg", sign_key=KEY, expires=expires))
        assert r.status_code == 200
        browser, edge, surrogate = lifetimes(r)
        left = expires - int(time.time())
        for header in (browser, edge, surrogate):
            max_age = int(header.split("max-age=")[1].split(",")[0])
            assert left - 5 <= max_age <= left
            assert "stale" not in header  # a stale copy would outlive the URL
        # Without an expiry, the server's own lifetimes.
        r = _get(signed, build_url("w_80", "landscape.jpg", sign_key=KEY))
        assert lifetimes(r) == DEFAULTS.headers()
