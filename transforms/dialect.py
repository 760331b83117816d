"""What another server's URL dialect translates into (`transforms/imgproxy.py`, `thumbor.py`,
`ipx.py`, `cloudinary.py`): one native options segment and a source, checked by the native
grammar."""

from __future__ import annotations

from dataclasses import dataclass

import webcolors

from origin.errors import InvalidOptions
from transforms.grammar import MAX_SEGMENT_LENGTH


@dataclass(frozen=True, slots=True)
class Translated:
    """A foreign URL as this server's options segment and decoded source."""

    tokens: str  # a native options segment ("_" for none)
    source: str  # a key under the default source, or an absolute URL
    expires: int | None = None


def native_segment(tokens: dict[str, str]) -> str:
    """Native tokens as an options segment: `name_value`, a bare `name` for an empty value,
    `_` for none."""
    return ",".join(f"{k}_{v}" if v else k for k, v in tokens.items()) or "_"


_HEX_DIGITS = frozenset("0123456789abcdef")


def whole_number(value: str) -> bool:
    """ASCII digits only: str.isdigit() also takes '²' and other digits int() refuses."""
    return value.isascii() and value.isdigit()


def hex_colour(value: str) -> str | None:
    """`fff`, `ffff`, `ffffff` or `ffffffff` (a leading `#` allowed) as the native grammar's
    RRGGBB[AA]; None for anything else."""
    digits = value.lower().removeprefix("#")
    if len(digits) not in (3, 4, 6, 8) or not set(digits) <= _HEX_DIGITS:
        return None
    return "".join(c * 2 for c in digits) if len(digits) in (3, 4) else digits


def named_colour(value: str) -> str | None:
    """A CSS colour keyword (`red`, `LightSteelBlue`: the 147 of CSS Color 3, which thumbor's
    Pillow, imgix and Cloudinary take) as RRGGBB; None for anything else."""
    try:
        return webcolors.name_to_hex(value, spec=webcolors.CSS3).removeprefix("#")
    except ValueError:
        return None


def padded_box(width: int, height: int, edges: tuple[int, int, int, int],
               tokens: dict[str, str]) -> None:
    """Set `w`, `h` and `pad` for a server that pads around the resized image (imgproxy, sharp):
    the native `pad` comes out of the requested box, so the box grows by the edges. 0 = unset."""
    top, right, bottom, left = edges
    if width:
        tokens["w"] = str(width + left + right)
    if height:
        tokens["h"] = str(height + top + bottom)
    if any(edges):
        tokens["pad"] = ":".join(map(str, edges))


def check_length(options: str, dialect: str) -> None:
    """400 for a dialect's options longer than a native options segment may be: the same cap,
    which also keeps numbers far below what `int()` refuses to read (4300 digits)."""
    if len(options) > MAX_SEGMENT_LENGTH:
        raise InvalidOptions(f"{dialect} options longer than {MAX_SEGMENT_LENGTH} characters")
