"""`default_KEY` (Cloudinary's `d_`): the image shown, made to the same options, when the
source is not found; through a real server, with its status, caching and tags."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import pyvips

from cache.keys import surrogate_keys
from origin.errors import InvalidOptions
from tests.support.origin import REPO, OriginProcess
from transforms import parse

SAMPLES = REPO / "samples"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OriginProcess]:
    root: Path = tmp_path_factory.mktemp("defaults")
    shutil.copy(SAMPLES / "landscape.jpg", root / "pic.jpg")
    (root / "people").mkdir()
    shutil.copy(SAMPLES / "logo.png", root / "people" / "nobody.png")
    (root / "broken.jpg").write_bytes((SAMPLES / "landscape.jpg").read_bytes()[:2000])
    with OriginProcess({"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_CLOUDINARY_PREFIX": "demo"},
                       workers=2) as origin:
        yield origin


def get(server: OriginProcess, path: str) -> httpx.Response:
    return httpx.get(server.url(path), timeout=30)


def test_a_missing_source_shows_the_default_made_to_the_same_options(
        server: OriginProcess) -> None:
    r = get(server, "/w_50,default_people:nobody.png,fmt_png/missing.jpg")
    assert r.status_code == 404  # still the source's status: the page asked for another image
    assert r.headers["content-type"] == "image/png"
    assert r.headers["imgorigin-fallback"] == "not_found"
    assert r.content == get(server, "/w_50,fmt_png/people/nobody.png").content
    # Cached like the 404 it stands for, and tagged with both sources: a purge of the missing
    # one (uploaded since) or of the default (replaced) takes the CDN's copy.
    assert r.headers["cache-control"] == get(server, "/w_50/missing.jpg").headers["cache-control"]
    tags = r.headers["surrogate-key"].split()
    assert set(surrogate_keys("missing.jpg").split()) <= set(tags)
    assert set(surrogate_keys("people/nobody.png").split()) <= set(tags)
    assert len(tags) == len(set(tags))


def test_a_present_source_ignores_its_default(server: OriginProcess) -> None:
    with_default = get(server, "/w_50,default_people:nobody.png,fmt_png/pic.jpg")
    plain = get(server, "/w_50,fmt_png/pic.jpg")
    assert with_default.status_code == plain.status_code == 200
    assert with_default.content == plain.content
    assert with_default.headers["etag"] == plain.headers["etag"]  # one variant, one entry
    assert "imgorigin-fallback" not in with_default.headers


@pytest.mark.parametrize(("path", "status"), [
    ("/w_50,default_nothere.png/missing.jpg", 404),  # the default is missing too: the error
    ("/w_50,default_people:nobody.png/broken.jpg", 422),  # found but broken: not a default's
])
def test_what_the_default_does_not_stand_in_for(server: OriginProcess, path: str,
                                                status: int) -> None:
    r = get(server, path)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/json")


def test_cloudinary_d_is_the_default(server: OriginProcess) -> None:
    r = get(server, "/demo/image/upload/w_50,d_people:nobody.png/missing.png")
    assert r.status_code == 404 and r.headers["content-type"] == "image/png"
    assert pyvips.Image.new_from_buffer(r.content, "").width == 50


@pytest.mark.parametrize("segment", ["default_", "default_a b.png", "default_..:x.png",
                                     "default_a::b.png", "default_:a.png", "default_a/b.png"])
def test_what_a_default_key_may_not_be(segment: str) -> None:
    with pytest.raises(InvalidOptions):
        parse(segment)


def test_the_default_is_not_part_of_the_variant() -> None:
    parsed = parse("w_50,default_people:nobody.png")
    assert parsed.default == "people/nobody.png"
    assert parsed.options == parse("w_50").options
    assert parsed.extra_tokens() == ["default_people:nobody.png"]
