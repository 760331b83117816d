"""`fq` (imgproxy's `format_quality`): a quality per output format, so one `fmt_auto` URL can ask
AVIF, WebP and JPEG for the qualities that look alike."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from origin.errors import InvalidOptions
from transforms import Limits, transform
from transforms.grammar import parse, serialize

LANDSCAPE = (Path(__file__).resolve().parents[2] / "samples" / "landscape.jpg").read_bytes()


def render(spec: str, fmt: str) -> bytes:
    return transform(LANDSCAPE, parse(spec).options, fmt, Limits(),
                     deadline=time.monotonic() + 30).body


@pytest.mark.parametrize(("segment", "canonical"), [
    ("fq_webp:70", "fq_webp:70"),
    ("fq_webp:70:avif:45", "fq_avif:45:webp:70"),
    ("formatquality_jpg:60", "fq_jpeg:60"),
    ("fq_jpeg:60:avif:40,q_90", "fq_avif:40:jpeg:60,q_90"),
    # With a quality of its own for every format, q has nothing left to set.
    ("fq_jpeg:60:avif:40:webp:75,q_90", "fq_avif:40:jpeg:60:webp:75"),
])
def test_spellings_and_one_canonical_order(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("token", ["fq", "fq_", "fq_webp", "fq_webp:", "fq_webp:0",
                                   "fq_webp:101", "fq_webp:70:webp:60", "fq_jpg:70:jpeg:60",
                                   "fq_png:50", "fq_gif:50", "fq_tiff:50", "fq_webp:070",
                                   "fq_webp:70:avif"])
def test_bad_values_are_400(token: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(token)
    assert token in err.value.detail


@pytest.mark.parametrize(("fmt", "quality"), [("jpeg", 35), ("webp", 45), ("avif", 30)])
def test_each_format_takes_its_own_quality(fmt: str, quality: int) -> None:
    spec = "w_300,fq_jpeg:35:webp:45:avif:30"
    assert render(spec, fmt) == render(f"w_300,q_{quality}", fmt)


def test_q_covers_the_formats_fq_does_not_name() -> None:
    spec = "w_300,q_55,fq_avif:30"
    assert render(spec, "avif") == render("w_300,q_30", "avif")
    assert render(spec, "webp") == render("w_300,q_55", "webp")
    assert render(spec, "jpeg") == render("w_300,q_55", "jpeg")
    # Without q, the others keep their defaults.
    assert render("w_300,fq_avif:30", "jpeg") == render("w_300", "jpeg")


def test_a_byte_budget_starts_from_the_formats_quality() -> None:
    plain = render("w_300,q_40", "webp")
    # The budget fits quality 40 exactly, so the search never goes below it...
    assert render(f"w_300,fq_webp:40,mb_{len(plain)}", "webp") == plain
    # ...and never above it: a larger budget still answers quality 40.
    assert render(f"w_300,fq_webp:40,mb_{len(plain) * 3}", "webp") == plain
