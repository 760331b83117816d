"""The URL grammar: aliases, canonical form, errors naming the token, and round-trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from origin.errors import InvalidOptions
from transforms.grammar import format_number, parse, serialize
from transforms.options import DEFAULT_OPTIONS, CropBox, FocalPoint, Options, Region, Trim


def canon(segment: str, **kw: object) -> str:
    return serialize(parse(segment, **kw).options)  # type: ignore[arg-type]


def test_no_options() -> None:
    assert parse("_").options == DEFAULT_OPTIONS
    assert serialize(DEFAULT_OPTIONS) == "_"


def test_an_empty_options_segment_is_400_not_a_second_spelling_of_no_options() -> None:
    with pytest.raises(InvalidOptions):
        parse("")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("w_400,h_300", "h_300,w_400"),
        ("width_400,height_300", "w_400,h_300"),
        ("s_400x300", "w_400,h_300"),
        ("size_400x300", "w_400,h_300"),
        ("w_400,dpr_2.0", "w_400,dpr_2"),
        ("w_400,dpr_1", "w_400"),
        ("f_jpg", "fmt_jpeg"),
        ("format_webp", "fmt_webp"),
        ("w_1,h_1,fit_cover", "w_1,h_1"),
        ("w_1,fit_contain", "w_1"),
        ("w_1,h_1,gravity_centre", "w_1,h_1"),
        ("w_1,h_1,pos_north", "w_1,h_1,g_north"),
        ("w_1,h_1,position_smart", "w_1,h_1,g_attention"),
        ("strip_1", "_"),
        ("strip_true", "_"),
        ("anim", "_"),
        ("enlarge_0", "_"),
        ("enlarge_false", "_"),
        ("flip_1", "flip"),
        ("grayscale", "gray"),
        ("interlace", "progressive"),
        ("bg_FFFFFFFF", "bg_ffffff"),
        ("background_00000080", "bg_00000080"),
        ("quality_80", "q_80"),
        ("rotate_90", "rot_90"),
        ("extract_1:2:3:4", "crop_1:2:3:4"),
        ("dpr_2", "_"),  # no size to multiply
        # Gravity crops: the centre is the default, directions take their aliases, nothing
        # cut from either side is no crop.
        ("crop_300:200:center", "crop_300:200"),
        ("crop_300:200:n", "crop_300:200:north"),
        ("crop_0.50:0:fp:0.250:1", "crop_0.5:0:fp:0.25:1"),
        ("crop_0:0:east", "_"),
        # PNG and GIF encoders take no quality: it and a byte budget are dropped.
        ("fmt_png,q_80", "fmt_png"),
        ("fmt_gif,mb_5000,fq_webp:50", "fmt_gif"),
        # A document or placeholder has no encoder at all.
        ("fmt_blurhash,q_5,progressive,lossless,strip_0", "fmt_blurhash"),
        ("fmt_json,mb_900,interlace", "fmt_json"),
        # Trim's border: the top-left pixel's unless a corner or a colour is named.
        ("trim_10:nw", "trim_10"),
        ("trim_10:se", "trim_10:southeast"),
        ("trim_10:ABCDEF", "trim_10:abcdef"),
    ],
)
def test_equivalent_spellings(a: str, b: str) -> None:
    assert canon(a) == canon(b)


@pytest.mark.parametrize(("segment", "kept"), [
    ("fmt_webp,q_80", "q_80"), ("fmt_auto,q_80", "q_80"), ("q_80", "q_80"),
    ("fmt_jpeg,mb_5000", "mb_5000"), ("fmt_original,fq_webp:50", "fq_webp:50"),
])
def test_quality_stays_where_it_can_change_the_bytes(segment: str, kept: str) -> None:
    assert kept in canon(segment).split(",")


def test_canonical_form_is_sorted_and_minimal() -> None:
    assert canon("w_400,h_300,fmt_webp,q_70") == "fmt_webp,h_300,q_70,w_400"
    assert canon("g_fp:0.50:0.250,w_10,h_10") == "g_fp:0.5:0.25,h_10,w_10"
    assert canon("strip_0,anim_0") == "anim_0,strip_0"


def test_values_parse_to_types() -> None:
    o = parse("w_10,h_20,dpr_1.5,g_fp:0.1:0.9,crop_1:2:30:40,bg_ff0000,blur_0.3,rot_270").options
    assert (o.width, o.height, o.dpr) == (10, 20, 1.5)
    assert o.gravity == FocalPoint(0.1, 0.9)
    assert o.crop == Region(1, 2, 30, 40)
    assert (o.background, o.blur, o.rotate) == ("ff0000", 0.3, 270)
    assert parse("crop_300:0.25:southwest").options.crop == CropBox(300, 0.25, "southwest")
    assert parse("trim_12.5").options.trim == Trim(12.5)
    assert parse("trim_3:southeast").options.trim == Trim(3, corner="southeast")
    assert parse("trim_3:00ff00").options.trim == Trim(3, colour="00ff00")
    assert parse("crop_0:9:fp:0.1:0.2").options.crop == CropBox(0, 9, FocalPoint(0.1, 0.2))


@pytest.mark.parametrize(
    ("segment", "token"),
    [
        ("w_0", "w_0"),
        ("w_0400", "w_0400"),  # contract: integers have no leading zeros
        ("w_8193", "w_8193"),
        ("h_-1", "h_-1"),
        ("w_abc", "w_abc"),
        ("w_", "w_"),
        ("w", "w"),
        ("dpr_0.5", "dpr_0.5"),
        ("dpr_4.5", "dpr_4.5"),
        ("dpr_nan", "dpr_nan"),
        ("dpr_1e3", "dpr_1e3"),
        ("dpr_inf", "dpr_inf"),
        ("q_0", "q_0"),
        ("q_101", "q_101"),
        ("blur_0.2", "blur_0.2"),
        ("sharpen_11", "sharpen_11"),
        ("rot_45", "rot_45"),
        ("fit_stretch", "fit_stretch"),
        ("g_middle", "g_middle"),
        ("g_fp:1.5:0", "g_fp:1.5:0"),
        ("fmt_tiff", "fmt_tiff"),
        ("bg_fff", "bg_fff"),
        ("bg_gggggg", "bg_gggggg"),
        ("crop_1:2:3", "crop_1:2:3"),
        ("crop_0:0:0:5", "crop_0:0:0:5"),
        ("crop_100", "crop_100"),
        ("crop_100:50:attention:1", "crop_100:50:attention:1"),
        ("crop_100:50:fp:0.5", "crop_100:50:fp:0.5"),
        ("crop_100:50:north:1", "crop_100:50:north:1"),
        ("crop_1.5:20", "crop_1.5:20"),
        ("crop_0.0001:20", "crop_0.0001:20"),
        ("crop_.5:20", "crop_.5:20"),
        ("crop_1000001:20", "crop_1000001:20"),
        ("trim_10:north", "trim_10:north"),
        ("trim_10:fff", "trim_10:fff"),
        ("trim_10:", "trim_10:"),
        ("s_10", "s_10"),
        ("flip_2", "flip_2"),
        ("trim_0", "trim_0"),
        ("page_-1", "page_-1"),
        ("zoomx_2", "zoomx"),
        ("W_100", "W_100"),
        ("w_100,,h_100", "''"),
    ],
)
def test_bad_tokens_are_named(segment: str, token: str) -> None:
    with pytest.raises(InvalidOptions) as info:
        parse(segment)
    assert token.strip("'") in info.value.detail or token == "''"


@pytest.mark.parametrize(
    "segment", ["w_1,w_2", "w_1,width_2", "s_1x1,w_2", "h_1,s_2x2", "fmt_png,f_jpeg", "p_a,p_b"]
)
def test_duplicates_are_refused(segment: str) -> None:
    with pytest.raises(InvalidOptions, match="duplicate"):
        parse(segment, presets={"a": "w_1", "b": "w_2"})


def test_presets_expand_and_explicit_tokens_win() -> None:
    presets = {"thumb": "s_64x64,fmt_webp,q_60"}
    assert canon("p_thumb", presets=presets) == canon("s_64x64,fmt_webp,q_60")
    assert canon("preset_thumb,q_90", presets=presets) == canon("s_64x64,fmt_webp,q_90")
    with pytest.raises(InvalidOptions, match="unknown preset"):
        parse("p_nope", presets=presets)


def test_expiry_is_not_part_of_the_variant() -> None:
    parsed = parse("w_10,exp_1900000000")
    assert parsed.expires == 1900000000
    assert serialize(parsed.options) == "w_10"


def test_max_dim_is_configurable() -> None:
    assert parse("w_100", max_dim=100).options.width == 100
    with pytest.raises(InvalidOptions):
        parse("w_101", max_dim=100)


def test_long_segments_are_refused_quickly() -> None:
    with pytest.raises(InvalidOptions):
        parse("w_1," * 5000)


def test_format_number() -> None:
    assert [format_number(x) for x in (2.0, 1.5, 0.25, 0.125, 3.1)] == [
        "2", "1.5", "0.25", "0.125", "3.1"]


# Generated options: every field within its documented range.
_decimal = st.integers(0, 1000).map(lambda n: n / 1000)
_crop_side = st.integers(0, 5000) | st.integers(1, 999).map(lambda n: n / 1000)
options_strategy = st.builds(
    Options,
    width=st.none() | st.integers(1, 8192),
    height=st.none() | st.integers(1, 8192),
    dpr=st.integers(1000, 4000).map(lambda n: n / 1000),
    fit=st.sampled_from(["cover", "contain", "fill", "inside", "outside"]),
    gravity=st.sampled_from(["center", "north", "southwest", "attention", "entropy"])
    | st.builds(FocalPoint, _decimal, _decimal),
    crop=st.none() | st.builds(Region, st.integers(0, 5000), st.integers(0, 5000),
                               st.integers(1, 5000), st.integers(1, 5000))
    | st.builds(CropBox, _crop_side, _crop_side,
                st.sampled_from(["center", "north", "southwest"])
                | st.builds(FocalPoint, _decimal, _decimal)),
    format=st.none() | st.sampled_from(["jpeg", "png", "webp", "avif", "gif", "auto",
                                        "original"]),
    quality=st.none() | st.integers(1, 100),
    background=st.none() | st.sampled_from(["ffffff", "00000080", "12ab34"]),
    blur=st.none() | st.integers(300, 100000).map(lambda n: n / 1000),
    sharpen=st.none() | st.integers(500, 10000).map(lambda n: n / 1000),
    rotate=st.sampled_from([0, 90, 180, 270]),
    flip=st.booleans(), flop=st.booleans(), grayscale=st.booleans(), strip=st.booleans(),
    progressive=st.booleans(), lossless=st.booleans(), enlarge=st.booleans(),
    trim=st.none() | st.builds(Trim, st.integers(1000, 100000).map(lambda n: n / 1000),
                               st.none() | st.sampled_from(["ffffff", "12ab34"]),
                               st.sampled_from(["northwest", "southeast"])),
    animated=st.booleans(),
    page=st.none() | st.integers(0, 99999),
)


@given(options_strategy)
def test_parse_serialize_round_trip(options: Options) -> None:
    from transforms.grammar import canonicalize

    canonical = canonicalize(options)
    assert parse(serialize(canonical)).options == canonical
    assert serialize(parse(serialize(options)).options) == serialize(canonical)


@given(st.text(max_size=200))
def test_arbitrary_text_only_raises_invalid_options(segment: str) -> None:
    try:
        parsed = parse(segment)
    except InvalidOptions:
        return
    again = parse(serialize(parsed.options))
    assert again.options == parsed.options


_token_alphabet = st.sampled_from(list("wh_sdprfitgcobqlxe0123456789.:,antmuv"))


@given(st.text(alphabet=_token_alphabet, max_size=80))
def test_grammar_like_text_only_raises_invalid_options(segment: str) -> None:
    try:
        parsed = parse(segment)
    except InvalidOptions:
        return
    assert parse(serialize(parsed.options)).options == parsed.options
