"""Cloudinary's delivery URLs translated into native options: what each parameter and crop mode
becomes, how chained transformations merge, the sources (upload keys, fetch URLs), and what is
refused with a 400 naming it."""

from __future__ import annotations

import pytest

from origin.errors import InvalidOptions, InvalidSource
from transforms.cloudinary import translate
from transforms.grammar import parse, serialize


def native(path: str) -> str:
    """The canonical native options a Cloudinary path (after the cloud name) comes to."""
    return serialize(parse(translate(path).tokens, presets={"card": "s_64x64"}).options)


@pytest.mark.parametrize(("path", "expected"), [
    # The default mode is scale: proportional with one side, stretched with both, and it
    # enlarges (so do fit, fill and pad; limit, lfill and lpad never do).
    ("image/upload/w_300/a.jpg", "enlarge,fmt_jpeg,w_300"),
    ("image/upload/c_scale,w_300,h_200/a.jpg", "enlarge,fit_fill,fmt_jpeg,h_200,w_300"),
    ("image/upload/c_fit,w_300,h_200/a.jpg", "enlarge,fit_inside,fmt_jpeg,h_200,w_300"),
    ("image/upload/c_limit,w_300,h_200/a.jpg", "fit_inside,fmt_jpeg,h_200,w_300"),
    ("image/upload/c_fill,w_300,h_200,g_north/a.jpg", "enlarge,fmt_jpeg,g_north,h_200,w_300"),
    ("image/upload/c_lfill,w_300,h_200,g_south_east/a.jpg", "fmt_jpeg,g_southeast,h_200,w_300"),
    ("image/upload/c_pad,w_300,h_200,b_rgb:ff0000/a.jpg",
     "bg_ff0000,enlarge,fit_contain,fmt_jpeg,h_200,w_300"),
    ("image/upload/c_lpad,w_300,h_200,b_white/a.jpg",
     "bg_ffffff,extend,fit_contain,fmt_jpeg,h_200,w_300"),
    ("image/upload/c_pad,w_300,h_200,b_lightblue/a.jpg",
     "bg_add8e6,enlarge,fit_contain,fmt_jpeg,h_200,w_300"),
    ("image/upload/c_fill,w_300,h_200,g_auto/a.jpg", "enlarge,fmt_jpeg,g_attention,h_200,w_300"),
    # c_crop takes a region of the original, unscaled: by a gravity, or x/y from its corner.
    ("image/upload/c_crop,w_100,h_80/a.jpg", "crop_100:80,fmt_jpeg"),
    ("image/upload/c_crop,w_100,h_80,x_10,y_20/a.jpg", "crop_100:80:northwest:10:20,fmt_jpeg"),
    ("image/upload/c_crop,w_100,h_80,g_south_east,x_5,y_0/a.jpg",
     "crop_100:80:southeast:5:0,fmt_jpeg"),
    ("image/upload/c_crop,w_0.5,h_0.25,g_north/a.jpg", "crop_0.5:0.25:north,fmt_jpeg"),
    ("image/upload/c_crop,w_100,h_100,g_xy_center,x_300,y_200/a.jpg",
     "crop_100:100:fpx:300:200,fmt_jpeg"),
    # A share of the original's side (below 1), and aspect ratios.
    ("image/upload/w_0.5/a.jpg", "fmt_jpeg,zoom_0.5"),
    ("image/upload/w_0.25,h_0.25/a.jpg", "fmt_jpeg,zoom_0.25"),
    ("image/upload/c_fill,ar_16:9,w_400/a.jpg", "enlarge,fmt_jpeg,h_225,w_400"),
    ("image/upload/c_fill,ar_16:9/a.jpg", "ar_1.778,fmt_jpeg"),
    ("image/upload/c_pad,ar_1:1,b_black/a.jpg", "ar_1,bg_000000,fit_contain,fmt_jpeg"),
    # Format from f_ (it wins over the extension), else the extension, else the original's.
    ("image/upload/w_300/f_auto/q_auto/a.jpg", "enlarge,fmt_auto,q_auto,w_300"),
    ("image/upload/f_webp,q_60/a.jpg", "fmt_webp,q_60"),
    ("image/upload/q_auto:eco/a.png", "fmt_png"),  # PNG has no quality to pick
    ("image/upload/q_auto:best/a.jpg", "fmt_jpeg,q_auto:best"),
    ("image/upload/w_100/a", "enlarge,w_100"),
    # Versions are cache busters; the rest map one to one.
    ("image/upload/w_100/v1699999999/a.jpg", "enlarge,fmt_jpeg,w_100"),
    ("image/upload/v1699999999/a.jpg", "fmt_jpeg"),
    ("image/upload/dpr_2.0,w_150/a.jpg", "dpr_2,enlarge,fmt_jpeg,w_150"),
    ("image/upload/dpr_auto,w_150/a.jpg", "enlarge,fmt_jpeg,w_150"),  # the hint, else 1
    # w_auto as for a browser without Sec-CH-Width: the fallback width, else the original's.
    ("image/upload/w_auto:100:400/a.jpg", "enlarge,fmt_jpeg,w_400"),
    ("image/upload/c_fill,w_auto:50:320,h_200/a.jpg", "enlarge,fmt_jpeg,h_200,w_320"),
    ("image/upload/w_auto:breakpoints_100_1000_20_10:640,dpr_auto/a.jpg",
     "enlarge,fmt_jpeg,w_640"),
    ("image/upload/w_auto,c_scale/a.jpg", "fmt_jpeg"),
    ("image/upload/w_auto:100/a.jpg", "fmt_jpeg"),
    ("image/upload/e_grayscale/a_90/r_max/a.jpg", "fmt_jpeg,gray,r_max,rot_90"),
    ("image/upload/a_-90,r_12/a.jpg", "fmt_jpeg,r_12,rot_270"),
    ("image/upload/a_hflip/e_negate/a.jpg", "flop,fmt_jpeg,neg"),
    ("image/upload/e_pixelate:12/a.jpg", "fmt_jpeg,px_12"),
    # A chain that starts with c_crop: the region, then what the rest does to it (the native
    # crop comes before the resize, as in the chain).
    ("image/upload/c_crop,w_300/c_scale,w_100/a.jpg", "crop_300:0,enlarge,fmt_jpeg,w_100"),
    ("image/upload/c_crop,g_face,w_400,h_400,r_max/c_scale,w_200/a.jpg",
     "crop_400:400:face,enlarge,fmt_jpeg,r_max,w_200"),
    ("image/upload/c_crop,w_1000,h_800,x_100,y_50/c_fill,w_300,h_200,g_north/a.jpg",
     "crop_1000:800:northwest:100:50,enlarge,fmt_jpeg,g_north,h_200,w_300"),
    ("image/upload/c_crop,w_0.5,h_0.5,e_grayscale/w_200/f_auto/a.jpg",
     "crop_0.5:0.5,enlarge,fmt_auto,gray,w_200"),
    # c_auto: a fill crop where libvips' attention (g_auto here) puts it.
    ("image/upload/c_auto,g_auto,w_300,h_200/a.jpg", "enlarge,fmt_jpeg,g_attention,h_200,w_300"),
    ("image/upload/c_auto,w_300,h_200/a.jpg", "enlarge,fmt_jpeg,g_attention,h_200,w_300"),
    ("image/upload/c_auto,g_faces,w_300,h_200/a.jpg", "enlarge,fmt_jpeg,g_faces,h_200,w_300"),
    # Effects with strengths, mapped onto the native steps (Cloudinary's are not published).
    ("image/upload/e_blur/a.jpg", "blur_5,fmt_jpeg"),  # the default, 100
    ("image/upload/w_40,e_blur:1000,q_1/a.jpg", "blur_50,enlarge,fmt_jpeg,q_1,w_40"),  # LQIP
    ("image/upload/e_blur:1/a.jpg", "blur_0.3,fmt_jpeg"),
    ("image/upload/e_sharpen/a.jpg", "fmt_jpeg,sharpen_1"),
    ("image/upload/e_sharpen:2000/a.jpg", "fmt_jpeg,sharpen_10"),
    ("image/upload/e_unsharp_mask/a.jpg", "fmt_jpeg,usm_100:1"),
    ("image/upload/e_colorize,co_rgb:ff0000/a.jpg", "colorize_100:100:100:ff0000,fmt_jpeg"),
    ("image/upload/e_colorize:40,co_orange/a.jpg", "colorize_40:40:40:ffa500,fmt_jpeg"),
    ("image/upload/e_colorize:0,co_orange/a.jpg", "fmt_jpeg"),
    ("image/upload/e_unsharp_mask:250/a.jpg", "fmt_jpeg,usm_250:1"),
    ("image/upload/e_unsharp_mask:2000/a.jpg", "fmt_jpeg,usm_500:1"),
    ("image/upload/e_brightness/a.jpg", "bri_80,fmt_jpeg"),
    ("image/upload/e_brightness:-50/a.jpg", "bri_-50,fmt_jpeg"),
    ("image/upload/e_contrast:30/a.jpg", "con_30,fmt_jpeg"),
    ("image/upload/e_contrast/a.jpg", "fmt_jpeg"),  # 0 by default: nothing to do
    ("image/upload/e_saturation:-100/a.jpg", "fmt_jpeg,sat_-100"),
    ("image/upload/e_sepia/a.jpg", "fmt_jpeg,tint_704214"),
    ("image/upload/e_blackwhite/a.jpg", "fmt_jpeg,threshold_128"),
    ("image/upload/e_blackwhite:0/a.jpg", "fmt_jpeg,threshold_1"),
    ("image/upload/fl_progressive.lossy/a.jpg", "fmt_jpeg,progressive"),
    ("image/upload/fl_keep_iptc/a.jpg", "fmt_jpeg,strip_0"),
    ("image/upload/fl_keep_attribution/a.jpg", "copyright,fmt_jpeg"),
    ("image/upload/w_300,fl_getinfo/a.jpg", "enlarge,fmt_json,w_300"),  # the answer described
    ("image/upload/fl_animated.awebp.any_format.immutable_cache/a.gif", "fmt_gif"),
    ("image/upload/t_card/a.jpg", "fmt_jpeg,h_64,w_64"),
    ("image/upload/pg_2/doc.gif", "fmt_gif,page_1"),
    # An unchecked signature is skipped (the dialect is refused beside native signing).
    ("image/upload/s--AbCd_-12--/w_100/a.jpg", "enlarge,fmt_jpeg,w_100"),
])
def test_parameters(path: str, expected: str) -> None:
    assert native(path) == expected


def test_tokens_outside_the_variant() -> None:
    assert parse(translate("image/upload/fl_attachment:shoe/a.jpg").tokens).download == "shoe"
    assert parse(translate("image/upload/fl_attachment/a.jpg").tokens).download == ""


@pytest.mark.parametrize(("path", "source"), [
    ("image/upload/w_100/products/shoe%20red.jpg", "products/shoe red.jpg"),
    ("image/upload/products/shoe.jpg", "products/shoe.jpg"),
    ("image/fetch/w_100/https://cdn.example.com/a/b.jpg", "https://cdn.example.com/a/b.jpg"),
    ("image/fetch/https%3A%2F%2Fcdn.example.com%2Fa.png", "https://cdn.example.com/a.png"),
    ("image/fetch/https://cdn.example.com/a.png%3Fv%3D2", "https://cdn.example.com/a.png?v=2"),
    # A folder that is not a transformation stays part of the key.
    ("image/upload/w_100/2024_sale/a.jpg", "2024_sale/a.jpg"),
])
def test_sources(path: str, source: str) -> None:
    assert translate(path).source == source


def test_a_fetched_image_keeps_its_own_format_unless_asked() -> None:
    assert native("image/fetch/w_100/https://cdn.example.com/a.png") == "enlarge,w_100"
    assert native("image/fetch/f_avif/https://cdn.example.com/a.png") == "fmt_avif"


@pytest.mark.parametrize(("path", "error", "words"), [
    ("image/upload/w_300/c_scale,w_100/a.jpg", InvalidOptions, "given twice"),
    ("image/upload/w_100/c_crop,w_50/a.jpg", InvalidOptions, "given twice"),  # crop after
    ("image/upload/c_crop,w_9,h_9/c_crop,w_5,h_5/a.jpg", InvalidOptions, "c_crop twice"),
    ("image/upload/c_crop,w_500,h_500,r_20/w_100/a.jpg", InvalidOptions, "r_ in px"),
    ("image/upload/c_thumb,w_100,h_100,g_face,z_9/a.jpg", InvalidOptions, "out of range"),
    ("image/upload/c_crop,w_100,z_2/a.jpg", InvalidOptions, "z_ is supported"),
    ("image/upload/c_mfit,w_100/a.jpg", InvalidOptions, "crop mode 'mfit'"),
    ("image/upload/c_fill,w_100,h_100,g_custom/a.jpg", InvalidOptions, "no object detection"),
    # str.isdigit() takes '²', which int() refuses (found by make fuzz: it was a 500).
    ("image/upload/q_²/a.jpg", InvalidOptions, "whole number"),
    ("image/upload/e_sepia:50/a.jpg", InvalidOptions, "effect 'sepia:50'"),
    ("image/upload/e_blur:3000/a.jpg", InvalidOptions, "1..2000"),
    ("image/upload/e_unsharp_mask:0/a.jpg", InvalidOptions, "1..2000"),
    ("image/upload/e_colorize/a.jpg", InvalidOptions, "needs its colour, co_"),
    ("image/upload/e_colorize:101,co_red/a.jpg", InvalidOptions, "0..100"),
    ("image/upload/e_sepia,co_red/a.jpg", InvalidOptions, "co_ is supported with e_colorize"),
    ("image/upload/e_brightness:x/a.jpg", InvalidOptions, "whole number"),
    ("image/upload/e_cartoonify/a.jpg", InvalidOptions, "effect 'cartoonify'"),
    ("image/upload/e_pixelate/a.jpg", InvalidOptions, "effect 'pixelate'"),
    ("image/upload/u_logo/a.jpg", InvalidOptions, "'u_'"),
    ("image/upload/bo_2px_solid_black/a.jpg", InvalidOptions, "'bo_'"),
    ("image/upload/w_100,x_10/a.jpg", InvalidOptions, "x_ and y_"),
    ("image/upload/c_crop/a.jpg", InvalidOptions, "needs w_ or h_"),
    ("image/upload/c_crop,w_100,ar_1:1/a.jpg", InvalidOptions, "c_crop with ar_"),
    ("image/upload/c_crop,w_100,dpr_2/a.jpg", InvalidOptions, "c_crop with dpr_"),
    ("image/upload/w_0.5,h_100/a.jpg", InvalidOptions, "relative"),
    ("image/upload/w_abc/a.jpg", InvalidOptions, "'abc'"),
    ("image/upload/w_auto:100:400:json/a.jpg", InvalidOptions, "JSON breakpoints"),
    ("image/upload/w_auto:100:0/a.jpg", InvalidOptions, "w_auto[:STEP[:FALLBACK]]"),
    ("image/upload/w_-5/a.jpg", InvalidOptions, "'-5'"),
    ("image/upload/a_45/a.jpg", InvalidOptions, "multiples of 90"),
    ("image/upload/a_exif/a.jpg", InvalidOptions, "angle 'exif'"),
    ("image/upload/b_auto/a.jpg", InvalidOptions, "background 'auto'"),
    ("image/upload/fl_tiled/a.jpg", InvalidOptions, "flag 'tiled'"),
    ("image/upload/pg_0/a.gif", InvalidOptions, "from 1"),
    ("image/upload/w_100/a.tiff", InvalidOptions, "format 'tiff'"),
    ("image/upload/f_jxl/a.jpg", InvalidOptions, "format 'jxl'"),
    ("image/video/w_100/a.mp4", InvalidSource, "image/upload"),
    ("image/private/w_100/a.jpg", InvalidSource, "image/upload"),
    ("image/upload/", InvalidSource, "public ID"),
    ("image/fetch/w_100/cdn.example.com/a.jpg", InvalidSource, "http(s)"),
])
def test_refused(path: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error) as err:
        native(path)
    assert words in str(err.value)


def test_a_crop_mode_the_grammar_cannot_size_is_its_400() -> None:
    # c_scale to a ratio alone has no box to stretch to.
    with pytest.raises(InvalidOptions, match="fit_fill"):
        native("image/upload/ar_16:9/a.jpg")


@pytest.mark.parametrize(("path", "expected"), [
    # An image overlay is the server's watermark of that name, on last: by its gravity (centre
    # by default), x/y as margins from the edges it names, o_ as opacity, and with
    # fl_relative a width (and height) as shares of the image.
    ("image/upload/l_logo/a.jpg", "fmt_jpeg,wm_logo:center"),
    ("image/upload/c_fill,w_300,h_200/l_logo,g_south_east,x_10,y_12,o_60/a.jpg",
     "enlarge,fmt_jpeg,h_200,w_300,wm_logo:southeast:0.6:0:10:12"),
    # The newer form: the layer opened by l_, placed by fl_layer_apply.
    ("image/upload/w_300/l_logo,w_0.2,fl_relative/fl_layer_apply,g_north_east,x_5,y_5/f_auto/a.jpg",
     "enlarge,fmt_auto,w_300,wm_logo:northeast:1:0.2:5"),
    ("image/upload/l_logo,w_0.2,h_0.1,fl_relative,g_west,x_4/a.png",
     "fmt_png,wm_logo:west:1:0.2x0.1:4:0"),
    ("image/upload/l_logo,o_0/a.jpg", "fmt_jpeg"),  # transparent: nothing to put on
    # An image and a text (a social card's logo and title): both, the text over the image.
    ("image/upload/w_600/l_logo,g_south_east,x_10,y_10/l_text:Arial_30_bold:Title,co_white,"
     "g_north,y_20/a.jpg",
     "enlarge,fmt_jpeg,text_VGl0bGU:north:30:ffffff:0:20:bold,w_600,wm_logo:southeast:1:0:10"),
    ("image/upload/l_text:Arial_30:Hi/fl_layer_apply,g_south,y_8/l_logo/fl_layer_apply,g_north/"
     "a.png", "fmt_png,text_SGk:south:30:000000:0:8,wm_logo:north"),
])
def test_overlays(path: str, expected: str) -> None:
    tokens = translate(path).tokens
    assert serialize(parse(tokens, watermarks={"logo"}).options) == expected


@pytest.mark.parametrize(("path", "words"), [
    ("image/upload/l_logo,g_north,x_10/a.jpg", "centred axis"),
    ("image/upload/l_logo,g_south_east/c_scale,w_300/a.jpg", "after (or of) an overlay"),
    ("image/upload/l_logo/e_grayscale/fl_layer_apply/a.jpg", "after (or of) an overlay"),
    ("image/upload/l_logo/l_seal/a.jpg", "one image and one text"),
    ("image/upload/l_logo,o_150/a.jpg", "0..100"),
    ("image/upload/l_text:Arial_9:a,o_101/a.jpg", "0..100"),
    ("image/upload/l_text:Arial_9:a/l_text:Arial_9:b/a.jpg", "one image and one text"),
    ("image/upload/l_logo/l_text:Arial_9:a/w_100/a.jpg", "after (or of) an overlay"),
    ("image/upload/l_logo,w_100/a.jpg", "fl_relative"),
    ("image/upload/l_logo,w_1.5,fl_relative/a.jpg", "shares below 1"),
    ("image/upload/l_logo,fl_tiled/a.jpg", "flag 'tiled'"),
    ("image/upload/l_fetch:aHR0cHM6Ly94LmNvbS9hLnBuZw/a.jpg", "IMGORIGIN_WATERMARKS"),
    ("image/upload/l_brand:logo/a.jpg", "IMGORIGIN_WATERMARKS"),
    ("image/upload/l_logo,g_faces/a.jpg", "gravity 'faces'"),
    ("image/upload/c_fill,w_100,l_logo/a.jpg", "parameter 'c_'"),
    ("image/upload/l_logo,x_-5,g_east/a.jpg", "'-5'"),
])
def test_refused_overlays(path: str, words: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        translate(path)
    assert words in str(err.value)


def test_an_overlay_names_a_watermark_the_server_has() -> None:
    with pytest.raises(InvalidOptions, match="unknown watermark 'seal'"):
        parse(translate("image/upload/l_seal/a.jpg").tokens, watermarks={"logo"})
