"""ipx's URL dialect (Nuxt Image's default provider) translated into native options: separators,
aliases, ipx's own precedence of resizes, sharp's defaults, and what is refused."""

from __future__ import annotations

import pytest

from origin.errors import InvalidOptions, InvalidSource
from transforms.grammar import parse, serialize
from transforms.ipx import translate


def native(path: str) -> str:
    return serialize(parse(translate(path).tokens).options)


@pytest.mark.parametrize(("path", "expected"), [
    ("_/a.jpg", "_"),
    ("w_300/a.jpg", "w_300"),
    ("width_300/a.jpg", "w_300"),
    ("h:120/a.jpg", "h_120"),
    ("s_300x200/a.jpg", "h_200,w_300"),
    ("resize=300x200/a.jpg", "h_200,w_300"),
    ("s_200/a.jpg", "h_200,w_200"),  # a square
    # Both `&` and `,` separate modifiers, as Nuxt Image and ipx's docs write them.
    ("s_300x200&f_webp&q_80/a.jpg", "anim_0,fmt_webp,h_200,q_80,w_300"),
    ("s_300x200&f_avif&q_50/a.jpg", "fmt_avif,h_200,q_50,w_300"),
    ("s_300x200,fit_inside,enlarge/a.jpg", "enlarge,fit_inside,h_200,w_300"),
    # ipx applies modifiers sorted by name and sharp keeps the last resize.
    ("w_300&h_200/a.jpg", "w_300"),
    # sharp's modulate: brightness and saturation factors, hue degrees (defaults 1, 1, 0).
    ("modulate_1.2/a.jpg", "modulate_1.2"),
    ("modulate_1_0.5_90/a.jpg", "modulate_1:0.5:90"),
    ("modulate_1_1_-90/a.jpg", "modulate_1:1:270"),
    ("modulate__1.5/a.jpg", "modulate_1:1.5"),
    ("modulate_1_1_0/a.jpg", "_"),
    ("h_200&w_300/a.jpg", "w_300"),
    ("s_300x200&w_100/a.jpg", "w_100"),
    ("height_50,h_20/a.jpg", "h_50"),
    # sharp letterboxes in opaque black unless a background is given.
    ("s_300x200,fit_contain/a.png", "bg_000000,fit_contain,h_200,w_300"),
    ("s_300x200,fit_contain,b_fff/a.png", "bg_ffffff,fit_contain,h_200,w_300"),
    ("s_300x200,fit_contain,background_%23ff000080/a.png", "bg_ff000080,fit_contain,h_200,w_300"),
    ("s_300x200,pos_right-top/a.jpg", "g_northeast,h_200,w_300"),
    ("s_300x200,position_attention/a.jpg", "g_attention,h_200,w_300"),
    ("s_300x200,pos_left/a.jpg", "g_west,h_200,w_300"),
    ("extract_10_20_300_200,s_100x100/a.jpg", "crop_10:20:300:200,h_100,w_100"),
    ("crop_0_0_50_50/a.jpg", "crop_0:0:50:50"),
    ("s_100x100,extend_10_5/a.jpg", "h_110,pad_10:5:0:0,w_105"),
    ("extend_4_4_4_4_background/a.jpg", "pad_4"),
    ("rotate_90,flip,flop,grayscale/a.jpg", "flip,flop,gray,rot_90"),
    ("rotate_-90/a.jpg", "rot_270"),
    ("rotate_360/a.jpg", "_"),
    ("blur_3,sharpen_1.5,trim_10/a.jpg", "blur_3,sharpen_1.5,trim_10"),
    ("f_jpg/a.png", "fmt_jpeg"),
    ("f_auto/a.jpg", "anim_0,fmt_auto"),
    # ipx keeps only the first frame unless `a`/`animated` or GIF output.
    ("f_webp/a.gif", "anim_0,fmt_webp"),
    ("f_webp,a/a.gif", "fmt_webp"),
    ("f_webp,animated/a.gif", "fmt_webp"),
    ("f_gif/a.gif", "fmt_gif"),
    # What Nuxt Image writes: `&`, `s_` for a box, flags with `_true`, `#` percent-encoded.
    ("f_webp&s_300x200&q_80&enlarge_true&b_%23ffffff&fit_contain/a.png",
     "anim_0,bg_ffffff,enlarge,fit_contain,fmt_webp,h_200,q_80,w_300"),
    ("grayscale_true&animated_true&f_webp/a.gif", "fmt_webp,gray"),
    # sharp's tint and negate; Nuxt Image writes the tint with a percent-encoded `#`.
    ("w_300&tint_%2300DC82/a.jpg", "tint_00dc82,w_300"),
    ("tint_e40/a.jpg", "tint_ee4400"),
    ("negate/a.jpg", "neg"),
    ("negate_true,w_10/a.png", "neg,w_10"),
    # flatten: onto `b`, else sharp's default black.
    ("flatten,f_png/a.png", "bg_000000,flatten,fmt_png"),
    ("flatten,b_ff0000,w_10/a.png", "bg_ff0000,flatten,w_10"),
    ("flatten,f_jpeg/a.png", "bg_000000,fmt_jpeg"),
    # sharp tints a greyscale image back into grey: the tint never shows (docs/ipx.md).
    ("grayscale&tint_%23ff0000/a.jpg", "gray"),
    ("normalize,w_10/a.jpg", "norm,w_10"),
    ("median_5/a.jpg", "median_5"),
    ("median/a.jpg", "median_3"),  # sharp's default size
    # kernel: sharp's, handed over by ipx with `s`/`resize` only (the last size written wins).
    ("kernel_nearest&s_300x200/a.png", "h_200,kernel_nearest,w_300"),
    ("resize_30x20,kernel_cubic/a.png", "h_20,kernel_cubic,w_30"),
    ("kernel_nearest&w_300/a.png", "w_300"),
    ("kernel_nearest&s_30x20&w_40/a.png", "w_40"),
    ("kernel_lanczos3&s_30x20/a.png", "h_20,w_30"),
    ("kernel_mks2021/a.png", "_"),
    # gamma(g = 2.2, out = g) and threshold(t = 128; 0 is none), as sharp reads them.
    ("gamma_2.2,w_10/a.jpg", "gamma_2.2,w_10"),
    ("gamma,w_10/a.jpg", "gamma_2.2,w_10"),
    ("gamma_2_1.5,w_10/a.jpg", "gamma_2:1.5,w_10"),
    ("gamma_1/a.jpg", "_"),
    ("threshold_90/a.jpg", "threshold_90"),
    ("threshold/a.jpg", "threshold_128"),
    ("threshold_0/a.jpg", "_"),
    ("threshold_100&grayscale/a.jpg", "threshold_100"),
])
def test_modifiers_translate_to_the_native_variant(path: str, expected: str) -> None:
    assert native(path) == expected


@pytest.mark.parametrize(("path", "source"), [
    ("w_10/static/buffalo.png", "static/buffalo.png"),
    ("w_10//static/buffalo.png", "static/buffalo.png"),
    ("w_10/https://images.example.com/a.jpg", "https://images.example.com/a.jpg"),
    ("w_10/https%3A%2F%2Fimages.example.com%2Fa%20b.jpg", "https://images.example.com/a b.jpg"),
])
def test_sources(path: str, source: str) -> None:
    assert translate(path).source == source


@pytest.mark.parametrize(("path", "words"), [
    ("/a.jpg", "missing"),
    ("w_abc/a.jpg", "'abc'"),
    ("s_3x/a.jpg", "WxH"),
    ("kernel_box/a.jpg", "ipx kernel 'box'"),
    ("gamma_4/a.jpg", "gamma_4"),
    ("gamma_2_2_2/a.jpg", "gamma_gammaOut"),
    ("threshold_256/a.jpg", "threshold_256"),
    ("threshold_1_2/a.jpg", "one argument"),
    ("median_4/a.jpg", "median_4"),
    ("tint_red/a.jpg", "ipx tint 'red'"),
    ("tint_%23ff000080/a.jpg", "opaque"),
    ("extend_4_4_4_4,negate/a.jpg", "extend together with tint, negate"),
    ("flatten,negate/a.png", "flatten together with tint, negate"),
    ("tint_%23ff0000&extend_1_1_1_1/a.jpg", "extend together with tint, negate"),
    ("modulate_1_2_3_4/a.jpg", "brightness_saturation_hue"),
    ("modulate_1_1_45.5/a.jpg", "modulate_1:1:45.5"),   # sharp wants whole degrees
    ("modulate_-1/a.jpg", "modulate_-1"),
    ("modulate_1_1_90,extend_2_2_2_2/a.jpg", "extend together with tint, negate or modulate"),
    ("flatten,modulate_2/a.png", "flatten together with tint, negate or modulate"),
    ("unflatten/a.jpg", "'unflatten'"),
    ("pos_16/a.jpg", "'16'"),
    ("b_red/a.jpg", "hex"),
    ("f_tiff/a.jpg", "'tiff'"),
    ("rotate_45/a.jpg", "90"),
    ("sharpen_1_2_3/a.jpg", "flat"),
    ("extract_1_2_3/a.jpg", "left_top_width_height"),
    ("extend_1_1_1_1_mirror/a.jpg", "background"),
    ("q_0/a.jpg", "q_0"),
    ("w_99999/a.jpg", "w_99999"),
    ("fit_stretch,s_10x10/a.jpg", "fit_stretch"),
    ("blur_500/a.jpg", "blur_500"),
])
def test_what_has_no_native_equivalent_is_a_400_naming_it(path: str, words: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(translate(path).tokens)
    assert words in err.value.detail


@pytest.mark.parametrize("path", ["w_10", "w_10/", "w_10//", "_/%2F"])
def test_a_missing_image_is_a_400(path: str) -> None:
    with pytest.raises(InvalidSource):
        translate(path)
