"""`copyright`: what a stripped image keeps of its metadata, the EXIF credit (Copyright and
Artist, as imgproxy's keep_copyright and Cloudinary's keep_attribution keep), in a new EXIF
block: no GPS, camera or date fields, and no embedded thumbnail of the uncropped original."""

from __future__ import annotations

import re

import pyvips

CREDIT_FIELDS = ("exif-ifd0-Copyright", "exif-ifd0-Artist")
# libvips reads an ASCII tag as "VALUE (VALUE, ASCII, N components, N bytes)".
_ASCII = re.compile(r"(.*) \(\1, ASCII, \d+ components, \d+ bytes\)", re.DOTALL)
_PREFIXES = ("exif-", "xmp-", "iptc-")


def credits_of(image: pyvips.Image) -> dict[str, str]:
    """The credit fields the image carries, as plain text (empty ones left out)."""
    present = set(image.get_fields())
    found = {}
    for name in CREDIT_FIELDS:
        if name in present:
            match = _ASCII.fullmatch(str(image.get(name)))
            value = match.group(1).rstrip(" \0") if match else ""
            # libexif shows an empty Copyright as "[None]" (cut to "[No" once written back).
            if value and value != "[No" and not value.startswith("[None]"):
                found[name] = value
    return found


def credits_only(image: pyvips.Image, found: dict[str, str]) -> pyvips.Image:
    """A copy whose only metadata for the encoder is a fresh EXIF block holding `found`."""
    out = image.copy()
    for name in out.get_fields():
        if name.startswith(_PREFIXES) or name == "orientation":
            out.remove(name)  # the blob too: libvips would keep its thumbnail
    for name, value in found.items():
        # libvips drops a trailing " (...)" on writing (its own description form): give it
        # an empty one, so a credit ending in parentheses is written whole.
        out.set_type(pyvips.GValue.gstr_type, name, value + " ()")
    return out
