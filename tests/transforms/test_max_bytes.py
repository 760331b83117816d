"""`mb_N` (imgproxy's `max_bytes`): the highest encoder quality whose output fits N bytes, found
in a bounded number of encodes, only where the encoder takes a quality."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import pyvips

from origin.errors import InvalidOptions, UpstreamTimeout
from tests.support.images import animation
from transforms import Limits, transform
from transforms.budget import MAX_ENCODES, fit_budget
from transforms.grammar import parse, serialize
from transforms.pipeline import Context, encode, finish, load
from transforms.plan import make_plan
from transforms.probe import probe

LANDSCAPE = (Path(__file__).resolve().parents[2] / "samples" / "landscape.jpg").read_bytes()


def render(spec: str, fmt: str, data: bytes = LANDSCAPE) -> bytes:
    options = parse(spec).options
    return transform(data, options, fmt, Limits(), deadline=time.monotonic() + 30).body


def jpeg_at(spec: str, quality: int) -> bytes:
    """What the pipeline makes of `spec` at one explicit quality, without a budget."""
    return render(f"{spec},q_{quality}", "jpeg")


# --- grammar --------------------------------------------------------------------------------

def test_mb_parses_with_its_alias_and_one_canonical_spelling() -> None:
    assert parse("mb_20000").options.max_bytes == 20000
    assert parse("maxbytes_20000").options == parse("mb_20000").options
    assert serialize(parse("w_400,maxbytes_20000").options) == "mb_20000,w_400"


@pytest.mark.parametrize("token", ["mb_99", "mb_0", "mb_020000", "mb_104857601", "mb", "mb_x",
                                   "mb_1.5"])
def test_mb_out_of_range_or_malformed_is_400(token: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(token)
    assert token in str(err.value.detail)


# --- the search, with a made-up encoder -----------------------------------------------------

def test_search_finds_the_highest_quality_that_fits_in_few_encodes() -> None:
    calls: list[int] = []

    def encode_at(q: int) -> bytes:
        calls.append(q)
        return b"x" * (q * 100)

    for budget in (100, 150, 3333, 7999, 8000, 8001):
        calls.clear()
        fitted = fit_budget(encode_at, 80, budget)
        best = min(80, budget // 100)
        assert len(fitted.output) == best * 100
        assert fitted.encodes == len(calls)
        assert fitted.result == ("fit" if best == 80 else "lowered")
        assert len(calls) <= MAX_ENCODES
        assert len(set(calls)) == len(calls), "no quality is encoded twice"


def test_search_returns_the_first_encode_when_it_fits() -> None:
    calls: list[int] = []

    def encode_at(q: int) -> bytes:
        calls.append(q)
        return b"x" * q

    assert fit_budget(encode_at, 80, 1000).output == b"x" * 80
    assert calls == [80]


def test_search_returns_the_smallest_output_when_nothing_fits() -> None:
    # Not monotonic: quality 1 is larger than quality 2 (it happens with tiny JPEGs).
    sizes = {q: 1000 + q for q in range(1, 81)}
    sizes[1] = 5000
    fitted = fit_budget(lambda q: b"x" * sizes[q], 80, 10)
    assert len(fitted.output) == min(len(b"x" * sizes[q]) for q in (1, 2))
    assert fitted.result == "unmet" and fitted.encodes == 7  # 80, 40, 20, 10, 5, 2, 1


def test_search_checks_the_deadline_between_encodes() -> None:
    with pytest.raises(UpstreamTimeout):
        fit_budget(lambda q: b"x" * (q * 100), 80, 150, deadline=time.monotonic() - 1)


# --- real encoders --------------------------------------------------------------------------

def test_jpeg_takes_the_highest_quality_under_the_budget() -> None:
    spec = "w_800"
    full = jpeg_at(spec, 80)
    budget = len(full) // 2
    out = render(f"{spec},mb_{budget}", "jpeg")
    assert len(out) <= budget
    # It is the pipeline's own encode at some quality q, and q + 1 would not have fitted.
    matches = [q for q in range(1, 80) if jpeg_at(spec, q) == out]
    assert matches, "the output is not a plain encode at any quality"
    q = max(matches)
    assert len(jpeg_at(spec, q + 1)) > budget
    decoded = pyvips.Image.new_from_buffer(out, "")
    assert decoded.width == 800


def test_a_budget_the_default_quality_meets_changes_nothing() -> None:
    plain = render("w_400", "jpeg")
    assert render(f"w_400,mb_{len(plain)}", "jpeg") == plain


def test_an_unreachable_budget_answers_the_smallest_encode() -> None:
    out = render("w_800,mb_100", "jpeg")
    lowest = {q: jpeg_at("w_800", q) for q in range(1, 6)}
    assert len(out) == min(len(b) for b in lowest.values())
    assert out in lowest.values()


@pytest.mark.parametrize("fmt", ["webp", "avif"])
def test_webp_and_avif_fit_too(fmt: str) -> None:
    plain = render("w_600", fmt)
    budget = len(plain) * 2 // 3
    out = render(f"w_600,mb_{budget}", fmt)
    assert len(out) <= budget
    assert pyvips.Image.new_from_buffer(out, "").width == 600


@pytest.mark.parametrize(("spec", "fmt"), [("w_300", "png"), ("w_300,lossless", "webp"),
                                           ("w_300", "gif")])
def test_outputs_without_a_quality_are_left_alone(spec: str, fmt: str) -> None:
    assert render(f"{spec},mb_100", fmt) == render(spec, fmt)


def test_animated_webp_fits_every_frame() -> None:
    frames = [(pyvips.Image.gaussnoise(120, 90, mean=128, sigma=40 + 10 * i)
               .cast("uchar").bandjoin([128, 128]).copy(interpretation="srgb"))
              for i in range(4)]
    source = animation(frames, 100, "webp", Q=95)
    plain = render("_", "webp", source)
    budget = len(plain) // 2
    out = render(f"mb_{budget}", "webp", source)
    assert len(out) <= budget
    decoded = pyvips.Image.new_from_buffer(out, "", n=-1)
    assert decoded.get("n-pages") == 4


def test_the_search_works_on_a_source_decoded_in_sequence() -> None:
    """A JPEG shrunk on load is read in sequence, which cannot be read twice: the image is held
    in memory before the search, so each extra encode reuses its pixels."""
    options = parse("w_500,mb_9000").options
    info = probe(LANDSCAPE)
    plan = make_plan(info, options, "jpeg", Limits())
    ctx = Context(data=LANDSCAPE, plan=plan, deadline=time.monotonic() + 30)
    for step in (load, finish, encode):
        step(ctx)
    assert 0 < len(ctx.output) <= 9000
