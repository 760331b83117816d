"""`copyright`: a stripped image keeps its EXIF credit (Copyright, Artist) and nothing else of
its metadata; without the token, or without a credit in the source, nothing is kept at all."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import pyvips

from transforms import Limits, parse, transform
from transforms.credits import credits_of
from transforms.grammar import serialize

CREDIT = {"exif-ifd0-Copyright": "(c) 2026 Jane Doe (Studio North)",
          "exif-ifd0-Artist": "Jane Doe"}
PRIVATE = {"exif-ifd0-Make": "Canon", "exif-ifd0-ImageDescription": "our garden",
           "exif-ifd3-GPSLatitudeRef": "N"}


def source(fields: dict[str, str]) -> bytes:
    image = (pyvips.Image.black(640, 480, bands=3) + 90).copy()
    for name, value in fields.items():
        image.set_type(pyvips.GValue.gstr_type, name, value + " ()")
    return bytes(image.jpegsave_buffer(keep=31))


def render(data: bytes, segment: str) -> bytes:
    options = parse(segment).options
    return transform(data, options, options.format or "original", Limits(),
                     deadline=time.monotonic() + 30).body


def exif_fields(data: bytes) -> dict[str, str]:
    image = pyvips.Image.new_from_buffer(data, "")
    return {name: str(image.get(name)) for name in image.get_fields()
            if name.startswith("exif-ifd")}


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "avif", "png"])
def test_the_credit_is_kept_and_nothing_else(fmt: str) -> None:
    data = source({**CREDIT, **PRIVATE})
    assert set(PRIVATE) - {"exif-ifd3-GPSLatitudeRef"} <= set(exif_fields(data))
    out = render(data, f"w_200,copyright,fmt_{fmt}")
    image = pyvips.Image.new_from_buffer(out, "")
    assert (image.width, image.height) == (200, 150)
    assert credits_of(image) == CREDIT  # parentheses and all
    fields = exif_fields(out)
    assert not {"exif-ifd0-Make", "exif-ifd0-ImageDescription"} & set(fields)
    assert not [f for f in fields if f.startswith("exif-ifd3")]  # no GPS block


def test_without_the_token_nothing_is_kept() -> None:
    out = render(source({**CREDIT, **PRIVATE}), "w_200")
    assert exif_fields(out) == {}


def test_a_source_without_a_credit_gives_the_same_bytes_with_or_without_the_token() -> None:
    data = source(PRIVATE)
    assert render(data, "w_200,copyright") == render(data, "w_200")
    assert exif_fields(render(data, "w_200,copyright")) == {}


def test_a_camera_files_thumbnail_and_camera_fields_do_not_survive(corpus: Path) -> None:
    path = corpus / "real" / "jpeg" / "exif-samples_Samsung_Digimax_i50_MP3.jpg"
    if not path.is_file():
        pytest.skip(f"{path.name} is not in this corpus")
    data = path.read_bytes()
    original = pyvips.Image.new_from_buffer(data, "")
    assert len(original.get("exif-data")) > 4000  # it carries an embedded thumbnail
    out = render(data, "w_300,copyright")
    image = pyvips.Image.new_from_buffer(out, "")
    assert credits_of(image) == credits_of(original) != {}
    assert len(image.get("exif-data")) < 2000  # a fresh block: no thumbnail of the original
    fields = exif_fields(out)
    assert "exif-ifd0-Make" in exif_fields(data) and "exif-ifd0-Make" not in fields
    assert not [f for f in fields if "JPEGInterchangeFormat" in f]


@pytest.mark.parametrize(("segment", "canonical"), [
    ("copyright,w_10", "copyright,w_10"),
    ("keepcopyright_1,w_10", "copyright,w_10"),
    ("copyright_0", "_"),
    ("copyright,strip_0", "strip_0"),  # nothing stripped: the credit stays anyway
    ("copyright,fmt_gif", "fmt_gif"),  # no EXIF in a GIF
    ("copyright,fmt_json", "fmt_json"),
])
def test_canonical_form(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("search", ["mb_4000", "q_auto"])
def test_the_credit_survives_a_quality_search(search: str) -> None:
    # The search encodes pixels held in memory several times; each encode carries the credit.
    out = render(source({**CREDIT, **PRIVATE}), f"w_300,copyright,{search}")
    assert credits_of(pyvips.Image.new_from_buffer(out, "")) == CREDIT
    assert "exif-ifd0-Make" not in exif_fields(out)
