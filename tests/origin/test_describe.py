"""`fmt_json`: the source's facts and the variant's size from the header alone, agreeing with the
image URL with the same options, cached, validated and purged like any variant."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.origin.variant_checks import assert_cached_revalidated_purged
from tests.support.origin import REPO, OriginProcess
from transforms import Limits, prepare, probe
from transforms.describe import describe
from transforms.grammar import parse

TOKEN = "describe-token"
# Options whose output size the document must predict exactly.
AGREEMENT_CASES = [
    ("_", "landscape.jpg"),
    ("w_150", "landscape.jpg"),
    ("h_90,fit_inside", "landscape.jpg"),
    ("w_300,h_300,fit_contain", "landscape.jpg"),
    ("w_120,h_200", "landscape.jpg"),
    ("w_100,rot_90", "landscape.jpg"),
    ("crop_10:20:300:100,w_150", "landscape.jpg"),
    ("crop_0.25:300:southeast,w_150", "landscape.jpg"),
    ("crop_300:200:fp:0.9:0.1", "rotated.jpg"),
    ("w_5000", "landscape.jpg"),
    ("w_5000,enlarge", "landscape.jpg"),
    ("w_100,dpr_2.5", "landscape.jpg"),
    ("w_150,pad_5:10", "landscape.jpg"),
    ("w_120,h_90,fit_contain,dpr_1.5,pad_3:1:4", "landscape.jpg"),
    ("w_64", "logo.png"),
    ("w_40", "spinner.gif"),
    ("pad_7", "spinner.gif"),
    ("w_100", "rotated.jpg"),
    ("_", "rotated.jpg"),
]


def _rotated_jpeg(path: Path) -> None:
    """A 300x200 JPEG whose EXIF orientation 6 makes it display as 200x300."""
    image = pyvips.Image.black(300, 200).copy(interpretation="srgb") + [120, 40, 200]
    image = image.cast("uchar").copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", 6)
    image.jpegsave(str(path), keep=31)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("describe-sources")
    for name in ("landscape.jpg", "logo.png", "spinner.gif"):
        shutil.copy(REPO / "samples" / name, root / name)
    _rotated_jpeg(root / "rotated.jpg")
    (root / "truncated.jpg").write_bytes(
        (REPO / "samples" / "landscape.jpg").read_bytes()[:3000])
    (root / "notes.jpg").write_bytes(b"not an image at all\n" * 20)
    return root


@pytest.fixture(scope="module")
def origin(sources: Path) -> Iterator[OriginProcess]:
    with OriginProcess({"IMGORIGIN_SOURCE": str(sources),
                        "IMGORIGIN_PURGE_TOKENS": TOKEN}) as server:
        yield server


def _get(origin: OriginProcess, path: str, **headers: str) -> httpx.Response:
    return httpx.get(origin.url(path), headers=headers, timeout=30)


def _json_path(options: str, name: str) -> str:
    return f"/{'fmt_json' if options == '_' else options + ',fmt_json'}/{name}"


def test_the_document_describes_the_source_from_its_header(origin: OriginProcess,
                                                           sources: Path) -> None:
    before = origin.metric("imgorigin_transforms_total")
    answer = _get(origin, "/w_200,h_100,fmt_json/landscape.jpg")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "vary" not in answer.headers
    assert answer.headers["etag"].startswith('"')
    assert "public" in answer.headers["cache-control"]
    header = pyvips.Image.new_from_file(str(sources / "landscape.jpg"))
    assert answer.json() == {
        "source": {"format": "jpeg", "width": header.width, "height": header.height,
                   "pages": 1, "animated": False, "alpha": False, "orientation": 1,
                   "bytes": (sources / "landscape.jpg").stat().st_size},
        "output": {"width": 200, "height": 100},
    }
    rotated = _get(origin, "/fmt_json/rotated.jpg").json()["source"]
    assert (rotated["width"], rotated["height"], rotated["orientation"]) == (200, 300, 6)
    gif = _get(origin, "/fmt_json/spinner.gif").json()["source"]
    assert gif["format"] == "gif" and gif["animated"] and gif["pages"] > 1
    assert _get(origin, "/fmt_json/logo.png").json()["source"]["alpha"] is True
    # Nothing was decoded or encoded for any of them.
    assert origin.metric("imgorigin_transforms_total") == before
    # A purge of the source reaches the CDN's copies of the document too.
    image = _get(origin, "/w_200,h_100/landscape.jpg")
    assert answer.headers["surrogate-key"] == image.headers["surrogate-key"]
    assert answer.headers["cache-tag"] == image.headers["cache-tag"]


@pytest.mark.parametrize(("options", "name"), AGREEMENT_CASES)
def test_the_predicted_size_is_the_size_of_the_image(origin: OriginProcess, options: str,
                                                     name: str) -> None:
    document = _get(origin, _json_path(options, name))
    assert document.status_code == 200, document.text
    image = _get(origin, f"/{options}/{name}")
    assert image.status_code == 200, image.text
    decoded = pyvips.Image.new_from_buffer(image.content, "")
    height = decoded.get("page-height") if decoded.get_typeof("page-height") else decoded.height
    assert document.json()["output"] == {"width": decoded.width, "height": height}


def test_trim_leaves_the_size_unknown(origin: OriginProcess) -> None:
    answer = _get(origin, "/trim_10,w_100,fmt_json/landscape.jpg")
    assert answer.status_code == 200
    assert answer.json()["output"] == {"width": None, "height": None}


@pytest.mark.parametrize(("path", "status"), [
    ("/page_3,fmt_json/landscape.jpg", 400),
    ("/fmt_json/missing.jpg", 404),
    ("/fmt_json/notes.jpg", 422),
])
def test_a_document_fails_as_its_image_would(origin: OriginProcess, path: str,
                                             status: int) -> None:
    document = _get(origin, path)
    image = _get(origin, path.replace("fmt_json", "fmt_jpeg"))
    assert document.status_code == image.status_code == status
    assert document.json() == image.json()


def test_damage_past_the_header_shows_only_in_the_image(origin: OriginProcess) -> None:
    """The document is a header read; the image's decode finds the truncation."""
    document = _get(origin, "/fmt_json/truncated.jpg")
    assert document.status_code == 200 and document.json()["source"]["format"] == "jpeg"
    assert _get(origin, "/fmt_jpeg/truncated.jpg").status_code == 422


def test_the_pixel_limit_applies_to_the_document(sources: Path) -> None:
    with OriginProcess({"IMGORIGIN_SOURCE": str(sources),
                        "IMGORIGIN_MAX_SOURCE_PIXELS": "1000"}) as small:
        document = _get(small, "/fmt_json/landscape.jpg")
        assert document.status_code == 422
        assert "limit is 1000 pixels" in document.json()["detail"]


def test_the_document_is_cached_revalidated_and_purged(origin: OriginProcess) -> None:
    first = assert_cached_revalidated_purged(origin, "/w_77,fmt_json/landscape.jpg",
                                             "/w_77/landscape.jpg", "landscape.jpg", TOKEN)
    assert first.json()["output"] == {"width": 77, "height": 51}


@pytest.mark.parametrize(("options", "width", "height"), [
    ("w_400", 400, 300),
    ("w_400,h_100", 400, 100),
    ("w_400,h_100,fit_inside", 133, 100),
    ("w_400,h_100,fit_contain", 400, 100),
    ("w_3000", 800, 600),
    ("rot_90,h_400", 300, 400),
    ("trim_5", None, None),
])
def test_describe_reads_the_plan(options: str, width: int | None, height: int | None) -> None:
    image = pyvips.Image.black(800, 600).cast("uchar").jpegsave_buffer()
    info = probe(image)
    plan = prepare(info, parse(options).options, "original", Limits())
    document = describe(plan, len(image))
    assert document["output"] == {"width": width, "height": height}
    assert document["source"]["width"] == 800 and document["source"]["bytes"] == len(image)


def test_fmt_json_is_part_of_the_canonical_options() -> None:
    parsed = parse("fmt_json,w_10")
    assert parsed.options.format == "json"
    with pytest.raises(InvalidOptions, match="auto original json"):
        parse("fmt_xml")
