"""S22: the URL grammar fuzzed. Parsing only ever raises InvalidOptions; every accepted segment
round-trips through its canonical form, and the canonical form is a fixed point.

`make test` runs the default profile (a few hundred examples each); `make fuzz` runs this file
with the `long` profile (200k examples each)."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from origin.errors import ImgOriginError, InvalidOptions
from origin.security import signing
from origin.security.netguard import NetworkGuard
from origin.service import TransformService
from origin.settings import Settings
from origin.sources.http import make_client
from origin.sources.store import SourceStore
from transforms import cloudinary as cloudinary_dialect
from transforms import imgproxy as imgproxy_dialect
from transforms import thumbor as thumbor_dialect
from transforms.grammar import MODIFIERS, parse, serialize

PRESETS = {"thumb": "s_64x64,fmt_webp,q_60", "hero": "w_800,g_north,h_400"}
NAMES = sorted({n for m in MODIFIERS for n in (m.name, *m.aliases)} | {"p", "preset"})
JUNK_NAMES = ["", "W", "zooom", "w1", "_", "pp", "fmt-", "é"]
WORDS = ["cover", "contain", "fill", "inside", "outside", "center", "centre", "north", "sw",
         "smart", "attention", "entropy", "face", "faces", "jpeg", "jpg", "png", "webp", "avif",
         "gif", "auto",
         "original", "tiff", "true", "false", "thumb", "hero", "nope", "ffffff", "FFFFFF80",
         "00000000", "fff", "json", "tile", "logo", "logo:se", "logo:tile:0.5", "logo::0.5",
         "logo:north:1:0.25", "a-1:c:0.3333:1", "logo:se:1:0", "Logo:se", "logo:smart",
         "logo:spread:0.5:0:3", "logo:tile:1:0.2x0.30:4", "logo:se:1:0x0.5", "logo:se:1:0.5x",
         "logo:nw:1:0:0.1:0.05", "logo:se:1:0:0.999:1",
         "shoe.jpg", "a_b-c.d", ".hidden", "x.JPEG", "avif:40", "jpg:70:webp:60",
         "webp:1:avif:100:jpeg:5", "png:50", "webp:70:webp:60", "max", "MAX", "1:2:3:4:5", "auto",
         "auto:eco", "auto:", "auto:best:1", "16:9", "2.35:1", "1:100", "1:100.5", "0:1",
         "4:3:2", "nearest", "lanczos3", "mks2021", "Nearest", "box", "2.2:1.5", "3:1", "1:1",
         "2.2:", "10:0:-5", "-100:100:0", "7:7:7", "2:1:luma", "2.5:0.5", "0:1:luma",
         "1:1:y", "gif:png", "jpg:gif:jpeg", "svg", "gif:", "0.25", "10.001", "SGVsbG8",
         "SGVsbG8:s:30:ff0000:0:12:bold", "SGVsbG8=", "AA", "8J-Ygw", "SGVsbG8:center:512",
         "people:nobody.png", "a::b"]


def _number() -> st.SearchStrategy[str]:
    ints = st.integers(-2, 100_001).map(str)
    edges = st.sampled_from(["0", "1", "4", "8192", "8193", "99999", "100000", "270", "360",
                             "0400", "00", "1e3", "1e309", "nan", "inf", "-0", "+1", "0x1f",
                             "99999999999", "999999999999", "9999999999999", "100",
                             "104857600", "104857601", "-20", "-100", "-101", "--1", "-08"])
    decimals = st.builds(lambda a, b: f"{a}.{b}", st.integers(0, 101), st.integers(0, 99999))
    odd = st.sampled_from(["1.", ".5", "1..2", "1.2.3", "0.0001", "0.2995", "3.9999"])
    return ints | edges | decimals | odd


def _value() -> st.SearchStrategy[str | None]:
    num = _number()
    pair = st.builds(lambda a, b: f"{a}x{b}", num, num)
    fp = st.builds(lambda kind, a, b: f"{kind}:{a}:{b}",
                   st.sampled_from(["fp", "fpx", "north", "se", "center", "c"]), num, num)
    crop = st.builds(lambda *p: ":".join(p), num, num, num, num)
    # Gravity crops (`W:H[:G]`) and trim borders (`N:RRGGBB`, `N:corner`).
    suffix = st.sampled_from(["", "north", "se", "southeast", "nw", "fp:0.2:0.3", "fp:1.5:0",
                              "fpx:1800:400", "fpx:1.5:2", "north:-3:0.5", "se:0:-0.0001",
                              "attention", "ffffff", "FF00aa", "fff", "0", "north:1",
                              "face", "faces", "entropy", "faces:1:2"])
    placed = st.builds(lambda a, b, g: f"{a}:{b}:{g}" if g else f"{a}:{b}", num, num, suffix)
    bordered = st.builds(lambda a, g: f"{a}:{g}", num, suffix)
    text = st.text(alphabet="wx0123456789.:_-fpaeiou,", max_size=12)
    return (st.none() | num | pair | fp | crop | placed | bordered | st.sampled_from(WORDS)
            | text)


def _token() -> st.SearchStrategy[str]:
    name = st.sampled_from(NAMES) | st.sampled_from(JUNK_NAMES)
    return st.builds(lambda n, v: n if v is None else f"{n}_{v}", name, _value())


segments = st.lists(_token(), min_size=1, max_size=8).map(",".join) | st.just("_") | st.text(
    max_size=64)


def check_round_trip(segment: str, max_dim: int, presets_only: bool) -> None:
    try:
        parsed = parse(segment, presets=PRESETS, max_dim=max_dim, presets_only=presets_only)
    except InvalidOptions:
        return
    canonical = serialize(parsed.options)
    again = parse(canonical, max_dim=max_dim)
    assert again.options == parsed.options, (segment, canonical)
    assert serialize(again.options) == canonical, (segment, canonical)
    assert again.expires is None
    # The tokens outside the variant (exp_, dl) come back as they were parsed.
    full = ",".join(t for t in (canonical, *parsed.extra_tokens()) if t != "_") or "_"
    whole = parse(full, max_dim=max_dim)
    assert (whole.options, whole.expires, whole.download) == (
        parsed.options, parsed.expires, parsed.download), (segment, full)


@given(segments, st.sampled_from([64, 8192]), st.booleans())
@example("w_400,dpr_2.0,g_fp:0.50:0.250,h_300", 8192, False)
@example("p_hero,h_100,exp_1900000000", 8192, False)
@example("p_thumb", 64, True)
@example("wm_logo:se:1,fmt_json,w_10", 8192, False)
@example("watermark_a-1:tile:0.50:0.1", 8192, False)
@example("wm_logo:spread:1:0.20x0.0:5,wm_logo:se:1:0x0.25", 8192, False)
@example("maxbytes_20000,q_90,fmt_webp", 8192, False)
@example("download_a_b-c.d,exp_5,w_3", 8192, False)
@example("bri_-20,contrast_5,sat_-100,gray,px_4", 8192, False)
@example("padding_1:2:1:2,w_10", 8192, False)
@example("fq_webp:70:jpg:60:avif:40,q_5", 8192, False)
@example("crop_0.5:0:fp:0.25:0.7,trim_10:se,fmt_blurhash", 8192, False)
@example("trim_10:ABCDEF,fmt_png,q_5,mb_900", 8192, False)
@example("extract_300:200:c,f_gif,fq_webp:5", 64, False)
@example("s_30x20,g_fpx:1800:400,crop_5:5:fpx:3:9", 8192, False)
@example("r_1:2:1:2,radius_max,r_0", 8192, False)
@example("r_4:0:4,pad_2,w_9", 8192, False)
@example("quality_auto:good,fq_webp:5,fmt_auto", 8192, False)
@example("ar_16:9,w_400,dpr_2", 8192, False)
@example("aspect_2.35:1,fit_contain,extend,enlarge,g_north", 8192, False)
@example("p_hero,ar_1", 8192, False)
@example("ar_1:10,w_8000", 8192, False)
@example("kernel_nearest,gamma_2.20:1.5,w_30,threshold_90,equalise,gray", 8192, False)
@example("gamma_1:1,kernel_cubic,zoom_2,enlarge", 8192, False)
@example("rgb_30:30:30,bri_80,gray", 8192, False)
@example("w_300,minw_400,g_north,fit_auto,h_9", 64, False)
@example("s_30x20,g_c:-0.9996:0,crop_5:5:se:-0:7.0001", 8192, False)
@example("rgb_-7:-7:-7,brightness_-93", 8192, False)
@example("wsharpen_2.50:1.0:luma,equalise,rgb_1:2:3", 8192, False)
@example("usm_-0:2,unsharp_500:100.000,usm_1:0.3", 8192, False)
def test_s22_grammar_fuzz(segment: str, max_dim: int, presets_only: bool) -> None:
    check_round_trip(segment, max_dim, presets_only)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_s22_any_text_only_raises_invalid_options(segment: str) -> None:
    check_round_trip(segment, 8192, False)


def _service(signed: bool) -> TransformService:
    env = {"IMGORIGIN_ALLOWED_HOSTS": "*.example.com", "IMGORIGIN_PRESETS": "thumb:w_64",
           "IMGORIGIN_IMGPROXY_PREFIX": "ip", "IMGORIGIN_THUMBOR_PREFIX": "th"}
    if not signed:
        env["IMGORIGIN_IPX_PREFIX"] = "_ipx"  # unsigned: refused beside native signing
        env["IMGORIGIN_CLOUDINARY_PREFIX"] = "demo"
        env["IMGORIGIN_IMGIX_PREFIX"] = "ix"
    if signed:
        env["IMGORIGIN_SIGNING_KEYS"] = "00ff"
        env["IMGORIGIN_IMGPROXY_KEYS"] = env["IMGORIGIN_IMGPROXY_SALTS"] = "00ff"
        env["IMGORIGIN_THUMBOR_KEYS"] = "k"
        env["IMGORIGIN_CLOUDINARY_PREFIX"] = "demo"  # signed: beside native signing
        env["IMGORIGIN_CLOUDINARY_SECRETS"] = "cloudinary-secret"
    settings = Settings.from_env(env)
    store = SourceStore(settings, make_client(1, 1), NetworkGuard())
    return TransformService(settings, store, None, None, None)  # type: ignore[arg-type]


SERVICES = {False: _service(False), True: _service(True)}
path_parts = st.sampled_from(["", "/", "//", "%2f", "%2e%2e", "..", "a.jpg", "http:", "https:",
                              "//x.example.com/a.jpg", "file:", "%00", "%ff", "é", "?", "#",
                              "\\", "_", "w_10", "p_thumb", "exp_1", "%", "%%", "%zz"])
raw_paths = st.lists(path_parts | segments, max_size=6).map(lambda p: "/" + "/".join(p))


@given(raw_paths, st.sampled_from(["plain", "signed", "bad signature"]))
def test_s22_path_parsing_only_raises_client_errors(raw_path: str, mode: str) -> None:
    service = SERVICES[mode != "plain"]
    if mode == "signed":
        raw_path = "/" + signing.sign(raw_path, "00ff") + raw_path
    try:
        if mode != "plain":
            signing.authenticate(raw_path, ("00ff",))
        service.parse_path(raw_path)
    except ImgOriginError as exc:
        assert 400 <= exc.status < 500, (raw_path, exc.status, exc.detail)


IMGPROXY_NAMES = sorted(imgproxy_dialect._OPTIONS) + ["crop", "mw", "wm", "", "W", "enc"]
IMGPROXY_WORDS = ["fit", "fill", "fill-down", "force", "auto", "sm", "ce", "noea", "fp", "t",
                  "true", "f", "webp", "jpg", "tiff", "best", "F00", "ff0000", "thumb", "1",
                  "nearest", "lanczos3", "mitchell"]
imgproxy_args = st.lists(_number() | st.sampled_from(IMGPROXY_WORDS) | st.text(max_size=6),
                         max_size=7).map(":".join)
imgproxy_options = st.lists(st.builds(lambda n, a: f"{n}:{a}", st.sampled_from(IMGPROXY_NAMES),
                                      imgproxy_args), max_size=6)
imgproxy_sources = st.sampled_from([
    "plain/a.jpg", "plain/local:///a.jpg@webp", "plain/http://x.example.com/a.jpg@png",
    "plain/https%3A%2F%2Fx.example.com%2Fa%40b.jpg", "plain/http://evil.test/a.jpg", "plain/",
    "plain/@", "plain/%2e%2e/a.jpg", "plain/%00", "plain/a.jpg@", "plain/a@b@c", "YS5qcGc.png",
    "YS5q/cGc", "aHR0cDovL3guZXhhbXBsZS5jb20vYS5qcGc", "//", "enc/abc", "!!!", "YQ", "_w5r",
    "bG9jYWw6Ly8vLi4vYQ", "", "a.b.c", "%zz", "plain/file:///etc/passwd",
]) | st.text(max_size=40)


@given(imgproxy_options, imgproxy_sources, st.sampled_from(["plain", "signed", "bad signature"]))
@example(["rs:fill:300:200:1:1", "g:fp:0.5:0.5", "pd:1:2:3:4"], "plain/a.jpg@webp", "plain")
@example(["fn:YS5qcGc:1", "att:1", "exp:1"], "YS5qcGc.png", "signed")
@example(["w:" + "9" * 5000], "plain/a.jpg", "plain")  # past int()'s 4300 digits: was a 500
def test_s22_imgproxy_urls_only_raise_client_errors(options: list[str], source: str,
                                                     mode: str) -> None:
    service = SERVICES[mode != "plain"]
    signed = "/" + "/".join([*options, source])
    signature = signing.sign_imgproxy(signed, "00ff", "00ff") if mode == "signed" else "x"
    try:
        if mode != "plain":
            signing.verify(signature, signed, [("00ff", "00ff")],
                           lambda path, pair: signing.sign_imgproxy(path, *pair))
        req = service.parse_dialect(service.dialects[0], signed.removeprefix("/"))
    except ImgOriginError as exc:
        assert 400 <= exc.status < 500, (signed, exc.status, exc.detail)
        return
    if mode == "plain":
        # What is accepted is a native variant: its canonical form parses to the same options.
        assert service.parse_path(f"/{req.canonical}/a.jpg").options == req.options


thumbor_parts = st.sampled_from([
    "trim", "trim:top-left:5", "trim:bottom-right", "trim:250", "meta", "debug", "10x20:30x40",
    "0x0:0x0", "fit-in", "full-fit-in",
    "adaptive-fit-in", "300x200", "-300x-200", "x", "-x-", "0x0", "origx10", "99999x1", "left",
    "right", "center", "top", "middle", "bottom", "smart", "filters:format(webp)",
    "filters:quality(80):blur(3,1)", "filters:fill(fff):upscale()", "filters:no_upscale()",
    "filters:rotate(90)", "filters:fill(red)", "filters:(", "filters:format(webp)grayscale()",
    "filters:proportion(0.5)", "filters:proportion(1e308)", "filters:proportion(-0.5)",
    "filters:stretch()", "filters:stretch():proportion(0.01)", "filters:equalize()",
    "filters:equalize():brightness(5)", "filters:grayscale():equalize()",
    "filters:rgb(10,0,-5)", "filters:rgb(300,1,1):contrast(50)", "filters:rgb(1,2)",
    "filters:sharpen(2,1,true)", "filters:sharpen(1e9,1,false)", "filters:sharpen(2,1)",
    "filters:max_bytes(0)", "filters:focal(10x10:40x40)", "filters:focal(1x1)",
    "filters:brightness(10):contrast(20)", "filters:contrast(-200):brightness(5)",
    "filters:brightness(80):contrast(90)", "filters:round_corner(9|9,1,2,3,1)",
    "filters:round_corner(9,1,2,999)", "a.jpg", "http:", "", "%2e%2e", "%00",
    "x.example.com", "..",
]) | st.text(max_size=20)


@given(st.lists(thumbor_parts, max_size=9), st.sampled_from(["plain", "signed", "bad signature"]))
@example(["fit-in", "300x200", "filters:fill(abc):format(png)", "a.jpg"], "plain")
@example(["10x20:30x40", "-5x0", "left", "smart", "http:", "", "x.example.com", "a.jpg"],
         "signed")
@example(["9" * 5000 + "x1", "a.jpg"], "plain")  # past int()'s 4300 digits: was a 500
@example(["trim:top-left:" + "9" * 5000, "fit-in", "a.jpg"], "plain")
@example(["300x200", "filters:focal(" + "9" * 5000 + "x1:2x2)", "a.jpg"], "plain")
def test_s22_thumbor_urls_only_raise_client_errors(parts: list[str], mode: str) -> None:
    service = SERVICES[mode != "plain"]
    (dialect,) = [d for d in service.dialects if d.name == "thumbor"]
    rest = "/".join(parts)
    signature = {"plain": "unsafe", "signed": signing.sign_thumbor(rest, "k"),
                 "bad signature": "unsafe"}[mode]
    try:
        dialect.check(signature, rest)
        req = service.parse_dialect(dialect, rest)
    except ImgOriginError as exc:
        assert 400 <= exc.status < 500, (rest, exc.status, exc.detail)
        assert mode != "bad signature" or exc.status == 403
        return
    assert mode != "bad signature"
    if mode == "plain":
        assert service.parse_path(f"/{req.canonical}/a.jpg").options == req.options


ipx_modifiers = st.lists(st.builds(
    lambda n, sep, v: f"{n}{sep}{v}" if v else n,
    st.sampled_from(["w", "width", "h", "height", "s", "resize", "q", "f", "format", "fit", "pos",
                     "position", "b", "background", "extract", "crop", "extend", "rotate",
                     "blur", "sharpen", "trim", "a", "animated", "enlarge", "flip", "flop",
                     "grayscale", "kernel", "tint", "modulate", "gamma", "threshold", "", "W"]),
    st.sampled_from(["_", ":", "=", ""]),
    _number() | st.sampled_from(["300x200", "200", "x", "webp", "auto", "jpg", "tiff", "cover",
                                 "contain", "right-top", "left top", "attention", "fff",
                                 "%23ff000080", "red", "1_2_3_4", "1_2_3", "10_5", "-90",
                                 "1_1_1_1_mirror", "nearest", "mks2013", "box", "2.2_1.5",
                                 "2_2_2"]) | st.text(max_size=6)),
    max_size=6)
ipx_ids = st.sampled_from(["a.jpg", "static/a.png", "https://x.example.com/a.jpg",
                           "http://evil.test/a.jpg", "", "/", "%2F", "%2e%2e/a", "%00",
                           "https%3A%2F%2Fx.example.com%2Fa.jpg"]) | st.text(max_size=20)


@given(ipx_modifiers, st.sampled_from([",", "&"]), ipx_ids)
@example(["s_300x200", "fit_contain", "b_fff", "pos_right-top"], "&", "static/a.png")
@example(["extract_1_2_3_4", "extend_1_2", "rotate_-90", "f_webp"], ",", "a.jpg")
@example(["w_\u00b2"], ",", "a.jpg")  # a digit int() cannot read: was a 500
@example(["s_\u0661\u0662x3"], "&", "a.jpg")
@example(["w_" + "9" * 5000], ",", "a.jpg")  # past int()'s 4300 digits: was a 500
def test_s22_ipx_urls_only_raise_client_errors(modifiers: list[str], separator: str,
                                               image: str) -> None:
    service = SERVICES[False]
    (dialect,) = [d for d in service.dialects if d.name == "ipx"]
    rest = (separator.join(modifiers) or "_") + "/" + image
    try:
        req = service.parse_dialect(dialect, rest)
    except ImgOriginError as exc:
        assert 400 <= exc.status < 500, (rest, exc.status, exc.detail)
        return
    assert service.parse_path(f"/{req.canonical}/a.jpg").options == req.options


cloudinary_params = st.lists(st.builds(
    lambda key, value: f"{key}_{value}",
    st.sampled_from(["w", "h", "c", "g", "x", "y", "ar", "f", "q", "dpr", "e", "r", "a", "b",
                     "fl", "t", "pg", "l", "o", "z", "co", "W", ""]),
    _number() | st.sampled_from(["scale", "fit", "limit", "fill", "lfill", "pad", "lpad", "crop",
                                 "thumb", "north_east", "auto", "xy_center", "face", "16:9",
                                 "1.5", "0:0", "auto:eco", "grayscale", "pixelate:12",
                                 "pixelate:0", "max", "10:20:30", "hflip", "-90", "45",
                                 "rgb:fff", "rgb:zz", "white", "progressive.lossy",
                                 "attachment:a b", "thumb", "webp", "jxl", "-0.5", "0.0001",
                                 "logo", "layer_apply", "relative", "text:Arial_9:x", "a:b",
                                 "blur:1000", "sepia", "blackwhite:50", "brightness:-20",
                                 "colorize:40", "unsharp_mask:300", "lightblue",
                                 "sharpen:3000", "faces", "auto:faces", "contrast:x",
                                 "text:Arial_40:Hi", "text:Arial_40_bold:a%252Cb",
                                 "text:Arial:x", "text:Arial_0:x", "rgb:ff0000",
                                 "auto:100:400", "auto:breakpoints_9_99:0", "auto:json",
                                 "auto:99999:99999"])
    | st.text(max_size=6)), max_size=5)
cloudinary_tails = st.sampled_from(["a.jpg", "v12/a.jpg", "folder/a.png", "a", "a.tiff",
                                    "https://x.example.com/a.jpg", "http://evil.test/a.jpg", "",
                                    "%2e%2e/a.jpg", "%00", "s--abcdefgh--/a.jpg"])


@given(st.lists(cloudinary_params, max_size=3), st.sampled_from(["upload", "fetch", "private"]),
       cloudinary_tails)
@example([["c_fill", "w_300", "h_200", "g_north"], ["f_auto"], ["q_auto"]], "upload", "a.jpg")
@example([["c_crop", "w_0.5", "h_0.25", "x_-3", "y_0.5", "g_south_east"]], "upload", "a.jpg")
@example([["w_" + "9" * 5000]], "upload", "a.jpg")
@example([["l_logo", "w_0.2", "fl_relative"], ["fl_layer_apply", "g_south_east", "x_5"]],
         "upload", "a.jpg")
def test_s22_cloudinary_urls_only_raise_client_errors(components: list[list[str]],
                                                      delivery: str, tail: str) -> None:
    service = SERVICES[False]
    (dialect,) = [d for d in service.dialects if d.name == "cloudinary"]
    rest = "/".join(["image", delivery, *(",".join(c) for c in components if c), tail])
    try:
        req = service.parse_dialect(dialect, rest)
    except ImgOriginError as exc:
        assert 400 <= exc.status < 500, (rest, exc.status, exc.detail)
        return
    assert service.parse_path(f"/{req.canonical}/a.jpg").options == req.options


@given(st.lists(cloudinary_params, max_size=3), st.sampled_from(["upload", "fetch"]),
       cloudinary_tails, st.sampled_from(["sha1", "sha256", "long", "wrong", "none"]))
@example([["w_100"]], "upload", "v3/a.jpg", "sha1")
def test_s22_signed_cloudinary_urls_only_raise_client_errors(
        components: list[list[str]], delivery: str, tail: str, signature: str) -> None:
    service = SERVICES[True]
    (dialect,) = [d for d in service.dialects if d.name == "cloudinary"]
    body = "/".join([*(",".join(c) for c in components if c), tail])
    _hash, signed = cloudinary_dialect.signed_part(f"image/{delivery}/s--AAAAAAAA--/{body}")
    algorithm, size = {"sha1": ("sha1", 8), "long": ("sha256", 32)}.get(signature,
                                                                           ("sha256", 8))
    mark = {"wrong": "s--AAAAAAAA--/", "none": ""}.get(
        signature, "s--" + signing.sign_cloudinary(signed, "cloudinary-secret", algorithm,
                                                   size) + "--/")
    rest = f"image/{delivery}/{mark}{body}"
    try:
        dialect.check("", rest)  # what admit() runs before the translation
        req = service.parse_dialect(dialect, rest)
    except ImgOriginError as exc:
        assert 400 <= exc.status < 500, (rest, exc.status, exc.detail)
        # A URL the secret signed is never refused for its signature (an empty one signs
        # nothing: no public ID).
        assert not (exc.status == 403 and "signature" in exc.detail and signed
                    and signature not in ("wrong", "none")), (rest, exc.detail)
        return
    assert signature not in ("wrong", "none"), rest
    native = f"/{req.canonical}/a.jpg"  # signed, as text may be drawn on signed URLs only
    assert service.parse_path("/" + signing.sign(native, "00ff") + native).options == req.options


imgix_params = st.lists(st.builds(
    lambda key, value: f"{key}={value}",
    st.sampled_from(["w", "h", "width", "fit", "crop", "ar", "fp-x", "fp-y", "fp-z", "rect",
                     "pad", "pad-left", "bg", "fill", "fill-color", "dpr", "fm", "auto", "q",
                     "lossless", "cs", "dl", "bri", "con", "sat", "hue", "mono", "invert",
                     "blur", "px", "rot", "flip", "trim", "trim-color", "trim-tol", "txt",
                     "txt64", "txt-size", "txt-color", "txt-align", "txt-font", "mark",
                     "mark-align", "mark-alpha", "facepad", "expires", "s", "ixlib", "fm64",
                     "sharp", "usm", "usmrad", "mask", "corner-radius", "mask-bg", "duotone",
                     "duotone-alpha", "min-w", "W", "",
                     "imgorigin-accept"]),
    _number() | st.sampled_from(["clip", "crop", "min", "max", "fill", "fillmax", "scale",
                                 "facearea", "clamp", "top,left", "faces,entropy",
                                 "focalpoint", "edges", "16:9", "0.5:1", "1:0", "format",
                                 "format,compress", "format%2Ccompress", "enhance", "blur",
                                 "solid", "gen", "f00", "8f00", "80ff0000", "zzz", "#fff",
                                 "h", "hv", "auto", "color", "pjpg", "png8", "json",
                                 "blurhash", "avif", "jp2", "srgb", "adobergb1998",
                                 "a.jpg", "10,20,30,40", "1,2,3", "bottom,center",
                                 "sans-serif,bold", "Georgia", "logo.png", "SGk", "%%%",
                                 "true", "1", "0", "ellipse", "corners", "10,0,5,-1",
                                 "000080,ffd700", "orange"])
    | st.text(max_size=6)), max_size=8)
imgix_images = st.sampled_from(["a.jpg", "dir/a.png", "", "%2e%2e/a.jpg", "%00",
                                "https%3A%2F%2Fx.example.com%2Fa.jpg", "http%3A%2F%2Fevil.test",
                                "a.jpg%3Fw%3D1", "/a.jpg"])


@given(imgix_params, imgix_images)
@example(["w=400", "h=300", "fit=crop", "crop=focalpoint", "fp-x=0.2"], "a.jpg")
@example(["w=" + "9" * 5000], "a.jpg")
@example(["w=0.5", "fit=fill", "bg=fff", "fill-color=0f0"], "a.jpg")
def test_s22_imgix_urls_only_raise_client_errors(params: list[str], image: str) -> None:
    service = SERVICES[False]
    (dialect,) = [d for d in service.dialects if d.name == "imgix"]
    rest = image + ("?" + "&".join(params) if params else "")
    try:
        req = service.parse_dialect(dialect, rest)
    except ImgOriginError as exc:
        assert 400 <= exc.status < 500, (rest, exc.status, exc.detail)
        return
    assert service.parse_path(f"/{req.canonical}/a.jpg").options == req.options


@given(imgproxy_args, st.sampled_from(["wm", "watermark"]), st.booleans())
@example("0.5:soea:10:20:0.3", "wm", False)
@example("1:ce:1e300", "wm", True)
def test_s22_dialect_watermarks_only_raise_client_errors(args: str, name: str,
                                                        thumbor_form: bool) -> None:
    """The watermark translations with a watermark configured (the servers above have none)."""
    try:
        if thumbor_form:
            translated = thumbor_dialect.translate(
                f"filters:watermark(logo.png,{args.replace(':', ',')})/a.jpg",
                {"logo.png": "logo"})
        else:
            translated = imgproxy_dialect.translate(f"/{name}:{args}/plain/a.jpg", "logo")
        parse(translated.tokens, watermarks={"logo"})
    except ImgOriginError as exc:
        assert 400 <= exc.status < 500, (args, exc.status, exc.detail)
