"""`usm_A[:R]`: an unsharp mask (imgix's `sharp` and `usm`), spelled once and drawn as Pillow's
UnsharpMask draws it."""

from __future__ import annotations

import io

import numpy as np
import pytest
import pyvips
from PIL import Image, ImageFilter

from origin.errors import InvalidOptions
from tests.support.images import animation, encoded, made
from transforms.grammar import parse, serialize

PHOTO = "samples/landscape.jpg"


@pytest.mark.parametrize(("segment", "canonical"), [
    ("usm_50", "usm_50"),
    ("usm_50:2", "usm_50"),  # the default radius is not written
    ("usm_50:2.000", "usm_50"),
    ("unsharp_120:1.5,w_10", "usm_120:1.5,w_10"),
    ("usm_-100:0.5", "usm_-100:0.5"),
    ("usm_0:7", "_"),
])
def test_spellings(segment: str, canonical: str) -> None:
    assert serialize(parse(segment).options) == canonical


@pytest.mark.parametrize("token", ["usm", "usm_501", "usm_-101", "usm_-0", "usm_50:0.2",
                                   "usm_50:101", "usm_1.5", "usm_50:2:3", "usm_50:x"])
def test_bad_values_are_400(token: str) -> None:
    with pytest.raises(InvalidOptions) as err:
        parse(token)
    assert token in err.value.detail


def photo() -> bytes:
    return pyvips.Image.new_from_file(PHOTO).thumbnail_image(300).pngsave_buffer()


def rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


@pytest.mark.parametrize(("amount", "radius"), [(100, 2), (150, 1), (300, 3), (200, 6),
                                                (100, 20)])
def test_the_mask_is_pillows(amount: int, radius: float) -> None:
    """Pillow's UnsharpMask (threshold 0) on the same pixels: the two differ by a fraction of a
    level on average (Pillow's Gaussian is three box blurs; libvips' a true one up to 3 px, its
    box approximation past that), far less than the mask changes."""
    data = photo()
    pillow = np.asarray(Image.open(io.BytesIO(data)).convert("RGB").filter(
        ImageFilter.UnsharpMask(radius, amount, 0))).astype(int)
    ours = rgb(encoded(data, f"usm_{amount}:{radius}"))
    change = np.abs(pillow - rgb(data)).mean()
    assert change > 1.5
    assert np.abs(pillow - ours).mean() < min(1.0, change / 4)


def test_a_negative_amount_softens_toward_the_blur() -> None:
    data = photo()
    blurred = rgb(encoded(data, "blur_2"))
    half = rgb(encoded(data, "usm_-50"))
    full = rgb(encoded(data, "usm_-100"))
    source = rgb(data)
    assert np.abs(full - blurred).mean() < 0.6
    assert np.abs(half - (source + blurred) / 2).mean() < 0.6


def test_alpha_is_kept_and_flat_colour_unchanged() -> None:
    flat = (pyvips.Image.black(20, 20) + [200, 100, 50]).cast("uchar").copy(
        interpretation="srgb")
    alpha = pyvips.Image.xyz(20, 20)[0].cast("uchar") * 12
    out = made(flat.bandjoin(alpha).pngsave_buffer(), "usm_300:3")
    assert out.bands == 4
    assert out.extract_band(0, n=3).max() == 200 and out.extract_band(0, n=3).min() == 50
    assert out[3].tolist() == alpha.cast("uchar").tolist()


def test_every_frame_is_sharpened() -> None:
    step = pyvips.Image.xyz(16, 8)[0] > 7
    frames = [step.ifthenelse(high, low).cast("uchar") for low, high in ((50, 200), (200, 50))]
    data = animation([f.bandjoin([f, f]).copy(interpretation="srgb") for f in frames], 100, "gif")
    out = pyvips.Image.new_from_buffer(encoded(data, "usm_100:1,fmt_gif", "gif"), "", n=-1)
    assert out.get("page-height") == 8 and out.height == 16
    for page in range(2):
        row = [int(out(x, page * 8 + 4)[0]) for x in range(16)]
        # Each side overshoots its level next to the edge: darker than 50, lighter than 200.
        assert min(row) < 50 and max(row) > 200
