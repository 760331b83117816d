"""ipx URLs through a real server (IMGORIGIN_IPX_PREFIX): the URLs Nuxt Image writes answer with
the native variant, sharp's letterbox default, a first frame unless asked for the animation,
purge, errors, and the settings that refuse an unsigned dialect beside signed native URLs."""

from __future__ import annotations

import shutil
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
)
from tests.support.images import animation
from tests.support.origin import REPO, OriginProcess

TOKEN = "ipx-test-token"




@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OriginProcess]:
    root = tmp_path_factory.mktemp("ipx-sources")
    (root / "static").mkdir()
    shutil.copy(REPO / "samples" / "landscape.jpg", root / "static" / "landscape.jpg")
    shutil.copy(REPO / "samples" / "landscape.jpg", root / "purged.jpg")
    frames = [pyvips.Image.black(24, 24) + value for value in (0, 120, 240)]
    (root / "spin.webp").write_bytes(animation(frames, 80, "webp"))
    with OriginProcess({"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_IPX_PREFIX": "_ipx",
                        "IMGORIGIN_PURGE_TOKENS": TOKEN}) as origin:
        yield origin


@pytest.mark.parametrize(("ipx", "native"), [
    ("/_ipx/s_120x80&f_avif&q_50/static/landscape.jpg",
     "/fmt_avif,h_80,q_50,w_120/static/landscape.jpg"),
    ("/_ipx/w_90/static/landscape.jpg", "/w_90/static/landscape.jpg"),
    ("/_ipx/s_60x60,pos_top,b_ff0000,fit_contain/static/landscape.jpg",
     "/bg_ff0000,fit_contain,g_north,h_60,w_60/static/landscape.jpg"),
])
def test_an_ipx_url_is_the_native_variant(server: OriginProcess, ipx: str, native: str) -> None:
    assert_native_twin(server, ipx, native)
    assert native_from("ipx", ipx.removeprefix("/_ipx")) == native


def test_contain_letterboxes_in_black_like_sharp(server: OriginProcess) -> None:
    r = get(server, "/_ipx/s_100x100,fit_contain,f_png/static/landscape.jpg")
    image = pyvips.Image.new_from_buffer(r.content, "")
    assert (image.width, image.height) == (100, 100)
    assert image(50, 2)[:3] == [0.0, 0.0, 0.0]


def _pages(response: httpx.Response) -> int:
    image = pyvips.Image.new_from_buffer(response.content, "", n=-1)
    return image.get("n-pages") if image.get_typeof("n-pages") else 1


def test_the_first_frame_unless_animated(server: OriginProcess) -> None:
    still = get(server, "/_ipx/f_webp/spin.webp")
    moving = get(server, "/_ipx/f_webp,a/spin.webp")
    assert _pages(still) == 1
    assert _pages(moving) == 3


def test_auto_format_negotiates_from_accept(server: OriginProcess) -> None:
    r = get(server, "/_ipx/w_50,f_auto/static/landscape.jpg", Accept="image/avif,image/*")
    assert r.headers["content-type"] == "image/avif"
    assert "Accept" in r.headers["vary"]


def test_a_purge_reaches_ipx_urls(server: OriginProcess) -> None:
    path = "/_ipx/w_41/purged.jpg"
    assert_purge_reaches(server, path, "purged.jpg", TOKEN)
    assert server.metric("imgorigin_dialect_requests_total", dialect="ipx") >= 3


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/_ipx/kernel_box/static/landscape.jpg", 400, "ipx kernel 'box'"),
    ("/_ipx/w_10/missing.jpg", 404, "not found"),
    ("/_ipx/w_10/https://example.net/a.jpg", 403, "not allowed"),
    ("/_ipx/w_10", 400, "image id"),
    ("/_ipx/w_10/", 400, "image id"),
])
def test_bad_ipx_urls_get_a_clear_error(server: OriginProcess, path: str, status: int,
                                        words: str) -> None:
    assert_clear_error(server, path, status, words)


def test_the_migration_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["from-ipx", "/s_300x200&f_avif/products/shoe.jpg",
                 "--base", "https://img.example.com"]) == 0
    assert capsys.readouterr().out == "https://img.example.com/fmt_avif,h_200,w_300/" \
                                      "products/shoe.jpg\n"


@pytest.mark.parametrize(("env", "words"), [
    ({"IMGORIGIN_IPX_PREFIX": "_ipx", "IMGORIGIN_SIGNING_KEYS": "00" * 16}, "cannot be signed"),
    ({"IMGORIGIN_IPX_PREFIX": "x", "IMGORIGIN_THUMBOR_PREFIX": "x"}, "must differ"),
])
def test_settings_are_checked_at_start(env: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert words in str(err.value)
