"""Cheap structural checks of container formats whose damage libvips' decoders tolerate.

libpng, libwebp and libnsgif accept some truncated or inconsistent files and return a partial or
clipped image without any warning; the contract says such sources are 422, never a 200. Each
check reads only chunk headers, never pixel data, and returns a reason or None.
"""

from __future__ import annotations

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A GIF with more blocks than this is refused before libvips walks it (the frame cap is far lower).
MAX_GIF_BLOCKS = 1_000_000


def problem(fmt: str, data: bytes) -> str | None:
    """Why `data` (already identified as `fmt`) is damaged, or None when it looks whole."""
    if fmt == "png":
        return _png_problem(data)
    if fmt == "webp":
        return _webp_problem(data)
    if fmt == "gif":
        return _gif_problem(data)
    return None


def _png_problem(data: bytes) -> str | None:
    if not data.startswith(PNG_SIGNATURE) or len(data) < 33 or data[12:16] != b"IHDR":
        return None  # not a plain PNG stream; libvips decides
    compression, filtering, interlace = data[26], data[27], data[28]
    if compression != 0 or filtering != 0 or interlace > 1:
        return "PNG header names an unknown compression, filter or interlace method"
    # Walk the chunk headers to IEND: a file that ends before it is truncated.
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        if kind == b"IEND":
            return None
        pos += 12 + length
    return "PNG is truncated (no IEND chunk)"


def _webp_problem(data: bytes) -> str | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 12:
        return None
    (riff_size,) = struct.unpack("<I", data[4:8])
    if riff_size + 8 > len(data):
        return "WebP is truncated (shorter than its RIFF header says)"
    return None


def _gif_problem(data: bytes) -> str | None:
    """Frames must lie inside the logical screen: browsers clip them, and a frame far larger than
    the screen is the classic decompression-bomb shape."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        return None
    screen_w, screen_h, flags = struct.unpack("<HHB", data[6:11])
    if screen_w == 0 or screen_h == 0:
        return None  # some encoders leave the screen unset; decoders then use the frame size
    pos = 13
    if flags & 0x80:
        pos += 3 * (2 << (flags & 0x07))
    blocks = 0
    while pos < len(data) and blocks < MAX_GIF_BLOCKS:
        blocks += 1
        introducer = data[pos]
        if introducer == 0x3B:  # trailer
            return None
        if introducer == 0x21:  # extension: label, then data sub-blocks
            pos = _skip_sub_blocks(data, pos + 2)
            continue
        if introducer != 0x2C or pos + 10 > len(data):
            return None  # libvips reports what else is wrong
        left, top, width, height, local = struct.unpack("<HHHHB", data[pos + 1:pos + 10])
        if left + width > screen_w or top + height > screen_h:
            return (f"GIF frame {width}x{height} at {left},{top} lies outside the "
                    f"{screen_w}x{screen_h} screen")
        pos += 10
        if local & 0x80:
            pos += 3 * (2 << (local & 0x07))
        pos = _skip_sub_blocks(data, pos + 1)  # after the LZW minimum code size
    return None


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while pos < len(data):
        size = data[pos]
        pos += 1 + size
        if size == 0:
            break
    return pos
