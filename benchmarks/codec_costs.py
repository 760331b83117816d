"""Codec cost of a miss transform, outside any server: decode a JPEG at the DCT scale that covers
the output, then time the encodes that transform's answer needs.

`--encode jpeg` (transform b): encode the decoded image baseline, with optimised Huffman tables
and progressive, at q80. `--encode webp --pixels out.png` (transform a): encode the given
pixels (the transform's output, made once by the caller) at q80 with effort / method 2 and 4.
Both codecs then encode the very same pixels, so equal bytes show equal encoder settings and
the time left is the library build's own.

`python benchmarks/codec_costs.py --codec pyvips|pillow --image photo-2mp.jpg --width 800`
prints one JSON object. It imports nothing from imgorigin, so `make bench-peers` can run it with
thumbor's interpreter for Pillow (thumbor's codecs) and with ours for pyvips (libvips and the
libraries pyvips-binary bundles), and put the two side by side.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

QUALITY = 80
WEBP_EFFORTS = (2, 4)  # imgorigin's default effort, and libvips', Pillow's and sharp's


def _ms_per_call(fn: Callable[[], object], seconds: float) -> float:
    fn()
    calls = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        fn()
        calls += 1
    return round((time.perf_counter() - started) / calls * 1000, 3)


def _pyvips(data: bytes, width: int, seconds: float, pixels: bytes | None) -> dict[str, Any]:
    import pyvips

    # As a worker runs it: one libvips thread, no operation cache.
    pyvips.cache_set_max(0)
    probe = pyvips.Image.new_from_buffer(data, "")
    shrink = max(s for s in (1, 2, 4, 8) if -(-probe.width // s) >= width)

    def decode() -> Any:
        return pyvips.Image.jpegload_buffer(data, shrink=shrink, access="sequential").copy_memory()

    image = decode()
    encoders: dict[str, Callable[[], bytes]]
    if pixels is None:
        encoders = {
            "baseline": lambda: image.jpegsave_buffer(Q=QUALITY, keep=0),
            "optimized": lambda: image.jpegsave_buffer(Q=QUALITY, optimize_coding=True, keep=0),
            "progressive": lambda: image.jpegsave_buffer(Q=QUALITY, interlace=True, keep=0),
        }
    else:
        out = pyvips.Image.new_from_buffer(pixels, "").copy_memory()
        encoders = {f"webp{e}": _vips_webp(out, e) for e in WEBP_EFFORTS}
    version = f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
    # pyvips-binary links libwebp in statically and keeps no version string of it.
    webp = "" if pixels is None else ", its own libwebp"
    return {"codec": f"libvips {version}, {_bundled_jpeg_library()}{webp}",
            "vips_concurrency": os.environ.get("VIPS_CONCURRENCY", "default"),
            "decoded": [image.width, image.height],
            "decode_ms": _ms_per_call(decode, seconds),
            **_encodes(encoders, seconds)}


def _vips_webp(image: Any, effort: int) -> Callable[[], bytes]:
    return lambda: image.webpsave_buffer(Q=QUALITY, effort=effort, keep=0)


def _bundled_jpeg_library() -> str:
    """The JPEG library compiled into pyvips-binary's libvips, read from the library's strings."""
    import glob
    import re

    import pyvips

    root = os.path.dirname(os.path.dirname(os.path.abspath(pyvips.__file__)))
    for path in glob.glob(os.path.join(root, "pyvips_binary*", "**", "libvips*.so*"),
                          recursive=True):
        with open(path, "rb") as f:
            found = re.search(rb"(mozjpeg|libjpeg-turbo) version ([0-9.]+)", f.read())
        if found:
            return f"{found.group(1).decode()} {found.group(2).decode()}"
    return "JPEG library unknown"


def _pillow(data: bytes, width: int, seconds: float, pixels: bytes | None) -> dict[str, Any]:
    import PIL
    from PIL import Image, features

    def decode() -> Any:
        image = Image.open(io.BytesIO(data))
        image.draft("RGB", (width, 1))  # the smallest DCT scale still `width` wide, as thumbor
        image.load()
        return image

    image = decode()

    def save(target: Any, fmt: str, **kwargs: Any) -> Callable[[], bytes]:
        def run() -> bytes:
            out = io.BytesIO()
            target.save(out, fmt, quality=QUALITY, **kwargs)
            return out.getvalue()
        return run

    codec = f"Pillow {PIL.__version__}, libjpeg-turbo {features.version('libjpeg_turbo')}"
    if pixels is None:
        encoders = {"baseline": save(image, "JPEG"),
                    "optimized": save(image, "JPEG", optimize=True),
                    "progressive": save(image, "JPEG", progressive=True)}
    else:
        out = Image.open(io.BytesIO(pixels))
        out.load()
        encoders = {f"webp{e}": save(out, "WEBP", method=e) for e in WEBP_EFFORTS}
        codec += f", libwebp {features.version('webp')}"
    return {"codec": codec, "decoded": list(image.size), "decode_ms": _ms_per_call(decode, seconds),
            **_encodes(encoders, seconds)}


def _encodes(encoders: dict[str, Callable[[], bytes]], seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, fn in encoders.items():
        out[f"{name}_ms"] = _ms_per_call(fn, seconds)
        out[f"{name}_bytes"] = len(fn())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="codec_costs.py")
    parser.add_argument("--codec", choices=("pyvips", "pillow"), required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--width", type=int, default=800)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--encode", choices=("jpeg", "webp"), default="jpeg")
    parser.add_argument("--pixels", help="the output pixels to encode (PNG); --encode webp only")
    args = parser.parse_args(argv)
    if (args.encode == "webp") != (args.pixels is not None):
        parser.error("--pixels goes with --encode webp, and only with it")
    with open(args.image, "rb") as f:
        data = f.read()
    pixels = None
    if args.pixels is not None:
        with open(args.pixels, "rb") as f:
            pixels = f.read()
    measure = _pyvips if args.codec == "pyvips" else _pillow
    print(json.dumps(measure(data, args.width, args.seconds, pixels)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
