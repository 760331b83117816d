"""imgproxy's URL dialect translated into native options: what each imgproxy option becomes, what
is refused with a 400 naming it, and the sources (plain, base64, local://)."""

from __future__ import annotations

import base64

import pytest

from origin.errors import InvalidOptions, InvalidSource
from origin.security import signing
from transforms.grammar import parse, serialize
from transforms.imgproxy import translate


def b64(url: str) -> str:
    return base64.urlsafe_b64encode(url.encode()).rstrip(b"=").decode()


def native(path: str) -> str:
    """The canonical native options an imgproxy path comes to."""
    return serialize(parse(translate(path).tokens).options)


@pytest.mark.parametrize(("path", "expected"), [
    # Resizing types: fit (imgproxy's default) keeps the whole image inside the box.
    ("/rs:fit:300:200/plain/a.jpg", "fit_inside,h_200,w_300"),
    ("/w:300/h:200/plain/a.jpg", "fit_inside,h_200,w_300"),
    ("/s:300:200/plain/a.jpg", "fit_inside,h_200,w_300"),
    ("/rs:fill:300:200/plain/a.jpg", "h_200,w_300"),  # cover, the native default for a box
    ("/rs:fill-down:300:200/plain/a.jpg", "h_200,w_300"),
    ("/rt:force/s:300:200/plain/a.jpg", "fit_fill,h_200,w_300"),
    ("/rs:fit:300:200:1:1/plain/a.jpg", "enlarge,fit_contain,h_200,w_300"),
    # extend pads out to the whole box even around a smaller image, as imgproxy does.
    ("/rs:fit:300:200/ex:1:so/plain/a.jpg", "extend,fit_contain,g_south,h_200,w_300"),
    # Width or height 0 is "from the aspect ratio": a one-sided resize.
    ("/rs:fill:300:0/plain/a.jpg", "w_300"),
    ("/rs:fit:0:120/plain/a.jpg", "h_120"),
    ("/rs:fit:0:0/plain/a.jpg", "_"),
    # Later options override earlier ones, as in imgproxy.
    ("/w:100/w:300/plain/a.jpg", "w_300"),
    ("/rs:fill:300:200/rt:fit/plain/a.jpg", "fit_inside,h_200,w_300"),
    # Gravities, smart and focal point.
    ("/rs:fill:300:200/g:noea/plain/a.jpg", "g_northeast,h_200,w_300"),
    ("/rs:fill:300:200/g:sm/plain/a.jpg", "g_attention,h_200,w_300"),
    ("/rs:fill:300:200/g:fp:0.25:0.75/plain/a.jpg", "g_fp:0.25:0.75,h_200,w_300"),
    ("/rs:fill:300:200/g:ce:0:0/plain/a.jpg", "h_200,w_300"),  # the default
    # The rest of the free options.
    ("/w:300/dpr:2/plain/a.jpg", "dpr_2,w_300"),
    # zoom multiplies the size asked for (rounded half up), before padding; alone, the source.
    ("/rs:fill:300:200/zoom:0.5/plain/a.jpg", "h_100,w_150"),
    ("/w:301/z:0.5:0.5/plain/a.jpg", "w_151"),
    ("/rs:fit:100:100/pd:10/z:2/plain/a.jpg", "fit_inside,h_220,pad_10,w_220"),
    ("/z:0.25/plain/a.jpg", "zoom_0.25"),
    ("/z:3/plain/a.jpg", "_"),              # no larger than the source without enlarge
    ("/z:3/el:1/plain/a.jpg", "enlarge,zoom_3"),
    ("/q:70/plain/a.jpg", "q_70"),
    ("/q:0/plain/a.jpg", "_"),
    ("/fq:webp:70:avif:45:jpg:80/plain/a.jpg", "fq_avif:45:jpeg:80:webp:70"),
    ("/mb:50000/plain/a.jpg", "mb_50000"),
    ("/bg:255:0:16/plain/a.jpg", "bg_ff0010"),
    ("/bg:F00/plain/a.jpg", "bg_ff0000"),
    ("/bg:00ff00/bg:/plain/a.jpg", "_"),
    ("/bl:2.5/sh:0.7/plain/a.jpg", "blur_2.5,sharpen_0.7"),
    # rt:auto: fill or fit by the source's orientation against the box's, decided natively.
    ("/rs:auto:300:200/plain/a.jpg", "fit_auto,h_200,w_300"),
    ("/rt:auto/w:300/h:200/g:no/plain/a.jpg", "fit_auto,g_north,h_200,w_300"),
    ("/rs:auto:300:0/plain/a.jpg", "w_300"),
    # min-width/min-height: the resize grows to them, then is cut to the requested sides.
    ("/mw:400/rs:fit:300:300/plain/a.jpg", "fit_inside,h_300,minw_400,w_300"),
    ("/min-height:300/rs:fill:300:200/g:no/plain/a.jpg", "g_north,h_200,minh_300,w_300"),
    ("/mh:0/w:300/plain/a.jpg", "w_300"),
    # imgproxy Pro's resizing_algorithm: libvips' kernel of the same name.
    ("/ra:nearest/w:30/plain/a.png", "kernel_nearest,w_30"),
    ("/resizing_algorithm:cubic/rs:fit:30:20/plain/a.png", "fit_inside,h_20,kernel_cubic,w_30"),
    ("/ra:lanczos3/w:30/plain/a.png", "w_30"),
    ("/bl:0/plain/a.jpg", "_"),
    ("/pix:8/plain/a.jpg", "px_8"),
    ("/rot:90/plain/a.jpg", "rot_90"),
    ("/rot:450/plain/a.jpg", "rot_90"),
    ("/rot:360/plain/a.jpg", "_"),
    ("/t:10/plain/a.jpg", "trim_10"),
    ("/t:10:FFFFFF/plain/a.jpg", "trim_10:ffffff"),  # the colour to cut, not the top-left's
    ("/t:10:f00:0:0/plain/a.jpg", "trim_10:ff0000"),
    ("/t:0:ffffff/plain/a.jpg", "_"),
    ("/sm:0/plain/a.jpg", "strip_0"),
    ("/sm:1/plain/a.jpg", "_"),
    ("/kcr:1/plain/a.jpg", "copyright"),  # the EXIF credit kept while stripping
    ("/kcr:1/sm:0/plain/a.jpg", "strip_0"),  # nothing stripped: the credit stays anyway
    ("/kcr:0/plain/a.jpg", "_"),
    ("/scp:1/plain/a.jpg", "_"),  # converted to sRGB and dropped, as always here
    ("/ar:1/plain/a.jpg", "_"),
    ("/f:webp/plain/a.jpg", "fmt_webp"),
    ("/ext:jpg/plain/a.jpg", "fmt_jpeg"),
    ("/pg:2/plain/a.tiff", "page_2"),
    ("/da:1/plain/a.gif", "anim_0"),
    ("/cb:v2/w:300/plain/a.jpg", "w_300"),  # a new URL for the caches in front, same variant
    ("/el:1/w:3000/plain/a.jpg", "enlarge,w_3000"),
    # crop: an area of the source placed by its own gravity, else the main one; sides in px
    # (the fraction of a px cut off), as a share of the source's side below 1, 0 for all of it.
    ("/crop:300:200/plain/a.jpg", "crop_300:200"),
    ("/c:300:200:nowe/rs:fill:100:100/plain/a.jpg", "crop_300:200:northwest,h_100,w_100"),
    ("/crop:300/plain/a.jpg", "crop_300:0"),
    ("/crop:100.7:0.25:soea/plain/a.jpg", "crop_100:0.25:southeast"),
    ("/crop:.5:1e3/plain/a.jpg", "crop_0.5:1000"),
    ("/crop:0.3333/plain/a.jpg", "crop_0.333:0"),
    ("/g:fp:0.2:0.3/crop:0.5/plain/a.jpg", "crop_0.5:0:fp:0.2:0.3"),
    ("/crop:10:10:so/g:no/plain/a.jpg", "crop_10:10:south"),
    ("/crop:10:10/g:no/plain/a.jpg", "crop_10:10:north"),  # the main gravity, wherever it is
    ("/crop:0:0/plain/a.jpg", "_"),
])
def test_options_translate_to_the_native_variant(path: str, expected: str) -> None:
    assert native(path) == expected


def test_padding_grows_the_box_because_imgproxy_pads_around_the_resized_image() -> None:
    # imgproxy: a 100x200 box with pd:10 comes out 120x220; natively `pad` comes out of the box.
    assert native("/rs:fill:100:200/pd:10/plain/a.jpg") == "h_220,pad_10,w_120"
    assert native("/rs:fit:100:200/pd:10:20/plain/a.jpg") == "fit_inside,h_220,pad_10:20,w_140"
    assert native("/w:100/pd:1:2:3:4/plain/a.jpg") == "pad_1:2:3:4,w_106"
    assert native("/pd:5/plain/a.jpg") == "pad_5"


def test_the_extension_sets_the_format_and_wins_over_the_option() -> None:
    assert native("/w:10/plain/a.jpg@webp") == "fmt_webp,w_10"
    assert native("/f:png/plain/a.jpg@avif") == "fmt_avif"
    assert native(f"/w:10/{b64('a.jpg')}.png") == "fmt_png,w_10"


def test_attachment_and_filename_become_dl() -> None:
    assert translate("/att:1/plain/a.jpg").tokens == "dl"
    assert parse(translate("/att:1/fn:shoe-red/plain/a.jpg").tokens).download == "shoe-red"
    encoded = b64("gift.jpg")
    assert parse(translate(f"/fn:{encoded}:1/att:t/plain/a.jpg").tokens).download == "gift.jpg"
    # A file name without `att` names an inline answer, which sends no header here.
    assert translate("/fn:shoe/plain/a.jpg").tokens == "_"


def test_presets_and_expiry() -> None:
    assert translate("/pr:thumb/plain/a.jpg").tokens == "p_thumb"
    assert translate("/exp:1900000000/w:5/plain/a.jpg").expires == 1900000000


@pytest.mark.parametrize(("path", "source"), [
    ("/w:10/plain/products/shoe.jpg", "products/shoe.jpg"),
    ("/w:10/plain/local:///products/shoe.jpg", "products/shoe.jpg"),
    ("/w:10/plain/http://example.com/a%20b.jpg%3Fv%3D1@png", "http://example.com/a b.jpg?v=1"),
    ("/w:10/plain/https%3A%2F%2Fexample.com%2Fx%40y.jpg", "https://example.com/x@y.jpg"),
    (f"/w:10/{b64('https://example.com/pic.jpg?x=1')}", "https://example.com/pic.jpg?x=1"),
    # The encoded source may be split by slashes anywhere.
    ("/w:10/aHR0cDovL2ltZy5l/eGFtcGxlLmNvbS9w/cmV0dHkvaW1hZ2Uu/anBn.png",
     "http://img.example.com/pretty/image.jpg"),
    (f"/{b64('local:///a/b.png')}", "a/b.png"),
])
def test_sources(path: str, source: str) -> None:
    assert translate(path).source == source


@pytest.mark.parametrize(("path", "words"), [
    ("/crop:100:100/rot:90/plain/a.jpg", "rotate or trim"),
    ("/t:10/crop:100:100/plain/a.jpg", "rotate or trim"),
    ("/crop:100:100:no:5:x/plain/a.jpg", "'x' is not a number"),
    ("/crop:0.0001/plain/a.jpg", "share"),
    ("/crop:0.9999/plain/a.jpg", "share"),
    ("/crop:inf/plain/a.jpg", "out of range"),
    ("/crop:-5/plain/a.jpg", "out of range"),
    ("/crop:1e300/plain/a.jpg", "out of range"),
    ("/crop:10:10:fp:0.5/plain/a.jpg", "crop_10:10:fp:0.5"),
    ("/wm:0.5/plain/a.jpg", "IMGORIGIN_IMGPROXY_WATERMARK"),
    ("/rs:auto:100:100:0:1/plain/a.jpg", "'auto' with extend"),
    ("/rs:weird:100:100/plain/a.jpg", "'weird'"),
    ("/rt:force/w:100/plain/a.jpg", "'force'"),
    ("/g:no:10:0:1/rs:fill:10:10/plain/a.jpg", "too many arguments"),
    ("/g:no:inf:0/rs:fill:10:10/plain/a.jpg", "out of range"),
    ("/g:no:200000:0/rs:fill:10:10/plain/a.jpg", "g_north:200000:0"),
    ("/g:obj:cat/plain/a.jpg", "'obj:cat'"),
    ("/ar:0/plain/a.jpg", "auto_rotate"),
    ("/scp:0/plain/a.jpg", "strip_color_profile:0"),
    ("/rot:45/plain/a.jpg", "90"),
    ("/ra:mitchell/plain/a.jpg", "'mitchell' is not one of"),
    ("/rs:fit:300:300:0:1/mw:400/plain/a.jpg", "not fit_contain"),
    ("/t:10:ffffff:1/plain/a.jpg", "equal-sides"),
    ("/t:10::0:1/plain/a.jpg", "equal-sides"),
    ("/t:10:red/plain/a.jpg", "hex colour"),
    ("/t:10:ffffff80/plain/a.jpg", "hex colour"),
    ("/t:10:a:b:c:d/plain/a.jpg", "at most"),
    ("/pr:a:b/plain/a.jpg", "one preset"),
    ("/w:abc/plain/a.jpg", "'abc'"),
    ("/w:1_000/plain/a.jpg", "'1_000'"),
    ("/w:\u0661\u0662/plain/a.jpg", "not an integer"),
    ("/w:-5/plain/a.jpg", "below"),
    ("/el:maybe/plain/a.jpg", "boolean"),
    ("/bg:1:2/plain/a.jpg", "R:G:B"),
    ("/bg:300:0:0/plain/a.jpg", "0..255"),
    ("/fq:webp/plain/a.jpg", "pairs"),
    ("/f:tiff/plain/a.jpg", "'tiff'"),
    ("/w:10/plain/a.jpg@bmp", "'bmp'"),
    ("/rs:fit:1:2:3:4:5:6/plain/a.jpg", "at most"),
    ("/rs:fit:300:200/ex:1:so/g:no/plain/a.jpg", "differ"),
    ("/z:0.5:2/plain/a.jpg", "two different factors"),
    ("/z:0/plain/a.jpg", "out of range"),
    ("/z:inf/w:10/plain/a.jpg", "out of range"),
    ("/z:x/plain/a.jpg", "not a number"),
    ("/z:1:1:1/plain/a.jpg", "at most 2"),
    ("/w:1/z:0.1/plain/a.jpg", "size 0"),
    ("/w:8000/z:2/plain/a.jpg", "w_16000"),
])
def test_what_has_no_native_equivalent_is_a_400_naming_it(path: str, words: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(translate(path).tokens)
    assert words in err.value.detail


@pytest.mark.parametrize("path", [
    "/w:10/plain/", "/w:10/plain/@png", "/w:10", "/w:10/enc/abcdef", "/w:10/!!!notbase64",
    "/w:10/" + base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("="),
])
def test_a_missing_or_unreadable_source_is_a_400(path: str) -> None:
    with pytest.raises(InvalidSource):
        translate(path)


def test_out_of_range_values_meet_the_native_grammar() -> None:
    for path, token in (("/bl:1000/plain/a.jpg", "blur_1000"), ("/q:101/plain/a.jpg", "q_101"),
                        ("/dpr:9/w:5/plain/a.jpg", "dpr_9"), ("/mb:5/plain/a.jpg", "mb_5")):
        with pytest.raises(InvalidOptions) as err:
            parse(translate(path).tokens)
        assert token in err.value.detail


def test_imgproxy_signature_matches_a_published_vector() -> None:
    # The key, salt and result of imgproxy's own signing example (also in its client libraries).
    key = "943b421c9eb07c830af81030552c86009268de4e532ba2ee2eab8247c6da0881"
    salt = "520f986b998545b4785e0defbc4f3c1203f22de2374a3d53cb7a7fe9fea309c5"
    path = "/fill/300/300/no/1/aHR0cDovL2ltZy5leGFtcGxlLmNvbS9wcmV0dHkvaW1hZ2UuanBn.png"
    assert signing.sign_imgproxy(path, key, salt) == "_PQ4ytCQMMp-1w1m_vP6g8Qb-Q7yF9mwghf6PddqxLw"
    # IMGPROXY_SIGNATURE_SIZE keeps the first bytes of the digest.
    assert signing.sign_imgproxy(path, key, salt, size=8) == "_PQ4ytCQMMo"


@pytest.mark.parametrize(("path", "expected"), [
    # wm:OPACITY:POSITION:X:Y:SCALE over the server's watermark for imgproxy URLs: the offsets
    # as margins from the edges the position names, centre by default (imgproxy's); the scale
    # a share of the output's width and of its height, the mark fitting inside both.
    ("/wm:0.5:soea:10:20/plain/a.jpg", "wm_logo:southeast:0.5:0:10:20"),
    ("/wm:1/plain/a.jpg", "wm_logo:center"),
    ("/watermark:0.7:no:0:12:0.25/plain/a.jpg", "wm_logo:north:0.7:0.25x0.25:0:12"),
    ("/rs:fill:300:200/wm:0.8:we:16/plain/a.jpg", "h_200,w_300,wm_logo:west:0.8:0:16:0"),
    ("/wm:0:soea/plain/a.jpg", "_"),  # opacity 0: no watermark, as in imgproxy
    # `re`: copies over the whole output, the offsets the gaps between them.
    ("/wm:0.3:re/plain/a.jpg", "wm_logo:tile:0.3"),
    ("/wm:1:re:10:6:0.2/plain/a.jpg", "wm_logo:tile:1:0.2x0.2:10:6"),
    ("/wm:1:re:8/plain/a.jpg", "wm_logo:tile:1:0:8:0"),
    ("/dpr:2/w:100/wm:1:soea:4:4:0.3/plain/a.jpg", "dpr_2,w_100,wm_logo:southeast:1:0.3x0.3:4"),
])
def test_the_watermark_translates_to_the_configured_one(path: str, expected: str) -> None:
    assert serialize(parse(translate(path, "logo").tokens).options) == expected


@pytest.mark.parametrize(("path", "mark", "words"), [
    ("/wm:1/plain/a.jpg", "", "IMGORIGIN_IMGPROXY_WATERMARK"),
    ("/wm:1:sm/plain/a.jpg", "logo", "'sm'"),
    ("/wm:1:ce:5/plain/a.jpg", "logo", "centred axis"),
    ("/wm:1:no:5/plain/a.jpg", "logo", "centred axis"),
    ("/wm:1:soea:-5/plain/a.jpg", "logo", "below 0"),
    ("/wm:1:re:-5/plain/a.jpg", "logo", "below 0"),
    ("/wm:1:nowe:0.5/plain/a.jpg", "logo", "not an integer"),  # a share of the size
    ("/dpr:2/w:100/wm:1:soea/plain/a.jpg", "logo", "dpr"),
    ("/wm:1.5/plain/a.jpg", "logo", "wm_logo"),
])
def test_watermarks_without_a_native_equivalent_are_a_400(path: str, mark: str,
                                                          words: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(translate(path, mark).tokens)
    assert words in err.value.detail
