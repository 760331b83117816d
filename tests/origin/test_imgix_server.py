"""imgix URLs through a real server (IMGORIGIN_IMGIX_PREFIX): the query is the options, the same
variant as the native URL, imgix's enlarging default and fill, auto=format negotiation, its MD5
signatures and `expires`, purge, clear errors and the settings that keep it signed beside
signed native URLs."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator

import httpx
import pytest
import pyvips

from origin.cli import main, native_from
from origin.settings import Settings, SettingsError
from tests.origin.dialect_checks import (
    assert_clear_error,
    assert_native_twin,
    assert_purge_reaches,
    get,
    tier,
)
from tests.support.origin import REPO, OriginProcess

TOKEN = "imgix-test-token"
SECURE = "imgix-secure-url-token"


def _size(response: httpx.Response) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(response.content, "")
    return image.width, image.height


def _signed(path: str, query: str, token: str = SECURE) -> str:
    """imgix's own recipe (its blueprint): MD5 of the token, the path and `?query`."""
    digest = hashlib.md5((token + path + (f"?{query}" if query else "")).encode()).hexdigest()
    return f"{path}?{query}&s={digest}" if query else f"{path}?s={digest}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OriginProcess]:
    root = tmp_path_factory.mktemp("imgix-sources")
    shutil.copy(REPO / "samples" / "landscape.jpg", root / "landscape.jpg")
    shutil.copy(REPO / "samples" / "landscape.jpg", root / "purged.jpg")
    shutil.copy(REPO / "samples" / "logo.png", root / "logo.png")  # transparent corners
    pyvips.Image.black(40, 30).write_to_file(str(root / "small.png"))
    with OriginProcess({"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_IMGIX_PREFIX": "imgix",
                        "IMGORIGIN_PURGE_TOKENS": TOKEN}) as origin:
        yield origin


@pytest.mark.parametrize(("imgix", "native"), [
    ("/imgix/landscape.jpg?w=120&h=80&fit=crop&fm=webp",
     "/enlarge,fmt_webp,h_80,q_75,w_120/landscape.jpg"),
    ("/imgix/landscape.jpg?w=100&h=100&fit=max&q=60",
     "/fit_inside,h_100,q_60,w_100/landscape.jpg"),
    ("/imgix/landscape.jpg?w=90&h=90&fit=crop&crop=focalpoint&fp-x=0.8&fp-y=0.2&fm=png",
     "/enlarge,fmt_png,g_fp:0.8:0.2,h_90,w_90/landscape.jpg"),
    ("/imgix/landscape.jpg?w=64&rot=90&flip=h&ixlib=js-3.8.0",
     "/enlarge,flop,q_75,rot_270,w_64/landscape.jpg"),
    ("/imgix/landscape.jpg?w=90&h=90&fit=crop&mask=ellipse&fm=png",
     "/enlarge,fmt_png,h_90,r_max,w_90/landscape.jpg"),
    ("/imgix/landscape.jpg?w=100&h=50&fit=crop&mask=corners&sharp=30&fm=png",
     "/enlarge,fmt_png,h_50,r_0.2,usm_30:1,w_100/landscape.jpg"),
])
def test_an_imgix_url_is_the_native_variant(server: OriginProcess, imgix: str,
                                           native: str) -> None:
    assert_native_twin(server, imgix, native)
    assert native_from("imgix", imgix.removeprefix("/imgix")).replace(
        "fmt_original,", "") == native


def test_a_mask_cuts_the_corners_to_transparency_in_png_and_white_in_jpeg(
        server: OriginProcess) -> None:
    png = pyvips.Image.new_from_buffer(
        get(server, "/imgix/landscape.jpg?w=100&h=50&fit=crop&mask=corners&fm=png").content, "")
    assert png.bands == 4 and png(0, 0)[3] == 0 and png(50, 25)[3] == 255
    # 20 % of the shorter side: a 10 px radius, so (4, 4) is inside the arc, (1, 1) outside.
    assert png(4, 4)[3] == 255
    jpeg = pyvips.Image.new_from_buffer(
        get(server, "/imgix/landscape.jpg?w=100&h=50&fit=crop&mask=ellipse").content, "")
    # White where the photo's sky is blue (130, 185, 250), give or take JPEG's ringing.
    assert jpeg.bands == 3 and min(jpeg(0, 0)) >= 235


def test_the_parameters_may_come_in_any_order(server: OriginProcess) -> None:
    first = get(server, "/imgix/landscape.jpg?w=77&fm=webp&q=50")
    again = get(server, "/imgix/landscape.jpg?q=50&fm=webp&w=77")
    assert tier(first) == "transform" and tier(again) == "memory"
    assert again.content == first.content


def test_a_cache_buster_is_the_same_entry(server: OriginProcess) -> None:
    first = get(server, "/imgix/landscape.jpg?w=78&fm=webp")
    busted = get(server, "/imgix/landscape.jpg?w=78&fm=webp&v=2&utm_source=mail")
    assert tier(first) == "transform" and tier(busted) == "memory"


def test_clip_grows_a_small_image_and_max_does_not(server: OriginProcess) -> None:
    assert _size(get(server, "/imgix/small.png?w=80")) == (80, 60)
    assert _size(get(server, "/imgix/small.png?w=80&h=80&fit=max")) == (40, 30)


def test_min_w_widens_a_crop_and_cuts_the_height_it_grows(server: OriginProcess) -> None:
    """imgix's preview of a narrow image: at least min-w wide, the requested height kept; only
    with fit=crop, as imgix says."""
    assert _size(get(server, "/imgix/small.png?h=20&fit=crop")) == (27, 20)
    assert _size(get(server, "/imgix/small.png?h=20&fit=crop&min-w=60")) == (60, 20)
    assert _size(get(server, "/imgix/small.png?w=20&fit=crop&min-h=30")) == (20, 30)
    assert _size(get(server, "/imgix/small.png?h=20&min-w=60")) == (27, 20)


def test_fill_pads_to_the_box_in_the_fill_colour(server: OriginProcess) -> None:
    r = get(server, "/imgix/landscape.jpg?w=100&h=100&fit=fill&fill-color=ff0000&fm=png")
    image = pyvips.Image.new_from_buffer(r.content, "")
    assert (image.width, image.height) == (100, 100)
    assert image(50, 1)[:3] == [255.0, 0.0, 0.0]


def test_bg_fills_transparency_with_an_opaque_colour(server: OriginProcess) -> None:
    plain = pyvips.Image.new_from_buffer(get(server, "/imgix/logo.png?w=64&fm=png").content, "")
    assert plain.bands == 4 and plain(0, 0)[3] == 0
    filled = pyvips.Image.new_from_buffer(
        get(server, "/imgix/logo.png?w=64&fm=png&bg=0f0").content, "")
    assert filled.bands == 3 and filled(0, 0) == [0.0, 255.0, 0.0]


def test_auto_format_negotiates_from_accept(server: OriginProcess) -> None:
    path = "/imgix/landscape.jpg?w=50&auto=format,compress"
    avif = get(server, path, Accept="image/avif,image/webp,*/*")
    assert avif.headers["content-type"] == "image/avif"
    assert "Accept" in avif.headers["vary"]
    assert get(server, path, Accept="*/*").headers["content-type"] == "image/jpeg"


def test_a_purge_reaches_imgix_urls(server: OriginProcess) -> None:
    assert_purge_reaches(server, "/imgix/purged.jpg?w=41&fm=webp", "purged.jpg", TOKEN)
    assert server.metric("imgorigin_dialect_requests_total", dialect="imgix") >= 3


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/imgix/landscape.jpg?fit=clamp", 400, "fit=clamp"),
    ("/imgix/landscape.jpg?sepia=40", 400, "'sepia'"),
    ("/imgix/landscape.jpg?w=10&w=20", 400, "given twice"),
    ("/imgix/landscape.jpg?rot=33", 400, "multiples of 90"),
    ("/imgix/landscape.jpg?w=9000", 400, "w_"),
    ("/imgix/missing.jpg?w=10", 404, "not found"),
    ("/imgix/https%3A%2F%2Fexample.net%2Fa.jpg?w=10", 403, "not allowed"),
    ("/imgix/?w=10", 400, "no image"),
    ("/imgix/landscape.jpg?w=10&expires=1000", 403, "expired"),
    ("/imgix/landscape.jpg?txt=hello", 400, "text"),  # unsigned URLs draw no text by default
])
def test_bad_imgix_urls_get_a_clear_error(server: OriginProcess, path: str, status: int,
                                          words: str) -> None:
    assert_clear_error(server, path, status, words)


def test_expires_bounds_the_lifetime(server: OriginProcess) -> None:
    soon = int(time.time()) + 120
    r = get(server, f"/imgix/landscape.jpg?w=33&expires={soon}")
    assert r.status_code == 200
    max_age = int(r.headers["cache-control"].split("max-age=")[1].split(",")[0])
    assert 0 < max_age <= 120


def test_signed_imgix_urls() -> None:
    root = REPO / "samples"
    with OriginProcess({"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_IMGIX_PREFIX": "imgix",
                        "IMGORIGIN_IMGIX_TOKENS": f"old-token,{SECURE}",
                        "IMGORIGIN_SIGNING_KEYS": "00" * 16}) as origin:
        # Signed as imgix signs: the image path after the prefix, the query without `s`.
        good = "/imgix" + _signed("/landscape.jpg", "w=60&fm=webp")
        assert get(origin, good).status_code == 200
        # No query at all, and a Web Proxy source's encoded path (here a refused host: 403
        # for the host, after the signature passed).
        assert get(origin, "/imgix" + _signed("/landscape.jpg", "")).status_code == 200
        proxied = get(origin, "/imgix" + _signed("/https%3A%2F%2Fexample.net%2Fa.jpg", "w=9"))
        assert proxied.status_code == 403 and "not allowed" in proxied.json()["detail"]
        # The parameters' order is signed; so is every parameter, the SDK's tag included.
        for bad in ("/imgix/landscape.jpg?fm=webp&w=60&s=" + good.rsplit("=", 1)[1],
                    good.replace("w=60", "w=61"),
                    good + "&ixlib=js-3.8.0",
                    "/imgix/landscape.jpg?w=60&fm=webp",
                    "/imgix" + _signed("/landscape.jpg", "w=60", token="someone-else")):
            r = get(origin, bad)
            assert r.status_code == 403, bad
            assert r.headers["content-type"].startswith("application/json")
        # This server's own edge class parameter is not part of what imgix signed.
        assert get(origin, good + "&imgorigin-accept=avif").status_code == 200
        # A signed expiry that has passed.
        expired = "/imgix" + _signed("/landscape.jpg", "w=60&expires=1000")
        r = get(origin, expired)
        assert r.status_code == 403 and "expired" in r.json()["detail"]


def test_the_migration_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["from-imgix", "https://demo.imgix.net/products/shoe.jpg?w=300&h=200&fit=crop"
                 "&auto=format", "--base", "https://img.example.com"]) == 0
    assert capsys.readouterr().out == "https://img.example.com/enlarge,fmt_auto,h_200,q_75," \
                                      "w_300/products/shoe.jpg\n"


@pytest.mark.parametrize(("env", "words"), [
    ({"IMGORIGIN_IMGIX_PREFIX": "imgix", "IMGORIGIN_SIGNING_KEYS": "00" * 16},
     "IMGORIGIN_IMGIX_TOKENS"),
    ({"IMGORIGIN_IMGIX_PREFIX": "x", "IMGORIGIN_IPX_PREFIX": "x"}, "must differ"),
])
def test_settings_are_checked_at_start(env: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert words in str(err.value)
