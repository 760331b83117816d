"""`raw` and `skip_F` (imgproxy's raw and skip_processing): the source's own bytes through a
real server, for web formats within the limits; what they do not take is a clear 4xx."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import pyvips

from origin.errors import InvalidOptions, UnsupportedFormat
from origin.settings import Settings, SettingsError
from tests.support.origin import REPO, OriginProcess
from transforms import Limits, parse, serialize, transform
from transforms.imgproxy import translate as from_imgproxy

SAMPLES = REPO / "samples"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stored")
    for name in ("landscape.jpg", "logo.png", "spinner.gif"):
        shutil.copy(SAMPLES / name, root / name)
    (root / "scan.tif").write_bytes(pyvips.Image.black(8, 8).tiffsave_buffer())
    (root / "big.png").write_bytes(pyvips.Image.black(2500, 2100).pngsave_buffer())
    return root


@pytest.fixture(scope="module")
def server(folder: Path) -> Iterator[OriginProcess]:
    env = {"IMGORIGIN_SOURCE": str(folder), "IMGORIGIN_DEFAULT_FORMAT": "auto",
           "IMGORIGIN_IMGPROXY_PREFIX": "imgproxy", "IMGORIGIN_MAX_SOURCE_PIXELS": "5000000",
           "IMGORIGIN_IMGPROXY_SKIP_PROCESSING_FORMATS": "gif, svg"}
    with OriginProcess(env, workers=2) as origin:
        yield origin


def get(server: OriginProcess, path: str, **headers: str) -> httpx.Response:
    return httpx.get(server.url(path), headers={"Accept": "image/avif,image/webp,*/*",
                                                **headers}, timeout=30)


@pytest.mark.parametrize(("name", "content_type"), [
    ("landscape.jpg", "image/jpeg"), ("logo.png", "image/png"), ("spinner.gif", "image/gif")])
def test_raw_answers_the_sources_bytes_with_the_usual_headers(
        server: OriginProcess, folder: Path, name: str, content_type: str) -> None:
    r = get(server, f"/raw/{name}")
    assert r.status_code == 200, r.text
    assert r.content == (folder / name).read_bytes()
    assert r.headers["content-type"] == content_type
    assert r.headers["etag"] and "public" in r.headers["cache-control"]
    assert r.headers["x-content-type-options"] == "nosniff"
    # The default format is `auto` here, yet raw bytes never vary with Accept.
    assert "accept" not in r.headers.get("vary", "").lower()
    again = get(server, f"/raw/{name}", **{"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_raw_as_an_attachment(server: OriginProcess, folder: Path) -> None:
    r = get(server, "/raw,dl_photo.jpg/landscape.jpg")
    assert r.status_code == 200 and r.content == (folder / "landscape.jpg").read_bytes()
    assert r.headers["content-disposition"].startswith("attachment")


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/raw/scan.tif", 415, "this source is tiff"),  # not a web format: never served as stored
    ("/raw/big.png", 422, "limit"),  # 5.25 MP, over the server's 5 MP
    ("/raw,w_10/logo.png", 400, "w_10"),
    ("/raw,fmt_webp/logo.png", 400, "fmt_webp"),
    ("/skip_tiff/scan.tif", 400, "skip_tiff"),
    ("/raw/missing.png", 404, "not found"),
])
def test_what_raw_does_not_take(server: OriginProcess, path: str, status: int,
                                words: str) -> None:
    r = get(server, path)
    assert r.status_code == status, r.text
    assert words in r.text
    assert get(server, "/-/healthz").status_code == 200


def test_skip_serves_the_listed_formats_as_stored_and_processes_the_others(
        server: OriginProcess, folder: Path) -> None:
    stored = get(server, "/skip_gif,w_20,fmt_original/spinner.gif")
    assert stored.status_code == 200 and stored.content == (folder / "spinner.gif").read_bytes()
    processed = get(server, "/skip_gif,w_20,fmt_original/landscape.jpg")
    assert processed.status_code == 200 and processed.headers["content-type"] == "image/jpeg"
    assert pyvips.Image.new_from_buffer(processed.content, "").width == 20
    # Another output format than the source's: processed, as imgproxy does.
    webp = get(server, "/skip_gif,w_20,fmt_webp/spinner.gif")
    assert webp.headers["content-type"] == "image/webp"
    assert pyvips.Image.new_from_buffer(webp.content, "").width == 20


def test_imgproxy_raw_and_skip_processing(server: OriginProcess, folder: Path) -> None:
    raw = get(server, "/imgproxy/unsafe/raw:1/rs:fill:10:10/plain/local:///landscape.jpg")
    assert raw.status_code == 200 and raw.content == (folder / "landscape.jpg").read_bytes()
    # imgproxy's own test of skip_processing: the PNG's bytes whatever the resize.
    skipped = get(server, "/imgproxy/unsafe/rs:fill:4:4/skp:png/plain/local:///logo.png")
    assert skipped.status_code == 200 and skipped.content == (folder / "logo.png").read_bytes()
    resized = get(server, "/imgproxy/unsafe/rs:fill:4:4/skp:gif/plain/local:///logo.png")
    assert resized.status_code == 200 and resized.content != (folder / "logo.png").read_bytes()
    refused = get(server, "/imgproxy/unsafe/skp:tiff/plain/local:///scan.tif")
    assert refused.status_code == 400 and "tiff" in refused.text
    # IMGPROXY_SKIP_PROCESSING_FORMATS' counterpart (gif, svg here): every imgproxy URL.
    gif = get(server, "/imgproxy/unsafe/rs:fill:4:4/plain/local:///spinner.gif")
    assert gif.status_code == 200 and gif.content == (folder / "spinner.gif").read_bytes()
    native = get(server, "/w_4,h_4/spinner.gif")  # native URLs are not touched by it
    assert native.status_code == 200 and native.content != gif.content


@pytest.mark.parametrize(("path", "skip", "canonical"), [
    ("rs:fill:10:10/plain/local:///a.png", ("gif",), "h_10,skip_gif,w_10"),
    ("skp:png/plain/local:///a.png", ("gif",), "skip_gif:png"),
    ("raw:1/plain/local:///a.png", ("gif",), "raw"),
    ("plain/local:///a.png@webp", ("gif", "webp"), "fmt_webp,skip_webp"),
])
def test_imgproxy_server_wide_skip(path: str, skip: tuple[str, ...], canonical: str) -> None:
    assert serialize(parse(from_imgproxy(path, "", skip).tokens).options) == canonical


def test_the_server_wide_skip_setting_is_checked_at_start() -> None:
    assert Settings.from_env({"IMGORIGIN_IMGPROXY_SKIP_PROCESSING_FORMATS": "SVG,jpg, gif"}
                             ).imgproxy_skip_processing == ("gif", "jpeg")
    with pytest.raises(SettingsError, match="tiff"):
        Settings.from_env({"IMGORIGIN_IMGPROXY_SKIP_PROCESSING_FORMATS": "gif,tiff"})


@pytest.mark.parametrize(("path", "canonical"), [
    ("raw:1/rs:fill:10:10/q:50/plain/local:///a.png@webp", "raw"),
    ("raw:1/att:1/fn:photo/plain/local:///a.png", "raw"),
    ("raw:0/rs:fill:10:10/plain/local:///a.png", "h_10,w_10"),
    ("rs:fill:10:10/skp:gif:JPG:svg/plain/local:///a.png", "h_10,skip_gif:jpeg,w_10"),
    ("skp:svg/plain/local:///a.png", "_"),  # SVG sources are rendered here: nothing to skip
])
def test_imgproxy_spellings(path: str, canonical: str) -> None:
    assert serialize(parse(from_imgproxy(path).tokens).options) == canonical


@pytest.mark.parametrize(("segment", "canonical"), [
    ("raw,fmt_original", "raw"),
    ("skip_jpg:gif:jpeg,w_10", "skip_gif:jpeg,w_10"),
    ("skipprocessing_png", "skip_png"),
    ("skip_gif,fmt_webp,w_10", "fmt_webp,w_10"),  # a webp output keeps no gif as stored
    ("skip_gif:webp,fmt_webp", "fmt_webp,skip_webp"),
])
def test_native_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("segment", ["raw,strip_0", "raw,g_north,s_10x10", "raw,fmt_auto",
                                     "skip_svg", "skip", "skip_gif:bmp"])
def test_native_refusals(segment: str) -> None:
    with pytest.raises(InvalidOptions):
        parse(segment)


def test_in_process_transform_answers_the_bytes_too() -> None:
    data = (SAMPLES / "logo.png").read_bytes()
    result = transform(data, parse("raw").options, "original", Limits(),
                       deadline=time.monotonic() + 30)
    assert result.body == data and result.content_type == "image/png"
    resized = transform(data, parse("skip_gif,w_16").options, "original", Limits(),
                        deadline=time.monotonic() + 30)
    assert resized.body != data and resized.width == 16
    # The same refusal as the server's: a TIFF is never handed out as stored.
    with pytest.raises(UnsupportedFormat, match="tiff"):
        transform(pyvips.Image.black(8, 8).tiffsave_buffer(), parse("raw").options, "original",
                  Limits(), deadline=time.monotonic() + 30)
