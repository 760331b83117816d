"""imgix's URL dialect (Rendering API query parameters) translated into native options: imgix's
defaults (`fit=clip` enlarges, `q` 75), its fit modes, crop modes, colours written alpha first,
aliases and base64 values, the signature's covered query, and what is refused."""

from __future__ import annotations

import pytest

from origin.errors import InvalidOptions, InvalidSource
from transforms.grammar import parse, serialize
from transforms.imgix import signature_of, translate

MARKS = {"logo.png": "logo"}


def native(rest: str) -> str:
    segment = serialize(parse(translate(rest, MARKS).tokens, watermarks={"logo"}).options)
    # The server drops its default format (IMGORIGIN_DEFAULT_FORMAT=original) from the key.
    return ",".join(t for t in segment.split(",") if t != "fmt_original") or "_"


@pytest.mark.parametrize(("rest", "expected"), [
    # No parameters: the source's own format at imgix's default quality.
    ("a.jpg", "q_75"),
    ("a.jpg?", "q_75"),
    # fit=clip (the default) grows a small image to the box; max never does.
    ("a.jpg?w=400", "enlarge,q_75,w_400"),
    ("a.jpg?width=400&height=300", "enlarge,fit_inside,h_300,q_75,w_400"),
    ("a.jpg?w=400&h=300&fit=max", "fit_inside,h_300,q_75,w_400"),
    ("a.jpg?w=400.0", "enlarge,q_75,w_400"),
    # A share of the source below 1, for one side or both alike.
    ("a.jpg?w=0.5", "q_75,zoom_0.5"),
    ("a.jpg?w=0.25&h=0.25", "q_75,zoom_0.25"),
    ("a.jpg?w=0.50&h=0.5", "q_75,zoom_0.5"),  # one share, however it is written
    # fit=crop fills the box (enlarging), fit=min never outgrows the source.
    ("a.jpg?w=400&h=300&fit=crop", "enlarge,h_300,q_75,w_400"),
    ("a.jpg?w=400&h=300&fit=min", "h_300,q_75,w_400"),
    ("a.jpg?w=400&fit=crop&ar=16:9", "enlarge,h_225,q_75,w_400"),
    ("a.jpg?w=400&h=300&fit=crop&ar=16:9", "enlarge,h_300,q_75,w_400"),  # ar: one side only
    ("a.jpg?w=400&ar=16:9", "enlarge,q_75,w_400"),  # ar only with crop and fill
    # crop modes as gravities.
    ("a.jpg?w=400&h=300&fit=crop&crop=top,left", "enlarge,g_northwest,h_300,q_75,w_400"),
    ("a.jpg?w=400&h=300&fit=crop&crop=bottom", "enlarge,g_south,h_300,q_75,w_400"),
    ("a.jpg?w=400&h=300&fit=crop&crop=faces,entropy", "enlarge,g_faces,h_300,q_75,w_400"),
    ("a.jpg?w=400&h=300&fit=crop&crop=entropy", "enlarge,g_entropy,h_300,q_75,w_400"),
    ("a.jpg?w=400&h=300&fit=crop&crop=edges", "enlarge,g_attention,h_300,q_75,w_400"),
    ("a.jpg?w=400&h=300&fit=crop&crop=focalpoint&fp-x=0.25&fp-y=0.75",
     "enlarge,g_fp:0.25:0.75,h_300,q_75,w_400"),
    ("a.jpg?w=400&h=300&fit=crop&crop=focalpoint", "enlarge,g_fp:0.5:0.5,h_300,q_75,w_400"),
    # crop moves nothing outside a cropping fit.
    ("a.jpg?w=400&h=300&crop=top", "enlarge,fit_inside,h_300,q_75,w_400"),
    # fill pads to the box: transparent white by default (imgix's 0FFF), colours alpha first.
    ("a.png?w=300&h=200&fit=fill", "bg_ffffff00,enlarge,fit_contain,h_200,q_75,w_300"),
    ("a.png?w=300&h=200&fit=fill&fill-color=f00", "bg_ff0000,enlarge,fit_contain,h_200,q_75,"
                                                   "w_300"),
    ("a.png?w=300&h=200&fit=fill&fill-color=80ff0000",
     "bg_ff000080,enlarge,fit_contain,h_200,q_75,w_300"),
    ("a.png?w=300&h=200&fit=fill&fillcolor=8f00", "bg_ff000088,enlarge,fit_contain,h_200,q_75,"
                                                   "w_300"),
    ("a.png?w=300&h=200&fit=fill&fill=blur", "bg_blur,enlarge,fit_contain,h_200,q_75,w_300"),
    ("a.png?w=300&h=200&fit=fillmax&fill-color=ffffff",
     "bg_ffffff,extend,fit_contain,h_200,q_75,w_300"),
    ("a.jpg?w=300&h=200&fit=scale", "enlarge,fit_fill,h_200,q_75,w_300"),
    # bg fills transparency and padding with an opaque colour: the native flatten.
    ("a.png?bg=fff", "bg_ffffff,flatten,q_75"),
    ("a.png?bg=ff336699", "bg_336699,flatten,q_75"),
    ("a.png?w=300&h=200&fit=fill&bg=00ff00", "bg_00ff00,enlarge,fit_contain,flatten,h_200,"
                                              "q_75,w_300"),
    ("a.png?w=300&h=200&fit=fill&bg=00ff00&fill-color=0f0",
     "bg_00ff00,enlarge,fit_contain,flatten,h_200,q_75,w_300"),
    ("a.jpg?w=300&h=300&fit=facearea&facepad=2", "enlarge,facepad_2,g_faces,h_300,q_75,w_300"),
    ("a.jpg?w=300&h=300&fit=facearea", "enlarge,facepad_1,g_faces,h_300,q_75,w_300"),
    # Padding inside the box, per side too.
    ("a.jpg?w=300&h=300&fit=max&pad=10", "fit_inside,h_300,pad_10,q_75,w_300"),
    ("a.jpg?w=300&pad-left=20&pad=5", "enlarge,pad_5:5:5:20,q_75,w_300"),
    ("a.jpg?w=300&pad=0", "enlarge,q_75,w_300"),
    ("a.jpg?w=300&dpr=2", "dpr_2,enlarge,q_75,w_300"),
    # Up to imgix's 5 (its SDKs' srcsets list 5x): past the native 4, output pixels.
    ("a.jpg?w=90&dpr=5", "enlarge,q_75,w_450"),
    ("a.jpg?w=101&h=50&fit=crop&dpr=4.5", "enlarge,h_225,q_75,w_455"),
    ("a.jpg?w=4000&h=1000&dpr=5", "enlarge,fit_inside,h_2048,q_75,w_8192"),  # imgix's cap
    ("a.jpg?dpr=5", "q_75"),  # nothing sized: nothing to multiply
    # Output: auto=format negotiates, compress lowers the default quality; fm wins otherwise.
    ("a.jpg?auto=format", "fmt_auto,q_75"),
    ("a.jpg?auto=format,compress", "fmt_auto,q_45"),
    ("a.jpg?auto=compress&q=60", "q_60"),
    ("a.jpg?auto=format&fm=png", "fmt_auto,q_75"),
    ("a.jpg?fm=webp&q=80", "fmt_webp,q_80"),
    ("a.jpg?fm=pjpg", "fmt_jpeg,progressive,q_75"),
    ("a.jpg?fm=png", "fmt_png"),  # no quality for a lossless format
    ("a.jpg?fm=avif&lossless=1", "fmt_avif,lossless,q_75"),
    ("a.jpg?fm=json", "fmt_json"),
    ("a.jpg?fm=blurhash&w=32", "enlarge,fmt_blurhash,w_32"),
    ("a.jpg?q=0", "q_1"),
    ("a.jpg?dl=shoe.jpg", "q_75"),  # a download: not part of the variant
    ("a.jpg?cs=srgb&cs64=", None),
    # Adjustments.
    ("a.jpg?bri=10&con=-20&sat=-100", "bri_10,con_-20,q_75,sat_-100"),
    ("a.jpg?bri=0", "q_75"),
    ("a.jpg?hue=90", "modulate_1:1:90,q_75"),
    ("a.jpg?mono=336699", "q_75,tint_336699"),
    # duotone: grey levels from the shadows' colour to the highlights', a line per band.
    ("a.jpg?duotone=000080,ffd700",
     "curve_0-0:255-255;0-0:255-255;0-0:255-215;0-128:255-0,gray,q_75"),
    ("a.jpg?duotone=navy,gold&duotone-alpha=100",
     "curve_0-0:255-255;0-0:255-255;0-0:255-215;0-128:255-0,gray,q_75"),
    ("a.jpg?duotone=000,fff", "gray,q_75"),
    ("a.jpg?invert=true", "neg,q_75"),
    ("a.jpg?inv=1", "neg,q_75"),
    ("a.jpg?blur=50", "blur_5,q_75"),
    ("a.jpg?blur=2000", "blur_100,q_75"),
    ("a.jpg?blur=1", "blur_0.3,q_75"),
    ("a.jpg?px=8", "px_8,q_75"),
    # Sharpening: one unsharp mask, `sharp` at a fine radius, `usm` at imgix's 2.5 or usmrad.
    ("a.jpg?sharp=20", "q_75,usm_20:1"),
    ("a.jpg?sharp=0", "q_75"),
    ("a.jpg?usm=60", "q_75,usm_60:2.5"),
    ("a.jpg?usm=-30&usmrad=8", "q_75,usm_-30:8"),
    ("a.jpg?usm=30&usmrad=500", "q_75,usm_30:100"),  # the native range's widest
    ("a.jpg?usm=30&usmrad=0", "q_75,usm_30:0.3"),
    ("a.jpg?usmrad=8", "q_75"),  # a radius alone draws nothing, as in imgix
    # Masks: the ellipse, rounded corners (20 % of the shorter side unless corner-radius
    # says), the cut-off in mask-bg, else transparent (white where the format has no alpha).
    ("a.jpg?mask=ellipse", "q_75,r_max"),
    ("a.jpg?mask=corners", "q_75,r_0.2"),
    ("a.jpg?mask=corners&corner-radius=0", "q_75,r_0.2"),  # 0 or less: imgix's default
    ("a.jpg?mask=corners&corner-radius=-5", "q_75,r_0.2"),
    ("a.jpg?mask=corners&corner-radius=24", "q_75,r_24"),
    ("a.jpg?mask=corners&corner-radius=0.1", "q_75,r_0.1"),
    ("a.jpg?mask=corners&corner-radius=0.9", "q_75,r_0.5"),  # at most half the side
    ("a.jpg?mask=corners&corner-radius=10,0,5,-1", "q_75,r_10:0:5"),
    ("a.jpg?mask=corners&corner-radius=10%7C10%7C0%7C0", "q_75,r_10:10:0:0"),  # the top only
    ("a.jpg?corner-radius=24", "q_75"),  # no effect without mask=corners, as in imgix
    # min-w/min-h grow a fit=crop resize (the excess cut where crop says); ignored otherwise.
    ("a.jpg?fit=crop&h=200&min-w=300", "enlarge,h_200,minw_300,q_75"),
    ("a.jpg?fit=crop&h=200&min-width=300&crop=top", "enlarge,g_north,h_200,minw_300,q_75"),
    ("a.jpg?fit=crop&w=300&h=200&min-h=400", "enlarge,h_200,minh_400,q_75,w_300"),
    ("a.jpg?h=200&min-w=300", "enlarge,h_200,q_75"),
    ("a.jpg?fit=crop&ar=16:9&min-w=30", None),  # the native grammar: ar alone makes no resize
    ("a.jpg?mask=ellipse&mask-bg=f00", "bg_ff0000,q_75,r_max"),
    # An image mask: the server's watermark image of that file name.
    ("a.jpg?mask=https%3A%2F%2Fassets.example.com%2Fmasks%2Flogo.png", "mask_logo,q_75"),
    ("a.jpg?mask64=aHR0cHM6Ly9hLmV4YW1wbGUuY29tL2xvZ28ucG5n&mask-bg=0f0",
     "bg_00ff00,mask_logo,q_75"),
    ("a.jpg?mask=ellipse&mask-bg=80ff0000", "bg_ff000080,q_75,r_max"),
    ("a.jpg?mask=ellipse&bg=f00", "bg_ff0000,flatten,q_75,r_max"),
    # CSS colour keywords, as imgix takes them; a hex spelling wins where both read ("add").
    ("a.jpg?mask=ellipse&bg=orange", "bg_ffa500,flatten,q_75,r_max"),
    ("a.jpg?mask=ellipse&mask-bg=DarkSlateGray", "bg_2f4f4f,q_75,r_max"),
    ("a.jpg?mask=ellipse&mask-bg=add", "bg_aadddd,q_75,r_max"),
    ("a.jpg?mask=ellipse&bg=f00&mask-bg=ff0000", "bg_ff0000,flatten,q_75,r_max"),
    ("a.jpg?mask=ellipse&w=80&h=80&fit=fill",
     "bg_ffffff00,enlarge,fit_contain,h_80,q_75,r_max,w_80"),
    ("a.jpg?mask=ellipse&w=80&h=80&fit=fill&fill-color=0f0&mask-bg=0f0",
     "bg_00ff00,enlarge,fit_contain,h_80,q_75,r_max,w_80"),
    ("a.jpg?mask=corners&w=80&dpr=5", "enlarge,q_75,r_0.2,w_400"),  # a share scales anyway
    ("a.jpg?mask=corners&corner-radius=5000", None),  # the native grammar's 1000 px
    ("a.jpg?px=1", "q_75"),
    # imgix turns counter-clockwise.
    ("a.jpg?rot=90", "q_75,rot_270"),
    ("a.jpg?rot=270", "q_75,rot_90"),
    ("a.jpg?flip=h", "flop,q_75"),
    ("a.jpg?flip=hv", "flip,flop,q_75"),
    ("a.jpg?trim=auto", "q_75,trim_10"),
    ("a.jpg?trim=color&trim-color=ffffff&trim-tol=20", "q_75,trim_20:ffffff"),
    ("a.jpg?rect=10,20,300,200&w=100", "crop_10:20:300:200,enlarge,q_75,w_100"),
    # What changes nothing: the SDKs' tag, the signature, client hints, the edges' classes,
    # and names imgix does not know either (cache-busters, tracking tags; names are
    # case-sensitive, as in imgix).
    ("a.jpg?w=100&ixlib=js-3.8.0&s=0123&ch=Width,DPR&imgorigin-accept=avif",
     "enlarge,q_75,w_100"),
    ("a.jpg?w=100&v=2&utm_source=mail&W=300", "enlarge,q_75,w_100"),
    # txt-width: the lines wrap in a box that wide, aligned as txt-align says.
    ("a.jpg?txt=Hi&txt-width=120&txt-align=left,top",
     "q_75,text_SGk:northwest:12:000000:10:10::120"),
    # Base64 values (a `64` suffix) and a percent-encoded comma.
    ("a.jpg?auto=format%2Ccompress", "fmt_auto,q_45"),
    ("a.jpg?fm64=d2VicA", "fmt_webp,q_75"),
])
def test_parameters_translate_to_the_native_variant(rest: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(InvalidOptions):
            native(rest)
        return
    assert native(rest) == expected


def test_text_and_watermark() -> None:
    tokens = translate("a.jpg?txt=Hi&txt-size=32&txt-color=80ff0000&txt-align=top,center"
                       "&txt-font=sans-serif,bold&mark=https://cdn.example.com/x/logo.png"
                       "&mark-alpha=50&mark-align=top,left&mark-pad=8", MARKS).tokens
    assert "wm_logo:northwest:0.5:0:8:8" in tokens
    # Hi, at the top centre, 32 px, red at half alpha (ARGB -> RGBA), 10 px down, bold.
    assert "text_SGk:north:32:ff000080:10:10:bold" in tokens
    # imgix's text defaults: bottom right, 12 px, black, 10 px off the edges.
    assert "text_SGk:southeast:12:000000:10:10" in translate("a.jpg?txt=Hi").tokens
    assert "text_SGk:" in translate("a.jpg?txt64=SGk").tokens


@pytest.mark.parametrize(("rest", "source"), [
    ("products/shoe.jpg?w=10", "products/shoe.jpg"),
    ("products/a%20b.jpg", "products/a b.jpg"),
    ("https%3A%2F%2Fimages.example.com%2Fa.jpg?w=10", "https://images.example.com/a.jpg"),
])
def test_sources(rest: str, source: str) -> None:
    assert translate(rest).source == source


def test_expires_is_read() -> None:
    assert translate("a.jpg?w=10&expires=1900000000").expires == 1900000000
    with pytest.raises(InvalidOptions, match="unix seconds"):
        translate("a.jpg?expires=soon")


@pytest.mark.parametrize(("rest", "words"), [
    ("a.jpg?fit=clamp", "fit=clamp"),
    ("a.jpg?w=400&h=300&fit=crop&crop=middle", "crop=middle"),
    ("a.jpg?w=400&h=300&fit=crop&crop=focalpoint&fp-z=2", "fp-z"),
    ("a.jpg?rot=45", "multiples of 90"),
    ("a.jpg?fm=jp2", "fm=jp2"),
    ("a.jpg?fm=png8", "fm=png8"),
    ("a.jpg?auto=redeye", "auto=redeye"),
    # No native step is imgix's automatic enhancement.
    ("a.jpg?auto=enhance", "auto=enhance"),
    ("a.jpg?sharp=20&usm=10", "sharp with usm"),
    ("a.jpg?mask=https%3A%2F%2Fa.example.com%2Fm.png", "IMGORIGIN_WATERMARKS"),
    ("a.jpg?mask=poly6", "IMGORIGIN_WATERMARKS"),
    ("a.jpg?mask-bg=fff", "mask-bg goes with mask"),
    ("a.jpg?duotone=000080,ffd700&duotone-alpha=50", "duotone-alpha below 100"),
    ("a.jpg?duotone=000080", "two colours"),
    ("a.jpg?duotone-alpha=20", "goes with duotone"),
    ("a.jpg?txt-width=20", "goes with txt"),
    ("a.jpg?duotone=000080,ffd700&mono=fff", "duotone with mono"),
    ("a.jpg?fit=crop&h=20&min-w=0", "min-w=0"),
    ("a.jpg?fit=crop&h=20&min-w=30&dpr=5", "dpr above 4 with min-w"),
    ("a.jpg?mask=ellipse&bg=f00&mask-bg=0f0", "one colour fills them all"),
    ("a.jpg?mask=ellipse&w=80&h=80&fit=fill&fill=blur&mask-bg=0f0", "one colour"),
    ("a.jpg?mask=ellipse&w=80&h=80&fit=fill&fill-color=0f0", "mask-bg of the same colour"),
    ("a.jpg?mask=corners&corner-radius=1,2", "one radius or four"),
    ("a.jpg?mask=corners&corner-radius=2.5", "whole number"),
    ("a.jpg?mask=corners&corner-radius=nan", "corner-radius=nan"),
    ("a.jpg?mask=corners&corner-radius=12&w=80&dpr=5", "dpr above 4 with corner-radius"),
    ("a.jpg?sharp=101", "0..100"),
    ("a.jpg?usm=-101", "-100..100"),
    ("a.jpg?usm=10&usmrad=501", "usmrad=501"),
    ("a.jpg?usm=10&usmrad=nan", "usmrad=nan"),
    ("a.jpg?sepia=50", "'sepia'"),
    ("a.jpg?gam=10", "'gam'"),
    ("a.jpg?border=2,000", "'border'"),
    ("a.jpg?blend=fff&bm=multiply", "'blend'"),
    ("a.jpg?mark=logo.png&ms=20", "'ms'"),
    ("a.jpg?max-w=200", "'max-w'"),
    ("a.jpg?w=400&w=300", "given twice"),
    ("a.jpg?w=400&width=300", "given twice"),
    ("a.jpg?w=0", "whole number"),
    ("a.jpg?w=-4", "whole number"),
    ("a.jpg?w=abc", "whole number"),
    ("a.jpg?w=0.5&h=0.25", "one share"),
    ("a.jpg?w=0.5&h=300", "one share"),
    ("a.jpg?w=1.5", "share below 1"),
    ("a.jpg?bri=101", "-100..100"),
    ("a.jpg?w=100&dpr=5&pad=4", "dpr above 4 with pad"),
    ("a.jpg?w=100&dpr=5&txt=hi", "dpr above 4 with txt"),
    ("a.jpg?q=101", "0..100"),
    ("a.jpg?fill-color=red", "fit=fill"),
    ("a.jpg?w=300&h=300&fit=fill&fill-color=reddish", "hex colour"),
    ("a.jpg?w=300&h=300&fit=fill&fill=gen", "fill=gen"),
    ("a.jpg?facepad=2", "fit=facearea"),
    ("a.png?bg=80ffffff", "opaque"),
    ("a.png?w=300&h=200&fit=fill&bg=00ff00&fill-color=f00", "differ"),
    ("a.png?w=300&h=200&fit=fill&bg=00ff00&fill=blur", "fill=blur with bg"),
    ("a.jpg?mark=https://x.example/other.png", "IMGORIGIN_WATERMARKS"),
    ("a.jpg?mark-alpha=50", "goes with mark"),
    ("a.jpg?txt=x&txt-font=Georgia", "sans-serif"),
    ("a.jpg?txt-size=20", "goes with txt"),
    ("a.jpg?cs=adobergb1998", "sRGB only"),
    ("a.jpg?txt64=%%%", "base64"),
    ("a.jpg?" + "&".join(f"p{i}=1" for i in range(65)), "more than 64"),
])
def test_what_has_no_native_equivalent_is_a_400_naming_it(rest: str, words: str) -> None:
    with pytest.raises(InvalidOptions) as caught:
        translate(rest, MARKS)
    assert words in caught.value.detail


@pytest.mark.parametrize("rest", ["", "?w=10", "/?w=10"])
def test_a_missing_image_is_a_400(rest: str) -> None:
    with pytest.raises(InvalidSource):
        translate(rest)


def test_the_signed_query_keeps_the_order_and_leaves_out_s() -> None:
    assert signature_of("w=400&s=abc&h=300") == ("abc", "w=400&h=300")
    assert signature_of("w=400&imgorigin-accept=avif&s=abc") == ("abc", "w=400")
    assert signature_of("") == ("", "")
    with pytest.raises(InvalidOptions, match="more than one"):
        signature_of("s=a&s=b")
