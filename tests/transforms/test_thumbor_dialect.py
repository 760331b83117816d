"""thumbor's URL dialect translated into native options: sizes, fit-in, alignment, smart, manual
crops, flips, filters, what is refused with a 400 naming it, and thumbor's signature."""

from __future__ import annotations

import pytest

from origin.errors import InvalidOptions, InvalidSource
from origin.security import signing
from transforms.grammar import parse, serialize
from transforms.thumbor import translate


def native(path: str) -> str:
    return serialize(parse(translate(path).tokens).options)


@pytest.mark.parametrize(("path", "expected"), [
    # Without fit-in thumbor crops to the box and always resizes to it, enlarging small images.
    ("300x200/a.jpg", "enlarge,h_200,w_300"),
    # trim: the top-left pixel's colour, the tolerance as the native threshold (from 1).
    ("trim/300x200/a.jpg", "enlarge,h_200,trim_1,w_300"),
    ("trim:top-left/a.jpg", "trim_1"),
    ("trim:20/a.jpg", "trim_20"),
    ("trim:top-left:0/fit-in/100x100/a.jpg", "fit_inside,h_100,trim_1,w_100"),
    ("trim:bottom-right:10/a.jpg", "trim_10:southeast"),  # the bottom-right pixel's colour
    ("trim:bottom-right/a.jpg", "trim_1:southeast"),
    ("300x0/a.jpg", "enlarge,w_300"),
    ("x200/a.jpg", "enlarge,h_200"),
    ("300x200/filters:no_upscale()/a.jpg", "h_200,w_300"),
    # Alignment chooses what the crop keeps; smart looks for faces first, then libvips' attention.
    ("300x200/left/top/a.jpg", "enlarge,g_northwest,h_200,w_300"),
    ("300x200/right/a.jpg", "enlarge,g_east,h_200,w_300"),
    ("300x200/bottom/a.jpg", "enlarge,g_south,h_200,w_300"),
    ("300x200/center/middle/a.jpg", "enlarge,h_200,w_300"),
    ("300x200/smart/a.jpg", "enlarge,g_faces,h_200,w_300"),
    ("300x200/left/smart/a.jpg", "enlarge,g_faces,h_200,w_300"),
    # fit-in fits without enlarging unless upscale(); fill(colour) pads out to the whole box.
    ("fit-in/300x200/a.jpg", "fit_inside,h_200,w_300"),
    ("fit-in/300x200/filters:upscale()/a.jpg", "enlarge,fit_inside,h_200,w_300"),
    ("fit-in/300x200/filters:fill(ff0000)/a.jpg", "bg_ff0000,extend,fit_contain,h_200,w_300"),
    ("fit-in/300x200/filters:fill(transparent)/a.png", "extend,fit_contain,h_200,w_300"),
    # CSS colour names, as thumbor's Pillow reads them (any case).
    ("fit-in/300x200/filters:fill(red)/a.jpg", "bg_ff0000,extend,fit_contain,h_200,w_300"),
    ("fit-in/300x200/filters:fill(LightSteelBlue)/a.jpg",
     "bg_b0c4de,extend,fit_contain,h_200,w_300"),
    # fill(blur): the padding is the image itself, blurred and stretched to the box.
    ("fit-in/300x200/filters:fill(blur)/a.jpg", "bg_blur,extend,fit_contain,h_200,w_300"),
    ("fit-in/300x200/filters:fill(auto)/a.jpg", "bg_auto,extend,fit_contain,h_200,w_300"),
    ("fit-in/300x0/a.jpg", "w_300"),
    ("full-fit-in/300x200/a.jpg", "enlarge,fit_outside,h_200,w_300"),
    # adaptive: the box turned a quarter for a source of the other orientation (the plan
    # knows the source); one side only or a square box has nothing to turn.
    ("adaptive-fit-in/300x200/a.jpg", "adaptive,fit_inside,h_200,w_300"),
    ("adaptive-full-fit-in/300x200/a.jpg", "adaptive,enlarge,fit_outside,h_200,w_300"),
    ("adaptive-fit-in/300x200/filters:fill(fff)/a.jpg",
     "adaptive,bg_ffffff,extend,fit_contain,h_200,w_300"),
    ("adaptive-fit-in/300x0/a.jpg", "w_300"),
    ("adaptive-fit-in/300x300/a.jpg", "fit_inside,h_300,w_300"),
    # Minus signs flip; a manual crop is left-top and right-bottom corners.
    ("-300x200/a.jpg", "enlarge,flop,h_200,w_300"),
    ("300x-200/a.jpg", "enlarge,flip,h_200,w_300"),
    ("-x-/a.jpg", "flip,flop"),
    ("10x20:110x220/a.jpg", "crop_10:20:100:200"),
    ("10x20:110x220/50x0/a.jpg", "crop_10:20:100:200,enlarge,w_50"),
    ("110x20:10x220/a.jpg", "_"),  # thumbor ignores an empty crop
    # Filters.
    ("filters:format(webp)/a.jpg", "fmt_webp"),
    ("filters:format(JPG):quality(70)/a.jpg", "fmt_jpeg,q_70"),
    ("filters:blur(5)/a.jpg", "blur_5"),
    ("filters:blur(7,2.5)/a.jpg", "blur_2.5"),
    ("filters:blur(0)/a.jpg", "_"),
    ("filters:grayscale()/a.jpg", "gray_luma"),  # Pillow's grey, thumbor's
    ("filters:background_color(FFF)/a.png", "bg_ffffff"),
    ("filters:max_bytes(40000)/a.jpg", "mb_40000"),
    ("filters:strip_icc():strip_exif()/a.jpg", "_"),
    ("a.jpg", "_"),
    # rotate() turns the finished image counter-clockwise; a quarter turn swaps the box's sides,
    # the mirrors, and where an alignment points (make parity checks these on thumbor itself).
    ("300x200/filters:rotate(90)/a.jpg", "enlarge,h_300,rot_270,w_200"),
    ("300x200/filters:rotate(-270)/a.jpg", "enlarge,h_300,rot_270,w_200"),
    ("-300x200/top/filters:rotate(90)/a.jpg", "enlarge,flip,g_west,h_300,rot_270,w_200"),
    ("300x200/left/top/filters:rotate(270)/a.jpg", "enlarge,g_northeast,h_300,rot_90,w_200"),
    ("300x200/left/filters:rotate(180)/a.jpg", "enlarge,g_east,h_200,rot_180,w_300"),
    ("filters:rotate(45)/a.jpg", "_"),  # thumbor ignores other angles
    # focal(LxT:RxB): the region's centre in source pixels, the centre of the crop; several
    # are weighted by area (thumbor's centre of mass); they outrank alignment and smart.
    ("300x200/filters:focal(100x50:300x250)/a.jpg", "enlarge,g_fpx:200:150,h_200,w_300"),
    ("300x200/filters:focal(100x50:301x251)/a.jpg", "enlarge,g_fpx:200:150,h_200,w_300"),
    ("300x200/filters:focal(0x0:100x100):focal(300x0:400x300)/a.jpg",
     "enlarge,g_fpx:275:125,h_200,w_300"),
    ("300x200/left/smart/filters:focal(0x0:10x10)/a.jpg", "enlarge,g_fpx:5:5,h_200,w_300"),
    ("300x200/filters:focal(100x100:100x300)/a.jpg", "enlarge,h_200,w_300"),  # no area
    ("300x200/filters:focal(10x10:20x20):rotate(90)/a.jpg",
     "enlarge,g_fpx:15:15,h_300,rot_270,w_200"),  # a source point turns with the source
    ("fit-in/300x200/filters:focal(10x10:20x20)/a.jpg", "fit_inside,h_200,w_300"),  # no crop
    ("300x0/filters:focal(10x10:20x20)/a.jpg", "enlarge,w_300"),
    # With a manual crop, thumbor keeps the points inside it (in source pixels here too).
    ("10x10:500x500/300x200/filters:focal(100x100:200x200)/a.jpg",
     "crop_10:10:490:490,enlarge,g_fpx:150:150,h_200,w_300"),
    ("10x10:500x500/300x200/filters:focal(600x100:700x300)/a.jpg",
     "crop_10:10:490:490,enlarge,h_200,w_300"),
    ("10x10:500x500/300x200/right/filters:focal(600x100:700x300)/a.jpg",
     "crop_10:10:490:490,enlarge,g_east,h_200,w_300"),
    # brightness adds 255 * amount / 100 as bri does; contrast's squared factor becomes the
    # native contrast's (1 + 3c/100 above 1, 1 + c/100 below), a brightness before it scaled.
    ("filters:brightness(20)/a.jpg", "bri_20"),
    ("filters:brightness(-100)/a.jpg", "bri_-100"),
    ("filters:contrast(100)/a.jpg", "con_100"),
    ("filters:contrast(20)/a.jpg", "con_15"),
    ("filters:contrast(-50)/a.jpg", "con_-75"),
    ("filters:contrast(-100)/a.jpg", "con_-100"),
    ("filters:contrast(0)/a.jpg", "_"),
    ("filters:contrast(10):brightness(10)/a.jpg", "bri_10,con_7"),
    ("filters:brightness(10):contrast(20)/a.jpg", "bri_14,con_15"),
    # round_corner(a|b,r,g,b[,transparent]): circular corners filled with the colour, or
    # transparent (the native default where the output holds alpha).
    ("300x200/filters:round_corner(20,255,255,255)/a.jpg", "bg_ffffff,enlarge,h_200,r_20,w_300"),
    ("filters:round_corner(20|20,0,128,255)/a.png", "bg_0080ff,r_20"),
    ("filters:round_corner(8,0,0,0,1)/a.png", "r_8"),
    ("filters:round_corner(8,0,0,0,true)/a.png", "r_8"),
    ("filters:round_corner(8,0,0,0,0)/a.png", "bg_000000,r_8"),
    ("fit-in/300x200/filters:fill(ff0000):round_corner(20,255,0,0)/a.png",
     "bg_ff0000,extend,fit_contain,h_200,r_20,w_300"),
    # proportion(v) shrinks the finished image: the size times v (cut down), or the source's;
    # thumbor ignores v outside (0, 1] and a size it would take below a pixel.
    ("300x200/filters:proportion(0.5)/a.jpg", "enlarge,h_100,w_150"),
    ("fit-in/301x0/filters:proportion(0.5)/a.jpg", "w_150"),
    ("filters:proportion(0.25)/a.jpg", "zoom_0.25"),
    ("filters:proportion(1.5)/a.jpg", "_"),
    ("filters:proportion(-1)/a.jpg", "_"),
    ("3x3/filters:proportion(0.1)/a.jpg", "enlarge,h_3,w_3"),
    # stretch(): the box whatever the ratio, no crop; fit-in and one side ignore it.
    ("300x100/filters:stretch()/a.jpg", "enlarge,fit_fill,h_100,w_300"),
    ("-300x100/left/smart/filters:stretch():focal(1x1:9x9)/a.jpg",
     "enlarge,fit_fill,flop,h_100,w_300"),
    ("300x100/filters:stretch():no_upscale()/a.jpg", "fit_fill,h_100,w_300"),
    ("fit-in/300x100/filters:stretch()/a.jpg", "fit_inside,h_100,w_300"),
    ("300x0/filters:stretch()/a.jpg", "enlarge,w_300"),
    # equalize(): after grey, blur and padding, before brightness and contrast, as natively.
    ("300x200/filters:equalize()/a.jpg", "enlarge,equalize,h_200,w_300"),
    ("filters:grayscale():blur(2):equalize():brightness(10)/a.jpg",
     "blur_2,bri_10,equalize,gray_luma"),
    ("fit-in/30x20/filters:fill(ff0000):equalize()/a.png",
     "bg_ff0000,equalize,extend,fit_contain,h_20,w_30"),
    # rgb(r,g,b): 255 x v / 100 per band after brightness(); beyond 100 every value saturates;
    # before contrast() scaled by its factor, as brightness() is.
    ("filters:rgb(10,0,-5)/a.jpg", "rgb_10:0:-5"),
    ("filters:rgb(300,-300,0)/a.jpg", "rgb_100:-100:0"),
    ("filters:rgb(10,10,10)/a.jpg", "bri_10"),
    ("filters:brightness(10):rgb(20,0,5)/a.jpg", "bri_10,rgb_20:0:5"),
    ("filters:rgb(20,0,10):contrast(20)/a.jpg", "con_15,rgb_29:0:14"),
    ("filters:grayscale():rgb(0,0,30)/a.jpg", "gray_luma,rgb_0:0:30"),
    # sharpen(amount,radius,luminance_only): the same wavelet sharpen, natively.
    ("300x200/filters:sharpen(2,1.0,true)/a.jpg", "enlarge,h_200,w_300,wsharpen_2:1:luma"),
    ("filters:sharpen(1.5,0.5,false)/a.jpg", "wsharpen_1.5:0.5"),
    ("filters:sharpen(0,1,true)/a.jpg", "_"),
    ("fit-in/30x20/filters:fill(fff):sharpen(2,1,1):equalize()/a.jpg",
     "bg_ffffff,equalize,extend,fit_contain,h_20,w_30,wsharpen_2:1:luma"),
    ("filters:brightness(10):sharpen(2,1,false):contrast(5)/a.jpg",
     "bri_11,con_3,wsharpen_2:1"),
])
def test_urls_translate_to_the_native_variant(path: str, expected: str) -> None:
    assert native(path) == expected


@pytest.mark.parametrize(("path", "source"), [
    ("300x200/products/shoe.jpg", "products/shoe.jpg"),
    ("300x200/http://example.com/a.jpg", "http://example.com/a.jpg"),
    ("300x200/http%3A%2F%2Fexample.com%2Fa%20b.jpg%3Fv%3D2", "http://example.com/a b.jpg?v=2"),
    ("filters:format(png)/example.com/x/y.jpg", "example.com/x/y.jpg"),
])
def test_sources(path: str, source: str) -> None:
    assert translate(path).source == source


@pytest.mark.parametrize(("path", "words"), [
    ("meta/300x200/a.jpg", "meta"),
    ("debug/a.jpg", "debug"),
    ("trim/10x10:90x90/a.jpg", "manual crop"),
    ("trim:150/a.jpg", "trim_150"),
    ("origx200/a.jpg", "'orig'"),
    ("filters:watermark(a.png,10,10,50)/a.jpg", "not one of this server's watermarks"),
    ("filters:rotate(ninety)/a.jpg", "whole degrees"),
    ("filters:noise(10)/a.jpg", "'noise'"),
    ("filters:brightness(1.5)/a.jpg", "whole number"),
    ("filters:brightness(101)/a.jpg", "whole number"),
    ("filters:contrast(x)/a.jpg", "whole number"),
    ("filters:brightness(10):brightness(10)/a.jpg", "twice"),
    ("filters:brightness(10):contrast(-20)/a.jpg", "contrast() first"),
    ("filters:brightness(80):contrast(50)/a.jpg", "contrast() first"),
    ("filters:focal(10x10)/a.jpg", "LEFTxTOP:RIGHTxBOTTOM"),
    ("filters:round_corner(20|10,0,0,0)/a.png", "circular"),
    ("filters:round_corner(x,0,0,0)/a.png", "circular"),
    ("filters:round_corner(20,0,0,256)/a.png", "not a colour"),
    ("filters:round_corner(20,0,0)/a.png", "takes 4 or 5"),
    ("filters:round_corner(2000,0,0,0)/a.png", "r_2000"),
    ("fit-in/30x20/filters:fill(ff0000):round_corner(5,0,0,0)/a.png", "two background"),
    ("trim/300x200/filters:focal(1x1:5x5)/a.jpg", "focal()"),
    ("filters:format(tiff)/a.jpg", "'tiff'"),
    ("filters:fill(reddish)/a.jpg", "a hex colour or a CSS colour name"),
    ("filters:fill(median)/a.jpg", "hex"),
    ("fit-in/30x20/filters:fill(blur):round_corner(5,0,0,0)/a.png", "two background"),
    ("filters:quality()/a.jpg", "takes 1"),
    ("filters:grayscale(1)/a.jpg", "takes 0"),
    ("filters:quality(70)grayscale()/a.jpg", "separated"),
    ("filters:quality(101)/a.jpg", "q_101"),
    ("filters:blur(500)/a.jpg", "blur_500"),
    ("99999x10/a.jpg", "w_99999"),
    ("filters:watermark(http://x.example.com/w.png,0,0,0)/a.jpg",
     "not one of this server's watermarks"),
    ("filters:quality(70):x(/a.jpg", "could not be read"),
    ("filters:proportion(half)/a.jpg", "expected a number"),
    ("filters:equalize():grayscale()/a.jpg", "grayscale() stands on the other side"),
    ("filters:equalize():blur(3)/a.jpg", "blur() stands on the other side"),
    ("filters:brightness(5):equalize()/a.jpg", "equalize() stands on the other side"),
    ("fit-in/9x9/filters:equalize():fill(fff)/a.jpg", "fill() stands on the other side"),
    ("filters:equalize(1)/a.jpg", "takes 0"),
    ("filters:rgb(5,1)/a.jpg", "takes 3"),
    ("filters:rgb(a,1,2)/a.jpg", "three whole numbers"),
    ("filters:rgb(1.5,1,2)/a.jpg", "three whole numbers"),
    ("filters:rgb(1,1,1):rgb(1,1,1)/a.jpg", "twice"),
    ("filters:brightness(10):rgb(20,0,-5)/a.jpg", "both ways"),
    ("filters:rgb(20,0,-5):brightness(10)/a.jpg", "both ways"),
    ("filters:rgb(60,0,0):contrast(100)/a.jpg", "rgb() before this contrast()"),
    ("filters:rgb(6,0,0):contrast(-10)/a.jpg", "rgb() before this contrast()"),
    ("filters:rgb(6,0,0):equalize()/a.jpg", "equalize() stands on the other side"),
    ("filters:sharpen(2,1)/a.jpg", "takes 3"),
    ("filters:sharpen(2,1,maybe)/a.jpg", "not a boolean"),
    ("filters:sharpen(20,1,true)/a.jpg", "wsharpen_20:1:luma"),
    ("filters:sharpen(-2,1,true)/a.jpg", "wsharpen_-2:1:luma"),
    ("filters:sharpen(2,1,true):fill(fff)/a.jpg", "fill() stands on the other side"),
    ("filters:equalize():sharpen(2,1,true)/a.jpg", "sharpen() stands on the other side"),
    ("filters:sharpen(2,1,true):sharpen(2,1,true)/a.jpg", "twice"),
    ("filters:proportion(0.001)/a.jpg", "zoom_0.001"),
])
def test_what_has_no_native_equivalent_is_a_400_naming_it(path: str, words: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(translate(path).tokens)
    assert words in err.value.detail


def test_a_url_without_an_image_is_a_400() -> None:
    with pytest.raises(InvalidSource):
        translate("")


def test_thumbor_signature_matches_a_published_vector() -> None:
    # The key, path and signature of thumbor's client libraries' own signing test.
    path = "300x200/my.server.com/some/path/to/image.jpg"
    assert signing.sign_thumbor(path, "my-security-key") == "8ammJH8D-7tXy6kU3lTvoXlhu4o="


MARKS = {"logo.png": "logo"}


@pytest.mark.parametrize(("path", "expected"), [
    # x/y from the left/top edge, from the right/bottom when negative (`-0` flush), or centred;
    # alpha is transparency in percent, taken off each pixel's alpha (`subtract`); w_ratio the
    # width in percent of the image's.
    ("300x200/filters:watermark(logo.png,-10,-10,50)/a.jpg",
     "enlarge,h_200,w_300,wm_logo:southeast:0.5:0:10:subtract"),
    ("filters:watermark(logo.png,10,center,0)/a.jpg", "wm_logo:west:1:0:10:0"),
    ("filters:watermark(logo.png,center,5,0)/a.jpg", "wm_logo:north:1:0:0:5"),
    ("filters:watermark(logo.png,center,center,25,30)/a.jpg", "wm_logo:center:0.75:0.3:subtract"),
    ("filters:watermark(logo.png,-0,0,0,20,none)/a.jpg", "wm_logo:northeast:1:0.2"),
    ("filters:watermark(logo.png,0,-0,12.5):format(webp)/a.jpg",
     "fmt_webp,wm_logo:southwest:0.875:subtract"),
    ("filters:watermark(logo.png,0,0,0,0)/a.jpg", "wm_logo:northwest"),  # 0: its own size
    # h_ratio: the height's share; with w_ratio the mark fits inside both.
    ("filters:watermark(logo.png,-5,-5,0,none,20)/a.jpg", "wm_logo:southeast:1:0x0.2:5"),
    ("filters:watermark(logo.png,0,0,0,10,10)/a.jpg", "wm_logo:northwest:1:0.1x0.1"),
    # Matched by file name, wherever thumbor would have loaded it from.
    ("filters:watermark(https://cdn.example.com/wm/logo.png?v=2,-8,-8,0)/a.jpg",
     "wm_logo:southeast:1:0:8"),
    ("filters:watermark(logo.png,0,0,100)/a.jpg", "_"),  # wholly transparent: nothing
    ("filters:blur(2):watermark(logo.png,0,0,0)/a.jpg", "blur_2,wm_logo:northwest"),
    # repeat,repeat: as many copies as fit, spread from edge to edge.
    ("filters:watermark(logo.png,repeat,repeat,40,10)/a.jpg", "wm_logo:spread:0.6:0.1:subtract"),
    # repeat along one axis: a row (column) of copies, placed as one copy's y (x) places it.
    ("filters:watermark(logo.png,repeat,0,0)/a.jpg", "wm_logo:row-north"),
    ("filters:watermark(logo.png,repeat,-10,30)/a.jpg", "wm_logo:row-south:0.7:0:0:10:subtract"),
    ("filters:watermark(logo.png,repeat,center,0)/a.jpg", "wm_logo:row-center"),
    ("filters:watermark(logo.png,-5,repeat,0)/a.jpg", "wm_logo:column-east:1:0:5:0"),
    ("filters:watermark(logo.png,10p,repeat,0,20)/a.jpg", "wm_logo:column-west:1:0.2:0.1:0"),
    # Percentages of the image's side: shares as native margins.
    ("filters:watermark(logo.png,10p,-5p,0)/a.jpg", "wm_logo:southwest:1:0:0.1:0.05"),
    ("filters:watermark(logo.png,-25p,center,0)/a.jpg", "wm_logo:east:1:0:0.25:0"),
    ("filters:watermark(logo.png,0p,-12,0)/a.jpg", "wm_logo:southwest:1:0:0:12"),
])
def test_watermarks_translate_to_the_named_native_one(path: str, expected: str) -> None:
    assert serialize(parse(translate(path, MARKS).tokens).options) == expected


@pytest.mark.parametrize(("path", "words"), [
    ("filters:watermark(other.png,0,0,0)/a.jpg", "not one of this server's watermarks"),
    ("filters:watermark(logo.png,100p,0,0)/a.jpg", "below 100p"),
    ("filters:watermark(logo.png,10%,0,0)/a.jpg", "percentage below 100p"),
    ("filters:watermark(logo.png,0,0,0,10,x)/a.jpg", "h_ratio 'x'"),
    ("filters:watermark(logo.png,0,0,0,²)/a.jpg", "w_ratio '²'"),  # not a digit int() takes
    ("filters:round_corner(²,1,1,1)/a.jpg", "round_corner('²')"),
    ("filters:watermark(logo.png,0,0,101)/a.jpg", "0 to 100"),
    ("filters:watermark(logo.png,0,0)/a.jpg", "4 to 6"),
    ("filters:watermark(logo.png,0,0,0):blur(2)/a.jpg", "watermark() last"),
    ("filters:watermark(logo.png,0,0,0):rotate(90)/a.jpg", "watermark() last"),
    ("filters:watermark(logo.png,0,0,0):equalize()/a.jpg", "watermark() last"),
    ("filters:watermark(logo.png,0,0,0):rgb(1,2,3)/a.jpg", "watermark() last"),
    ("filters:watermark(logo.png,0,0,0):sharpen(1,1,true)/a.jpg", "watermark() last"),
    ("filters:watermark(logo.png,0,0,0):watermark(logo.png,1,1,0)/a.jpg", "twice"),
    ("filters:watermark(logo.png,-2000,0,0)/a.jpg", "wm_logo"),  # past the native margin
    ("filters:watermark(logo.png,0,0,0,101)/a.jpg", "wm_logo"),
])
def test_watermarks_without_a_native_equivalent_are_a_400(path: str, words: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(translate(path, MARKS).tokens)
    assert words in err.value.detail


IDENTITY = "[(0,0),(255,255)]"


@pytest.mark.parametrize(("path", "expected"), [
    (f"filters:curve([(0,0),(40,59),(255,255)],{IDENTITY},{IDENTITY},{IDENTITY})/a.jpg",
     "curve_0-0:40-59:255-255"),
    (f"filters:curve({IDENTITY},[(0,50),(255,254)],{IDENTITY},{IDENTITY})/a.jpg",
     "curve_0-0:255-255;0-50:255-254;0-0:255-255;0-0:255-255"),
    (f"filters:curve({IDENTITY},{IDENTITY},{IDENTITY},{IDENTITY})/a.jpg", "_"),
    # After the colour filters, before the corners, as the native order is.
    (f"filters:saturation(1.5):brightness(10):curve([(9,9)],{IDENTITY},{IDENTITY},{IDENTITY})"
     ":round_corner(4,0,0,0)/a.jpg", "bg_000000,bri_10,curve_9-9,r_4,saturate_1.5"),
])
def test_curve_translates_to_the_native_curve(path: str, expected: str) -> None:
    assert native(path) == expected


@pytest.mark.parametrize(("path", "expected"), [
    ("filters:colorize(10,20,30,FF0000)/a.jpg", "colorize_10:20:30:ff0000"),
    ("filters:colorize(0,0,0,ff0000)/a.jpg", "_"),
    (f"filters:rgb(5,0,0):colorize(40,40,40,00ff00):curve([(0,20),(255,235)],{IDENTITY},"
     f"{IDENTITY},{IDENTITY})/a.jpg", "colorize_40:40:40:00ff00,curve_0-20:255-235,rgb_5:0:0"),
])
def test_colorize_translates_to_the_native_colorize(path: str, expected: str) -> None:
    assert native(path) == expected


@pytest.mark.parametrize(("path", "words"), [
    (f"filters:curve([],{IDENTITY},{IDENTITY},{IDENTITY})/a.jpg", "each with at least one"),
    ("filters:curve()/a.jpg", "four lists"),
    ("filters:curve([(0,0)])/a.jpg", "could not be read"),
    (f"filters:curve([(0,300)],{IDENTITY},{IDENTITY},{IDENTITY})/a.jpg", "0..255"),
    (f"filters:curve([(9,0),(3,4)],{IDENTITY},{IDENTITY},{IDENTITY})/a.jpg", "X increasing"),
    (f"filters:curve([(9,9)],{IDENTITY},{IDENTITY},{IDENTITY}):brightness(5)/a.jpg",
     "brightness() stands on the other side"),
    (f"filters:round_corner(4,0,0,0):curve([(9,9)],{IDENTITY},{IDENTITY},{IDENTITY})/a.jpg",
     "before round_corner() only; curve() stands on the other side"),
    (f"filters:curve([(9,9)],{IDENTITY},{IDENTITY},{IDENTITY}):curve([(9,9)],{IDENTITY},"
     f"{IDENTITY},{IDENTITY})/a.jpg", "twice"),
    ("filters:colorize(10,20,30,red)/a.jpg", "RRGGBB"),
    ("filters:colorize(10,20,101,ff0000)/a.jpg", "0..100"),
    ("filters:colorize(10,20)/a.jpg", "takes 4"),
    (f"filters:curve([(9,9)],{IDENTITY},{IDENTITY},{IDENTITY}):colorize(1,1,1,ff0000)/a.jpg",
     "colorize() stands on the other side"),
])
def test_curves_without_a_native_equivalent_are_a_400(path: str, words: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(translate(path).tokens)
    assert words in err.value.detail
