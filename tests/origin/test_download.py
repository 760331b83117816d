"""`dl` (imgix `dl`, imgproxy `return_attachment` + `filename`): the answer as a download under a
name with the extension of what is sent. Not part of the variant (the bytes and cache entry are
the plain URL's), but part of the signed path."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from origin.cli import build_url
from origin.errors import InvalidOptions
from origin.responses import content_disposition
from tests.support.origin import REPO, OriginProcess
from transforms.grammar import parse, serialize

KEY = "6b6579206f6620646f776e6c6f616473"


def _get(server: OriginProcess, path: str, **headers: str) -> httpx.Response:
    return httpx.get(server.url(path), headers=headers, timeout=30)


# --- grammar --------------------------------------------------------------------------------

def test_dl_is_not_part_of_the_variant() -> None:
    plain = parse("w_100")
    for segment, name in (("w_100,dl", ""), ("dl_red-shoe.png,w_100", "red-shoe.png"),
                          ("download_a_b.c,w_100", "a_b.c"), ("attachment,w_100", "")):
        parsed = parse(segment)
        assert parsed.options == plain.options
        assert parsed.download == name
        assert serialize(parsed.options) == "w_100"
    assert parse("w_100").download is None


@pytest.mark.parametrize("token", ["dl_", "dl_.htaccess", "dl_a b", "dl_a/b", "dl_caf\u00e9",
                                   "dl_a;b", 'dl_a"b', "dl_" + "a" * 101])
def test_a_bad_file_name_is_400(token: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(f"w_100,{token}")
    assert token in err.value.detail


def test_dl_given_twice_is_400() -> None:
    with pytest.raises(InvalidOptions, match="duplicate"):
        parse("dl,download_x")


def test_the_url_builder_keeps_dl_and_exp() -> None:
    assert build_url("dl_shoe,h_300,w_400,dpr_2.0", "a.jpg") == "/dpr_2,h_300,w_400,dl_shoe/a.jpg"
    assert build_url("dl", "a.jpg", expires=5) == "/exp_5,dl/a.jpg"
    assert build_url("_", "a.jpg") == "/_/a.jpg"


# --- the header -----------------------------------------------------------------------------

@pytest.mark.parametrize(("download", "source", "content_type", "header"), [
    ("", "products/shoe.jpg", "image/webp", 'attachment; filename="shoe.webp"'),
    ("", "products/shoe", "image/jpeg", 'attachment; filename="shoe.jpg"'),
    ("red.JPEG", "x.png", "image/avif", 'attachment; filename="red.avif"'),
    ("report.v2", "x.png", "image/png", 'attachment; filename="report.v2.png"'),
    ("", "https://cdn.example.com/a/b/pic.gif?x=1", "image/gif", 'attachment; filename="pic.gif"'),
    ("", "photos/caf\u00e9 au lait.jpg", "image/jpeg",
     "attachment; filename=\"caf__au_lait.jpg\"; filename*=UTF-8''caf%C3%A9%20au%20lait.jpg"),
    ("", 'dir/"evil"\r\nx: y.jpg', "image/jpeg",
     'attachment; filename="evilx__y.jpg"; filename*=UTF-8\'\'evilx%3A%20y.jpg'),
    ("", "dir/", "application/json", 'attachment; filename="dir.json"'),
    ("", "/", "image/png", 'attachment; filename="image.png"'),
])
def test_the_header_names_the_file_with_the_sent_extension(download: str, source: str,
                                                           content_type: str,
                                                           header: str) -> None:
    name, value = content_disposition(download, source, content_type)
    assert name == b"content-disposition"
    assert value.decode() == header


# --- through a server -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OriginProcess]:
    root = tmp_path_factory.mktemp("download-sources")
    shutil.copy(REPO / "samples" / "landscape.jpg", root / "landscape.jpg")
    shutil.copy(REPO / "samples" / "landscape.jpg", root / "caf\u00e9.jpg")
    with OriginProcess({"IMGORIGIN_SOURCE": str(root)}) as origin:
        yield origin


def test_a_download_shares_the_plain_variant(server: OriginProcess) -> None:
    plain = _get(server, "/w_120/landscape.jpg")
    assert plain.headers["server-timing"].startswith("transform")
    assert "content-disposition" not in plain.headers
    download = _get(server, "/w_120,dl/landscape.jpg")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="landscape.jpg"'
    # The same entry: no second transform, the same bytes, validator and tags.
    assert download.headers["server-timing"].startswith("memory")
    assert download.content == plain.content
    assert download.headers["etag"] == plain.headers["etag"]
    assert download.headers["surrogate-key"] == plain.headers["surrogate-key"]
    unchanged = _get(server, "/w_120,dl/landscape.jpg", **{"If-None-Match": plain.headers["etag"]})
    assert unchanged.status_code == 304


@pytest.mark.parametrize(("path", "accept", "filename"), [
    ("/w_90,fmt_auto,dl_holiday/landscape.jpg", "image/avif,*/*", "holiday.avif"),
    ("/w_90,fmt_auto,dl_holiday.jpg/landscape.jpg", "image/webp,*/*", "holiday.webp"),
    ("/w_90,fmt_auto,dl/landscape.jpg", "*/*", "landscape.jpg"),
    ("/w_90,fmt_png,dl/landscape.jpg", "*/*", "landscape.png"),
    ("/w_90,fmt_json,dl/landscape.jpg", "*/*", "landscape.json"),
])
def test_the_extension_follows_the_answer(server: OriginProcess, path: str, accept: str,
                                          filename: str) -> None:
    r = _get(server, path, Accept=accept)
    assert r.status_code == 200
    assert r.headers["content-disposition"] == f'attachment; filename="{filename}"'


def test_a_non_ascii_source_name_travels_in_utf8(server: OriginProcess) -> None:
    r = _get(server, "/w_50,dl/caf%C3%A9.jpg")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == (
        "attachment; filename=\"caf_.jpg\"; filename*=UTF-8''caf%C3%A9.jpg")


def test_errors_are_not_downloads(server: OriginProcess) -> None:
    r = _get(server, "/w_50,dl/missing.jpg")
    assert r.status_code == 404 and "content-disposition" not in r.headers


def test_the_name_is_covered_by_the_signature(tmp_path: Path) -> None:
    shutil.copy(REPO / "samples" / "landscape.jpg", tmp_path / "landscape.jpg")
    with OriginProcess({"IMGORIGIN_SOURCE": str(tmp_path),
                        "IMGORIGIN_SIGNING_KEYS": KEY}) as signed:
        path = build_url("w_80,dl_mine", "landscape.jpg", sign_key=KEY)
        ok = _get(signed, path)
        assert ok.status_code == 200
        assert ok.headers["content-disposition"] == 'attachment; filename="mine.jpg"'
        forged = _get(signed, path.replace("dl_mine", "dl_yours"))
        assert forged.status_code == 403
