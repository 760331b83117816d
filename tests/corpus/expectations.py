"""What MANIFEST.tsv says about each corpus file, and the checks of a decoded answer against it.

Pure functions over manifest rows and response bytes, so the matrix and hostile suites share them.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import pyvips

CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                 "avif": "image/avif", "gif": "image/gif"}
# Our decoded-output loader names, keyed by output format.
LOADERS = {"jpeg": "jpegload", "png": "pngload", "webp": "webpload", "avif": "heifload",
           "gif": "gifload"}
# Manifest `vips_loader` -> the format `fmt_original` keeps (others become JPEG, or PNG w/ alpha).
WEB_ORIGINALS = {"jpeg": "jpeg", "uhdr": "jpeg", "png": "png", "webp": "webp", "nsgif": "gif",
                 "heif": "avif"}
ANIMATED_OUTPUTS = ("gif", "webp")


@dataclass(frozen=True)
class Entry:
    """One manifest row, with numbers parsed; `width`/`height` are after EXIF orientation and,
    for animations, per frame."""

    path: str
    loader: str
    width: int
    height: int
    bands: int
    interpretation: str
    pages: int
    expected: str

    @property
    def has_alpha(self) -> bool:
        if self.interpretation == "cmyk":
            return self.bands == 5
        return self.bands in (2, 4)

    @property
    def animated(self) -> bool:
        return self.loader in ("nsgif", "webp") and self.pages > 1

    def original_format(self) -> str:
        """The output format of `fmt_original` for this source."""
        if self.loader in WEB_ORIGINALS:
            return WEB_ORIGINALS[self.loader]
        return "png" if self.has_alpha else "jpeg"


def _int(value: str, default: int = 0) -> int:
    try:
        return int(value)
    except ValueError:
        return default


def entry(row: dict[str, str]) -> Entry:
    return Entry(
        path=row["path"],
        loader=row["vips_loader"],
        width=_int(row["autorot_width"]),
        height=_int(row["autorot_height"]),
        bands=_int(row["bands"]),
        interpretation=row["interpretation"],
        pages=_int(row["pages"], 1),
        expected=row["expected"],
    )


@dataclass(frozen=True)
class Request:
    """One transform of the matrix: options segment, output format, and target geometry."""

    name: str
    options: str
    fmt: str | None  # None: the source's own format (fmt_original)
    width: int | None = None
    height: int | None = None


MATRIX: tuple[Request, ...] = (
    Request("jpeg_w200", "w_200,fmt_jpeg", "jpeg", width=200),
    Request("png_w200", "w_200,fmt_png", "png", width=200),
    Request("webp_w200", "w_200,fmt_webp", "webp", width=200),
    Request("avif_w160", "w_160,fmt_avif", "avif", width=160),
    Request("cover_120x80", "s_120x80,fmt_original", None, width=120, height=80),
    Request("original_h300", "h_300,fmt_original", None, height=300),
    # A region larger than any source is clamped to the whole image: same size as plain w_150,
    # but it takes the full-decode path (orient, extract, then resize) instead of thumbnail.
    Request("region_w150", "crop_0:0:1000000:1000000,w_150,fmt_webp", "webp", width=150),
)


# The answer compared pixel by pixel with libvips' own oriented thumbnail of the default image.
REFERENCE_REQUEST = "png_w200"


def _grey_premultiplied(image: pyvips.Image) -> pyvips.Image:
    """One 0..255 float band, transparent pixels black, for comparing images' content."""
    alpha = None
    if image.hasalpha():
        alpha = image[image.bands - 1].cast("float") / (65535 if image.format == "ushort" else 255)
        image = image.extract_band(0, n=image.bands - 1)
    grey = image.colourspace("b-w")[0].cast("float")
    if grey.format != "float" or image.format == "ushort":
        grey = grey.cast("float")
    if image.format == "ushort" and grey.max() > 255:
        grey = grey / 257
    return grey * alpha if alpha is not None else grey


def reference_difference(source: bytes, answer: pyvips.Image) -> float:
    """Mean absolute grey difference between the answer and a reference thumbnail, 0..255."""
    reference = pyvips.Image.thumbnail_buffer(source, answer.width, height=answer.height,
                                              size="force", output_profile="srgb")
    return float((_grey_premultiplied(reference) - _grey_premultiplied(answer)).abs().avg())


def expected_size(e: Entry, req: Request) -> tuple[int, int]:
    """Output size per the contract: no enlarging; `cover` keeps the box's aspect ratio."""
    w, h = e.width, e.height
    if req.width and req.height:
        shrink = min(1.0, w / req.width, h / req.height)
        return max(1, round(req.width * shrink)), max(1, round(req.height * shrink))
    if req.width:
        scale = min(1.0, req.width / w)
    else:
        assert req.height
        scale = min(1.0, req.height / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def decode(body: bytes, fmt: str) -> pyvips.Image:
    options = {"n": -1} if fmt in ANIMATED_OUTPUTS else {}
    return pyvips.Image.new_from_buffer(body, "", fail_on="error", **options)


def source_timing(data: bytes) -> tuple[list[int], int]:
    """Frame delays (ms) and loop count of an animated source, from its header."""
    image = pyvips.Image.new_from_buffer(data, "", n=-1)
    delays = list(image.get("delay")) if image.get_typeof("delay") else []
    loop = image.get("loop") if image.get_typeof("loop") else 0
    return delays, loop


def check_image(e: Entry, req: Request, content_type: str, body: bytes,
                source: bytes) -> list[str]:
    """Everything wrong with one 200 answer; empty when it matches the manifest."""
    fmt = req.fmt or e.original_format()
    problems: list[str] = []
    if content_type != CONTENT_TYPES[fmt]:
        return [f"Content-Type {content_type!r}, expected {CONTENT_TYPES[fmt]!r}"]
    try:
        image = decode(body, fmt)
    except pyvips.Error as exc:
        return [f"answer does not decode as {fmt}: {str(exc)[:200]}"]
    loader = image.get("vips-loader").removesuffix("_buffer")
    if loader != LOADERS[fmt]:
        problems.append(f"answer decodes with {loader}, expected {LOADERS[fmt]}")
    if image.format != "uchar":
        problems.append(f"answer is {image.format}, expected 8-bit")
    pages = image.get("n-pages") if image.get_typeof("n-pages") else 1
    page_height = image.get("page-height") if image.get_typeof("page-height") else image.height
    want_w, want_h = expected_size(e, req)
    if image.width != want_w or abs(page_height - want_h) > 1:
        problems.append(f"size {image.width}x{page_height}, expected {want_w}x{want_h}")
    if fmt == "jpeg" and image.bands not in (1, 3):
        problems.append(f"JPEG answer has {image.bands} bands (alpha or CMYK left in)")
    if fmt in ("png", "webp", "avif", "gif"):
        problems += _check_alpha(e, fmt, image, source)
    if e.interpretation == "cmyk" and (image.interpretation != "srgb" or image.bands != 3):
        problems.append(f"CMYK source gave {image.interpretation} with {image.bands} bands")
    if req.name == REFERENCE_REQUEST and not problems:
        diff = reference_difference(source, image)
        if diff > 8:
            problems.append(f"pixels differ from libvips' own thumbnail by {diff:.1f}/255 "
                            "(wrong page, orientation or colour)")
    animated_out = e.animated and fmt in ANIMATED_OUTPUTS
    if animated_out:
        problems += _check_animation(e, image, pages, source)
    elif pages != 1:
        problems.append(f"{pages} frames in a still answer")
    return problems


def _check_alpha(e: Entry, fmt: str, image: pyvips.Image, source: bytes) -> list[str]:
    if image.hasalpha() and not e.has_alpha and fmt != "gif":
        return [f"alpha added in {fmt}"]
    # Encoders may drop an alpha band that is opaque everywhere (libwebp does): no loss then.
    if e.has_alpha and not image.hasalpha() and not _opaque(source):
        return [f"alpha lost in {fmt}"]
    return []


def _opaque(source: bytes) -> bool:
    image = pyvips.Image.new_from_buffer(source, "")
    alpha = image[image.bands - 1]
    top = 65535 if image.format == "ushort" else 255
    return alpha.min() >= top


def _check_animation(e: Entry, image: pyvips.Image, pages: int, source: bytes) -> list[str]:
    """Frames and timing survive. Encoders (libwebp, cgif) merge identical consecutive frames
    into one longer frame, so the count may drop while the total duration stays."""
    if pages == 1 and _distinct_runs(source) == 1:
        return []  # every frame the same: a still image is the faithful answer
    delays, loop = source_timing(source)
    delays = [_browser_delay(d) for d in delays]
    got = [_browser_delay(d) for d in image.get("delay")] if image.get_typeof("delay") else []
    problems: list[str] = []
    if not 2 <= pages <= e.pages:
        problems.append(f"{pages} frames from a {e.pages}-frame source")
    if pages == e.pages and delays and (
            len(got) != len(delays)
            or any(abs(a - b) > 10 for a, b in zip(got, delays, strict=True))):
        # GIF stores centiseconds, so a WebP delay of 45 ms comes back as 40 or 50.
        problems.append(f"frame delays {got[:5]}..., expected {delays[:5]}...")
    if delays and abs(sum(got) - sum(delays)) > 10 * len(delays):
        problems.append(f"animation lasts {sum(got)} ms, expected {sum(delays)} ms")
    got_loop = image.get("loop") if image.get_typeof("loop") else 0
    if got_loop != loop:
        problems.append(f"loop count {got_loop}, expected {loop}")
    return problems


def _browser_delay(delay: int) -> int:
    """Browsers play delays under 20 ms as 100 ms; encoders may write it either way."""
    return 100 if delay <= 10 else delay


def _distinct_runs(source: bytes) -> int:
    """How many runs of identical consecutive frames the source has."""
    image = pyvips.Image.new_from_buffer(source, "", n=-1)
    page_height = image.get("page-height")
    frames = [image.crop(0, i * page_height, image.width, page_height)
              for i in range(image.height // page_height)]
    return 1 + sum(1 for a, b in pairwise(frames) if (a - b).abs().max() > 0)
