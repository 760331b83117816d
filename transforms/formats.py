"""Output formats: negotiation from `Accept`, the source-format mapping, and encoder defaults.

Encoder defaults are chosen for latency at web quality (README, "Encoder defaults"):
JPEG q80 with optimised Huffman tables; PNG zlib level 6; WebP q80 effort 2; AVIF q55 effort 2
(libvips' default effort 4 costs 3-5x the time for a few percent of bytes); GIF effort 4.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from transforms.options import OutputFormat

CONTENT_TYPES: dict[str, str] = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
    "gif": "image/gif",
}
ALPHA_FORMATS = frozenset({"png", "webp", "avif", "gif"})
ANIMATED_FORMATS = frozenset({"webp", "gif"})
WEB_SOURCE_FORMATS = frozenset({"jpeg", "png", "webp", "avif", "gif"})

DEFAULT_QUALITY: dict[str, int] = {"jpeg": 80, "webp": 80, "avif": 55, "png": 100, "gif": 100}
# Defaults of IMGORIGIN_WEBP_EFFORT / IMGORIGIN_AVIF_EFFORT: bytes at equal SSIM and CPU time of
# the others are in benchmarks/README.md, finding 38.
WEBP_EFFORT = 2
AVIF_EFFORT = 2
PNG_COMPRESSION = 6
GIF_EFFORT = 4
# Optimised Huffman tables: 2-3 % fewer JPEG bytes for every delivery, for about 3.5 ms more
# encoder CPU per 800x600 output on the CI machine (benchmarks/README.md, finding 35). Set per
# worker by `configure`.
_jpeg_optimize_coding = True
_webp_effort = WEBP_EFFORT
_avif_effort = AVIF_EFFORT


def configure(*, jpeg_optimize_coding: bool, webp_effort: int = WEBP_EFFORT,
              avif_effort: int = AVIF_EFFORT) -> None:
    """Process-wide encoder choices (IMGORIGIN_JPEG_OPTIMIZE_CODING, IMGORIGIN_WEBP_EFFORT,
    IMGORIGIN_AVIF_EFFORT), set before transforms."""
    global _jpeg_optimize_coding, _webp_effort, _avif_effort
    _jpeg_optimize_coding = jpeg_optimize_coding
    _webp_effort, _avif_effort = webp_effort, avif_effort

# What `fmt_auto` resolves to before the source is known: the legacy class becomes JPEG, or PNG
# for a source with alpha, once the source has been probed.
AUTO_CLASSES = ("avif", "webp", "legacy")


@lru_cache(maxsize=1024)
def negotiate(accept: str) -> str:
    """The `fmt_auto` class for an Accept header: only explicit image/avif or image/webp count."""
    if not accept:
        return "legacy"
    lowered = accept.lower()
    if "image/avif" in lowered and _accepted(lowered, "image/avif"):
        return "avif"
    if "image/webp" in lowered and _accepted(lowered, "image/webp"):
        return "webp"
    return "legacy"


def _accepted(accept: str, media_type: str) -> bool:
    for part in accept.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() != media_type:
            continue
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def resolve_output(requested: str, source_format: str, has_alpha: bool) -> OutputFormat:
    """The concrete output format for a requested format or auto class, once the source is known."""
    if requested in CONTENT_TYPES:
        return requested  # type: ignore[return-value]
    if requested == "original" and source_format in WEB_SOURCE_FORMATS:
        return source_format  # type: ignore[return-value]
    # "legacy" (auto without a modern format) and non-web originals (TIFF, SVG, HEIC...).
    return "png" if has_alpha else "jpeg"


# The formats whose encoders take a quality (`q`, `fq`, what `mb` lowers).
QUALITY_FORMATS = frozenset({"jpeg", "webp", "avif"})


def takes_quality(fmt: str, lossless: bool) -> bool:
    """Whether the encoder's output size follows a quality setting (what `mb_N` turns)."""
    return fmt == "jpeg" or (fmt in QUALITY_FORMATS and not lossless)


def encoder_options(fmt: str, *, quality: int | None, progressive: bool, lossless: bool,
                    strip: bool, keep_exif: bool = False) -> tuple[str, dict[str, Any]]:
    """The pyvips save operation and its arguments for one output; `keep_exif` writes the
    image's EXIF fields even when stripping (`copyright`, which leaves only the credit)."""
    keep = (1 if keep_exif else 0) if strip else 31  # VipsForeignKeep: NONE / EXIF / ALL
    q = quality or DEFAULT_QUALITY[fmt]
    if fmt == "jpeg":
        return "jpegsave_buffer", {"Q": q, "interlace": progressive,
                                   "optimize_coding": _jpeg_optimize_coding, "keep": keep}
    if fmt == "png":
        return "pngsave_buffer", {"compression": PNG_COMPRESSION, "interlace": progressive,
                                  "keep": keep}
    if fmt == "webp":
        return "webpsave_buffer", {"Q": q, "lossless": lossless, "effort": _webp_effort,
                                   "keep": keep}
    if fmt == "avif":
        return "heifsave_buffer", {"Q": q, "lossless": lossless, "compression": "av1",
                                   "effort": _avif_effort, "bitdepth": 8, "keep": keep}
    if fmt == "gif":
        return "gifsave_buffer", {"effort": GIF_EFFORT, "keep": keep}
    raise ValueError(f"no encoder for {fmt}")
