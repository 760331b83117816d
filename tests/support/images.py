"""Images the tests make on the fly."""

from __future__ import annotations

import time

import pyvips

from transforms import Limits, transform
from transforms.grammar import parse


def animation(frames: list[pyvips.Image], delay_ms: int, fmt: str, **save: object) -> bytes:
    """The frames (equal sizes) as an animated GIF or WebP, `delay_ms` each."""
    strip = pyvips.Image.arrayjoin(frames, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", frames[0].height)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [delay_ms] * len(frames))
    return bytes(getattr(strip, f"{fmt}save_buffer")(**save))


def flat(colour: list[int], width: int = 40, height: int = 30, alpha: int | None = None) -> bytes:
    """A PNG of one sRGB colour, with an alpha band of `alpha` if given."""
    image = (pyvips.Image.black(width, height) + colour).cast("uchar").copy(
        interpretation="srgb")
    if alpha is not None:
        image = image.bandjoin(alpha)
    return image.pngsave_buffer()


def encoded(data: bytes, segment: str, fmt: str = "png") -> bytes:
    """`data` through the pipeline with the options `segment`, as encoded."""
    return transform(data, parse(segment).options, fmt, Limits(),
                     deadline=time.monotonic() + 30).body


def made(data: bytes, segment: str, fmt: str = "png") -> pyvips.Image:
    """`data` through the pipeline with the options `segment`, decoded."""
    return pyvips.Image.new_from_buffer(encoded(data, segment, fmt), "")
