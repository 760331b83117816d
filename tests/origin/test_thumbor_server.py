"""thumbor URLs through a real server (IMGORIGIN_THUMBOR_PREFIX): the same variant as the native
URL, thumbor's default enlargement, its signatures and `unsafe/`, purge, and clear errors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import pyvips

from origin.cli import main, native_from
from origin.security import signing
from origin.settings import Settings, SettingsError
from tests.origin.dialect_checks import (
    assert_clear_error,
    assert_native_twin,
    assert_purge_reaches,
    get,
    tier,
)
from tests.support.origin import REPO, OriginProcess

KEY = "my-security-key"
TOKEN = "thumbor-test-token"




def _size(response: httpx.Response) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(response.content, "")
    return image.width, image.height


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OriginProcess]:
    root = tmp_path_factory.mktemp("thumbor-sources")
    shutil.copy(REPO / "samples" / "landscape.jpg", root / "landscape.jpg")
    shutil.copy(REPO / "samples" / "landscape.jpg", root / "purged.jpg")
    pyvips.Image.black(40, 30).write_to_file(str(root / "small.png"))
    marks = tmp_path_factory.mktemp("marks")
    shutil.copy(REPO / "samples" / "logo.png", marks / "brand.png")
    with OriginProcess({"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_THUMBOR_PREFIX": "thumbor",
                        "IMGORIGIN_IMGPROXY_PREFIX": "imgproxy",
                        "IMGORIGIN_WATERMARKS": f"logo:{marks / 'brand.png'}",
                        "IMGORIGIN_PURGE_TOKENS": TOKEN}) as origin:
        yield origin


@pytest.mark.parametrize(("thumbor", "native"), [
    ("/thumbor/unsafe/120x80/smart/landscape.jpg", "/enlarge,g_faces,h_80,w_120/landscape.jpg"),
    ("/thumbor/unsafe/fit-in/100x100/filters:format(webp):quality(60)/landscape.jpg",
     "/fit_inside,fmt_webp,h_100,q_60,w_100/landscape.jpg"),
    ("/thumbor/unsafe/10x10:610x410/-60x0/landscape.jpg",
     "/crop_10:10:600:400,enlarge,flop,w_60/landscape.jpg"),
    ("/thumbor/unsafe/120x80/filters:focal(1700x300:1900x500):contrast(20)/landscape.jpg",
     "/con_15,enlarge,g_fpx:1800:400,h_80,w_120/landscape.jpg"),
    ("/thumbor/unsafe/120x80/filters:round_corner(12,255,0,0):format(png)/landscape.jpg",
     "/bg_ff0000,enlarge,fmt_png,h_80,r_12,w_120/landscape.jpg"),
    # The watermark named by its file name, wherever thumbor would have fetched it from.
    ("/thumbor/unsafe/300x200/filters:watermark(https://cdn.example.com/brand.png,-10,-10,50)"
     "/landscape.jpg", "/enlarge,h_200,w_300,wm_logo:southeast:0.5:0:10:subtract/landscape.jpg"),
    ("/thumbor/unsafe/300x200/filters:watermark(brand.png,repeat,repeat,0,10,20)/landscape.jpg",
     "/enlarge,h_200,w_300,wm_logo:spread:1:0.1x0.2/landscape.jpg"),
    ("/thumbor/unsafe/fit-in/120x120/filters:fill(blur)/landscape.jpg",
     "/bg_blur,extend,fit_contain,h_120,w_120/landscape.jpg"),
    ("/thumbor/unsafe/fit-in/120x120/filters:fill(auto):format(png)/landscape.jpg",
     "/bg_auto,extend,fit_contain,fmt_png,h_120,w_120/landscape.jpg"),
])
def test_a_thumbor_url_is_the_native_variant(server: OriginProcess, thumbor: str,
                                             native: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert_native_twin(server, thumbor, native)
    # The migration command reads the watermarks from the same setting as the server.
    monkeypatch.setenv("IMGORIGIN_WATERMARKS", server.env["IMGORIGIN_WATERMARKS"])
    assert native_from("thumbor", thumbor.removeprefix("/thumbor")) == native


def test_thumbor_enlarges_unless_fit_in_or_no_upscale(server: OriginProcess) -> None:
    # A 40x30 source asked for 80x60: thumbor's default resizes to the box.
    assert _size(get(server, "/thumbor/unsafe/80x60/small.png")) == (80, 60)
    assert _size(get(server, "/thumbor/unsafe/fit-in/80x60/small.png")) == (40, 30)
    assert _size(get(server, "/thumbor/unsafe/fit-in/80x60/filters:upscale()/small.png")) == (
        80, 60)
    assert _size(get(server, "/thumbor/unsafe/80x60/filters:no_upscale()/small.png")) == (40, 30)


def test_fit_in_with_fill_pads_to_the_box(server: OriginProcess) -> None:
    r = get(server, "/thumbor/unsafe/fit-in/100x100/filters:fill(00ff00):format(png)/"
                     "landscape.jpg")
    assert _size(r) == (100, 100)
    image = pyvips.Image.new_from_buffer(r.content, "")
    assert image(50, 2)[:3] == [0.0, 255.0, 0.0]  # the padding above the 3:2 image


def test_both_dialects_and_native_urls_share_one_entry(server: OriginProcess) -> None:
    a = get(server, "/thumbor/unsafe/fit-in/77x77/landscape.jpg")
    b = get(server, "/imgproxy/_/rs:fit:77:77/plain/landscape.jpg")
    c = get(server, "/fit_inside,h_77,w_77/landscape.jpg")
    assert tier(a) == "transform" and tier(b) == "memory" and tier(c) == "memory"
    assert a.headers["etag"] == b.headers["etag"] == c.headers["etag"]
    assert server.metric("imgorigin_dialect_requests_total", dialect="thumbor") >= 1


def test_a_purge_reaches_thumbor_urls(server: OriginProcess) -> None:
    path = "/thumbor/unsafe/44x0/purged.jpg"
    assert_purge_reaches(server, path, "purged.jpg", TOKEN)


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/thumbor/unsafe/meta/10x10/landscape.jpg", 400, "meta"),
    ("/thumbor/unsafe/filters:noise(20)/landscape.jpg", 400, "'noise'"),
    ("/thumbor/unsafe/filters:brightness(10):contrast(-10)/landscape.jpg", 400,
     "contrast() first"),
    ("/thumbor/unsafe/10x10/missing.jpg", 404, "not found"),
    ("/thumbor/unsafe/10x10/http://example.net/a.jpg", 403, "not allowed"),
    ("/thumbor/8ammJH8D-7tXy6kU3lTvoXlhu4o=/10x10/landscape.jpg", 403, "unsafe/"),
    ("/thumbor/unsafe", 400, "signature"),
])
def test_bad_thumbor_urls_get_a_clear_error(server: OriginProcess, path: str, status: int,
                                            words: str) -> None:
    assert_clear_error(server, path, status, words)


def test_the_migration_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["from-thumbor", "https://thumbor.example.com/unsafe/300x200/smart/a/b.jpg",
                 "--base", "https://img.example.com"]) == 0
    assert capsys.readouterr().out == ("https://img.example.com/enlarge,g_faces,h_200,w_300/"
                                       "a/b.jpg\n")
    assert main(["from-thumbor", "/unsafe/filters:noise(10)/a.jpg"]) == 2
    assert "'noise'" in capsys.readouterr().err


def test_signed_thumbor_urls(tmp_path: Path) -> None:
    shutil.copy(REPO / "samples" / "landscape.jpg", tmp_path / "landscape.jpg")
    env = {"IMGORIGIN_SOURCE": str(tmp_path), "IMGORIGIN_THUMBOR_PREFIX": "t",
           "IMGORIGIN_THUMBOR_KEYS": f"{KEY},second-key",
           "IMGORIGIN_SIGNING_KEYS": "00" * 16}
    with OriginProcess(env) as origin:
        path = "50x50/filters:format(png)/landscape.jpg"
        ok = get(origin, f"/t/{signing.sign_thumbor(path, KEY)}/{path}")
        assert ok.status_code == 200, ok.text
        rotated = get(origin, f"/t/{signing.sign_thumbor(path, 'second-key')}/{path}")
        assert rotated.status_code == 200 and rotated.content == ok.content
        assert get(origin, f"/t/unsafe/{path}").status_code == 403  # keys set: no unsafe
        assert get(origin, f"/t/{signing.sign_thumbor(path, 'other')}/{path}").status_code == 403
        tampered = path.replace("50x50", "51x50")
        assert get(origin, f"/t/{signing.sign_thumbor(path, KEY)}/{tampered}").status_code == 403


@pytest.mark.parametrize(("env", "words"), [
    ({"IMGORIGIN_THUMBOR_PREFIX": "t", "IMGORIGIN_SIGNING_KEYS": "00" * 16}, "signed too"),
    ({"IMGORIGIN_THUMBOR_PREFIX": "x", "IMGORIGIN_IMGPROXY_PREFIX": "x"}, "must differ"),
    ({"IMGORIGIN_IMGPROXY_WATERMARK": "logo"}, "not one of IMGORIGIN_WATERMARKS"),
])
def test_settings_are_checked_at_start(env: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert words in str(err.value)
