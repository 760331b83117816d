"""`text_B64:POS:SIZE:COLOUR:X:Y:STYLE` (Cloudinary's `l_text:`): a line of text in the host's
sans-serif font over the output, placed as a watermark is; the text is escaped (never Pango
markup) and its drawing bounded by the output's size whatever the URL asks."""

from __future__ import annotations

import math

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import animation, encoded, flat, made
from transforms import textmarks
from transforms.cloudinary import translate as from_cloudinary
from transforms.grammar import MAX_TEXT_CHARS, parse, serialize, text_token
from transforms.options import TextOverlay
from transforms.textmarks import render

HELLO = text_token("Hello")


def red_box(image: pyvips.Image) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the pixels where red clearly wins over green."""
    mask = (image[0] - image[1]) > 100
    columns, rows = mask.project()
    xs = [x for x in range(image.width) if columns(x, 0)[0] > 0]
    ys = [y for y in range(image.height) if rows(0, y)[0] > 0]
    assert xs and ys, "no text drawn"
    return xs[0], ys[0], xs[-1], ys[-1]


@pytest.mark.parametrize(("segment", "canonical"), [
    (f"text_{HELLO}", f"text_{HELLO}"),
    (f"text_{HELLO}:center:24:FFFFFF:0:0", f"text_{HELLO}"),  # every default dropped
    (f"text_{HELLO}:s:30:ff0000ff:0:12:bold", f"text_{HELLO}:south:30:ff0000:0:12:bold"),
    (f"text_{HELLO}:center:24:ffffff:9:9", f"text_{HELLO}"),  # no edge to keep off: no margin
    # WIDTH wraps the lines; an empty STYLE before it is the regular face; 0 is one line.
    (f"text_{HELLO}:west:20:ff0000:5:5::120", f"text_{HELLO}:west:20:ff0000:5:0::120"),
    (f"text_{HELLO}:west:20:ff0000:5:0:bold:120", f"text_{HELLO}:west:20:ff0000:5:0:bold:120"),
    (f"text_{HELLO}:west:20:ff0000:5:0::0", f"text_{HELLO}:west:20:ff0000:5"),
])
def test_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("segment", [
    "text_", "text_SGVsbG8=", "text_SGVsbG9", "text_!!", "text_" + text_token("a\x07b"),
    "text_" + text_token("x" * (MAX_TEXT_CHARS + 1)), f"text_{HELLO}:middle",
    f"text_{HELLO}:south:3", f"text_{HELLO}:south:513", f"text_{HELLO}:south:24:red",
    f"text_{HELLO}:south:24:ffffff:0:0:underline", f"text_{HELLO}:south::ffffff",
    f"text_{HELLO}:south:24:ffffff:0:0:bold:x", f"text_{HELLO}:south:24:ffffff:-1",
    f"text_{HELLO}:south:24:ffffff:0:0:bold:4097", f"text_{HELLO}:south:24:ffffff:0::bold",
    f"text_{HELLO}:south:24:ffffff:0:0:bold:100:1",
])
def test_what_a_text_does_not_take_is_a_400(segment: str) -> None:
    with pytest.raises(InvalidOptions):
        parse(segment)


def test_the_text_sits_where_its_position_and_margins_put_it() -> None:
    grey = flat([0, 200, 0], 300, 200)
    out = made(grey, f"text_{HELLO}:south:30:ff0000:0:12,fmt_png")
    left, _, right, bottom = red_box(out)
    assert 188 - 12 <= bottom < 200 - 12  # 12 px off the bottom edge, descenders aside
    assert abs((left + right) / 2 - 150) <= 3  # centred across
    corner = made(grey, f"text_{HELLO}:northwest:30:ff0000:20:10,fmt_png")
    left, top, _, _ = red_box(corner)
    assert 20 <= left <= 24 and 10 <= top <= 18


def test_a_width_wraps_the_lines_and_aligns_them_to_the_position() -> None:
    grey = flat([0, 200, 0], 400, 300)
    text = text_token("Wrapped lines of a longer caption")
    one = red_box(made(grey, f"text_{text}:center:24:ff0000,fmt_png"))
    wrapped = red_box(made(grey, f"text_{text}:center:24:ff0000:0:0::120,fmt_png"))
    assert wrapped[2] - wrapped[0] <= 120 < one[2] - one[0]  # narrower than one line
    assert wrapped[3] - wrapped[1] > 2.5 * (one[3] - one[1])  # on three lines or more
    left = red_box(made(grey, f"text_{text}:west:24:ff0000:10:0::120,fmt_png"))
    assert 10 <= left[0] <= 13  # the block 10 px off the left edge, lines aligned to it
    # Doubled with dpr, as the size is.
    doubled = red_box(made(flat([0, 200, 0], 800, 600),
                           f"w_400,dpr_2,text_{text}:center:24:ff0000:0:0::120,fmt_png"))
    assert 200 < doubled[2] - doubled[0] <= 240


def test_the_size_follows_dpr_and_the_colour_its_alpha() -> None:
    base = flat([0, 200, 0], 300, 200)
    one = red_box(made(base, f"w_150,text_{HELLO}:center:20:ff0000,fmt_png"))
    two = red_box(made(base, f"w_150,dpr_2,text_{HELLO}:center:20:ff0000,fmt_png"))
    assert 1.8 <= (two[3] - two[1]) / (one[3] - one[1]) <= 2.2
    solid = made(base, f"text_{HELLO}:center:40:ff0000,fmt_png")
    faint = made(base, f"text_{HELLO}:center:40:ff000080,fmt_png")
    assert solid[0].max() == 255 and 120 <= faint[0].max() <= 135  # half over green's 0 red


def test_markup_is_text() -> None:
    plain = render(TextOverlay("x"), 40)
    marked = render(TextOverlay("<b>x</b> & y"), 40)
    assert marked.width > 4 * plain.width  # the brackets and the ampersand were drawn
    bold = render(TextOverlay("x", style="bold"), 40)
    assert bold.bands == 4 and bold.width >= plain.width


@pytest.mark.parametrize("invisible", [" ", "\u200b", "  \u2060 "])
def test_a_text_that_draws_nothing_leaves_the_image_as_it_is(invisible: str) -> None:
    base = flat([0, 200, 0], 100, 50)
    out = made(base, f"text_{text_token(invisible)}:center:20:ff0000,fmt_png")
    assert (out - made(base, "fmt_png")).abs().max() == 0


def test_a_huge_text_is_drawn_no_larger_than_the_output_can_show(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    drawn: list[pyvips.Image] = []

    def recording(spec: TextOverlay, size: int, wrap: int = 0) -> pyvips.Image:
        sizes.append(size)
        drawn.append(render(spec, size, wrap))
        return drawn[-1]

    monkeypatch.setattr(textmarks, "render", recording)
    base = flat([0, 200, 0], 400, 267)
    out = made(base, "dpr_4,w_400,text_" + text_token("W" * MAX_TEXT_CHARS) + ":center:512,"
               "fmt_png")
    assert (out.width, out.height) == (400, 267)  # the source's size: w_400 x 4 is not enlarged
    # 512 px x dpr 4 asked; drawn at a size whose 200 glyphs of at least a quarter size fit
    # the 400 px output, not 2048 px (a line some 300 000 px long).
    assert sizes == [math.ceil(400 / (0.25 * MAX_TEXT_CHARS))]
    # Wrapped, by the output's area: 200 glyphs on lines of the output's width at most, in
    # no more than about the output's own pixels.
    sizes.clear()
    made(base, "dpr_4,w_400,text_" + text_token("W " * (MAX_TEXT_CHARS // 2)) +
         ":center:512:ffffff:0:0::400,fmt_png")
    assert sizes == [math.ceil(math.sqrt(400 * 267 / (0.25 * MAX_TEXT_CHARS)))]
    assert drawn[-1].width <= 400 and drawn[-1].width * drawn[-1].height < 4 * 400 * 267


def test_every_frame_gets_it_and_grey_stays_grey() -> None:
    frames = [(pyvips.Image.black(80, 60) + [0, 150 + 40 * i, 0]).cast("uchar").copy(
        interpretation="srgb") for i in range(3)]  # frames that differ: none merged away
    gif = animation(frames, 100, "gif")
    out = pyvips.Image.new_from_buffer(encoded(gif, f"text_{HELLO}:center:16:ff0000", "gif"),
                                       "", n=-1)
    assert out.get("n-pages") == 3
    for page in range(3):
        assert red_box(out.crop(0, page * 60, 80, 60).colourspace("srgb"))
    grey = (pyvips.Image.black(80, 60) + 90).cast("uchar").copy(interpretation="b-w")
    assert made(grey.pngsave_buffer(), f"text_{HELLO}:center:16:ffffff,fmt_png").bands == 1


@pytest.mark.parametrize(("path", "text"), [
    ("l_text:Arial_60_bold:Hello%20World,co_white,g_south,y_20",
     f"text_{text_token('Hello World')}:south:60:ffffff:0:20:bold"),
    # Commas escaped twice (as Cloudinary asks), the newer layer form, o_ as the colour's alpha.
    ("w_400/l_text:Arial_40:Sale%252C%20today,co_rgb:ff0000,o_50/fl_layer_apply,g_north_east,"
     "x_10,y_10", f"text_{text_token('Sale, today')}:northeast:40:ff000080:10:10"),
    ("l_text:Roboto_40_italic_bold:Hi", f"text_{text_token('Hi')}:center:40:000000:0:0:"
                                        "bolditalic"),
    # w_ with c_fit: the width the caption wraps at, in either layer form.
    ("l_text:Arial_40:A%20long%20caption,w_300,c_fit,g_south",
     f"text_{text_token('A long caption')}:south:40:000000:0:0::300"),
    ("w_400/l_text:Arial_40:A%20long%20caption,w_300,c_fit/fl_layer_apply,g_south,y_10",
     f"text_{text_token('A long caption')}:south:40:000000:0:10::300"),
])
def test_cloudinary_text_overlays(path: str, text: str) -> None:
    tokens = serialize(parse(from_cloudinary(f"image/upload/{path}/a.jpg").tokens).options)
    assert text in tokens.split(",")


@pytest.mark.parametrize(("path", "says"), [
    ("l_text:Arial:Hi", "FAMILY_SIZE"),
    ("l_text:Arial_40_underline:Hi", "only bold, italic and normal"),
    ("l_text:Arial_40:Hi,g_center,x_10", "centred axis"),
    ("l_text:Arial_40:Hi,w_100", "w_ \\(px\\) with c_fit"),
    ("l_text:Arial_40:Hi,c_fit", "w_ \\(px\\) with c_fit"),
])
def test_cloudinary_text_refusals(path: str, says: str) -> None:
    with pytest.raises(InvalidOptions, match=says):
        parse(from_cloudinary(f"image/upload/{path}/a.jpg").tokens)
