"""`crop_W:H:face`, `:faces`, `:attention`, `:entropy`: a region of the source (before the
resize) placed on the decoded pixels, around the faces found or on libvips' interesting part;
Cloudinary's `c_crop,g_face` / `g_auto` and imgproxy's `crop` with `sm` or `obj:face` translate
onto them.

The portrait is matplotlib's sample `grace_hopper.jpg` (public domain), as in test_faces.py."""

from __future__ import annotations

from importlib.resources import files

import pytest
import pyvips

from tests.support.images import animation, encoded, made
from transforms.cloudinary import translate as from_cloudinary
from transforms.faces import detect, focus
from transforms.grammar import parse, serialize
from transforms.imgproxy import translate as from_imgproxy

PORTRAIT = files("matplotlib") / "mpl-data" / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def portrait() -> tuple[bytes, pyvips.Image]:
    png = pyvips.Image.new_from_buffer(PORTRAIT.read_bytes(), "").pngsave_buffer()
    return png, pyvips.Image.new_from_buffer(png, "")


def noise() -> bytes:
    return (pyvips.Image.perlin(400, 300, cell_size=32).linear(100, 128).cast("uchar")
            .copy(interpretation="b-w").pngsave_buffer())


def test_a_face_region_is_centred_on_the_face_at_the_sources_scale(
        portrait: tuple[bytes, pyvips.Image]) -> None:
    png, source = portrait
    x, y = focus(detect(source)[:1])
    left = round(min(max(x - 100, 0), source.width - 200))
    top = round(min(max(y - 100, 0), source.height - 200))
    for gravity in ("face", "faces"):  # one face: the same region
        out = made(png, f"crop_200:200:{gravity}")
        assert (out - source.extract_area(left, top, 200, 200)).abs().max() == 0, gravity
    # The centred region is elsewhere: this one moved to the face.
    assert (left, top) != ((512 - 200) // 2, (600 - 200) // 2)
    # The region is then resized as any region is.
    resized = made(png, "crop_200:200:face,w_100")
    assert (resized.width, resized.height) == (100, 100)


def test_an_interesting_region_is_libvips_smart_crop_of_the_source() -> None:
    data = noise()
    source = pyvips.Image.new_from_buffer(data, "")
    for gravity in ("attention", "entropy"):
        out = made(data, f"crop_150:120:{gravity}")
        expected = source.smartcrop(150, 120, interesting=gravity)
        assert (out - expected).abs().max() == 0, gravity
    # Without a face, a face region is the attention one, as the face gravities fall back.
    assert encoded(data, "crop_150:120:faces") == encoded(data, "crop_150:120:attention")


def test_an_animation_takes_the_centred_region() -> None:
    frames = [pyvips.Image.perlin(80, 60, seed=i).linear(100, 128).cast("uchar")
              .copy(interpretation="b-w").colourspace("srgb") for i in range(3)]
    gif = animation(frames, 100, "gif")
    assert encoded(gif, "crop_40:30:faces", "gif") == encoded(gif, "crop_40:30", "gif")


@pytest.mark.parametrize(("segment", "canonical"), [
    ("crop_200:200:faces", "crop_200:200:faces"),
    ("extract_0.5:0.5:attention", "crop_0.5:0.5:attention"),
])
def test_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize(("path", "canonical"), [
    # Cloudinary's x_/y_ do not move a face crop (its documentation says so): dropped.
    ("image/upload/c_crop,g_face,w_200,h_200,x_50,y_50/a.png", "crop_200:200:face,fmt_png"),
    ("image/upload/c_crop,g_faces,w_0.5,h_0.5/a.png", "crop_0.5:0.5:faces,fmt_png"),
    ("image/upload/c_crop,g_auto,w_200,h_200/a.png", "crop_200:200:attention,fmt_png"),
])
def test_cloudinary_c_crop_with_a_smart_gravity(path: str, canonical: str) -> None:
    assert serialize(parse(from_cloudinary(path).tokens).options) == canonical


@pytest.mark.parametrize(("path", "canonical"), [
    ("c:100:80:sm/plain/local:///a.png", "crop_100:80:attention"),
    ("g:sm/c:100:80/plain/local:///a.png", "crop_100:80:attention"),
    ("c:100:80:obj:face/plain/local:///a.png", "crop_100:80:faces"),
])
def test_imgproxy_smart_crops_of_a_region(path: str, canonical: str) -> None:
    assert serialize(parse(from_imgproxy(path).tokens).options) == canonical
