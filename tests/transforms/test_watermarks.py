"""Watermarks (`wm_NAME:POSITION:OPACITY:SCALE`): grammar, loading, and the pixels they leave."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import pyvips

from origin.errors import InvalidOptions
from origin.operator_files import load_watermarks
from transforms import Limits, prepare, probe, render
from transforms.grammar import parse, serialize
from transforms.watermarks import MAX_SIDE, WatermarkImage

BLUE = [0, 0, 255]
RED = [255, 0, 0]


def _rgba(width: int, height: int, colour: list[int]) -> pyvips.Image:
    return (pyvips.Image.black(width, height) + colour).cast("uchar").copy(
        interpretation="srgb")


def _mark_file(tmp_path: Path, name: str, image: pyvips.Image) -> Path:
    path = tmp_path / f"{name}.png"
    image.pngsave(str(path))
    return path


@pytest.fixture
def marks(tmp_path: Path) -> dict[str, WatermarkImage]:
    red = _rgba(40, 20, [*RED, 255])
    # Left half opaque red, right half transparent: shows tiling and mirroring.
    half = _rgba(10, 20, [*RED, 255]).join(_rgba(10, 20, [0, 255, 0, 0]), "horizontal")
    # Left half red, right half green, both opaque: shows whether the mark itself was mirrored.
    duo = _rgba(10, 20, [*RED, 255]).join(_rgba(10, 20, [0, 255, 0, 255]), "horizontal")
    # Opaque left half, half-transparent right half: how opacity meets partial alpha.
    soft = _rgba(20, 20, [*RED, 255]).join(_rgba(20, 20, [*RED, 128]), "horizontal")
    return load_watermarks({name: str(_mark_file(tmp_path, name, image))
                            for name, image in (("red", red), ("half", half), ("duo", duo),
                                                ("soft", soft))})


def _render(options: str, marks: dict[str, WatermarkImage], source: bytes | None = None,
            fmt: str = "png") -> pyvips.Image:
    data = source if source is not None else _rgba(400, 200, BLUE).pngsave_buffer()
    parsed = parse(options, watermarks=marks)
    plan = prepare(probe(data), parsed.options, fmt, Limits(), marks)
    result = render(data, plan, Limits(), deadline=time.monotonic() + 30)
    return pyvips.Image.new_from_buffer(result.body, "", **({"n": -1} if fmt == "gif" else {}))


def _at(image: pyvips.Image, x: int, y: int) -> list[float]:
    return image.getpoint(x, y)[:3]


def test_grammar_canonical_forms() -> None:
    def canonical(segment: str) -> str:
        return serialize(parse(segment).options)

    assert canonical("wm_logo:se:1") == canonical("watermark_logo") == "wm_logo"
    assert canonical("wm_logo:north:1") == "wm_logo:north"
    assert canonical("wm_logo:c:0.50") == "wm_logo:center:0.5"
    assert canonical("wm_logo:tile:1:0.25") == "wm_logo:tile:1:0.25"
    for bad in ("wm_", "wm_Logo", "wm_logo:up", "wm_logo:se:0", "wm_logo:se:1:1.5",
                "wm_logo::0.5", "wm_a:se:1:0.5:x", "wm_logo:attention"):
        with pytest.raises(InvalidOptions):
            parse(bad)
    # Margins: the vertical one is the horizontal one unless given; on a centred axis none.
    assert canonical("wm_logo:se:1:0:10:10") == "wm_logo:southeast:1:0:10"
    assert canonical("wm_logo:se:1:0:10:4") == "wm_logo:southeast:1:0:10:4"
    assert canonical("wm_logo:north:1:0:10") == "wm_logo:north:1:0:0:10"
    assert canonical("wm_logo:east:1:0:10") == "wm_logo:east:1:0:10:0"
    assert canonical("wm_logo:center:1:0:10:10") == "wm_logo:center"
    assert canonical("wm_logo:tile:1:0:6") == "wm_logo:tile:1:0:6"
    assert canonical("wm_logo:se:1:0:0:0") == "wm_logo"
    # SCALE as WxH: shares of the width and the height; a free height is the plain form.
    assert canonical("wm_logo:se:1:0.250x0.2") == "wm_logo:southeast:1:0.25x0.2"
    assert canonical("wm_logo:se:1:0.25x0") == "wm_logo:southeast:1:0.25"
    assert canonical("wm_logo:se:1:0x0.3:8") == "wm_logo:southeast:1:0x0.3:8"
    assert canonical("wm_logo:se:1:0x0") == "wm_logo"
    for bad in ("wm_logo:se:1:0:-1", "wm_logo:se:1:0:1001", "wm_logo:se:1:0:1:2:3",
                "wm_logo:se:1:0.001", "wm_logo:se:1:0.5x", "wm_logo:se:1:x0.5",
                "wm_logo:se:1:0.5x0.005", "wm_logo:se:1:0.5x2", "wm_logo:se:1:1x1x1"):
        with pytest.raises(InvalidOptions):
            parse(bad)
    with pytest.raises(InvalidOptions, match="unknown watermark 'nope'"):
        parse("wm_nope", watermarks={"logo"})
    with pytest.raises(InvalidOptions, match="unknown watermark"):
        parse("w_10,wm_logo", watermarks=())


def test_a_mark_at_its_own_size_in_the_corner(marks: dict[str, WatermarkImage]) -> None:
    image = _render("w_200,wm_red", marks)
    assert (image.width, image.height) == (200, 100)
    assert _at(image, 199, 99) == RED and _at(image, 161, 81) == RED
    assert _at(image, 158, 78) == BLUE and _at(image, 0, 0) == BLUE


def test_scale_position_and_dpr(marks: dict[str, WatermarkImage]) -> None:
    half_width = _render("w_200,wm_red:northwest:1:0.5", marks)  # 100x50
    assert _at(half_width, 97, 47) == RED and _at(half_width, 103, 53) == BLUE
    dpr = _render("w_100,dpr_2,wm_red:northwest", marks)  # 200x100, mark 80x40
    assert (dpr.width, dpr.height) == (200, 100)
    assert _at(dpr, 77, 37) == RED and _at(dpr, 83, 43) == BLUE
    centre = _render("w_200,wm_red:center", marks)
    assert _at(centre, 100, 50) == RED and _at(centre, 50, 50) == BLUE
    # WxH: inside both shares. 200x100 and a 40x20 mark: 0.5x0.1 is 20x10 (the height
    # decides), 0x0.4 is 80x40 (the height alone), 0.3x0.5 is 60x30 (the width decides).
    for scale, size in (("0.5x0.1", (20, 10)), ("0x0.4", (80, 40)), ("0.3x0.5", (60, 30))):
        boxed = _render(f"w_200,wm_red:northwest:1:{scale}", marks)
        w, h = size
        assert _at(boxed, w - 2, h - 2) == RED and _at(boxed, w + 2, 2) == BLUE, scale
        assert _at(boxed, 2, h + 2) == BLUE, scale


def test_margins_as_shares_of_the_output(marks: dict[str, WatermarkImage]) -> None:
    """Below 1, a margin is a share of the output's width (across) or height (down), rounded
    half up, as thumbor's `10p`; dpr does not scale it again."""
    assert serialize(parse("wm_logo:nw:1:0:0.10:0.050").options) == \
        "wm_logo:northwest:1:0:0.1:0.05"
    for bad in ("wm_logo:nw:1:0:1.5", "wm_logo:nw:1:0:0.0001", "wm_logo:nw:1:0:.5"):
        with pytest.raises(InvalidOptions):
            parse(bad)
    for options in ("w_200,wm_red:nw:1:0:0.1:0.05", "w_100,dpr_2,wm_red:nw:1:0.2:0.1:0.05"):
        image = _render(options, marks)  # 200x100, a 40x20 mark 20 px in and 5 px down
        assert (image.width, image.height) == (200, 100), options
        assert _at(image, 20, 5) == RED and _at(image, 59, 24) == RED, options
        assert _at(image, 19, 5) == BLUE and _at(image, 20, 4) == BLUE, options
        assert _at(image, 60, 24) == BLUE and _at(image, 59, 25) == BLUE, options
    # 0.125 of 100 rows is 12.5: half up, 13 (thumbor's round(12.5 + 1e-5)).
    down = _render("w_200,wm_red:sw:1:0:0:0.125", marks)
    assert _at(down, 0, 100 - 13 - 1) == RED and _at(down, 0, 100 - 13) == BLUE


def test_margins_keep_the_mark_off_its_edges(marks: dict[str, WatermarkImage]) -> None:
    corner = _render("w_200,wm_red:se:1:0:10:6", marks)  # 200x100, mark 40x20
    assert _at(corner, 189, 93) == RED and _at(corner, 150, 74) == RED
    assert _at(corner, 190, 93) == BLUE and _at(corner, 189, 94) == BLUE
    assert _at(corner, 149, 74) == BLUE and _at(corner, 150, 73) == BLUE
    # In CSS px: twice as far at dpr 2 (the mark twice as large too).
    doubled = _render("w_100,dpr_2,wm_red:nw:1:0:5", marks)  # 200x100, mark 80x40
    assert _at(doubled, 10, 10) == RED and _at(doubled, 9, 10) == BLUE
    assert _at(doubled, 89, 49) == RED and _at(doubled, 90, 49) == BLUE
    # `north` centres across: only the vertical margin moves it.
    top = _render("w_200,wm_red:north:1:0:30:8", marks)
    assert _at(top, 80, 8) == RED and _at(top, 119, 27) == RED and _at(top, 80, 7) == BLUE


def test_tiles_leave_the_gaps_asked_for_around_a_copy_in_the_centre(
        marks: dict[str, WatermarkImage]) -> None:
    # 200x100; copies 40x20 every 50x25, a gap of 5 left and right of each, 2 above and 3 below:
    # red columns 0-19, 30-69, 80-119 (the middle copy), 130-169, 180-199; rows 0-9, 15-34,
    # 40-59, 65-84, 90-99.
    image = _render("w_200,wm_red:tile:1:0:10:5", marks)
    for x, y in ((0, 0), (19, 9), (30, 15), (80, 40), (119, 59), (100, 50), (180, 90),
                 (199, 99)):
        assert _at(image, x, y) == RED, (x, y)
    for x, y in ((20, 0), (29, 5), (120, 50), (100, 10), (100, 14), (170, 62), (175, 95)):
        assert _at(image, x, y) == BLUE, (x, y)
    # Gaps that split evenly make the whole grid symmetric about the centre.
    even = _render("w_200,wm_red:tile:1:0:10:6", marks)
    assert (even.flip("horizontal") - even).abs().max() == 0
    assert (even.flip("vertical") - even).abs().max() == 0


def test_spread_copies_run_from_edge_to_edge_with_the_room_left_between_them(
        marks: dict[str, WatermarkImage]) -> None:
    # 200x100 and 40x20 copies: 5 across with no room left, 5 down; then 230x115: 5 across
    # 7 px apart (30 px left over, 4 gaps), 5 down 3 px apart (15 over, 4 gaps: 3 each), the last
    # ones 2 and 3 px short of the far edges (thumbor's integer division).
    exact = _render("w_200,wm_red:spread", marks)
    assert all(_at(exact, x, y) == RED for x in (0, 100, 199) for y in (0, 50, 99))
    spaced = _render("w_230,wm_red:spread", marks)
    for x, y in ((0, 0), (39, 19), (47, 0), (86, 23), (188, 92), (227, 111)):
        assert _at(spaced, x, y) == RED, (x, y)
    for x, y in ((40, 0), (46, 0), (0, 20), (0, 22), (228, 0), (0, 112), (229, 114)):
        assert _at(spaced, x, y) == BLUE, (x, y)
    # Under two copies' room: two, 10 px apart, the second cut off (64x32: rows at 0 and 30).
    narrow = _render("w_64,wm_red:spread", marks)
    assert _at(narrow, 39, 0) == RED and _at(narrow, 40, 0) == BLUE
    assert _at(narrow, 49, 0) == BLUE and _at(narrow, 50, 0) == RED and _at(narrow, 63, 25) == BLUE
    # Margins mean nothing there: the canonical form drops them.
    assert serialize(parse("wm_red:spread:1:0:10", watermarks=marks).options) == "wm_red:spread"


def test_a_row_or_column_of_copies_spreads_along_one_edge(
        marks: dict[str, WatermarkImage]) -> None:
    """thumbor's repeat along one axis: the copies of `spread` along that axis only, the line
    placed as one copy is: off the edge by the margin, or centred (cut to a whole pixel)."""
    # 230x115, 40x20 copies: 5 across, 7 px apart (as `spread`), a row 10 px off the bottom.
    row = _render("w_230,wm_red:row-south:1:0:0:10", marks)
    for x in (0, 39, 47, 86, 188, 227):
        assert _at(row, x, 115 - 10 - 20) == RED and _at(row, x, 115 - 11) == RED, x
    assert _at(row, 40, 90) == BLUE and _at(row, 0, 115 - 31) == BLUE and _at(row, 0, 106) == BLUE
    assert _at(row, 0, 0) == BLUE
    # A column in the middle: 115 down holds 5 copies 3 px apart, at x = int((230 - 40) / 2).
    column = _render("w_230,wm_red:column-center", marks)
    assert _at(column, 95, 0) == RED and _at(column, 134, 111) == RED
    assert _at(column, 94, 0) == BLUE and _at(column, 135, 0) == BLUE
    assert _at(column, 95, 20) == BLUE
    north = _render("w_230,wm_red:row-north:1:0:0:5", marks)
    assert _at(north, 0, 5) == RED and _at(north, 0, 4) == BLUE
    # Only the margin off the line's own edge counts: the canonical form keeps just that one.
    assert serialize(parse("wm_red:row-south:1:0:7:3", watermarks=marks).options) == \
        "wm_red:row-south:1:0:0:3"
    assert serialize(parse("wm_red:column-east:1:0:7:3", watermarks=marks).options) == \
        "wm_red:column-east:1:0:7:0"
    assert serialize(parse("wm_red:row-center:1:0:7:3", watermarks=marks).options) == \
        "wm_red:row-center"


def test_a_mark_never_outgrows_the_output(marks: dict[str, WatermarkImage]) -> None:
    tiny = _render("w_30,wm_red", marks)  # 30x15: the 40x20 mark shrinks to 30x15
    assert all(_at(tiny, x, y) == RED for x, y in ((0, 0), (29, 0), (0, 14), (29, 14)))


def test_opacity_blends(marks: dict[str, WatermarkImage]) -> None:
    image = _render("w_200,wm_red:southeast:0.5", marks)
    r, g, b = _at(image, 190, 95)
    assert abs(r - 128) <= 2 and g == 0 and abs(b - 128) <= 2


def test_subtract_takes_the_transparency_off_each_alpha_as_thumbor_does(
        marks: dict[str, WatermarkImage]) -> None:
    """At opacity 0.7 an opaque pixel is 0.7 either way (255 - 76 = 179); a pixel of alpha 128
    keeps 90 multiplied and 52 with `subtract` (128 - 76), thumbor's watermark alpha."""
    multiplied = _render("w_200,wm_soft:northwest:0.7", marks)
    subtracted = _render("w_200,wm_soft:northwest:0.7:subtract", marks)
    for image in (multiplied, subtracted):
        r, _, b = _at(image, 5, 5)
        assert abs(r - 179) <= 2 and abs(b - 76) <= 2
    r, _, b = _at(multiplied, 30, 5)
    assert abs(r - 90) <= 2 and abs(b - 165) <= 2
    r, _, b = _at(subtracted, 30, 5)
    assert abs(r - 52) <= 2 and abs(b - 203) <= 2
    # Spelled last; at full opacity the two are one picture and the canonical form drops it.
    assert serialize(parse("wm_soft:se:0.7:subtract", watermarks=marks).options) == \
        "wm_soft:southeast:0.7:subtract"
    assert serialize(parse("wm_soft:se:1:subtract", watermarks=marks).options) == "wm_soft"
    assert serialize(parse("wm_soft:se:0.7:multiply", watermarks=marks).options) == \
        "wm_soft:southeast:0.7"


def test_tile_repeats_over_the_whole_output(marks: dict[str, WatermarkImage]) -> None:
    # 20x20 copies, red left half: 11 across centred on 200 px, so the first starts at -10.
    image = _render("w_200,wm_half:tile", marks)
    for x in (15, 35, 195):
        assert _at(image, x, 5) == RED and _at(image, x, 95) == RED
    for x in (5, 25, 185):
        assert _at(image, x, 5) == BLUE


def test_the_mark_is_not_mirrored_or_blurred(marks: dict[str, WatermarkImage]) -> None:
    image = _render("w_200,flop,blur_3,wm_duo:northwest", marks)
    assert _at(image, 3, 10) == RED and _at(image, 16, 10) == [0, 255, 0]


def test_grey_output_gets_a_grey_mark(marks: dict[str, WatermarkImage]) -> None:
    image = _render("w_200,gray,wm_red", marks)
    assert image.bands == 1
    assert image.getpoint(190, 95)[0] != image.getpoint(10, 10)[0]


def test_alpha_is_kept_and_the_mark_is_opaque(marks: dict[str, WatermarkImage]) -> None:
    clear = _rgba(400, 200, [0, 0, 255, 0]).pngsave_buffer()
    image = _render("w_200,wm_red:northwest", marks, source=clear)
    assert image.bands == 4
    assert image.getpoint(5, 5) == [*RED, 255] and image.getpoint(150, 80)[3] == 0


def test_every_frame_of_an_animation_is_marked(marks: dict[str, WatermarkImage],
                                               samples_dir: Path) -> None:
    gif = (samples_dir / "spinner.gif").read_bytes()
    image = _render("w_60,wm_red:northwest:1:0.5", marks, source=gif, fmt="gif")
    page = image.get("page-height")
    frames = image.height // page
    assert frames > 1
    for i in range(frames):
        r, g, b = image.getpoint(5, i * page + 5)[:3]
        assert r > 200 and g < 60 and b < 60, (i, r, g, b)


def test_files_that_cannot_be_watermarks_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="watermark 'gone': cannot read"):
        load_watermarks({"gone": str(tmp_path / "missing.png")})
    notes = tmp_path / "notes.png"
    notes.write_bytes(b"not an image\n" * 10)
    with pytest.raises(ValueError, match=r"'notes'.*not a readable image"):
        load_watermarks({"notes": str(notes)})
    svg = tmp_path / "logo.svg"
    svg.write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    with pytest.raises(ValueError, match="SVG"):
        load_watermarks({"svg": str(svg)})
    huge = tmp_path / "huge.png"
    pyvips.Image.black(MAX_SIDE + 1, 2).pngsave(str(huge))
    with pytest.raises(ValueError, match=f"over the {MAX_SIDE}x{MAX_SIDE} limit"):
        load_watermarks({"huge": str(huge)})


def test_a_grey_mark_without_alpha_loads_as_srgb_with_alpha(tmp_path: Path) -> None:
    path = tmp_path / "grey.jpg"
    pyvips.Image.black(8, 8).cast("uchar").jpegsave(str(path))
    mark = load_watermarks({"grey": str(path)})["grey"]
    assert mark.image.bands == 4 and mark.image.interpretation == "srgb"
    assert len(mark.digest) == 16
