"""Read what a source is from its bytes and header alone, before any pixel is decoded."""

from __future__ import annotations

from dataclasses import dataclass

import pyvips

from origin.errors import UnprocessableImage, UnsupportedFormat
from transforms import containers, svgrender

# Loader name (without _buffer/_source) -> our name for the source format.
LOADERS: dict[str, str] = {
    "jpegload": "jpeg",
    # UltraHDR is a JPEG with a gain map: the SDR base image is what we serve.
    "uhdrload": "jpeg",
    "pngload": "png",
    "webpload": "webp",
    "gifload": "gif",
    "heifload": "avif",
    "tiffload": "tiff",
    "svgload": "svg",
}
# Loaders that take `n` (frames) and `page`.
MULTI_PAGE = frozenset({"gif", "webp", "tiff", "avif"})
ANIMATABLE = frozenset({"gif", "webp"})
# libvips' `fail_on` per format. JPEG and GIF decoders report corrupt entropy data and bad frames
# only as warnings and then return garbage pixels, so those fail on warnings. libtiff and libpng
# warn about harmless metadata (GeoTIFF tags, sRGB profiles) in valid files, so they fail on errors.
FAIL_ON: dict[str, str] = {"jpeg": "warning", "gif": "warning"}

# Formats we recognise but deliberately do not decode: a clean 415 rather than a 422.
_UNSUPPORTED_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"BM", "BMP"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (0, b"\x00\x00\x02\x00", "CUR"),
    (0, b"%PDF", "PDF"),
    (0, b"8BPS", "PSD"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (0, b"\xff\x4f\xff\x51", "JPEG 2000"),
    (0, b"\xff\x0a", "JPEG XL"),
    (0, b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (0, b"qoif", "QOI"),
    (0, b"SIMPLE  =", "FITS"),
    (0, b"#?RADIANCE", "Radiance HDR"),
    (0, b"#?RGBE", "Radiance HDR"),
    (0, b"MATLAB", "MATLAB"),
    (0, b"gimp xcf", "XCF"),
    (0, b"II*\x00\x10\x00\x00\x00CR", "camera raw"),
    (0, b"%!PS", "PostScript"),
    (0, b"\xc5\xd0\xd3\xc6", "EPS"),
    (0, b"DDS ", "DDS"),
    (0, b"\x76\x2f\x31\x01", "OpenEXR"),
)
# `page_N` can pick among this many pages of a TIFF or HEIF; each costs a header read when probing.
MAX_SELECTABLE_PAGES = 64
_HEVC_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis")
_TGA_FOOTER = b"TRUEVISION-XFILE.\x00"


@dataclass(frozen=True, slots=True)
class Probe:
    """The header facts a plan is made from. `width`/`height` are after EXIF orientation."""

    format: str
    loader: str
    width: int
    height: int
    pages: int
    page_height: int
    has_alpha: bool
    orientation: int
    loop: int
    delays: tuple[int, ...]
    # Oriented size of each selectable page of a multi-page TIFF or HEIF (pages may differ in
    # size, and a HEIF's default image, its primary, need not be page 0). Empty otherwise.
    page_sizes: tuple[tuple[int, int], ...] = ()
    # An embedded ICC profile must be converted to sRGB; without one the pixels already are
    # (CMYK without a profile gets libvips' fallback profile anyway).
    has_icc: bool = False

    @property
    def animated(self) -> bool:
        return self.pages > 1 and self.format in ANIMATABLE


def sniff_unsupported(data: bytes) -> str | None:
    """Name of a known non-web format the bytes start with, or None."""
    for offset, magic, name in _UNSUPPORTED_MAGIC:
        if data[offset:offset + len(magic)] == magic:
            return name
    if data[4:8] == b"ftyp" and data[8:12] in _HEVC_BRANDS:
        return "HEIC"
    if data[4:8] == b"ftyp" and data[8:12] == b"avis":
        return "AVIF image sequence"
    if data.endswith(_TGA_FOOTER):
        return "TGA"
    if len(data) >= 3 and data[0:1] == b"P" and data[1:2] in b"1234567" and data[2:3] in b" \t\r\n":
        return "PNM"
    return None


_GZIP = b"\x1f\x8b"


def _looks_like_svg(data: bytes) -> bool:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<") and b"<svg" in data[:65536]


def probe(data: bytes, *, svg_allowed: bool = True) -> Probe:
    """Identify the format and read the header; raises 415 for formats we do not decode and 422
    for bytes that are not a readable image."""
    if not data:
        raise UnprocessableImage("source is empty")
    unsupported = sniff_unsupported(data)
    if unsupported:
        raise UnsupportedFormat(f"{unsupported} sources are not supported")
    if _looks_like_svg(data):
        if not svg_allowed:
            raise UnsupportedFormat("SVG sources are refused by this server")
        return _svg_probe(data)
    if data.startswith(_GZIP) and svg_allowed:
        return _svg_probe(data)  # .svgz: the child refuses a gzip that holds anything else
    try:
        image = pyvips.Image.new_from_buffer(data, "", access="sequential")
        loader = image.get("vips-loader")
    except pyvips.Error as exc:
        raise UnprocessableImage("source is not a readable image", internal=str(exc)) from None
    base = loader.removesuffix("_buffer").removesuffix("_source")
    fmt = LOADERS.get(base)
    if fmt is None:
        raise UnsupportedFormat("source format is not supported", internal=loader)
    if fmt == "svg" and not svg_allowed:
        raise UnsupportedFormat("SVG sources are refused by this server")
    damage = containers.problem(fmt, data)
    if damage:
        raise UnprocessableImage("source is truncated or corrupt", internal=damage)
    if fmt == "avif":
        compression = image.get("heif-compression") if image.get_typeof("heif-compression") else ""
        if compression != "av1":
            raise UnsupportedFormat("HEIF sources other than AVIF are not supported")
    pages = image.get("n-pages") if image.get_typeof("n-pages") else 1
    page_height = image.get("page-height") if image.get_typeof("page-height") else image.height
    orientation = image.get("orientation") if image.get_typeof("orientation") else 1
    if not 1 <= orientation <= 8:
        orientation = 1
    width, height = image.width, page_height if pages > 1 else image.height
    if orientation >= 5:
        width, height = height, width
    delays: tuple[int, ...] = ()
    if image.get_typeof("delay"):
        delays = tuple(image.get("delay"))
    loop = image.get("loop") if image.get_typeof("loop") else 0
    page_sizes = _page_sizes(data, min(pages, MAX_SELECTABLE_PAGES)) if (
        pages > 1 and fmt not in ANIMATABLE) else ()
    return Probe(
        format=fmt,
        loader=loader,
        width=width,
        height=height,
        pages=max(1, pages),
        page_height=page_height,
        has_alpha=image.hasalpha(),
        orientation=orientation,
        loop=loop,
        delays=delays,
        page_sizes=page_sizes,
        has_icc=bool(image.get_typeof("icc-profile-data")),
    )


def _svg_probe(data: bytes) -> Probe:
    """SVG is sized by librsvg in a child process (`svgrender.header`): parsing a stranger's
    document is work the worker never does itself."""
    width, height, bands = svgrender.header(data)
    return Probe(format="svg", loader="svgload_buffer", width=width, height=height, pages=1,
                 page_height=height, has_alpha=bands in (2, 4), orientation=1, loop=0,
                 delays=(), page_sizes=(), has_icc=False)


def _oriented_size(image: pyvips.Image) -> tuple[int, int]:
    orientation = image.get("orientation") if image.get_typeof("orientation") else 1
    if 5 <= orientation <= 8:
        return image.height, image.width
    return image.width, image.height


def _page_sizes(data: bytes, count: int) -> tuple[tuple[int, int], ...]:
    """Header-only size of each page; (0, 0) for a page whose header does not read."""
    sizes = []
    for page in range(count):
        try:
            image = pyvips.Image.new_from_buffer(data, "", page=page, access="sequential")
        except pyvips.Error:
            sizes.append((0, 0))
            continue
        sizes.append(_oriented_size(image))
    return tuple(sizes)
