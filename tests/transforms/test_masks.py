"""`mask_NAME`: the operator's image as an alpha mask stretched over the output: grammar, and the
pixels it keeps and fills."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import pyvips

from origin.errors import InvalidOptions
from origin.operator_files import load_watermarks
from transforms import Limits, prepare, probe, render
from transforms.grammar import parse, serialize
from transforms.watermarks import WatermarkImage

COLOUR = [200, 100, 50]


def _solid(width: int, height: int, colour: list[int]) -> pyvips.Image:
    return (pyvips.Image.black(width, height) + colour).cast("uchar").copy(
        interpretation="srgb")


@pytest.fixture
def marks(tmp_path: Path) -> dict[str, WatermarkImage]:
    # Left half white (shown), right half black (hidden); an opaque white with a transparent
    # right half; a mid grey (half shown everywhere).
    halves = _solid(10, 10, [255, 255, 255]).join(_solid(10, 10, [0, 0, 0]), "horizontal")
    clear = _solid(10, 10, [255, 255, 255, 255]).join(_solid(10, 10, [255, 255, 255, 0]),
                                                      "horizontal")
    grey = _solid(4, 4, [128, 128, 128])
    files = {}
    for name, image in (("halves", halves), ("clear", clear), ("grey", grey)):
        path = tmp_path / f"{name}.png"
        image.pngsave(str(path))
        files[name] = str(path)
    return load_watermarks(files)


def _render(segment: str, marks: dict[str, WatermarkImage], fmt: str = "png",
            source: bytes | None = None) -> pyvips.Image:
    data = source if source is not None else _solid(100, 40, COLOUR).pngsave_buffer()
    parsed = parse(segment, watermarks=marks)
    plan = prepare(probe(data), parsed.options, fmt, Limits(), marks)
    body = render(data, plan, Limits(), deadline=time.monotonic() + 30).body
    return pyvips.Image.new_from_buffer(body, "", **({"n": -1} if fmt == "gif" else {}))


def test_grammar(marks: dict[str, WatermarkImage]) -> None:
    assert serialize(parse("mask_halves,w_50", watermarks=marks).options) == "mask_halves,w_50"
    for token, words in (("mask", "mask"), ("mask_Bad!", "mask_Bad!"),
                         ("mask_other", "unknown mask image 'other'")):
        with pytest.raises(InvalidOptions) as err:
            parse(token, watermarks=marks)
        assert words in err.value.detail


def test_white_shows_black_hides_stretched_to_the_output(marks: dict[str, WatermarkImage]) -> None:
    out = _render("mask_halves", marks)
    assert (out.width, out.height, out.bands) == (100, 40, 4)
    assert out(10, 20) == [*COLOUR, 255] and out(45, 5) == [*COLOUR, 255]
    assert out(55, 20)[3] == 0 and out(99, 39)[3] == 0
    # The mask's edge, stretched 5x, is soft over a few pixels around the middle only.
    assert all(0 < out(x, 20)[3] < 255 for x in (49, 50))
    smaller = _render("w_40,mask_halves", marks)
    assert smaller.width == 40 and smaller(5, 5)[3] == 255 and smaller(35, 5)[3] == 0


def test_alpha_and_grey_levels(marks: dict[str, WatermarkImage]) -> None:
    clear = _render("mask_clear", marks)
    assert clear(10, 20)[3] == 255 and clear(90, 20)[3] == 0
    grey = _render("mask_grey", marks)
    assert all(abs(grey(x, 20)[3] - 128) <= 1 for x in (0, 50, 99))
    assert grey(50, 20)[:3] == COLOUR  # kept colour, partly transparent


def test_the_hidden_part_is_filled_as_corners_are(marks: dict[str, WatermarkImage]) -> None:
    jpeg = _render("mask_halves", marks, "jpeg")
    assert jpeg.bands == 3 and min(jpeg(90, 20)) >= 250 and abs(jpeg(10, 20)[0] - 200) <= 3
    red = _render("mask_halves,bg_ff0000", marks)
    assert red.bands == 3 and red(90, 20) == [255, 0, 0] and red(10, 20) == COLOUR


def test_padding_watermarks_and_frames(marks: dict[str, WatermarkImage]) -> None:
    padded = _render("pad_10,mask_halves,bg_00ff00", marks)
    assert (padded.width, padded.height) == (120, 60)
    assert padded(2, 2) == [0, 255, 0] and padded(20, 30) == COLOUR
    assert padded(100, 30) == [0, 255, 0]  # hidden, filled like the padding
    frames = [_solid(20, 10, c) for c in ([255, 0, 0], [0, 0, 255])]
    strip = pyvips.Image.arrayjoin(frames, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", 10)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [100, 100])
    gif = _render("mask_halves,fmt_gif", marks, "gif", bytes(strip.gifsave_buffer()))
    assert gif.get("page-height") == 10 and gif.height == 20
    for page, colour in ((0, [255, 0, 0]), (1, [0, 0, 255])):
        assert gif(2, page * 10 + 5)[:3] == colour and gif(2, page * 10 + 5)[3] == 255
        assert gif(18, page * 10 + 5)[3] == 0
