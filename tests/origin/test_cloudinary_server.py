"""Cloudinary URLs through a real server (IMGORIGIN_CLOUDINARY_PREFIX = the cloud name): the URLs
its SDKs write answer with the native variant and the sizes Cloudinary's crop modes promise,
fetch URLs meet the host allowlist, purges reach them, errors are clear, and the settings refuse
an unchecked dialect beside signed native URLs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

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
from tests.support.origin import REPO, OriginProcess

TOKEN = "cloudinary-test-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OriginProcess]:
    root = tmp_path_factory.mktemp("cloudinary-sources")
    (root / "products").mkdir()
    shutil.copy(REPO / "samples" / "landscape.jpg", root / "products" / "shoe.jpg")
    shutil.copy(REPO / "samples" / "landscape.jpg", root / "purged.jpg")
    marks = tmp_path_factory.mktemp("cloudinary-marks")
    shutil.copy(REPO / "samples" / "logo.png", marks / "logo.png")
    with OriginProcess({"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_CLOUDINARY_PREFIX": "demo",
                        "IMGORIGIN_WATERMARKS": f"logo:{marks / 'logo.png'}",
                        "IMGORIGIN_PURGE_TOKENS": TOKEN}) as origin:
        yield origin


@pytest.mark.parametrize(("cloudinary", "native"), [
    ("/demo/image/upload/c_fill,w_120,h_80,g_north/f_auto/q_auto/v17/products/shoe.jpg",
     "/enlarge,fmt_auto,g_north,h_80,q_auto,w_120/products/shoe.jpg"),
    ("/demo/image/upload/c_limit,w_100,h_100/products/shoe.jpg",
     "/fit_inside,fmt_jpeg,h_100,w_100/products/shoe.jpg"),
    ("/demo/image/upload/c_crop,w_300,h_200,x_40,y_30/products/shoe.jpg",
     "/crop_300:200:northwest:40:30,fmt_jpeg/products/shoe.jpg"),
    ("/demo/image/upload/c_fill,w_200,h_120/l_logo,w_0.25,fl_relative/"
     "fl_layer_apply,g_south_east,x_6,y_4/products/shoe.jpg",
     "/enlarge,fmt_jpeg,h_120,w_200,wm_logo:southeast:1:0.25:6:4/products/shoe.jpg"),
])
def test_a_cloudinary_url_is_the_native_variant(server: OriginProcess, cloudinary: str,
                                                native: str) -> None:
    assert_native_twin(server, cloudinary, native)
    assert native_from("cloudinary", "https://res.cloudinary.com" + cloudinary) == native


def size(path: str, server: OriginProcess) -> tuple[int, int]:
    r = get(server, path)
    assert r.status_code == 200, r.text
    image = pyvips.Image.new_from_buffer(r.content, "")
    return image.width, image.height


@pytest.mark.parametrize(("transformation", "expected"), [
    # The 2400x1600 original: scale stretches to both sides, fit and limit keep the ratio
    # inside the box, fill and pad give the box, lpad pads an unenlarged image out to it.
    ("c_scale,w_300,h_300", (300, 300)),
    ("c_fit,w_300,h_300", (300, 200)),
    ("c_limit,w_3000,h_3000", (2400, 1600)),
    ("c_fit,w_3000,h_3000", (3000, 2000)),
    ("c_fill,w_300,h_300", (300, 300)),
    ("c_pad,w_300,h_300", (300, 300)),
    ("c_lpad,w_3000,h_2000", (3000, 2000)),
    ("c_crop,w_300,h_200,g_south_east", (300, 200)),
    ("c_crop,w_0.5,h_0.25", (1200, 400)),
    ("w_0.1", (240, 160)),
    ("c_fill,ar_1:1,w_90", (90, 90)),
])
def test_crop_modes_give_cloudinarys_sizes(server: OriginProcess, transformation: str,
                                           expected: tuple[int, int]) -> None:
    assert size(f"/demo/image/upload/{transformation}/products/shoe.jpg", server) == expected


def test_a_crop_takes_the_region_unscaled(server: OriginProcess) -> None:
    crop = get(server, "/demo/image/upload/c_crop,w_100,h_100,x_10,y_20/f_png/products/"
                       "shoe.jpg")
    source = pyvips.Image.new_from_file(str(REPO / "samples" / "landscape.jpg"))
    expected = source.crop(10, 20, 100, 100)
    got = pyvips.Image.new_from_buffer(crop.content, "")
    assert (got - expected).abs().avg() < 2  # the same pixels, through one JPEG decode


def test_a_purge_reaches_cloudinary_urls(server: OriginProcess) -> None:
    assert_purge_reaches(server, "/demo/image/upload/w_41/purged.jpg", "purged.jpg", TOKEN)
    assert server.metric("imgorigin_dialect_requests_total", dialect="cloudinary") >= 3


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/demo/image/upload/c_mpad,w_50,h_50/products/shoe.jpg", 400, "crop mode 'mpad'"),
    ("/demo/image/upload/e_cartoonify/products/shoe.jpg", 400, "effect 'cartoonify'"),
    ("/demo/image/upload/w_10/missing.jpg", 404, "not found"),
    ("/demo/image/fetch/w_10/https://example.net/a.jpg", 403, "not allowed"),
    ("/demo/video/upload/w_10/a.mp4", 400, "image/upload"),
    ("/demo/image/upload/", 400, "public ID"),
])
def test_bad_cloudinary_urls_get_a_clear_error(server: OriginProcess, path: str, status: int,
                                               words: str) -> None:
    assert_clear_error(server, path, status, words)


def test_the_migration_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["from-cloudinary", "https://res.cloudinary.com/demo/image/upload/"
                 "c_fill,w_300,h_200/f_auto/products/shoe.jpg",
                 "--base", "https://img.example.com"]) == 0
    assert capsys.readouterr().out == ("https://img.example.com/enlarge,fmt_auto,h_200,w_300/"
                                       "products/shoe.jpg\n")


@pytest.mark.parametrize(("env", "words"), [
    ({"IMGORIGIN_CLOUDINARY_PREFIX": "demo", "IMGORIGIN_SIGNING_KEYS": "00" * 16},
     "must be signed too"),
    ({"IMGORIGIN_CLOUDINARY_PREFIX": "x", "IMGORIGIN_IPX_PREFIX": "x"}, "must differ"),
])
def test_settings_are_checked_at_start(env: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert words in str(err.value)


def test_a_rewrite_map_from_stdin(capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    urls = ("https://res.cloudinary.com/demo/image/upload/c_fill,w_300,h_200/f_auto/a.jpg\n"
            "\n# stored in the CMS\n"
            "https://res.cloudinary.com/demo/image/upload/e_cartoonify/a.jpg\n"
            "/demo/image/upload/w_0.5/b.png\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(urls))
    assert main(["from-cloudinary", "--base", "https://img.example.com"]) == 1  # one refused
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "https://res.cloudinary.com/demo/image/upload/c_fill,w_300,h_200/f_auto/a.jpg\t"
        "https://img.example.com/enlarge,fmt_auto,h_200,w_300/a.jpg",
        "/demo/image/upload/w_0.5/b.png\thttps://img.example.com/fmt_png,zoom_0.5/b.png",
    ]
    assert "line 4:" in err and "effect 'cartoonify'" in err


def test_an_overlay_is_the_servers_watermark(server: OriginProcess) -> None:
    base = "/demo/image/upload/c_fill,w_200,h_120/f_png/products/shoe.jpg"
    marked = ("/demo/image/upload/c_fill,w_200,h_120/l_logo,o_100/fl_layer_apply,g_north_west/"
              "f_png/products/shoe.jpg")
    plain, stamped = (pyvips.Image.new_from_buffer(get(server, p).content, "")
                      for p in (base, marked))
    logo = pyvips.Image.new_from_file(str(REPO / "samples" / "logo.png"))
    corner = (min(logo.width, 200), min(logo.height, 120))
    # The top-left corner changed where the logo sits, the opposite corner did not.
    assert (plain.crop(0, 0, *corner) - stamped.crop(0, 0, *corner)).abs().avg() > 1
    assert (plain.crop(190, 110, 10, 10) - stamped.crop(190, 110, 10, 10)).abs().max() == 0
    assert_clear_error(server, "/demo/image/upload/l_seal/products/shoe.jpg", 400,
                       "unknown watermark 'seal'")
