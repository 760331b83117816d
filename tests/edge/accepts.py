"""Real browsers' image Accept headers, and magic-byte checks of the formats they get."""

from __future__ import annotations

from collections.abc import Callable

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
FIREFOX = "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
SAFARI_15 = "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
LEGACY = "image/png,image/*;q=0.8,*/*;q=0.5"

MAGIC: dict[str, Callable[[bytes], bool]] = {
    "image/avif": lambda b: b[4:12] in (b"ftypavif", b"ftypavis"),
    "image/webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
    "image/jpeg": lambda b: b[:3] == b"\xff\xd8\xff",
    "image/png": lambda b: b[:8] == b"\x89PNG\r\n\x1a\n",
}
