"""`g_face` and `g_faces`: cover crops centred on detected faces (OpenCV's frontal-face cascade,
thumbor's detector and settings), libvips' attention crop where none is found.

The portrait is matplotlib's sample `grace_hopper.jpg` (a US Navy photograph, public domain),
read from the installed package rather than copied here."""

from __future__ import annotations

from importlib.resources import files

import pytest
import pyvips

from origin.errors import InvalidOptions
from tests.support.images import encoded, made
from transforms import faces
from transforms.cloudinary import translate as from_cloudinary
from transforms.faces import Face, detect, focus
from transforms.grammar import parse, serialize
from transforms.imgproxy import translate as from_imgproxy
from transforms.thumbor import translate as from_thumbor

PORTRAIT = files("matplotlib") / "mpl-data" / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def portrait() -> bytes:
    return PORTRAIT.read_bytes()


def test_the_cascade_finds_the_face_at_any_size(portrait: bytes) -> None:
    image = pyvips.Image.new_from_buffer(portrait, "")
    assert (image.width, image.height) == (512, 600)
    (face,) = detect(image)
    # Measured with OpenCV 4.14 (thumbor's settings): the face, not the uniform or the flag.
    assert 140 <= face.left <= 160 and 95 <= face.top <= 115
    assert 215 <= face.width <= 245 and face.width == face.height
    # Three times as large: detected on a copy at most DETECT_SIDE long, mapped back.
    (big,) = detect(image.resize(3))
    assert abs(big.left / 3 - face.left) < 8 and abs(big.width / 3 - face.width) < 12


def test_the_focus_is_thumbors_area_weighted_centre_moved_up_for_hair() -> None:
    one = Face(100, 100, 51, 51)
    assert focus([one]) == (125, int(100 - 51 * 0.12 + 25))  # 12 % of 51 px higher: 118
    # A box the raise would take past the top edge stays where it is.
    assert focus([Face(10, 3, 50, 50)]) == (35, 28)
    # A face four times the area pulls the centre four times as hard; the mean rounds down.
    big, small = Face(0, 200, 100, 100), Face(400, 0, 50, 50)
    assert focus([big, small]) == ((50 * 4 + 425) // 5, ((188 + 50) * 4 + 25) // 5)


def rows_of(data: bytes, segment: str) -> tuple[int, pyvips.Image]:
    """The source row the output's first row came from (the output is as wide as the source,
    so only the rows move), and the output."""
    out = made(data, segment)
    source = pyvips.Image.new_from_buffer(data, "")
    for top in range(source.height - out.height + 1):
        if (source.extract_area(0, top, out.width, out.height) - out).abs().max() < 3:
            return top, out
    raise AssertionError("the output is no band of the source")


def test_a_face_crop_keeps_the_face_where_the_centre_crop_cuts_it(portrait: bytes) -> None:
    png = pyvips.Image.new_from_buffer(portrait, "").pngsave_buffer()
    (face,) = detect(pyvips.Image.new_from_buffer(png, ""))
    _, cy = focus([face])
    top, _ = rows_of(png, "w_512,h_150,g_face")
    assert top == round(cy - 75) == 115  # the row thumbor's smart crop starts at (make parity)
    assert top < face.top + face.height / 2 < top + 150  # the face's middle is in the band
    assert rows_of(png, "w_512,h_150,g_faces")[0] == top  # one face: the same crop
    assert rows_of(png, "w_512,h_150")[0] == 225  # the centre crop: below the eyes


def test_g_face_follows_the_largest_face_and_g_faces_all_of_them(portrait: bytes) -> None:
    person = pyvips.Image.new_from_buffer(portrait, "")
    small = person.resize(0.5)
    # The portrait, and a half-size copy to its right at the bottom: two faces of two sizes.
    canvas = person.embed(0, 0, 512 + 256, 600, extend="white").insert(small, 512, 300)
    png = canvas.pngsave_buffer()
    found = detect(pyvips.Image.new_from_buffer(png, ""))
    assert len(found) == 2 and found[0].area > 3 * found[1].area
    largest, everyone = focus(found[:1]), focus(found)
    assert everyone[0] > largest[0] + 40  # pulled toward the small face on the right
    for gravity, (cx, _) in (("face", largest), ("faces", everyone)):
        out = made(png, f"w_200,h_600,g_{gravity}")
        # The output's columns are the canvas's from round(cx - 100).
        left = round(cx - 100.0)
        assert (canvas.extract_area(left, 0, 200, 600) - out).abs().max() < 3, gravity


def test_without_a_face_it_is_the_attention_crop() -> None:
    noise = pyvips.Image.perlin(400, 300, cell_size=32).linear(100, 128).cast("uchar") \
        .copy(interpretation="b-w").pngsave_buffer()
    assert detect(pyvips.Image.new_from_buffer(noise, "")) == []
    assert encoded(noise, "w_100,h_300,g_faces") == encoded(noise, "w_100,h_300,g_attention")


@pytest.mark.parametrize("size", [(1, 1), (1, 40), (19, 300)])
def test_an_image_smaller_than_a_face_has_none(size: tuple[int, int]) -> None:
    # A 1x1 image was a 500 (found by the imgix fuzz: a one-pixel GIF and fit=facearea).
    tiny = (pyvips.Image.black(*size) + 90).cast("uchar").pngsave_buffer()
    assert detect(pyvips.Image.new_from_buffer(tiny, "")) == []
    out = made(tiny, "g_faces,facepad_1.5,pad_5", "png")
    assert (out.width, out.height) == (size[0] + 10, size[1] + 10)


@pytest.mark.parametrize(("segment", "fmt", "size"), [
    ("w_60,h_60,g_face", "png", (60, 60)),
    ("w_30,h_90,g_faces", "webp", (30, 90)),
])
def test_grey_alpha_and_deep_images_are_fine(segment: str, fmt: str,
                                             size: tuple[int, int]) -> None:
    grey16 = pyvips.Image.perlin(120, 90).linear(30000, 32768).cast("ushort").copy(
        interpretation="grey16")
    rgba = (pyvips.Image.black(120, 90) + [10, 200, 30, 128]).cast("uchar").copy(
        interpretation="srgb")
    for image in (grey16, rgba):
        out = made(image.pngsave_buffer(), segment, fmt)
        assert (out.width, out.height) == size


@pytest.mark.parametrize(("segment", "canonical"), [
    ("w_300,h_200,g_face", "g_face,h_200,w_300"),
    ("s_300x200,gravity_faces", "g_faces,h_200,w_300"),
    ("w_300,g_faces", "w_300"),  # nothing to crop: the gravity is dropped
])
def test_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("segment", ["s_10x10,g_face:1:2", "crop_10:10:faces:1:2",
                                     "s_10x10,g_facez"])
def test_what_a_face_gravity_does_not_take_is_a_400(segment: str) -> None:
    with pytest.raises(InvalidOptions):
        parse(segment)


def test_thumbor_smart_looks_for_faces_first() -> None:
    canonical = serialize(parse(from_thumbor("300x200/smart/products/shoe.jpg").tokens).options)
    assert canonical == "enlarge,g_faces,h_200,w_300"


@pytest.mark.parametrize(("path", "gravity"), [
    ("image/upload/c_fill,w_300,h_200,g_face/products/shoe.jpg", "g_face"),
    ("image/upload/c_fill,w_300,h_200,g_faces/products/shoe.jpg", "g_faces"),
    ("image/upload/c_fill,w_300,h_200,g_auto:faces/products/shoe.jpg", "g_faces"),
])
def test_cloudinary_face_gravities(path: str, gravity: str) -> None:
    assert gravity in serialize(parse(from_cloudinary(path).tokens).options).split(",")


@pytest.mark.parametrize("path", ["image/upload/l_logo,g_faces/a.jpg"])
def test_cloudinary_face_gravities_where_an_overlay_is_placed_are_400s(path: str) -> None:
    with pytest.raises(InvalidOptions):
        parse(from_cloudinary(path).tokens)


def test_the_detector_is_loaded_once_per_thread(portrait: bytes) -> None:
    image = pyvips.Image.new_from_buffer(portrait, "")
    detect(image)
    first = faces._local.classifier
    detect(image)
    assert faces._local.classifier is first


def test_imgproxy_pro_object_gravity_for_faces() -> None:
    translated = from_imgproxy("rs:fill:300:200/g:obj:face/plain/local:///a.jpg")
    assert serialize(parse(translated.tokens).options) == "g_faces,h_200,w_300"
    for path in ("rs:fill:300:200/g:obj:cat/plain/local:///a.jpg",
                 "rs:fill:300:200/g:obj/plain/local:///a.jpg",
                 "rs:fit:300:200/ex:1:obj:face/plain/local:///a.jpg"):
        with pytest.raises(InvalidOptions):
            parse(from_imgproxy(path).tokens)


def test_without_opencv_the_face_gravities_are_400s_and_thumbor_smart_is_attention(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The `faces` extra missing: the grammar says what to install; thumbor's smart is then
    thumbor without its face detector."""
    monkeypatch.setattr(faces, "AVAILABLE", False)
    for segment in ("s_300x200,g_face", "s_300x200,g_faces"):
        with pytest.raises(InvalidOptions, match=r"imgorigin\[faces\]"):
            parse(segment)
    canonical = serialize(parse(from_thumbor("300x200/smart/products/shoe.jpg").tokens).options)
    assert canonical == "enlarge,g_attention,h_200,w_300"
    with pytest.raises(InvalidOptions, match="OpenCV"):
        parse(from_cloudinary("image/upload/c_fill,w_300,h_200,g_face/a.jpg").tokens)
    assert parse("s_300x200,g_attention").options.gravity == "attention"
