"""imgproxy URLs through a real server (IMGORIGIN_IMGPROXY_PREFIX): the same variant, bytes,
ETag and cache entry as the native URL, imgproxy's signatures, its sources (a real upstream on
loopback for absolute URLs), purge, and clear errors for what is not translated."""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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
from tests.support.upstream import Upstream

KEY = "943b421c9eb07c830af81030552c86009268de4e532ba2ee2eab8247c6da0881"
SALT = "520f986b998545b4785e0defbc4f3c1203f22de2374a3d53cb7a7fe9fea309c5"
TOKEN = "imgproxy-test-token"


def b64(url: str) -> str:
    return base64.urlsafe_b64encode(url.encode()).rstrip(b"=").decode()




@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with Upstream() as server:
        server.add("remote.jpg", (REPO / "samples" / "landscape.jpg").read_bytes())
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           upstream: Upstream) -> Iterator[OriginProcess]:
    root = tmp_path_factory.mktemp("imgproxy-sources")
    shutil.copy(REPO / "samples" / "landscape.jpg", root / "landscape.jpg")
    shutil.copy(REPO / "samples" / "landscape.jpg", root / "purged.jpg")
    marks = tmp_path_factory.mktemp("marks")
    shutil.copy(REPO / "samples" / "logo.png", marks / "logo.png")
    with OriginProcess({"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_IMGPROXY_PREFIX": "ip",
                        "IMGORIGIN_WATERMARKS": f"brand:{marks / 'logo.png'}",
                        "IMGORIGIN_IMGPROXY_WATERMARK": "brand",
                        "IMGORIGIN_PURGE_TOKENS": TOKEN,
                        "IMGORIGIN_ALLOWED_HOSTS": "127.0.0.1",
                        "IMGORIGIN_ALLOW_PRIVATE_NETWORKS": "true"}) as origin:
        yield origin


@pytest.mark.parametrize(("imgproxy", "native"), [
    ("/ip/insecure/rs:fill:120:80/g:sm/plain/landscape.jpg@webp",
     "/fmt_webp,g_attention,h_80,w_120/landscape.jpg"),
    ("/ip/_/rs:fit:100:100/q:60/plain/local:///landscape.jpg", "/fit_inside,h_100,q_60,w_100/"
                                                                "landscape.jpg"),
    (f"/ip/x/w:90/bl:2/{b64('landscape.jpg')}.png", "/blur_2,fmt_png,w_90/landscape.jpg"),
    ("/ip/x/rs:fill:60:40/pd:5/bg:255:0:0/plain/landscape.jpg",
     "/bg_ff0000,h_50,pad_5,w_70/landscape.jpg"),
    ("/ip/x/crop:600:0.5:soea/rs:fill:120:80/plain/landscape.jpg@png",
     "/crop_600:0.5:southeast,fmt_png,h_80,w_120/landscape.jpg"),
    ("/ip/x/rs:fill:120:40/g:no:0:15/plain/landscape.jpg@png",
     "/fmt_png,g_north:0:15,h_40,w_120/landscape.jpg"),
    # imgproxy's one watermark is the server's `brand` (IMGORIGIN_IMGPROXY_WATERMARK).
    ("/ip/x/rs:fill:300:200/wm:0.6:soea:10:8:0.25/plain/landscape.jpg",
     "/h_200,w_300,wm_brand:southeast:0.6:0.25x0.25:10:8/landscape.jpg"),
    ("/ip/x/rs:fill:300:200/wm:0.4:re:12:6:0.1/plain/landscape.jpg",
     "/h_200,w_300,wm_brand:tile:0.4:0.1x0.1:12:6/landscape.jpg"),
])
def test_an_imgproxy_url_is_the_native_variant(server: OriginProcess, imgproxy: str,
                                               native: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert_native_twin(server, imgproxy, native)
    for name in ("IMGORIGIN_WATERMARKS", "IMGORIGIN_IMGPROXY_WATERMARK"):
        monkeypatch.setenv(name, server.env[name])
    # The migration command prints that native URL.
    assert native_from("imgproxy", imgproxy.removeprefix("/ip")) == native


def test_admitted_imgproxy_requests_are_counted(server: OriginProcess) -> None:
    before = server.metric("imgorigin_dialect_requests_total", dialect="imgproxy")
    assert get(server, "/ip/x/w:33/plain/landscape.jpg").status_code == 200
    assert get(server, "/ip/x/w:33/plain/landscape.jpg").status_code == 200
    assert get(server, "/ip/x/vts:1/plain/landscape.jpg").status_code == 400  # not admitted
    assert get(server, "/w_33/landscape.jpg").status_code == 200  # native
    assert server.metric("imgorigin_dialect_requests_total", dialect="imgproxy") == before + 2


def test_imgproxy_padding_pads_around_the_resized_image(server: OriginProcess) -> None:
    import pyvips

    r = get(server, "/ip/x/rs:fill:100:60/pd:10:20/plain/landscape.jpg@png")
    assert r.status_code == 200
    image = pyvips.Image.new_from_buffer(r.content, "")
    assert (image.width, image.height) == (140, 80)  # imgproxy's 100x60 plus the padding


def test_an_absolute_source_url_is_fetched_from_the_upstream(server: OriginProcess,
                                                             upstream: Upstream) -> None:
    url = f"{upstream.base}/files/remote.jpg"
    plain = get(server, f"/ip/x/w:70/plain/{url}@webp")
    assert plain.status_code == 200, plain.text
    assert plain.headers["content-type"] == "image/webp"
    encoded = get(server, f"/ip/x/w:70/{b64(url)}.webp")
    assert encoded.status_code == 200
    assert tier(encoded) == "memory" and encoded.content == plain.content
    assert upstream.hits["/files/remote.jpg"] >= 1


def test_a_disallowed_host_is_refused_as_natively(server: OriginProcess) -> None:
    r = get(server, "/ip/x/w:70/plain/http://example.net/a.jpg")
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/json")


def test_a_purge_reaches_the_imgproxy_urls(server: OriginProcess) -> None:
    path = "/ip/x/w:55/plain/purged.jpg"
    assert_purge_reaches(server, path, "purged.jpg", TOKEN)


def test_download_and_conditional_requests(server: OriginProcess) -> None:
    r = get(server, "/ip/x/w:40/att:1/fn:holiday/plain/landscape.jpg@webp")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="holiday.webp"'
    unchanged = get(server, "/ip/x/w:40/plain/landscape.jpg@webp",
                     **{"If-None-Match": r.headers["etag"]})
    assert unchanged.status_code == 304


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/ip/x/vts:1/plain/landscape.jpg", 400, "'vts'"),  # imgproxy Pro's video thumbnails
    ("/ip/x/skp:tiff/plain/landscape.jpg", 400, "only web formats"),
    ("/ip/x/w:10/enc/abc", 400, "encrypted"),
    ("/ip/x/w:10/plain/missing.jpg", 404, "not found"),
    ("/ip/x/w:10/plain/%2E%2E/etc/passwd", 400, "'..'"),
    ("/ip/x/w:99999/plain/landscape.jpg", 400, "w_99999"),
    ("/ip/x", 400, "signature"),
    ("/ip/x/exp:1000/w:10/plain/landscape.jpg", 403, "expired"),
])
def test_bad_imgproxy_urls_get_a_clear_error(server: OriginProcess, path: str, status: int,
                                             words: str) -> None:
    assert_clear_error(server, path, status, words)


def test_the_prefix_is_only_the_dialect(server: OriginProcess) -> None:
    # Native URLs are unchanged beside it, and the prefix is not an options segment.
    assert get(server, "/w_30/landscape.jpg").status_code == 200
    assert get(server, "/ipx/landscape.jpg").status_code == 400


def test_the_migration_command(capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://imgproxy.example.com/SIG/rs:fill:300:200/g:sm/plain/products/shoe.jpg@webp"
    assert main(["from-imgproxy", url, "--base", "https://img.example.com/"]) == 0
    assert capsys.readouterr().out == ("https://img.example.com/fmt_webp,g_attention,h_200,"
                                       "w_300/products/shoe.jpg\n")
    monkeypatch.setenv("IMGORIGIN_SIGNING_KEYS", "00" * 16)
    assert main(["from-imgproxy", "/x/w:10/plain/http%3A%2F%2Fa.example.com%2Fb.jpg",
                 "--sign"]) == 0
    signed = capsys.readouterr().out.strip()
    assert signed == "/" + signing.sign("/w_10/http://a.example.com/b.jpg", "00" * 16) + (
        "/w_10/http://a.example.com/b.jpg")
    assert main(["from-imgproxy", "/x/vts:1/plain/a.jpg"]) == 2
    assert "'vts'" in capsys.readouterr().err
    assert main(["from-imgproxy", "nothing"]) == 2


def test_signed_imgproxy_urls(tmp_path: Path) -> None:
    shutil.copy(REPO / "samples" / "landscape.jpg", tmp_path / "landscape.jpg")
    second_key, second_salt = "aa" * 16, "bb" * 16
    env = {"IMGORIGIN_SOURCE": str(tmp_path), "IMGORIGIN_IMGPROXY_PREFIX": "imgproxy",
           "IMGORIGIN_IMGPROXY_KEYS": f"{KEY},{second_key}",
           "IMGORIGIN_IMGPROXY_SALTS": f"{SALT},{second_salt}",
           # Native URLs signed too: the dialect may not be a way around them.
           "IMGORIGIN_SIGNING_KEYS": "00" * 16}
    with OriginProcess(env) as origin:
        path = "/rs:fill:50:50/plain/landscape.jpg@png"
        ok = get(origin, f"/imgproxy/{signing.sign_imgproxy(path, KEY, SALT)}{path}")
        assert ok.status_code == 200, ok.text
        rotated = get(origin, "/imgproxy/"
                       f"{signing.sign_imgproxy(path, second_key, second_salt)}{path}")
        assert rotated.status_code == 200 and rotated.content == ok.content
        for bad in ("insecure", signing.sign_imgproxy(path, KEY, second_salt),
                    signing.sign_imgproxy(path + "x", KEY, SALT)):
            refused = get(origin, f"/imgproxy/{bad}{path}")
            assert refused.status_code == 403, bad
        # The signature covers every option: changing one after signing is refused.
        tampered = path.replace("50:50", "51:50")
        assert get(origin, f"/imgproxy/{signing.sign_imgproxy(path, KEY, SALT)}"
                            f"{tampered}").status_code == 403
        expired = "/exp:1000/w:10/plain/landscape.jpg"
        assert get(origin, f"/imgproxy/{signing.sign_imgproxy(expired, KEY, SALT)}"
                            f"{expired}").status_code == 403
        future = f"/exp:{int(time.time()) + 3600}/w:10/plain/landscape.jpg"
        assert get(origin, f"/imgproxy/{signing.sign_imgproxy(future, KEY, SALT)}"
                            f"{future}").status_code == 200


def test_truncated_signatures(tmp_path: Path) -> None:
    shutil.copy(REPO / "samples" / "landscape.jpg", tmp_path / "landscape.jpg")
    env = {"IMGORIGIN_SOURCE": str(tmp_path), "IMGORIGIN_IMGPROXY_PREFIX": "imgproxy",
           "IMGORIGIN_IMGPROXY_KEYS": KEY, "IMGORIGIN_IMGPROXY_SALTS": SALT,
           "IMGORIGIN_IMGPROXY_SIGNATURE_SIZE": "8"}
    with OriginProcess(env) as origin:
        path = "/w:20/plain/landscape.jpg"
        short = signing.sign_imgproxy(path, KEY, SALT, size=8)
        assert get(origin, f"/imgproxy/{short}{path}").status_code == 200
        full = signing.sign_imgproxy(path, KEY, SALT)
        assert get(origin, f"/imgproxy/{full}{path}").status_code == 403


@pytest.mark.parametrize(("env", "words"), [
    ({"IMGORIGIN_IMGPROXY_PREFIX": "ip", "IMGORIGIN_SIGNING_KEYS": "00" * 16},
     "must be signed too"),
    ({"IMGORIGIN_IMGPROXY_KEYS": KEY}, "one salt per key"),
    ({"IMGORIGIN_IMGPROXY_KEYS": "zz", "IMGORIGIN_IMGPROXY_SALTS": "00"}, "hex"),
    ({"IMGORIGIN_IMGPROXY_PREFIX": "a/b"}, "one path segment"),
    ({"IMGORIGIN_IMGPROXY_PREFIX": "-"}, "one path segment"),
    ({"IMGORIGIN_IMGPROXY_SIGNATURE_SIZE": "33"}, "1 to 32"),
])
def test_settings_are_checked_at_start(env: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert words in str(err.value)


def test_a_prefix_that_is_a_native_options_segment_is_refused(tmp_path: Path) -> None:
    origin = OriginProcess({"IMGORIGIN_SOURCE": str(tmp_path),
                            "IMGORIGIN_IMGPROXY_PREFIX": "flip"})
    with pytest.raises(RuntimeError) as err:
        origin.start(timeout=20)
    assert "IMGORIGIN_IMGPROXY_PREFIX" in str(err.value)
