"""Images the tests make on the fly."""

from __future__ import annotations

import pyvips


def animation(frames: list[pyvips.Image], delay_ms: int, fmt: str, **save: object) -> bytes:
    """The frames (equal sizes) as an animated GIF or WebP, `delay_ms` each."""
    strip = pyvips.Image.arrayjoin(frames, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", frames[0].height)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [delay_ms] * len(frames))
    return bytes(getattr(strip, f"{fmt}save_buffer")(**save))
