"""`q_auto[:LEVEL]`: the search (lowest candidate quality at the level's target), its spellings,
and what the pipeline makes with it on real pixels."""

from __future__ import annotations

import time

import pytest
import pyvips

from origin.errors import InvalidOptions, UpstreamTimeout
from tests.support.images import animation
from transforms import Limits, TransformResult, autoquality, transform
from transforms.autoquality import CANDIDATES, pick_quality
from transforms.grammar import parse, serialize

PHOTO = "samples/landscape.jpg"


# --- the search -------------------------------------------------------------------------------

@pytest.mark.parametrize("passes_from", [20, 25, 55, 60, 80, 90, 95])
def test_the_search_finds_the_lowest_candidate_that_passes(passes_from: int) -> None:
    tried: list[int] = []

    def encode_at(q: int) -> bytes:
        tried.append(q)
        return str(q).encode()

    picked = pick_quality(encode_at, lambda data: 1.0 if int(data) >= passes_from else 0.5, 0.9)
    assert (picked.quality, picked.output) == (passes_from, str(passes_from).encode())
    assert picked.encodes == len(tried) <= autoquality.MAX_ENCODES
    assert len(set(tried)) == len(tried)  # no quality encoded twice


def test_when_nothing_passes_the_answer_is_the_highest_candidate() -> None:
    tried: list[int] = []
    picked = pick_quality(lambda q: tried.append(q) or b"x", lambda data: 0.0, 0.9)
    assert picked.quality == CANDIDATES[-1] == 95 and tried[-1] == 95
    assert picked.encodes == autoquality.MAX_ENCODES


def test_the_search_stops_at_the_deadline() -> None:
    with pytest.raises(UpstreamTimeout):
        pick_quality(lambda q: b"x", lambda data: 0.0, 0.9, deadline=time.monotonic() - 1)


# --- spellings --------------------------------------------------------------------------------

@pytest.mark.parametrize(("segment", "canonical"), [
    ("q_auto", "q_auto"),
    ("quality_auto:good", "q_auto"),
    ("q_auto:eco,w_10", "q_auto:eco,w_10"),
    ("q_auto:best", "q_auto:best"),
    ("q_auto:low,fmt_png", "fmt_png"),  # no quality to choose
    ("q_auto,fq_jpeg:70:webp:70:avif:50", "fq_avif:50:jpeg:70:webp:70"),
    ("q_auto,fq_webp:70", "fq_webp:70,q_auto"),
])
def test_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize(("segment", "words"), [
    ("q_auto:fast", "q_auto:fast"), ("q_autos", "q_autos"), ("q_auto:", "q_auto:"),
    ("q_auto,q_50", "duplicate"),
])
def test_bad_values_are_400(segment: str, words: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(segment)
    assert words in err.value.detail


# --- pixels -----------------------------------------------------------------------------------

def run(data: bytes, segment: str, fmt: str = "jpeg") -> TransformResult:
    return transform(data, parse(segment).options, fmt, Limits(), deadline=time.monotonic() + 60)


def photo() -> bytes:
    with open(PHOTO, "rb") as f:
        return f.read()


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "avif"])
def test_the_answer_is_the_plain_encode_at_the_quality_chosen(fmt: str) -> None:
    auto = run(photo(), "w_400,q_auto", fmt)
    assert auto.auto_quality is not None
    quality, encodes = auto.auto_quality
    assert 1 <= encodes <= autoquality.MAX_ENCODES
    assert auto.body == run(photo(), f"w_400,q_{quality}", fmt).body


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_the_choice_meets_the_target_and_the_candidate_below_does_not(fmt: str) -> None:
    auto = run(photo(), "w_400,q_auto", fmt)
    assert auto.auto_quality is not None
    quality = auto.auto_quality[0]
    reference = pyvips.Image.new_from_buffer(run(photo(), "w_400,fmt_png", "png").body, "")
    score = autoquality.scorer(reference)
    target = autoquality.target(fmt, "good")
    assert score(auto.body) >= target
    if quality > CANDIDATES[0]:
        assert score(run(photo(), f"w_400,q_{quality - 5}", fmt).body) < target


def test_higher_levels_never_choose_lower_qualities() -> None:
    chosen = []
    for level in ("low", "eco", "good", "best"):
        result = run(photo(), f"w_400,q_auto:{level}")
        assert result.auto_quality is not None
        chosen.append(result.auto_quality[0])
    assert chosen == sorted(chosen) and chosen[0] < chosen[-1]


def test_a_flat_image_gets_less_than_a_detailed_one() -> None:
    flat = (pyvips.Image.black(400, 300) + [90, 140, 200]).cast("uchar").copy(
        interpretation="srgb")
    noise = pyvips.Image.gaussnoise(400, 300, sigma=60, mean=128).cast("uchar")
    detailed = noise.bandjoin([noise.rot180(), noise.flip("horizontal")]).copy(
        interpretation="srgb")
    easy, hard = (run(im.pngsave_buffer(), "q_auto").auto_quality for im in (flat, detailed))
    assert easy is not None and hard is not None
    assert easy[0] == CANDIDATES[0] and hard[0] > easy[0]


def test_a_byte_budget_still_binds_after_the_choice() -> None:
    plain = run(photo(), "w_400,q_auto")
    budget = len(plain.body) // 2
    fitted = run(photo(), f"w_400,q_auto,mb_{budget}")
    assert fitted.auto_quality == plain.auto_quality
    assert fitted.budget is not None and fitted.budget[0] in ("lowered", "unmet")
    assert fitted.budget[0] == "unmet" or len(fitted.body) <= budget


@pytest.mark.parametrize(("data_segment", "fmt"), [
    ("w_20,q_auto", "jpeg"),  # too small to measure
    ("w_400,q_auto,lossless", "webp"),  # no quality to choose
    ("w_400,q_auto,fq_jpeg:70", "jpeg"),  # the format's own quality stands
])
def test_no_search_where_there_is_nothing_to_choose(data_segment: str, fmt: str) -> None:
    result = run(photo(), data_segment, fmt)
    assert result.auto_quality is None
    if "fq_jpeg" in data_segment:
        assert result.body == run(photo(), "w_400,q_70").body


def test_an_animation_keeps_the_default_quality() -> None:
    frames = [(pyvips.Image.black(64, 48) + c).cast("uchar").copy(interpretation="srgb")
              for c in ([255, 0, 0], [0, 0, 255])]
    data = animation(frames, 100, "webp")
    result = run(data, "q_auto", "webp")
    assert result.frames == 2 and result.auto_quality is None
    assert result.body == run(data, "_", "webp").body
